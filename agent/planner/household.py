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


TREAT = ("heat", "cool", "clean")  # the verbs that need their appliance at hand


def house_refuted(briefing: Briefing) -> set[tuple[str, str]]:
    """(kind, object or receptacle kind) beliefs that the briefing's knowledge speaks against:
    a guardrail lifted by `opened:R` refutes `no_open` for R's kind; one on heating, cooling or
    cleaning O whose condition names a place refutes `no_station` for O's kind; one on a treat
    or a put lifted by holding something refutes `early` for its target's kind (the object
    treated, the receptacle put in). A one-step skill's preconditions speak the same way."""
    from sim.alfworld.tasks import kind_of

    out: set[tuple[str, str]] = set()

    def facts_about(verb: str, target: str, facts: list[str]) -> None:
        for fact in facts:
            name, _, value = fact.partition(":")
            if name == "opened":
                out.add(("no_open", kind_of(value)))
            elif name == "at" and verb in TREAT:
                out.add(("no_station", kind_of(target)))
            elif name in ("holding", "hands") and verb in (*TREAT, "put"):
                out.add(("early", kind_of(target)))

    for rail in briefing.guardrails:
        verb, _, target = rail.forbidden.partition(":")
        facts_about(verb, target, [*rail.unless, *rail.when])
    for skill in briefing.skills:
        if len(skill.steps) == 1:
            facts_about(skill.steps[0].verb, skill.steps[0].target, skill.preconditions)
    return out


class FallibleHouseholdPlanner(HouseholdPlanner):
    """The household oracle with seeded misbeliefs that only its briefing can correct (a test
    fixture, like `agent.planner.fallible.FallibleSymbolicPlanner` for CraftWorld): for a
    seeded fraction of the receptacle and object kinds it believes that

    - `no_open`: a receptacle of this kind stands open (its `open` step becomes a walk there,
      so taking from it or putting in it finds it closed);
    - `no_station`: an object of this kind can be heated, cooled or cleaned anywhere (the walk
      to the appliance is left out);
    - `early`: an object is heated, cooled or cleaned (keyed by the object's kind) or put in a
      receptacle (keyed by the receptacle's kind) before it is taken.

    The draws are fixed by `Misbeliefs.seed`, the same in every episode; a guardrail or skill
    in the briefing about an operation refutes the belief it speaks against (`house_refuted`).
    The diagnosis names no remedy; the loop's memory and probes repair what goes wrong."""

    name = "fallible"

    def __init__(
        self,
        world: World,
        misbeliefs: Any = None,
        source: str = "engine",
        seconds: float = 30.0,
    ) -> None:
        from agent.planner.fallible import Misbeliefs

        super().__init__(world, source, seconds)
        self.misbeliefs: Misbeliefs = misbeliefs or Misbeliefs()
        self._refuted: set[tuple[str, str]] = set()

    def wrong(self, kind: str, what: str) -> bool:
        return self.misbeliefs.holds(kind, what) and (kind, what) not in self._refuted

    def plan(self, task: Task, state: WorldState, briefing: Briefing) -> PlanResult:
        self._refuted = house_refuted(briefing)
        result = super().plan(task, state, briefing)
        result.subgoals = self.mistaken(result.subgoals)
        fixed = sorted(f"{k} {i}" for k, i in self._refuted if self.misbeliefs.holds(k, i))
        if fixed:
            result.notes.append("briefing corrected: " + ", ".join(fixed))
        return result

    def mistaken(self, subgoals: list[Subgoal]) -> list[Subgoal]:
        """The oracle's plan as this planner believes it should go."""
        from sim.alfworld.tasks import kind_of

        out: list[Subgoal] = []
        for sg in subgoals:
            if sg.verb == "open" and self.wrong("no_open", kind_of(sg.target)):
                out.append(Subgoal(verb="go_to", target=sg.target))  # it believes it is open
                continue
            if (
                sg.verb in TREAT
                and out
                and out[-1].verb == "go_to"
                and self.wrong("no_station", kind_of(sg.target))
            ):
                out.pop()  # the walk to the appliance
            out.append(sg)
        i = 0
        while i < len(out):
            sg = out[i]
            j = next((j for j in range(i + 1, len(out)) if out[j].verb in (*TREAT, "put")), None)
            if sg.verb == "take" and j is not None and self.wrong("early", kind_of(out[j].target)):
                out.insert(i, out.pop(j))  # what it does with the object comes before taking it
                i += 1
            i += 1
        return out
