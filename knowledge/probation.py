"""Guardrails on probation and skills checked after they ran: knowledge that keeps score.

A guardrail is only ever weakened by its forbidden step succeeding, which enforcement prevents;
so a wrong guardrail (its condition is not the real cause) would never be refuted. The loop puts
one on probation when it keeps blocking a step the planner keeps proposing, or its remedy keeps
failing (`agent.memory`), and lets one guarded attempt through as a probe. `probe_verdict` reads
the probe's outcome:

- it succeeded: the rule is wrong here. The fact that made the difference, one that held in
  every failure the rule rests on and does not hold now, is added to its `when` (the rule now
  applies only where that fact holds: narrowed); with no such fact it is retired.
- it failed with the rule's own cause: the rule stands (confirmed; its confidence rises).
- it failed otherwise: nothing is learned about the rule (inconclusive).

Facts are compared as strings, so this knows nothing of any world. Among several candidate
facts, a condition of the situation (night, depth, a station near, what is held) is preferred to
an inventory fact (`has:`), then the alphabetical first.
"""

from __future__ import annotations

from knowledge.schema import ExperienceTuple, Guardrail, Skill

NARROWED, RETIRED, CONFIRMED, INCONCLUSIVE = "narrowed", "retired", "confirmed", "inconclusive"
RETIRE_BELOW = 0.2  # knowledge below this confidence is retired (the distiller's line too)


def probe_verdict(
    rail: Guardrail, probe: ExperienceTuple, evidence: list[ExperienceTuple]
) -> tuple[Guardrail, str]:
    """The guardrail after its probe, and what the probe said of it (see the module)."""
    if not probe.diagnosis.success:
        if probe.diagnosis.cause == rail.root_cause:
            confidence = min(0.99, rail.confidence + (1 - rail.confidence) * 0.25)
            return rail.model_copy(update={"confidence": confidence}), CONFIRMED
        return rail, INCONCLUSIVE
    failures = [
        set(t.facts)
        for t in evidence
        if not t.diagnosis.success and t.action.key() == rail.forbidden
    ]
    common = set.intersection(*failures) if failures else set()
    candidates = sorted(common - set(probe.facts) - set(rail.when), key=_preference)
    if candidates:
        fact = candidates[0]
        note = f"narrowed: {rail.forbidden} worked without {fact} (past attempt {probe.id})"
        update = {"when": [*rail.when, fact], "reason": _joined(rail.reason, note)}
        return rail.model_copy(update=update), NARROWED
    note = f"retired: {rail.forbidden} worked where it forbade it (past attempt {probe.id})"
    return rail.model_copy(update={"retired": True, "reason": _joined(rail.reason, note)}), RETIRED


def skill_verdict(skill: Skill, before: dict[str, int], after: dict[str, int]) -> bool:
    """Whether a skill that ran all its steps did what its verification says: each item it
    verifies went up, or reached the count it names."""
    return all(
        after.get(item, 0) >= min(n, before.get(item, 0) + 1)
        for item, n in skill.verification.items()
    )


def failed_skill(skill: Skill) -> Skill:
    """A skill whose run failed its verification: less confident, retired below the line."""
    confidence = skill.confidence * 0.6
    retired = skill.retired or confidence < RETIRE_BELOW
    return skill.model_copy(update={"confidence": confidence, "retired": retired})


def _preference(fact: str) -> tuple[int, str]:
    return (1 if fact.startswith("has:") else 0, fact)


def _joined(reason: str, note: str) -> str:
    return f"{reason}; {note}" if reason else note
