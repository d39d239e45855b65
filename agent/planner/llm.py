"""The LLM planner: prompts in, schema-constrained JSON out, subgoals back to the loop.

A full plan at task start; a local repair from the failed subgoal, given its diagnosis and the
plan that was left. Recalled skills are offered as callable subgoals (`skill` with the skill's
name, expanded here into its steps: the world never sees `skill`); guardrails are written into
the prompt, and those that forbid an operation outright are also taken out of the grammar.
The reply is data, checked against the schema; it is never executed. A reply that is not a
valid plan is returned as `PlanResult([], error=...)` (the loop's PLAN_PARSE_FAIL); a backend
that cannot answer at all raises `agent.llm.LLMError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from agent import prompts
from agent.llm.base import Completion, LLMClient, Message
from agent.llm.repair import parse_json
from agent.planner.base import PlanResult
from agent.planner.plan_schema import (
    SKILL_VERB,
    Allowed,
    PlanError,
    Style,
    allowed_targets,
    plan_schema,
    to_subgoals,
)
from knowledge.schema import Briefing, Diagnosis
from sim.schema import Subgoal, Task, WorldState

if TYPE_CHECKING:
    from sim.base import World

log = logging.getLogger(__name__)
NEARBY_SHOWN = 10  # kinds of nearby blocks named in the prompt (the model's context is small)


class LLMPlanner:
    """Plans with any `LLMClient`; `name` is `llm:<backend>`."""

    def __init__(
        self,
        client: LLMClient,
        world: World | None = None,
        *,
        verb_targets: Mapping[str, tuple[str, ...]] | None = None,
        world_name: str | None = None,
        max_steps: int = 4,
        max_tokens: int = 128,
        temperature: float = 0.0,
        style: Style = "per_verb",
    ) -> None:
        if verb_targets is None:
            if world is None:
                raise ValueError("LLMPlanner needs a world or its verb_targets")
            verb_targets = world.verb_targets()
        self.client = client
        self.name = f"llm:{client.backend}"
        self.verb_targets = dict(verb_targets)
        self.world_name = world_name or (world.id if world is not None else "a world")
        self.facts: Callable[[WorldState], frozenset[str]] | None = (
            world.facts if world is not None else None
        )
        self.max_steps = max_steps
        self.sampling: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature}
        self.style: Style = style
        family = self.world_name.split("/")[0]
        hints = f"hints_{family}"
        self.system = prompts.render(
            "system",
            world=self.world_name,
            max_steps=max_steps,
            verbs=", ".join(self.verb_targets),
            hints=prompts.load(hints).strip() if prompts.exists(hints) else "",
        )

    # ---- the Planner protocol ---------------------------------------------------------------
    def plan(self, task: Task, state: WorldState, briefing: Briefing) -> PlanResult:
        user = prompts.render("plan", **self._context(task, state, briefing))
        return self._ask(user, state, briefing)

    def replan(
        self,
        task: Task,
        state: WorldState,
        briefing: Briefing,
        failed: Subgoal,
        diagnosis: Diagnosis,
        remaining: list[Subgoal],
    ) -> PlanResult:
        needs = ""
        if diagnosis.details.get("needs"):
            needs += f"; it needs {diagnosis.details['needs']}"
        if diagnosis.details.get("remedy_verb"):
            d = diagnosis.details
            fix = f"{d['remedy_verb']} {d.get('remedy_count', 1)} {d.get('remedy_target', '')}"
            needs += f"; suggested fix: {fix.strip()}"
        if diagnosis.evidence:
            needs += f" ({'; '.join(diagnosis.evidence[:2])})"
        user = prompts.render(
            "replan",
            **self._context(task, state, briefing),
            failed=failed.text(),
            diagnosis=diagnosis.text(),
            needs=needs,
            remaining="; ".join(s.text() for s in remaining[:6]) or "nothing",
        )
        return self._ask(user, state, briefing)

    # ---- the parts --------------------------------------------------------------------------
    def allowed(self, state: WorldState, briefing: Briefing) -> Allowed:
        """What the grammar admits for this call (verbs, targets, skills, less guardrails)."""
        facts = self.facts(state) if self.facts is not None else None
        return allowed_targets(self.verb_targets, briefing.skills, briefing.guardrails, facts)

    def schema(self, state: WorldState, briefing: Briefing) -> dict[str, Any]:
        return plan_schema(self.allowed(state, briefing), self.max_steps, self.style)

    def _context(self, task: Task, state: WorldState, briefing: Briefing) -> dict[str, str]:
        goal = f"{task.goal.count} {task.goal.item}" if task.goal.item else str(task.goal.predicate)
        lines = [
            f'Skill "{s.name}": ' + "; ".join(x.text() for x in s.steps) for s in briefing.skills
        ]
        if lines:
            lines.insert(
                0, f'Known skills (call one as {{"verb": "{SKILL_VERB}", "target": NAME}}):'
            )
        rails = [g.text() for g in briefing.guardrails if not g.retired]
        if rails:
            lines.append("Rules learned from failures:")
            lines.extend(f"- {r}" for r in rails)
        return {
            "instruction": task.instruction,
            "goal": goal,
            "state": state_text(state),
            "knowledge": "\n".join(lines),
        }

    def _ask(self, user: str, state: WorldState, briefing: Briefing) -> PlanResult:
        allowed = self.allowed(state, briefing)
        schema = plan_schema(allowed, self.max_steps, self.style)
        messages: list[Message] = [
            {"role": "system", "content": self.system},
            {"role": "user", "content": user},
        ]
        done = self.client.complete(messages, schema, **self.sampling)  # LLMError propagates
        result = _accounted(done, messages)
        parsed = done.parsed if done.parsed is not None else parse_json(done.text)
        if parsed is None:
            result.error = f"reply is not JSON: {done.text[:120]!r}"
            return result
        try:
            result.subgoals, result.notes = to_subgoals(parsed, allowed, briefing.skills)
        except PlanError as exc:
            result.error = str(exc)
        if result.error:
            log.info("%s: unusable plan: %s", self.name, result.error)
        return result


def _accounted(done: Completion, messages: list[Message]) -> PlanResult:
    prompt = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)
    return PlanResult(
        [],
        prompt=prompt,
        reply=done.text,
        llm_calls=1,
        prompt_tokens=done.prompt_tokens,
        completion_tokens=done.completion_tokens,
        latency_s=done.latency_s,
    )


def state_text(state: WorldState) -> str:
    """A short, world-neutral description of a state for the prompt."""
    parts = []
    inv = ", ".join(f"{n} {k}" for k, n in sorted(state.inventory.items()) if n > 0)
    parts.append(f"inventory: {inv or 'nothing'}")
    if state.equipped:
        parts.append(f"holding {state.equipped}")
    if state.nearby_blocks:
        near = sorted(state.nearby_blocks.items(), key=lambda kv: (-kv[1], kv[0]))[:NEARBY_SHOWN]
        parts.append("nearby: " + ", ".join(k for k, _ in near))
    if state.nearby_entities:
        parts.append("mobs: " + ", ".join(sorted(state.nearby_entities)))
    if state.health < 20 or state.food < 20:
        parts.append(f"health {state.health:g}/20, food {state.food:g}/20")
    if state.is_night:
        parts.append("night")
    if state.location:
        parts.append(f"at {state.location}")
    if state.holding:
        parts.append(f"holding {state.holding}")
    return "; ".join(parts)
