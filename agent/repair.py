"""Local repairs within one episode: what the loop does about a failure, or a planner that
goes round in circles, before (or instead of) asking the planner again.

For a failure whose diagnosis names a missing fact (`needs`) or the condition it failed under
(`context`), in this order:

1. memory (methods that distil failures): the blocking guardrail's remedy, else a remedy
   induced from experience for what was missing (`knowledge.induce`), at most `TRIES` times
   per fact and episode;
2. the planner's turn, once per fact;
3. probing (`agent.explore`): once the planner has had its turn at a fact and it is missing
   again, the explorer's next probe for it.

A repair is followed by the failed step and the rest of the plan. A step a repair put in the
plan that fails in turn is repaired the same way without asking the planner (means-ends, like
a player), so the repair's stack survives. When the planner goes round in circles (the same
product made twice, three steps with no new kind of item, the same failure three times), the
repairer works on the goal itself (`goal`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from agent.explore import Explorer
from agent.methods import Method
from knowledge.induce import condition_for, remedy_for
from knowledge.recipes import recipe_of
from knowledge.schema import Diagnosis, Guardrail, unpack_counts
from knowledge.store import ExperienceStore
from sim.base import World
from sim.schema import Subgoal, Task, WorldState

TRIES = 2  # a remedy from memory is tried this often per missing fact and episode
IDLE = 3  # successful steps with no new kind of item before the planner counts as stalled
UNHURRIED = ("wait", "plant")  # steps that bring no item by design: never counted as stalling


@dataclass
class Repairer:
    """The repair state of one episode."""

    world: World
    task: Task
    method: Method
    store: ExperienceStore | None  # the method's memory (None: it has none)
    explorer: Explorer = field(init=False)
    remedied: Counter[str] = field(default_factory=Counter)  # memory's remedies, per fact
    missed: Counter[str] = field(default_factory=Counter)  # failures per fact (or condition)
    wanted: list[str] = field(default_factory=list)  # items found missing, newest last
    remedies: int = 0
    probes: int = 0
    _ours: dict[int, Subgoal] = field(default_factory=dict)  # steps a repair put in the plan
    _goal_tried: set[str] = field(default_factory=set)  # inventories the goal was tried in
    _kinds: set[str] = field(default_factory=set)  # item kinds held so far
    _idle: int = 0
    _again: bool = False  # the last failure's fact was missing before

    def __post_init__(self) -> None:
        self.explorer = Explorer(self.world.verb_targets(), self.store)

    def ours(self, subgoal: Subgoal) -> bool:
        """Whether a repair (not the planner) put this step in the plan."""
        return self._ours.get(id(subgoal)) is subgoal

    def after(
        self,
        subgoal: Subgoal,
        diagnosis: Diagnosis,
        state: WorldState,
        plan: list[Subgoal],
        rail: Guardrail | None,
    ) -> list[Subgoal] | None:
        """The plan to go on with after an attempt (`state` is after it), or None: ask the
        planner (or, after a success, carry on with the plan)."""
        self.explorer.settle(self.world.facts(state))
        own = not self.ours(subgoal)
        if not diagnosis.success:
            repair = self._failed(subgoal, diagnosis, state, plan, rail)
            if repair is None and diagnosis.deadlock and own and self._again:
                repair = self.goal(state, plan)  # the same failure, again and again
            return repair
        if self._stalled(subgoal, diagnosis, state) and own:
            return self.goal(state, plan)  # the planner goes round in circles
        return None

    def _failed(
        self,
        failed: Subgoal,
        diagnosis: Diagnosis,
        state: WorldState,
        plan: list[Subgoal],
        rail: Guardrail | None,
    ) -> list[Subgoal] | None:
        needs = str(diagnosis.details.get("needs", ""))
        context = "" if needs else str(diagnosis.details.get("context", ""))
        self._again = True  # nothing named: the planner has had its turns
        if not needs and not context:
            return None
        key = needs or f"{failed.key()}|{context}"
        self.missed[key] += 1
        self._again = self.missed[key] >= 2  # the planner has had its turn at this one
        if needs.startswith("has:") and needs[4:] not in self.wanted:
            self.wanted.append(needs[4:])
        steps: list[Subgoal] | None = None
        if self.store is not None and self.method.guardrails and self.remedied[key] < TRIES:
            steps = list(rail.remedy) if rail is not None and rail.remedy else None
            if steps is None:
                steps = self._induced(self.store, failed, diagnosis, needs, context)
            if steps:
                self.remedied[key] += 1
                self.remedies += 1
        nested = self.ours(failed)
        if not steps and (self.missed[key] >= 2 or nested) and self.method.explore:
            # probes for what to hold are the operation's own, whatever was held when it failed
            kind = context.partition(":")[0]
            topic = needs or f"{failed.key()}|{'hold' if kind in ('equipped', 'hands') else kind}"
            steps = self.explorer.next(topic, failed, state, context=not needs)
            self.probes += bool(steps)
        if not steps:
            return None  # the planner's turn
        return self._mark([*steps, failed], plan)

    def _mark(self, steps: list[Subgoal], plan: list[Subgoal]) -> list[Subgoal]:
        fresh = [s.model_copy() for s in steps]
        self._ours.update((id(s), s) for s in fresh)
        return [*fresh, *plan]

    @staticmethod
    def _induced(
        store: ExperienceStore, failed: Subgoal, diagnosis: Diagnosis, needs: str, context: str
    ) -> list[Subgoal] | None:
        """What made the missing fact true before (or, for a failure under a condition, what
        held when the same step worked), scaled to what is short now."""
        if needs:
            item = needs.partition(":")[2] if needs.startswith("has:") else ""
            short = unpack_counts(diagnosis.details.get("missing")).get(item, 1)
            found = remedy_for(store, needs, avoid=[failed.key()], shortfall=short)
        else:
            kind = context.partition(":")[0]
            prefix = "equipped:" if kind in ("equipped", "hands") else f"{kind}:"
            found = condition_for(store, failed.key(), [context], prefix)
        return list(found.steps) if found is not None and found.steps else None

    def _stalled(self, subgoal: Subgoal, diagnosis: Diagnosis, state: WorldState) -> bool:
        """Going round in circles, by what the agent sees: the same product made twice, or
        `IDLE` attempts in a row that worked but brought no kind of item not held before (waiting
        and sowing, which bring none by design, are not counted: `UNHURRIED`)."""
        if subgoal.verb in UNHURRIED:
            return False
        new = set(state.inventory) - self._kinds
        self._kinds |= new
        self._idle = 0 if new else self._idle + 1
        return bool(diagnosis.details.get("repeat")) or self._idle >= IDLE

    def goal(self, state: WorldState, plan: list[Subgoal]) -> list[Subgoal] | None:
        """Work on the goal itself, once per inventory: the way the agent saw the goal made,
        else a probe for the goal as for any missing item (its namesake block in sight, a
        craft, ...). It works, or fails with what is missing, which is then repaired."""
        goal = self.task.goal.item
        inventory = state.inventory_key()
        if goal is None or inventory in self._goal_tried:
            return None
        seen = recipe_of(self.store, goal) if self.store is not None else None
        count = self.task.goal.count
        steps: list[Subgoal] = []
        if seen is not None:
            target = goal if seen.verb in ("craft", "smelt") else seen.source
            steps = [Subgoal(verb=seen.verb, target=target, count=count)]
        elif self.method.explore:
            wanted = Subgoal(verb="obtain", target=goal, count=count)
            steps = self.explorer.next(f"has:{goal}", wanted, state) or []
        if not steps or steps[-1].target not in self.world.verb_targets().get(steps[-1].verb, ()):
            return None
        self._goal_tried.add(inventory)
        self._idle = 0
        return self._mark(steps, plan)
