"""The rollout reward: task success, shaped by the diagnosis's continuous indicators.

With a sparse 0/1 outcome and groups of four, most groups of a hard task are all failures
(and of an easy one all successes): zero variance, zero advantage, no gradient. The diagnosis
already measures how far each attempt got (`task_progress`, over the goal's requirement tree),
so a failed episode that gathered the logs and made the planks scores above one that wrote
unparseable plans, and most groups differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.rl.config import RewardOptions
from agent.rl.policy import Turn


@dataclass
class Rollout:
    """One episode played by a sampling policy: its turns, its outcome and its reward."""

    task_id: str
    seed: int
    turns: list[Turn]
    success: bool
    steps: int
    max_subgoals: int
    progress: float = 0.0  # the best task progress any attempt reached, 0..1
    invalid: int = 0  # unusable replies (PLAN_PARSE_FAIL)
    reward: float = 0.0
    advantage: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


def best_progress(lines: Sequence[dict[str, Any]]) -> float:
    """The highest task progress in an episode's trajectory lines (0 for no attempt)."""
    return max((float(ln["diagnosis"].get("task_progress", 0.0)) for ln in lines), default=0.0)


def shaped_reward(r: Rollout, opts: RewardOptions) -> float:
    """success + partial progress - budget used - unusable replies (weights in `opts`)."""
    used = r.steps / max(1, r.max_subgoals)
    return (
        opts.success * float(r.success)
        + opts.progress * (1.0 if r.success else r.progress)
        - opts.steps * used
        - opts.invalid * r.invalid
    )
