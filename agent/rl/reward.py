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

from agent.record import TrajectoryLine
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
    pace: float = 0.0  # the mean task progress over the subgoal budget, 0..1
    invalid: int = 0  # unusable replies (PLAN_PARSE_FAIL)
    reward: float = 0.0
    advantage: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


def best_progress(lines: Sequence[TrajectoryLine]) -> float:
    """The highest task progress in an episode's trajectory lines (0 for no attempt)."""
    return max((ln.diagnosis.task_progress for ln in lines), default=0.0)


def pace(lines: Sequence[TrajectoryLine], success: bool, budget: int) -> float:
    """The area under the episode's progress curve: task progress after each attempt, the
    last value held to the end of the subgoal budget (1 once the goal is reached). Two
    episodes that got equally far differ in how soon they got there; with best progress
    alone, a group of four that all stalled at the same rung had zero variance."""
    curve = [ln.diagnosis.task_progress for ln in lines][:budget]
    last = 1.0 if success else (curve[-1] if curve else 0.0)
    return (sum(curve) + last * (budget - len(curve))) / max(1, budget)


def shaped_reward(r: Rollout, opts: RewardOptions) -> float:
    """success + partial progress + pace - budget used - unusable replies (`opts` weights)."""
    used = r.steps / max(1, r.max_subgoals)
    return (
        opts.success * float(r.success)
        + opts.progress * (1.0 if r.success else r.progress)
        + opts.pace * r.pace
        - opts.steps * used
        - opts.invalid * r.invalid
    )
