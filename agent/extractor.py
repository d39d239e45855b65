"""The LLM distiller (the experience extractor): an LLM writes the lesson of each failure.

It plugs in where `knowledge.distill.RuleDistiller` does (the `Distiller` protocol) and keeps
the rule distiller's success track: a skill is what happened, so its steps, preconditions and
verification come from the tuples. On the failure track the LLM reads the failed attempt, its
diagnosis and the facts that held, and writes the guardrail's lesson, its lifting condition
and its remedy, through the same `LLMClient` interface the planner uses, constrained by a
JSON schema whose enums hold only grounded choices:

- the forbidden operation and the root cause are the attempt's own (never the model's);
- `unless` is a fact that did not hold before the attempt (else it would not have helped),
  drawn from the diagnosis's missing fact, the facts that held when the same operation
  succeeded before, and the stations and tool tiers (there is no "never": a guardrail the
  model could not lift would block for good);
- the remedy is one the agent's experience offers: for each lifting choice, the action that
  made that fact true before (`knowledge.induce.remedy_for`), named with its tuple ids; or
  `none` where experience offers nothing. The model chooses; it never invents a remedy, and
  no world's advice is read.

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
from knowledge.induce import Induced, condition_for, remedy_for
from knowledge.schema import ExperienceTuple, Guardrail
from knowledge.store import ExperienceStore

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
NO_REMEDY = "none"
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
        rail = self.extract(tup, report, store)
        if rail is None:
            self.fallbacks += 1
            super()._guardrail(store, tup, report)
            return
        self._keep(store, rail, report)

    def choices(
        self, tup: ExperienceTuple, store: ExperienceStore | None = None
    ) -> tuple[list[str], dict[str, Induced]]:
        """The grounded options for `unless`, and the remedies experience offers (keyed
        `"verb target"`), each induced from the tuples it names."""
        d, facts = tup.diagnosis.details, set(tup.facts)
        unless = [str(d["needs"])] if d.get("needs") else []
        remedies: dict[str, Induced] = {}
        if store is not None and d.get("context") and not unless:
            kind = str(d["context"]).partition(":")[0]
            prefix = "equipped:" if kind in ("equipped", "hands") else f"{kind}:"
            found = condition_for(store, tup.action.key(), tup.facts, prefix)
            if found is not None:
                unless.append(found.fact)
        unless += [c for c in CONDITIONS if c not in unless]
        unless = [u for u in dict.fromkeys(unless) if u not in facts]
        if store is not None:
            for fact in unless:
                found = remedy_for(store, fact, avoid=[tup.action.key()])
                if found is not None:
                    step = found.steps[0]
                    remedies.setdefault(f"{step.verb} {step.target}", found)
        return unless, remedies

    def extract(
        self,
        tup: ExperienceTuple,
        report: DistillReport | None = None,
        store: ExperienceStore | None = None,
    ) -> Guardrail | None:
        """The guardrail the LLM writes for one failed attempt, or None if it wrote nothing
        usable (or there is no condition left to choose)."""
        unless, remedies = self.choices(tup, store)
        if not unless:
            return None
        d = tup.diagnosis
        prompt = prompts.render(
            "extract",
            world=self.world,
            goal=tup.task_goal or "unknown",
            action=tup.action.text(),
            cause=d.cause.value,
            evidence="; ".join(d.evidence) or d.text(),
            facts=", ".join(tup.facts) or "nothing of note",
            remedies=", ".join(remedies) or "none yet",
        )
        prompt += "\nChoices for unless: " + ", ".join(unless)
        schema = {
            "type": "object",
            "properties": {
                "lesson": {"type": "string", "maxLength": LESSON_CHARS},
                "unless": {"enum": unless},
                "remedy": {"enum": [*remedies, NO_REMEDY]},
            },
            "required": ["lesson", "unless", "remedy"],
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
        return self._grounded(tup, reply, unless, remedies)

    def _grounded(
        self, tup: ExperienceTuple, reply: Any, unless: list[str], remedies: dict[str, Induced]
    ) -> Guardrail | None:
        if not isinstance(reply, dict):
            return None
        cond, remedy = reply.get("unless"), reply.get("remedy")
        lesson = str(reply.get("lesson", "")).strip()[:LESSON_CHARS]
        if cond not in unless or (remedy not in remedies and remedy != NO_REMEDY) or not lesson:
            return None  # off the grammar (a backend without constrained decoding)
        found = remedies.get(str(remedy))
        return Guardrail(
            scope="subgoal",
            root_cause=tup.diagnosis.cause,
            forbidden=tup.action.key(),
            unless=[str(cond)],
            remedy=list(found.steps) if found else [],
            remedy_evidence=list(found.evidence) if found else [],
            reason=f"{lesson} (written by {self.client.backend}:{self.client.model})",
            evidence=[int(tup.id or 0)],
        )
