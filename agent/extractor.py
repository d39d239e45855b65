"""The LLM distiller (the experience extractor): an LLM writes the lesson of each failure.

It plugs in where `knowledge.distill.RuleDistiller` does (the `Distiller` protocol) and keeps
the rule distiller's success track: a skill is what happened, so its steps, preconditions and
verification come from the tuples. On the failure track the LLM reads the failed attempt, its
diagnosis and the facts that held, and writes the guardrail's lesson, its lifting condition
and its remedy, through the same `LLMClient` interface the planner uses, constrained by a
JSON schema whose enums hold only grounded choices:

- the forbidden operation and the root cause are the attempt's own (never the model's);
- `unless` is a fact that did not hold before the attempt (else it would not have helped),
  drawn from the diagnosis's `needs`, the stations and tool tiers, and the remedy's target
  (there is no "never": a guardrail the model could not lift would block for good);
- the remedy is a verb of the world with a target the attempt or diagnosis names.

A reply that cannot be read, or a backend that fails, falls back to the rule's guardrail for
that attempt (counted in `fallbacks`), so distillation never loses a failure.
"""

from __future__ import annotations

import logging
from typing import Any

from agent import prompts
from agent.llm.base import LLMClient, LLMError
from agent.llm.repair import parse_json
from knowledge.distill import DistillReport, RuleDistiller
from knowledge.schema import ExperienceTuple, Guardrail
from knowledge.store import ExperienceStore
from sim.schema import Subgoal

log = logging.getLogger(__name__)
CONDITIONS = (
    "near:crafting_table",
    "near:furnace",
    "pickaxe>=wood",
    "pickaxe>=stone",
    "pickaxe>=iron",
    "sword>=wood",
    "has_fuel",
)
REMEDY_VERBS = ("craft", "smelt", "mine", "place", "move_to", "equip", "explore", "attack")
LESSON_CHARS = 120


class LLMDistiller(RuleDistiller):
    """Rule-based skills; LLM-written, grounded guardrails."""

    def __init__(self, client: LLMClient, world: str = "CraftWorld", max_tokens: int = 160):
        super().__init__()
        self.client, self.world, self.max_tokens = client, world, max_tokens
        self.calls = self.fallbacks = 0

    def _guardrail(
        self, store: ExperienceStore, tup: ExperienceTuple, report: DistillReport
    ) -> None:
        rail = self.extract(tup, report)
        if rail is None:
            self.fallbacks += 1
            super()._guardrail(store, tup, report)
            return
        self._keep(store, rail, report)

    def choices(self, tup: ExperienceTuple) -> tuple[list[str], list[str]]:
        """The grounded options for `unless` and for the remedy's target."""
        d, facts = tup.diagnosis.details, set(tup.facts)
        unless = [str(d["needs"])] if d.get("needs") else []
        unless += [c for c in CONDITIONS if c not in unless]
        target = d.get("remedy_target")
        if target:
            unless.append(f"has:{target}")
        unless = [u for u in dict.fromkeys(unless) if u not in facts]
        targets = [str(t) for t in (target, tup.action.target) if t]
        targets += [c.partition(":")[2] for c in unless if c.startswith(("near:", "has:"))]
        return unless, list(dict.fromkeys(targets))

    def extract(
        self, tup: ExperienceTuple, report: DistillReport | None = None
    ) -> Guardrail | None:
        """The guardrail the LLM writes for one failed attempt, or None if it wrote nothing
        usable (or there is no condition left to choose)."""
        unless, targets = self.choices(tup)
        if not unless or not targets:
            return None
        d = tup.diagnosis
        remedy = " ".join(
            str(d.details[k]) for k in ("remedy_verb", "remedy_target") if d.details.get(k)
        )
        prompt = prompts.render(
            "extract",
            world=self.world,
            goal=tup.task_goal or "unknown",
            action=tup.action.text(),
            cause=d.cause.value,
            evidence="; ".join(d.evidence) or d.text(),
            facts=", ".join(tup.facts) or "nothing of note",
            remedy=remedy or "nothing",
        )
        prompt += "\nChoices for unless: " + ", ".join(unless)
        schema = {
            "type": "object",
            "properties": {
                "lesson": {"type": "string", "maxLength": LESSON_CHARS},
                "unless": {"enum": unless},
                "remedy_verb": {"enum": list(REMEDY_VERBS)},
                "remedy_target": {"enum": targets},
            },
            "required": ["lesson", "unless", "remedy_verb", "remedy_target"],
            "additionalProperties": False,
        }
        try:
            done = self.client.complete(
                [{"role": "user", "content": prompt}],
                schema=schema,
                max_tokens=self.max_tokens,
                temperature=0.0,
            )
        except LLMError as exc:
            log.warning("experience extractor: %s; the rule's guardrail is kept", exc)
            return None
        self.calls += 1
        if report is not None:
            report.llm_calls += 1
            report.prompt_tokens += done.prompt_tokens
            report.completion_tokens += done.completion_tokens
            report.latency_s += done.latency_s
        reply = done.parsed if done.parsed is not None else parse_json(done.text)
        return self._grounded(tup, reply, unless, targets)

    def _grounded(
        self, tup: ExperienceTuple, reply: Any, unless: list[str], targets: list[str]
    ) -> Guardrail | None:
        if not isinstance(reply, dict):
            return None
        cond, verb = reply.get("unless"), reply.get("remedy_verb")
        target = reply.get("remedy_target")
        lesson = str(reply.get("lesson", "")).strip()[:LESSON_CHARS]
        if cond not in unless or verb not in REMEDY_VERBS or target not in targets or not lesson:
            return None  # off the grammar (a backend without constrained decoding)
        if (verb, target) == (tup.action.verb, tup.action.target):
            return None  # "first do what just failed" is no remedy
        return Guardrail(
            scope="subgoal",
            root_cause=tup.diagnosis.cause,
            forbidden=tup.action.key(),
            unless=[str(cond)],
            remedy=[Subgoal(verb=str(verb), target=str(target))],
            reason=f"{lesson} (written by {self.client.backend}:{self.client.model})",
            evidence=[int(tup.id or 0)],
        )
