"""Diagnosis of one subgoal attempt: state difference, cause, progress, and the episode's
history signals (stagnation, loops, deadlock) that the loop acts on.

The cause is read from the low-level trace the world leaves (its `fail` event, with what was
missing and a remedy); no branch here names a world.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from knowledge.schema import Diagnosis, StateDiff
from knowledge.signature import signature
from sim.schema import FailureCause, Outcome, Subgoal, Task, WorldState

ProgressFn = Callable[[WorldState], float]


def state_diff(pre: WorldState, post: WorldState) -> StateDiff:
    """What changed between two snapshots, in both Minecraft-like and household terms."""
    items = set(pre.inventory) | set(post.inventory)
    delta = {k: post.count(k) - pre.count(k) for k in items}
    used = {
        k: pre.durability[k] - post.durability.get(k, 0)
        for k in pre.durability
        if pre.durability[k] != post.durability.get(k, pre.durability[k])
    }
    changed = {k: v for k, v in post.object_states.items() if pre.object_states.get(k) != v}
    return StateDiff(
        gained={k: d for k, d in sorted(delta.items()) if d > 0},
        lost={k: -d for k, d in sorted(delta.items()) if d < 0},
        equipped=(pre.equipped, post.equipped) if pre.equipped != post.equipped else None,
        durability_used=used,
        moved=round(math.dist(pre.position, post.position), 1),
        health_delta=post.health - pre.health,
        food_delta=post.food - pre.food,
        ticks=post.tick - pre.tick,
        location=(pre.location, post.location) if pre.location != post.location else None,
        holding=(pre.holding, post.holding) if pre.holding != post.holding else None,
        object_states=changed,
    )


@dataclass
class History:
    """The recent attempts of one episode, for stagnation, loop and deadlock detection."""

    window: int = 4
    stagnation_eps: float = 0.01
    deadlock_repeats: int = 3
    progress: deque[float] = field(default_factory=lambda: deque(maxlen=16))
    causes: deque[FailureCause] = field(default_factory=lambda: deque(maxlen=16))
    seen: dict[str, int] = field(default_factory=dict)

    def push(self, progress: float, cause: FailureCause, state_key: str) -> tuple[bool, bool, bool]:
        self.progress.append(progress)
        self.causes.append(cause)
        self.seen[state_key] = self.seen.get(state_key, 0) + 1
        recent = list(self.progress)[-self.window :]
        stagnation = len(recent) == self.window and max(recent) - min(recent) < self.stagnation_eps
        loop = self.seen[state_key] >= 2
        last = list(self.causes)[-self.deadlock_repeats :]
        deadlock = (
            len(last) == self.deadlock_repeats
            and last[0] is not FailureCause.NONE
            and all(c is last[0] for c in last)
        )
        return stagnation, loop, deadlock


def diagnose(
    pre: WorldState,
    subgoal: Subgoal,
    outcome: Outcome,
    history: History,
    task: Task,
    progress: ProgressFn,
) -> Diagnosis:
    """A fine-grained diagnosis of one attempt, and the history signals it raises."""
    post = outcome.post_state
    diff = state_diff(pre, post)
    details: dict[str, str | int | float] = {}
    evidence: list[str] = []
    cause = FailureCause.NONE
    fail = next((e for e in reversed(outcome.trace) if e.get("event") in ("fail", "blocked")), None)
    if fail is not None:
        cause = FailureCause(fail.get("cause", FailureCause.UNKNOWN.value))
        evidence.append(str(fail.get("message", "")))
        if fail.get("needs"):
            details["needs"] = str(fail["needs"])
        remedy = fail.get("remedy") or {}
        for key in ("verb", "target", "count"):
            if key in remedy:
                details[f"remedy_{key}"] = remedy[key]
    elif not outcome.success:
        cause = FailureCause.UNKNOWN
        evidence.append(outcome.message)
    if post.dead and cause is FailureCause.NONE:
        cause = FailureCause.MOB_KILLED
    damage = [e for e in outcome.trace if e.get("event") == "damage"]
    if damage:
        evidence.append(f"took {sum(float(e['damage']) for e in damage):g} damage")
    before, after = progress(pre), progress(post)
    gained = diff.gained.get(subgoal.target, 0)
    sub_progress = 1.0 if outcome.success else min(1.0, gained / subgoal.count)
    key = signature([subgoal.key(), *(f"{k}={v}" for k, v in sorted(post.inventory.items()))])
    stagnation, loop, deadlock = history.push(after, cause, key)
    return Diagnosis(
        success=outcome.success,
        cause=cause,
        evidence=[e for e in evidence if e],
        diff=diff,
        subgoal_progress=sub_progress,
        task_progress=after,
        task_progress_delta=after - before,
        budget_used=min(1.0, post.tick / task.max_ticks),
        stagnation=stagnation,
        loop=loop,
        deadlock=deadlock,
        details=details,
    )
