"""What the loop does with the experience space besides asking recall (`knowledge.recall`):

- **Where to look** (the spatial index): before an `explore`, the places on this map (the
  same world and seed) where the target was found before, and the places where the agent died
  or was hurt, become the subgoal's `toward` and `avoid` arguments: the world heads there first
  and steers away from there. Learned from this map's own past attempts, never told.
- **The ledger**: each piece of knowledge counts how often it was recalled, shown to a planner,
  followed or ignored by the plan, how often a guardrail blocked or was probed, and how the
  attempts made while a plan followed it turned out (`ExperienceStore.ledger`).
- **Probation**: a guardrail that keeps blocking a step the planner keeps proposing, or whose
  remedy keeps failing, lets one guarded attempt through as a probe; the outcome narrows,
  retires or confirms it (`knowledge.probation`).
- **Skills checked after they ran**: a skill expanded into a plan whose steps all ran is checked
  against its verification; a failed check lowers its confidence and retires it below the line.
  (Before expansion, a skill whose preconditions do not hold is refused by the plan grammar and
  by `agent.planner.plan_schema.to_subgoals`, which names the one that does not hold.)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from agent.methods import Method
from agent.planner.base import PlanResult
from knowledge.probation import CONFIRMED, failed_skill, probe_verdict, skill_verdict
from knowledge.schema import Briefing, ExperienceTuple, Guardrail, Skill
from knowledge.signature import cell_of
from knowledge.store import ExperienceStore
from sim.schema import FailureCause, Subgoal, WorldState

PROBE_AFTER = 2  # blocks of one guardrail in an episode, the planner insisting: then a probe
REMEDY_FAILS = 2  # failures of a guardrail's remedy in an episode: then a probe
HURT = (FailureCause.MOB_KILLED.value, FailureCause.DAMAGE.value)
PLACES = 64  # past attempts read to find where a target was (the newest first)


def map_tag(world_id: str, seed: int) -> str:
    """The tag every attempt on one map carries (`ExperienceTuple.tags`)."""
    return f"map:{world_id}#{seed}"


@dataclass
class _SkillRun:
    skill: Skill
    steps: list[str]  # operation keys still to run, in order
    before: dict[str, int]


@dataclass
class Memory:
    """One episode's bookkeeping against the store (`store` None: nothing to keep)."""

    store: ExperienceStore | None
    method: Method
    map: str
    _counts: Counter[tuple[str, int, str]] = field(default_factory=Counter)
    _blocks: Counter[int] = field(default_factory=Counter)
    _remedy: dict[str, int] = field(default_factory=dict)  # a remedy step -> its guardrail
    _remedy_fails: Counter[int] = field(default_factory=Counter)
    _probed: set[int] = field(default_factory=set)
    _following: list[tuple[str, int]] = field(default_factory=list)
    _runs: list[_SkillRun] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)  # what probes and skill checks decided

    # ---- where to look ------------------------------------------------------------------
    def toward(self, subgoal: Subgoal, state: WorldState) -> Subgoal:
        """An `explore` with where its target was found on this map (nearest first) and where
        the agent was hurt; any other subgoal as it is."""
        if self.store is None or subgoal.verb != "explore" or "spatial" not in self.method.indices:
            return subgoal
        look = self.store.lookup
        found = look.by_tags([self.map, subgoal.target], match_all=True, limit=PLACES)
        hurt = [i for c in HURT for i in look.by_tags([self.map, c], limit=PLACES)]
        spots, danger = [], []
        for tup in self.store.get_tuples(sorted({*found, *hurt}, reverse=True)):
            if self.map not in tup.tags:
                continue
            if tup.diagnosis.success and tup.action.target == subgoal.target:
                spots.append(tup.post_state.position)
            if tup.diagnosis.cause.value in HURT or tup.post_state.dead:
                danger.append(tup.post_state.position)
        args = dict(subgoal.args)
        x, _, z = state.position
        if spots:
            best = min(spots, key=lambda p: (p[0] - x) ** 2 + (p[2] - z) ** 2)
            args["toward"] = f"{best[0]},{best[2]}"
        if danger:
            cells = dict.fromkeys(cell_of(p) for p in danger)
            args["avoid"] = ";".join(f"{cx * 16 + 8},{cz * 16 + 8}" for cx, cz in list(cells)[:8])
        return subgoal if args == subgoal.args else subgoal.model_copy(update={"args": args})

    # ---- the ledger ---------------------------------------------------------------------
    def recalled(self, briefing: Briefing) -> None:
        """The briefing an attempt was made with."""
        for item in briefing.items:
            if item.kind in ("skill", "guardrail"):
                self._counts[item.kind, item.id, "recalled"] += 1

    def planned(self, planned: PlanResult, shown: Briefing, state: WorldState) -> None:
        """A plan made with `shown` in its prompt: which items it followed, and the skills it
        expanded (checked once their steps have run)."""
        for item in shown.items:
            if item.kind in ("skill", "guardrail"):
                self._counts[item.kind, item.id, "shown"] += 1
        self._following = []
        for f in planned.followed:
            if f.get("kind") in ("skill", "guardrail") and f.get("followed") is not None:
                key = (str(f["kind"]), int(f["id"]))
                self._counts[(*key, "followed" if f["followed"] else "ignored")] += 1
                if f["followed"]:
                    self._following.append(key)
        self._runs = []
        by_id = {s.id: s for s in shown.skills}
        for use in planned.expanded:
            skill = by_id.get(use.skill_id)
            if skill is None or not skill.verification:
                continue
            keys = [s.key() for s in planned.subgoals[use.start : use.start + use.steps]]
            self._runs.append(_SkillRun(skill, keys, dict(state.inventory)))

    def replaced(self) -> None:
        """The plan in force was dropped (a replan or a repair): its skill runs end unchecked."""
        self._runs = []

    def attempted(self, subgoal: Subgoal, success: bool, state: WorldState) -> None:
        """An attempt's outcome: to the items the plan followed, to a remedy's guardrail, and
        to the skill run it was a step of (`state` is after it)."""
        for kind, ident in self._following:
            self._counts[kind, ident, "ok" if success else "failed"] += 1
        rail = self._remedy.get(subgoal.key())
        if rail is not None and not success:
            self._remedy_fails[rail] += 1
        if self._runs and self._runs[0].steps and self._runs[0].steps[0] == subgoal.key():
            run = self._runs[0]
            run.steps.pop(0)
            if not run.steps:
                self._runs.pop(0)
                self._check(run, state)

    def _check(self, run: _SkillRun, state: WorldState) -> None:
        assert self.store is not None and run.skill.id is not None
        if skill_verdict(run.skill, run.before, dict(state.inventory)):
            self._counts["skill", run.skill.id, "ok"] += 1
            return
        self._counts["skill", run.skill.id, "failed"] += 1
        stored = self.store.find_skill(run.skill.name)
        if stored is not None:
            after = self.store.revise_skill(failed_skill(stored))
            word = "retired" if after.retired else f"confidence {after.confidence:.2f}"
            self.verdicts.append(f"skill {after.id} failed its verification: {word}")

    # ---- guardrails: blocks and probes --------------------------------------------------
    def probes(self, rail: Guardrail) -> bool:
        """A guardrail about to block: whether to let this attempt through as its probe
        instead (once per guardrail and episode). Counts the block otherwise."""
        if rail.id is None or self.store is None:
            return False
        if rail.id not in self._probed and (
            self._blocks[rail.id] >= PROBE_AFTER or self._remedy_fails[rail.id] >= REMEDY_FAILS
        ):
            self._probed.add(rail.id)
            self._counts["guardrail", rail.id, "probes"] += 1
            return True
        self._blocks[rail.id] += 1
        self._counts["guardrail", rail.id, "blocks"] += 1
        for step in rail.remedy:
            self._remedy[step.key()] = rail.id
        return False

    def probed(self, rail: Guardrail, tup: ExperienceTuple) -> None:
        """What the probe's outcome says of the guardrail, written to the store."""
        assert self.store is not None and rail.id is not None
        stored = next(
            (g for g in self.store.guardrails_for(rail.forbidden) if g.id == rail.id), rail
        )
        evidence = self.store.get_tuples(stored.evidence)
        revised, verdict = probe_verdict(stored, tup, evidence)
        if verdict != CONFIRMED and revised == stored:
            self.verdicts.append(f"guardrail {rail.id} probed: {verdict}")
            return
        revised = self.store.revise_guardrail(revised)
        self.verdicts.append(f"guardrail {rail.id} probed: {verdict}")
        self._counts["guardrail", rail.id, "ok" if tup.diagnosis.success else "failed"] += 1

    def flush(self) -> None:
        """Write the counts kept since the last flush (one transaction)."""
        if self.store is not None and self._counts:
            self.store.ledger_add((k, i, c, n) for (k, i, c), n in self._counts.items())
        self._counts.clear()
