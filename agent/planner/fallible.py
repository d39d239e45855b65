"""A deliberately fallible planner: the symbolic planner with seeded misbeliefs.

A test fixture for the learning experiments (issue 7), never the default. An LLM planner fails
in ways that repeat: asked the same thing in the same state, it makes the same mistake. This
planner models that. For a seeded fraction of the items it plans, it holds a wrong belief:

- `no_station` (a missing prerequisite): making the item needs no crafting table or furnace
  at hand, so the step that places or walks to the station is left out;
- `low_tool` (a wrong tool tier): mining the block needs one pickaxe tier less than it does
  (iron ore with a wooden pickaxe, stone with bare hands);
- `early` (a wrong order): the item is crafted before the last of its ingredients is made.

The beliefs are fixed by `Misbeliefs.seed`, the same in every episode, so a planner with no
memory repeats them. Only knowledge revises them: a guardrail or a skill in the briefing that
speaks about an operation on an item refutes what the planner believed about that item, as a
model reading its briefing would. The last diagnosis alone does not change a belief (worlds
name no remedy to take up; remedies come from the loop's memory or its probes, and the
planner's own plan for the rest may commit the same mistake again).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from agent.planner.base import PlanResult
from agent.planner.recipe_graph import Method, RecipeGraph
from agent.planner.symbolic import SymbolicPlanner
from knowledge.schema import Briefing
from sim.mcrules.rules import Rules
from sim.schema import Subgoal, Task, WorldState

KINDS = ("no_station", "low_tool", "early", "no_open")


@dataclass(frozen=True)
class Misbeliefs:
    """How often each kind of wrong belief is held (fraction of the items it can apply to),
    and the seed that picks which items. Each world's fixture reads the kinds that apply to
    it: CraftWorld's `no_station`, `low_tool`, `early`; the household's `no_station` (the
    appliance), `early` and `no_open` (`agent.planner.household.FallibleHouseholdPlanner`)."""

    no_station: float = 0.35
    low_tool: float = 0.5
    early: float = 0.35
    no_open: float = 0.5  # the household world only: a receptacle kind believed to stand open
    seed: int = 0

    def holds(self, kind: str, item: str) -> bool:
        """Whether the planner believes wrongly about `item` (a fixed draw per seed)."""
        rate = float(getattr(self, kind))
        draw = zlib.crc32(f"{self.seed}:{kind}:{item}".encode()) / 2**32
        return draw < rate


def refuted(briefing: Briefing) -> set[tuple[str, str]]:
    """(kind, item) beliefs that the briefing's knowledge speaks against.

    A guardrail on `craft:X` (or `smelt:X`) that is lifted near a station refutes `no_station`
    for X, one lifted by holding an ingredient refutes `early`; one on `mine:B` refutes
    `low_tool` for B. A skill that makes X names its preconditions: stations and ingredients."""
    out: set[tuple[str, str]] = set()

    def facts_about(item: str, verb: str, facts: list[str]) -> None:
        for fact in facts:
            if verb == "mine":
                out.add(("low_tool", item))
            elif fact.startswith("near:"):
                out.add(("no_station", item))
            elif fact.startswith("has:"):
                out.add(("early", item))

    for rail in briefing.guardrails:
        verb, _, item = rail.forbidden.partition(":")
        facts_about(item, verb, rail.unless or [f"cause:{rail.root_cause.value}"])
    for skill in briefing.skills:
        if len(skill.steps) == 1:  # a subgoal skill: its preconditions are the step's own
            step = skill.steps[0]
            facts_about(step.target, step.verb, skill.preconditions)
    return out


class FallibleSymbolicPlanner(SymbolicPlanner):
    """The symbolic planner with seeded misbeliefs that only its briefing can correct."""

    name = "fallible"

    def __init__(self, misbeliefs: Misbeliefs | None = None, version: str = "1.16.5") -> None:
        super().__init__(version)
        self.misbeliefs = misbeliefs or Misbeliefs()
        self._refuted: set[tuple[str, str]] = set()
        self._rules = Rules.load(version)

    def wrong(self, kind: str, item: str) -> bool:
        return self.misbeliefs.holds(kind, item) and (kind, item) not in self._refuted

    def plan(self, task: Task, state: WorldState, briefing: Briefing) -> PlanResult:
        self._refuted = refuted(briefing)
        result = super().plan(task, state, briefing)
        fixed = sorted(f"{k} {i}" for k, i in self._refuted if self.misbeliefs.holds(k, i))
        if fixed:
            result.notes.append("briefing corrected: " + ", ".join(fixed))
        return result

    # ---- the misbeliefs ----------------------------------------------------------------------
    def _station_for(self, item: str, m: Method) -> str | None:
        station = super()._station_for(item, m)
        return None if station and self.wrong("no_station", item) else station

    def _tool_for(self, m: Method) -> str | None:
        tool = m.tool
        if tool is None or not self.wrong("low_tool", m.source):
            return tool
        tier, kind = self._rules.tool_tier(tool), self._rules.tool_kind(tool)
        return {2: f"wooden_{kind}", 3: f"stone_{kind}", 4: f"iron_{kind}"}.get(tier)

    def _reorder(self, subgoals: list[Subgoal], g: RecipeGraph) -> list[Subgoal]:
        out = list(subgoals)
        for sg in subgoals:
            m = g.methods.get(sg.target)
            if sg.verb != "craft" or m is None or not self.wrong("early", sg.target):
                continue
            i = out.index(sg)
            inputs = {dep for dep, _ in m.inputs()}
            made = [j for j in range(i) if out[j].target in inputs and out[j].verb != "equip"]
            if made:  # crafted just before its last ingredient is made
                out.insert(made[-1], out.pop(i))
        return out
