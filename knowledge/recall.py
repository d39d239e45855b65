"""Recall: rank tier-3 knowledge and tier-2 summaries for a query, within a token budget.

Every recalled item names the tuples it came from, so a briefing can be audited back to the
attempts that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from knowledge.schema import Briefing, Guardrail, RecallItem, Skill
from knowledge.store import ExperienceStore


@dataclass(frozen=True)
class RecallQuery:
    """What the agent is about to do: the task goal, the facts that hold, and the items its
    requirement tree mentions (the agent knows the recipes; the store does not)."""

    goal: str
    facts: frozenset[str] = frozenset()
    relevant: frozenset[str] = frozenset()
    kinds: frozenset[str] = field(default_factory=lambda: frozenset({"skill", "guardrail"}))
    summaries: bool = True


def _tokens(text: str) -> int:
    # about four characters a token for English and identifiers; good enough for budgeting
    return len(text) // 4 + 1


def _skill_score(skill: Skill, q: RecallQuery) -> float:
    if skill.target == q.goal:
        base = 1.0
    elif skill.target in q.relevant:
        base = 0.6
    else:
        return 0.0
    held = sum(1 for p in skill.preconditions if p in q.facts)
    frac = held / len(skill.preconditions) if skill.preconditions else 1.0
    return base * skill.confidence * (0.5 + 0.5 * frac)


def _guardrail_score(rail: Guardrail, q: RecallQuery) -> float:
    target = rail.forbidden.partition(":")[2]
    if rail.scope == "task":
        base = 1.0 if rail.task_goal == q.goal else 0.0
    elif target == q.goal or target in q.relevant:
        base = 0.8
    else:
        base = 0.2
    if rail.when and not all(f in q.facts for f in rail.when):
        base *= 0.5
    return base * rail.confidence


def recall(store: ExperienceStore, query: RecallQuery, budget_tokens: int = 600) -> Briefing:
    """A ranked briefing of skills, guardrails and failure summaries for `query`."""
    scored: list[tuple[float, RecallItem, Skill | Guardrail | None]] = []
    if "skill" in query.kinds:
        for skill in store.skills():
            if (s := _skill_score(skill, query)) > 0 and skill.id is not None:
                item = RecallItem(
                    kind="skill", id=skill.id, text=skill.text(), score=s, evidence=skill.evidence
                )
                scored.append((s, item, skill))
    if "guardrail" in query.kinds:
        for rail in store.guardrails():
            if (s := _guardrail_score(rail, query)) > 0 and rail.id is not None:
                item = RecallItem(
                    kind="guardrail", id=rail.id, text=rail.text(), score=s, evidence=rail.evidence
                )
                scored.append((s, item, rail))
    if query.summaries:
        for summ in store.summaries("op"):
            target = summ["key"].partition(":")[2]
            failures = summ["attempts"] - summ["successes"]
            if failures and (target == query.goal or target in query.relevant):
                causes = ", ".join(f"{c} x{n}" for c, n in sorted(summ["causes"].items()))
                text = (
                    f"history {summ['key']}: {summ['attempts']} attempts, "
                    f"{summ['success_rate']:.0%} ok ({causes})"
                )
                s = 0.3 * failures / summ["attempts"]
                item = RecallItem(
                    kind="summary",
                    id=summ["last_tuple"],
                    text=text,
                    score=s,
                    evidence=[summ["last_tuple"]],
                )
                scored.append((s, item, None))
    scored.sort(key=lambda t: (-t[0], t[1].kind, t[1].id))
    briefing = Briefing()
    used = 0
    for _, item, obj in scored:
        cost = _tokens(item.text)
        if used + cost > budget_tokens:
            continue
        used += cost
        briefing.items.append(item)
        if isinstance(obj, Skill):
            briefing.skills.append(obj)
        elif isinstance(obj, Guardrail):
            briefing.guardrails.append(obj)
    return briefing
