"""Dual-track distillation: successes become skills, failures become guardrails.

`RuleDistiller` works offline with no LLM. It reads the episode's tuples, writes tier-3
knowledge with the ids of the tuples it came from, and re-scores what the episode confirmed or
contradicted. An LLM distiller (the experience extractor) plugs in behind the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from knowledge.induce import GAIN, Induced, condition_for, remedy_for
from knowledge.probation import RETIRE_BELOW, failed_skill
from knowledge.schema import ExperienceTuple, Guardrail, Skill, unpack_counts
from knowledge.store import ExperienceStore
from sim.schema import FailureCause

_STATION_FACTS = {"near:crafting_table", "near:furnace"}

# causes whose diagnosis may name a missing condition (or the condition it failed under)
GUARDABLE = {
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


# failures that no fact lifts: nothing makes the item that way (no crafting recipe)
_NEVER = {FailureCause.RECIPE_FAIL, FailureCause.SMELT_FAIL}


def rule_for(store: ExperienceStore, tup: ExperienceTuple) -> Guardrail | None:
    """The subgoal guardrail a failed attempt teaches, by rule, or None where its evidence
    gives no condition to guard by: `unless` the fact its diagnosis found missing, or `when`
    the condition it failed under (a block that dropped nothing with this in hand); a craft
    with no recipe is forbidden outright. The remedy is induced from experience
    (`knowledge.induce`), with the tuple ids it rests on, or left empty."""
    d = tup.diagnosis
    needs, context = d.details.get("needs"), d.details.get("context")
    when: list[str] = []
    unless: list[str] = []
    if needs:
        unless = [str(needs)]
    elif context:
        when = [str(context)]
    elif d.cause not in _NEVER:
        return None
    found = _induce(store, tup.action.key(), unless, when, tup.facts, d.details.get("missing"))
    return Guardrail(
        scope="subgoal",
        root_cause=d.cause,
        forbidden=tup.action.key(),
        when=when,
        unless=unless,
        remedy=list(found.steps) if found else [],
        remedy_evidence=list(found.evidence) if found and found.steps else [],
        reason=d.evidence[0] if d.evidence else "",
        evidence=[int(tup.id or 0)],
    )


def _induce(
    store: ExperienceStore,
    op: str,
    unless: list[str],
    when: list[str],
    held: list[str],
    missing: str | int | float | None = None,
) -> Induced | None:
    """A remedy from experience: what made the lifting fact true before; for a rule that
    names only the condition it failed under (`when`), what held when the operation
    succeeded and not at the failure (`held`: the facts then)."""
    if unless:
        fact = unless[0]
        item = fact.partition(":")[2] if fact.startswith("has:") else ""
        short = unpack_counts(missing).get(item, 1)
        return remedy_for(store, fact, avoid=[op], shortfall=short)
    if when:
        kind = when[0].partition(":")[0]
        prefix = "equipped:" if kind in ("equipped", "hands") else f"{kind}:"
        return condition_for(store, op, [*when, *held], prefix)
    return None


def chain(done: list[ExperienceTuple], goal: str) -> list[ExperienceTuple]:
    """The successful attempts the goal rests on, in order: a backward slice from the goal
    through what each kept attempt used up (its inputs) and needed at hand (stations, what it
    held). Detours (a second crafting table, a shovel in a pickaxe task) drop out, so the skill
    replays the way, not the wandering."""
    needed = {f"has:{goal}"}
    kept: list[ExperienceTuple] = []
    for tup in reversed(done):
        made = {f"has:{i}" for i in tup.diagnosis.diff.gained}
        made |= {t[len(GAIN) :] for t in tup.tags if t.startswith(GAIN)}
        if not made & needed:
            continue
        kept.append(tup)
        needed -= made
        needed |= {f"has:{i}" for i in tup.diagnosis.diff.lost}
        needed |= {f for f in tup.facts if f.startswith(("near:", "equipped:"))}
    return kept[::-1]


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
        if done:
            self.refresh_remedies(store, report, done)
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
        if cause in GUARDABLE or (
            cause is FailureCause.OBJECT_NOT_FOUND and tup.diagnosis.details.get("needs")
        ):  # not found: guarded only with a condition to lift it, else it blocks for good
            self._guardrail(store, tup, report)
        elif tup.diagnosis.cause in _HURT:
            self._task_guardrail(store, tup, report)

    def refresh_remedies(
        self, store: ExperienceStore, report: DistillReport, done: list[ExperienceTuple]
    ) -> None:
        """Guardrails learned before anything had made their condition true get the remedy
        experience now offers (the end of an episode that found a way): those lifted by a fact
        these attempts made true, and those on an operation that worked here (a contrast)."""
        gained = {t[len(GAIN) :] for tup in done for t in tup.tags if t.startswith(GAIN)}
        found_by_id = {int(r.id or 0): r for r in store.guardrails_lifted_by(gained)}
        for op in dict.fromkeys(tup.action.key() for tup in done):
            found_by_id.update((int(r.id or 0), r) for r in store.guardrails_for(op))
        for rail in (found_by_id[k] for k in sorted(found_by_id)):
            if rail.remedy or rail.scope != "subgoal":
                continue
            found = _induce(store, rail.forbidden, rail.unless, rail.when, [])
            if found is not None and found.steps:
                rail.remedy, rail.remedy_evidence = list(found.steps), list(found.evidence)
                report.guardrails.append(int(store.put_guardrail(rail).id or 0))

    def _merge_skill(self, store: ExperienceStore, new: Skill, report: DistillReport) -> None:
        old = store.find_skill(new.name)
        if old is None:  # a near-duplicate under another name: the same steps to the same item
            # (an episode's `obtain:stick` that is one `craft:stick`): one skill, not two
            keys = [s.key() for s in new.steps]
            old = next(
                (
                    k
                    for k in store.skills_for({new.target})
                    if k.target == new.target and [s.key() for s in k.steps] == keys
                ),
                None,
            )
            if old is not None:
                new = new.model_copy(update={"name": old.name})
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
        done = chain(done, goal) or done  # a predicate goal (household) is no item to trace
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
        rail = rule_for(store, tup)
        if rail is not None:
            self._keep(store, rail, report)

    def _task_guardrail(
        self, store: ExperienceStore, tup: ExperienceTuple, report: DistillReport
    ) -> None:
        """Hurt while doing something under a risky condition (at night, deep, weak), unarmed:
        for this task, do not do it there again without a sword. The remedy is what made the
        agent armed before, if anything has."""
        risks = [f for f in _RISKS if f in tup.facts]
        if not risks or _ARMED in tup.facts:
            return
        induced = remedy_for(store, _ARMED)
        rail = Guardrail(
            scope="task",
            task_goal=tup.task_goal,
            root_cause=tup.diagnosis.cause,
            forbidden=tup.action.key(),
            when=risks,
            unless=[_ARMED],
            remedy=list(induced.steps) if induced else [],
            remedy_evidence=list(induced.evidence) if induced else [],
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
            if rail.remedy:  # the newest induction: more experience, maybe a better way
                old.remedy, old.remedy_evidence = rail.remedy, rail.remedy_evidence
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
        skill = failed_skill(skill)  # the loop's verification check weakens it the same way
        skill.evidence = sorted({*skill.evidence, int(tup.id or 0)})[-50:]
        if skill.retired:
            report.retired.append(f"skill {skill.id}: {skill.name}")
        store.put_skill(skill)

    def _check_guardrails(
        self, store: ExperienceStore, tup: ExperienceTuple, report: DistillReport
    ) -> None:
        """A forbidden operation that succeeded under the guarded condition weakens the rule."""
        facts = frozenset(tup.facts)
        for rail in store.guardrails_for(tup.action.key()):
            if rail.applies(tup.action, facts):
                rail.violations += 1
                rail.confidence *= 0.5
                rail.evidence = sorted({*rail.evidence, int(tup.id or 0)})[-50:]
                if rail.confidence < RETIRE_BELOW:
                    rail.retired = True
                    report.retired.append(f"guardrail {rail.id}: {rail.forbidden}")
                store.put_guardrail(rail)
