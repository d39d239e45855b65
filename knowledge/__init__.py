"""The three-tier experience space: tuples, summaries, skills and guardrails; recall and
distillation. Depends on nothing of ours but the shared schema in `sim.schema`."""

from __future__ import annotations

from knowledge.conditions import Where
from knowledge.distill import DistillReport, RuleDistiller
from knowledge.packs import PackError, export_pack, import_pack, prune
from knowledge.recall import RecallQuery, recall
from knowledge.schema import Briefing, Diagnosis, ExperienceTuple, Guardrail, Skill, StateDiff
from knowledge.signature import cell_of
from knowledge.store import ExperienceStore, StoreError

__all__ = [
    "Briefing",
    "Diagnosis",
    "DistillReport",
    "ExperienceStore",
    "ExperienceTuple",
    "Guardrail",
    "PackError",
    "RecallQuery",
    "RuleDistiller",
    "Skill",
    "StateDiff",
    "StoreError",
    "Where",
    "cell_of",
    "export_pack",
    "import_pack",
    "prune",
    "recall",
]
