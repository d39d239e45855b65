"""Dual-track distillation: successes become skills, failures become guardrails.

`RuleDistiller` works offline with no LLM. It reads the episode's tuples, writes tier-3
knowledge with the ids of the tuples it came from, and re-scores what the episode confirmed or
contradicted. An LLM distiller (the experience extractor) plugs in behind the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from knowledge.schema import ExperienceTuple, Guardrail, Skill
from knowledge.store import ExperienceStore
from sim.schema import FailureCause, Subgoal

RETIRE_BELOW = 0.2
_STATION_FACTS = {"near:crafting_table", "near:furnace"}

# causes whose diagnosis names a missing condition, so a guardrail can say what to do first
_GUARDABLE = {
    FailureCause.WRONG_TOOL,
    FailureCause.MISSING_ITEM,
    FailureCause.RECIPE_FAIL,
    FailureCause.SMELT_FAIL,
    FailureCause.TARGET_UNREACHABLE,
    # household world: a closed receptacle, the wrong appliance, empty hands
    FailureCause.RECEPTACLE_CLOSED,
    FailureCause.WRONG_APPLIANCE,
    FailureCause.NOT_HOLDING,
}


@dataclass
class DistillReport:
    skills: list[int] = field(default_factory=list)
    guardrails: list[int] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    llm_calls: int = 0  # what an LLM distiller spent
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0

    def as_dict(self) -> dict[str, list[int] | list[str]]:
        return {"skills": self.skills, "guardrails": self.guardrails, "retired": self.retired}


# what makes going on risky, and what makes it safe again (task-scope guardrails)
_RISKS = ("night", "y<16", "health_low", "food_low")
_ARMED = "sword>=wood"
_HURT = {FailureCause.DAMAGE, FailureCause.MOB_KILLED}


class Distiller(Protocol):
    def distill(
        self, store: ExperienceStore, tuples: list[ExperienceTuple], success: bool, goal: str
    ) -> DistillReport:
        """At the end of an episode: skills from what worked, guardrails from what failed."""
        ...

    def online(self, store: ExperienceStore, tup: ExperienceTuple) -> DistillReport:
        """Within the episode, right after a failed attempt: the guardrail it teaches, so the
        next recall and replan already see it."""
        ...


def _has_facts(inventory: dict[str, int]) -> list[str]:
    return sorted(f"has:{k}" for k, n in inventory.items() if n > 0)


def _remedy(details: dict[str, str | int | float]) -> list[Subgoal]:
    verb, target = details.get("remedy_verb"), details.get("remedy_target")
    if not verb or not target:
        return []
    return [Subgoal(verb=str(verb), target=str(target), count=int(details.get("remedy_count", 1)))]


class RuleDistiller:
    """Offline distillation by rules over the diagnosis fields."""

    def __init__(self) -> None:
        self._online: set[int] = set()  # failures already distilled within their episode

    def distill(
        self, store: ExperienceStore, tuples: list[ExperienceTuple], success: bool, goal: str
    ) -> DistillReport:
        report = DistillReport()
        done = [t for t in tuples if t.diagnosis.success]
        if success and done:
            self._episode_skill(store, done, goal, report)
        for tup in done:
            if tup.action.verb in ("craft", "smelt"):
                self._subgoal_skill(store, tup, report)
            self._check_guardrails(store, tup, report)
        for tup in tuples:
            if not tup.diagnosis.success:
                self._check_skills(store, tup, report)
                if tup.id is None or tup.id not in self._online:
                    self._failure(store, tup, report)
                self._online.discard(int(tup.id or 0))
        return report

    def online(self, store: ExperienceStore, tup: ExperienceTuple) -> DistillReport:
        report = DistillReport()
        if not tup.diagnosis.success:
            self._failure(store, tup, report)
            if tup.id is not None:
                self._online.add(tup.id)
        return report

    def _failure(self, store: ExperienceStore, tup: ExperienceTuple, report: DistillReport) -> None:
        cause = tup.diagnosis.cause
        if cause in _GUARDABLE or (
            cause is FailureCause.OBJECT_NOT_FOUND and tup.diagnosis.details.get("needs")
        ):  # not found: guarded only with a condition to lift it, else it blocks for good
            self._guardrail(store, tup, report)
        elif tup.diagnosis.cause in _HURT:
            self._task_guardrail(store, tup, report)

    def _merge_skill(self, store: ExperienceStore, new: Skill, report: DistillReport) -> None:
        old = store.find_skill(new.name)
        if old is not None:
            same = [s.key() for s in old.steps] == [s.key() for s in new.steps]
            keep = old if same or len(old.steps) <= len(new.steps) else new
            keep.evidence = sorted(set(old.evidence) | set(new.evidence))[-50:]
            keep.successes = old.successes + 1
            keep.uses = old.uses + 1
            keep.confidence = min(0.99, old.confidence + (1 - old.confidence) * 0.2)
            keep.retired = False
            new = keep
        report.skills.append(int(store.put_skill(new).id or 0))

    def _episode_skill(
        self, store: ExperienceStore, done: list[ExperienceTuple], goal: str, report: DistillReport
    ) -> None:
        first, last = done[0], done[-1]
        skill = Skill(
            name=f"obtain:{goal}",
            target=goal,
            preconditions=_has_facts(first.pre_state.inventory),
            steps=[t.action for t in done],
            verification={goal: max(1, last.post_state.count(goal))},
            evidence=[int(t.id) for t in done if t.id is not None],
            uses=1,
            successes=1,
        )
        self._merge_skill(store, skill, report)

    def _subgoal_skill(
        self, store: ExperienceStore, tup: ExperienceTuple, report: DistillReport
    ) -> None:
        gained = tup.diagnosis.diff.gained.get(tup.action.target, 0)
        if gained <= 0:
            return
        skill = Skill(
            name=f"{tup.action.verb}:{tup.action.target}",
            target=tup.action.target,
            preconditions=_has_facts(tup.diagnosis.diff.lost)
            + sorted(f for f in tup.facts if f in _STATION_FACTS),
            steps=[tup.action],
            verification={tup.action.target: gained},
            evidence=[int(tup.id or 0)],
            uses=1,
            successes=1,
        )
        self._merge_skill(store, skill, report)

    def _guardrail(
        self, store: ExperienceStore, tup: ExperienceTuple, report: DistillReport
    ) -> None:
        details = tup.diagnosis.details
        needs = details.get("needs")
        rail = Guardrail(
            scope="subgoal",
            root_cause=tup.diagnosis.cause,
            forbidden=tup.action.key(),
            unless=[str(needs)] if needs else [],
            remedy=_remedy(details),
            reason=tup.diagnosis.evidence[0] if tup.diagnosis.evidence else "",
            evidence=[int(tup.id or 0)],
        )
        self._keep(store, rail, report)

    def _task_guardrail(
        self, store: ExperienceStore, tup: ExperienceTuple, report: DistillReport
    ) -> None:
        """Hurt while doing something under a risky condition (at night, deep, weak), unarmed:
        for this task, do not do it there again without a sword."""
        risks = [f for f in _RISKS if f in tup.facts]
        if not risks or _ARMED in tup.facts:
            return
        rail = Guardrail(
            scope="task",
            task_goal=tup.task_goal,
            root_cause=tup.diagnosis.cause,
            forbidden=tup.action.key(),
            when=risks,
            unless=[_ARMED],
            remedy=[Subgoal(verb="craft", target="wooden_sword")],
            reason=tup.diagnosis.evidence[0] if tup.diagnosis.evidence else "",
            evidence=[int(tup.id or 0)],
        )
        self._keep(store, rail, report)

    def _keep(self, store: ExperienceStore, rail: Guardrail, report: DistillReport) -> None:
        """Store a new guardrail, or strengthen the same one with new evidence (once per
        tuple: the end-of-episode pass does not count what the online pass saw)."""
        old = store.find_guardrail(rail)
        if old is not None and set(rail.evidence) <= set(old.evidence):
            return
        if old is not None:
            old.evidence = sorted(set(old.evidence) | set(rail.evidence))[-50:]
            old.confidence = min(0.99, old.confidence + (1 - old.confidence) * 0.25)
            old.retired = False
            rail = old
        report.guardrails.append(int(store.put_guardrail(rail).id or 0))

    def _check_skills(
        self, store: ExperienceStore, tup: ExperienceTuple, report: DistillReport
    ) -> None:
        """A skill's own step failing while its preconditions held: its verification failed,
        so it loses confidence, and is retired below `RETIRE_BELOW`."""
        if tup.diagnosis.cause in (FailureCause.BLOCKED_BY_GUARDRAIL, FailureCause.PLAN_PARSE_FAIL):
            return
        skill = store.find_skill(f"{tup.action.verb}:{tup.action.target}")
        facts = set(tup.facts)
        if skill is None or skill.retired or not all(p in facts for p in skill.preconditions):
            return
        skill.confidence *= 0.6
        skill.evidence = sorted({*skill.evidence, int(tup.id or 0)})[-50:]
        if skill.confidence < RETIRE_BELOW:
            skill.retired = True
            report.retired.append(f"skill {skill.id}: {skill.name}")
        store.put_skill(skill)

    def _check_guardrails(
        self, store: ExperienceStore, tup: ExperienceTuple, report: DistillReport
    ) -> None:
        """A forbidden operation that succeeded under the guarded condition weakens the rule."""
        facts = frozenset(tup.facts)
        for rail in store.guardrails():
            if rail.applies(tup.action, facts):
                rail.violations += 1
                rail.confidence *= 0.5
                rail.evidence = sorted({*rail.evidence, int(tup.id or 0)})[-50:]
                if rail.confidence < RETIRE_BELOW:
                    rail.retired = True
                    report.retired.append(f"guardrail {rail.id}: {rail.forbidden}")
                store.put_guardrail(rail)
