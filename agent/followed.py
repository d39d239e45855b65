"""Whether a plan did what the briefing it was given said: the trace of each recalled item.

For every skill, guardrail and recipe shown to the planner with a plan request, the trajectory
line of the plan's first attempt records whether the plan followed it (`benchmarks/
briefing_trace.py` sums these over runs):

- a skill: the plan called it (or starts with its first step);
- a guardrail: the plan does its remedy before the forbidden step, or, naming the step's
  target, leaves the forbidden step out (followed); it plans the forbidden step with no
  remedy first (not followed);
- a recipe: the plan makes the item that way (the recipe's verb on its source).

An item the plan has nothing to do with is `None` (not applicable), so that "followed" counts
only the plans it could have changed.
"""

from __future__ import annotations

from typing import Any

from knowledge.schema import Briefing, Guardrail, LearnedRecipe, Skill
from sim.schema import Subgoal


def trace(briefing: Briefing, subgoals: list[Subgoal], notes: list[str]) -> list[dict[str, Any]]:
    """One entry per item shown: kind, id, and whether the plan followed it (or None)."""
    ops = [s.key() for s in subgoals]
    out: list[dict[str, Any]] = []
    for skill in briefing.skills:
        out.append(_entry("skill", skill.id, _skill(skill, ops, notes)))
    for rail in briefing.guardrails:
        if not rail.retired:
            out.append(_entry("guardrail", rail.id, _guardrail(rail, ops)))
    for recipe in briefing.recipes:
        out.append(
            _entry("recipe", recipe.evidence[-1] if recipe.evidence else 0, _recipe(recipe, ops))
        )
    return out


def _entry(kind: str, ident: int | None, followed: bool | None) -> dict[str, Any]:
    return {"kind": kind, "id": int(ident or 0), "followed": followed}


def _skill(skill: Skill, ops: list[str], notes: list[str]) -> bool | None:
    if any(n.startswith(f"skill {skill.name}") for n in notes):
        return True
    first = skill.steps[0].key() if skill.steps else ""
    return True if ops and ops[0] == first else None


def _guardrail(rail: Guardrail, ops: list[str]) -> bool | None:
    forbidden = rail.forbidden
    remedy = [s.key() for s in rail.remedy]
    if forbidden in ops:
        before = ops[: ops.index(forbidden)]
        return bool(remedy) and all(r in before for r in remedy)
    target = forbidden.partition(":")[2]
    if any(op.partition(":")[2] == target for op in ops) or any(r in ops for r in remedy):
        return True  # it planned around the rule
    return None


def _recipe(recipe: LearnedRecipe, ops: list[str]) -> bool | None:
    way = f"{recipe.verb}:{recipe.item if recipe.verb in ('craft', 'smelt') else recipe.source}"
    if way in ops:
        return True
    if any(op.partition(":")[2] == recipe.item for op in ops):
        return False  # it went for the item another way
    return None
