"""The symbolic household planner: not an LLM. It asks the household world for the engine's
own plan (ALFWorld's PDDL planner, what `AlfredExpert` of type `planner` follows: the game's
stored walkthrough at the start, a fresh plan after that) and turns the text commands into
subgoals. Where the engine's planner finds nothing within its time limit (its optimal search
can run away on large scenes), a plan read off the PDDL state by the task type's recipe is
used instead. An oracle upper bound and an offline fallback, labelled as such in every
report, like the symbolic CraftWorld planner.
"""

from __future__ import annotations

from typing import Any

from agent.planner.base import PlanResult
from knowledge.schema import Briefing, Diagnosis
from sim.base import World
from sim.schema import Subgoal, Task, WorldState


class HouseholdPlanner:
    """Plans with the engine's planner (`source="engine"`) or the PDDL-state recipe
    (`source="rules"`); recalled knowledge only explains itself."""

    name = "household"

    def __init__(self, world: World, source: str = "engine", seconds: float = 30.0) -> None:
        if source not in ("engine", "rules"):
            raise ValueError(f"source must be 'engine' or 'rules', not {source!r}")
        self.world, self.source, self.seconds = world, source, seconds
        self._slow: set[Any] = set()  # games where the engine's planner ran out of time

    def plan(self, task: Task, state: WorldState, briefing: Briefing) -> PlanResult:
        from sim.alfworld.oracle import rule_plan, subgoals_for
        from sim.alfworld.world import AlfWorld

        world = self.world
        if not isinstance(world, AlfWorld):
            return PlanResult([], error=f"the household planner needs alfworld, not {world.id}")
        game = world.engine.game
        commands = None
        if self.source == "engine" and game not in self._slow:
            commands = world.expert_plan(self.seconds)
            source = "engine plan"
            if commands is None:
                self._slow.add(game)
        if commands is None:
            commands = rule_plan(world)
            source = "rule plan" + (" (engine planner timed out)" if game in self._slow else "")
        subgoals = subgoals_for(commands)
        if not subgoals and not world.goal_reached():
            return PlanResult([], error=f"no {source} from here")
        notes = [f"{source}: {'; '.join(commands)}"]
        notes += [f"recalled {i.kind} {i.id}" for i in briefing.items]
        return PlanResult(subgoals, notes=notes)

    def replan(
        self,
        task: Task,
        state: WorldState,
        briefing: Briefing,
        failed: Subgoal,
        diagnosis: Diagnosis,
        remaining: list[Subgoal],
    ) -> PlanResult:
        if diagnosis.success and remaining:
            # the step worked (stagnation or a revisited state): the plan still holds
            return PlanResult(list(remaining), notes=["kept the remaining plan"])
        return self.plan(task, state, briefing)
