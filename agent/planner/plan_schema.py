"""The JSON schema an LLM plan must follow, built from the world's verbs and names, and the
check that turns a parsed reply into subgoals.

A plan is `{"plan": [{"verb", "target", "count"}, ...]}` (an object at the top, as OpenAI's
strict structured output requires). The schema admits only the world's verbs, each with the
targets `World.verb_targets()` gives it, plus `skill` with the names of recalled skills, less
every `verb:target` that an active guardrail forbids outright (no `unless` to lift it). Because
grammar-constrained backends compile this schema into their grammar, the model cannot write
anything else; the same check runs on every reply anyway, since not every backend constrains.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from agent.planner.base import Expanded
from knowledge.schema import Guardrail, Skill
from sim.schema import Subgoal

SKILL_VERB = "skill"
MAX_COUNT = 64
Style = Literal["per_verb", "flat"]
Allowed = dict[str, tuple[str, ...]]


class PlanError(ValueError):
    """A reply that is not a valid plan (the loop's PLAN_PARSE_FAIL)."""


def allowed_targets(
    verb_targets: Mapping[str, Iterable[str]],
    skills: Iterable[Skill] = (),
    guardrails: Iterable[Guardrail] = (),
    facts: frozenset[str] | None = None,
) -> Allowed:
    """What each verb may target in this plan.

    A guardrail removes its `verb:target` only when nothing the plan does could lift it: it has
    no `unless`, and its `when` facts hold now (when `facts` are known) or it has none.
    """
    out = {verb: list(targets) for verb, targets in verb_targets.items()}
    for g in guardrails:
        if g.retired or g.unless:
            continue
        if g.when and (facts is None or not all(f in facts for f in g.when)):
            continue
        verb, _, target = g.forbidden.partition(":")
        if verb in out and target in out[verb]:
            out[verb] = [t for t in out[verb] if t != target]
    # a skill is offered only where its preconditions hold (when the facts are known)
    names = sorted({s.name for s in skills if not s.retired and s.steps and _can_start(s, facts)})
    if names:
        out[SKILL_VERB] = names
    return {verb: tuple(targets) for verb, targets in out.items() if targets}


def narrowed(verb_targets: Mapping[str, Iterable[str]], keep: Iterable[str]) -> Allowed:
    """Each verb's targets cut down to the names in `keep`; verbs left with none are dropped."""
    names = set(keep)
    out = {verb: tuple(t for t in targets if t in names) for verb, targets in verb_targets.items()}
    return {verb: targets for verb, targets in out.items() if targets}


def plan_schema(
    allowed: Allowed,
    max_steps: int = 4,
    style: Style = "per_verb",
    max_count: int = MAX_COUNT,
    single: Iterable[str] = (),
    caps: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The JSON schema of a plan of 1..max_steps subgoals.

    `per_verb` is exact (an `anyOf` with each verb's own target enum); `flat` takes any verb
    with any target of the union (smaller, for backends that choke on large grammars) and
    leaves the pairing to `to_subgoals`. Counts run 1..max_count, or 1..caps[target] for a
    capped target (per_verb only); verbs in `single` (and `skill`) take only 1.
    """
    top = min(max_count, MAX_COUNT)
    ones = {*single, SKILL_VERB}
    if style == "flat":
        names = sorted({t for targets in allowed.values() for t in targets})
        item: dict[str, Any] = _step({"enum": sorted(allowed)}, {"enum": names}, _count(top))
    else:
        alternatives = []
        for verb, targets in allowed.items():
            by_bound: dict[int, list[str]] = {}
            for t in targets:
                bound = 1 if verb in ones else min(top, (caps or {}).get(t, top))
                by_bound.setdefault(max(bound, 1), []).append(t)
            for bound, group in by_bound.items():
                alternatives.append(_step({"enum": [verb]}, {"enum": group}, _count(bound)))
        item = {"anyOf": alternatives}
    return {
        "type": "object",
        "properties": {
            "plan": {"type": "array", "items": item, "minItems": 1, "maxItems": max_steps}
        },
        "required": ["plan"],
        "additionalProperties": False,
    }


def _count(bound: int) -> dict[str, Any]:
    return {"enum": [1]} if bound == 1 else {"type": "integer", "minimum": 1, "maximum": bound}


def _step(verb: dict[str, Any], target: dict[str, Any], count: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"verb": verb, "target": target, "count": count},
        "required": ["verb", "target", "count"],
        "additionalProperties": False,
    }


def _can_start(skill: Skill, facts: frozenset[str] | None) -> bool:
    return facts is None or all(p in facts for p in skill.preconditions)


def to_subgoals(
    parsed: Any,
    allowed: Allowed,
    skills: Iterable[Skill] = (),
    facts: frozenset[str] | None = None,
) -> tuple[list[Subgoal], list[str], list[Expanded]]:
    """Check a parsed reply against `allowed` and expand skills into their steps. A skill
    whose preconditions do not hold in `facts` (when given) is refused before it is expanded,
    naming the precondition that does not hold.

    Returns the subgoals, notes on what was expanded and where each expanded skill's steps
    stand (`Expanded`); raises `PlanError` naming the first
    thing wrong. A bare list, or a single step object, is read as the plan (a trivial repair).
    """
    steps = as_plan(parsed)["plan"]
    if not isinstance(steps, list) or not steps:
        raise PlanError(f"expected a non-empty list of steps, got {_clip(parsed)}")
    by_name = {s.name: s for s in skills}
    out: list[Subgoal] = []
    notes: list[str] = []
    expanded: list[Expanded] = []
    for n, step in enumerate(steps, 1):
        if not isinstance(step, dict):
            raise PlanError(f"step {n} is not an object: {_clip(step)}")
        verb, target, count = step.get("verb"), step.get("target"), step.get("count", 1)
        if verb not in allowed:
            raise PlanError(f"step {n}: unknown verb {verb!r} (verbs: {', '.join(allowed)})")
        if target not in allowed[verb]:
            raise PlanError(f"step {n}: {verb} cannot target {target!r}")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
            raise PlanError(f"step {n}: count must be an integer 1..{MAX_COUNT}, got {count!r}")
        if verb == SKILL_VERB:
            skill = by_name[str(target)]
            unmet = [p for p in skill.preconditions if facts is not None and p not in facts]
            if unmet and n == 1:  # (a later step may be what makes it hold)
                raise PlanError(
                    f"step {n}: skill {skill.name} cannot start here: "
                    f"{', '.join(unmet)} does not hold"
                )
            if skill.id is not None:
                expanded.append(Expanded(skill.id, len(out), len(skill.steps)))
            out.extend(skill.steps)
            notes.append(f"skill {skill.name} -> {len(skill.steps)} steps (id {skill.id})")
        else:
            out.append(Subgoal(verb=str(verb), target=str(target), count=count))
    return out, notes, expanded


def as_plan(parsed: Any) -> dict[str, Any]:
    """A reply in the schema's shape: a bare list of steps, or a single step object, is read
    as `{"plan": ...}` (a trivial repair); anything else goes under `plan` as it is (and
    fails the check there)."""
    if isinstance(parsed, dict) and "plan" in parsed:
        return parsed
    if isinstance(parsed, dict) and "verb" in parsed:
        return {"plan": [parsed]}
    return {"plan": parsed}


def _clip(value: Any, n: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."
