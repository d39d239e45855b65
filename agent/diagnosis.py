"""Diagnosis of one subgoal attempt: state difference, cause, progress, and the episode's
history signals (stagnation, loops, deadlock) that the loop acts on.

The cause is attributed from the low-level trace the world leaves (`sim.events`), never from
the world's own verdict. What was missing is worked out here too, from the same evidence (the
ingredients a crafting grid lacked, the station it asked for, a target not found, a closed
receptacle): worlds report observations, never the missing fact nor what to do next. Where the
evidence names no missing fact (a block that dropped nothing, an appliance that did nothing),
the diagnosis names the condition the attempt failed under (`context`: what the hand held,
where the agent stood), for guardrails and for remedies induced from experience. No branch here
names a world.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from knowledge.schema import Diagnosis, StateDiff, pack_counts
from knowledge.signature import signature
from sim import events as ev
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
    cells: set[tuple[int, int]] = field(default_factory=set)
    unused: set[str] = field(default_factory=set)
    """Items made (crafted, smelted) in this episode and not used up since."""

    def repeated(self, subgoal: Subgoal, success: bool, diff: StateDiff) -> str | None:
        """An item made again while the one made before is still held and unused (a second
        crafting table before the first was placed): the product this repeats, if any."""
        again = None
        if success and subgoal.verb in ("craft", "smelt") and diff.gained.get(subgoal.target):
            again = subgoal.target if subgoal.target in self.unused else None
            self.unused.add(subgoal.target)
        self.unused -= set(diff.lost)
        return again

    def visit(self, *positions: tuple[int, int, int]) -> int:
        """Mark the 16x16 columns of these positions visited; returns how many were new."""
        new = {(p[0] // 16, p[2] // 16) for p in positions} - self.cells
        self.cells |= new
        return len(new)

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


def _crafting_cause(event: dict[str, Any], subgoal: Subgoal) -> FailureCause:
    verb = str(event.get("verb", subgoal.verb))
    return FailureCause.SMELT_FAIL if verb == "smelt" else FailureCause.RECIPE_FAIL


def _death_cause(event: dict[str, Any], subgoal: Subgoal) -> FailureCause:
    killed_by_mob = event.get("source") not in NON_MOB_DEATHS
    return FailureCause.MOB_KILLED if killed_by_mob else FailureCause.DAMAGE


def _dig_cause(event: dict[str, Any], subgoal: Subgoal) -> FailureCause | None:
    # a block broken without its harvest tool drops nothing; an ordinary dig is no evidence
    return None if event.get("harvestable", True) else FailureCause.WRONG_TOOL


def _till_cause(event: dict[str, Any], subgoal: Subgoal) -> FailureCause | None:
    # ground that did not turn to farmland under what was in hand
    return None if event.get("tilled", True) else FailureCause.WRONG_TOOL


def _search_cause(event: dict[str, Any], subgoal: Subgoal) -> FailureCause | None:
    return None if event.get("found", False) else FailureCause.TARGET_NOT_FOUND


Rule = FailureCause | Callable[[dict[str, Any], Subgoal], FailureCause | None]
NON_MOB_DEATHS = frozenset({"lava", "hunger", "fall", "drowning", "fire"})
EVENT_CAUSES: dict[str, Rule] = {
    ev.SEARCH: _search_cause,
    ev.MISSING: FailureCause.MISSING_ITEM,
    ev.NO_STATION: _crafting_cause,
    ev.NO_RECIPE: _crafting_cause,
    ev.NO_FUEL: FailureCause.SMELT_FAIL,
    ev.HAZARD: FailureCause.TARGET_UNREACHABLE,
    ev.STUCK: FailureCause.NAV_STUCK,
    ev.BUDGET: FailureCause.TIMEOUT,
    ev.INVALID: FailureCause.INVALID_ACTION,
    ev.NOT_HUNGRY: FailureCause.INVALID_ACTION,
    ev.GUI_ERROR: FailureCause.GUI_FAIL,
    ev.BLOCKED: FailureCause.BLOCKED_BY_GUARDRAIL,
    ev.PARSE_FAIL: FailureCause.PLAN_PARSE_FAIL,
    ev.DEATH: _death_cause,
    ev.DIG: _dig_cause,
    ev.TILL: _till_cause,
    ev.OBJECT_NOT_FOUND: FailureCause.OBJECT_NOT_FOUND,
    ev.NOT_HOLDING: FailureCause.NOT_HOLDING,
    ev.RECEPTACLE_CLOSED: FailureCause.RECEPTACLE_CLOSED,
    ev.WRONG_APPLIANCE: FailureCause.WRONG_APPLIANCE,
}


FactRule = Callable[[dict[str, Any], Subgoal], str | None]


def _has(event: dict[str, Any], subgoal: Subgoal) -> str | None:
    return f"has:{event['item']}" if event.get("item") else None


def _not_found(event: dict[str, Any], subgoal: Subgoal) -> str | None:
    # exploring found nothing: no fact of the state would have helped; nor would one where
    # the target is there but not ready (crops growing: only time ripens them)
    if event.get("found", False) or subgoal.verb == "explore" or not event.get("target"):
        return None
    if event.get("growing"):
        return None
    return f"near:{event['target']}"


def _held(event: dict[str, Any], subgoal: Subgoal) -> str:
    return f"holding:{event['object']}" if event.get("object") else "hands:full"


def _hands_full(event: dict[str, Any], subgoal: Subgoal) -> str | None:
    return "hands:empty" if event.get("what") == "hands_full" else None


MISSING_FACTS: dict[str, FactRule] = {
    ev.MISSING: _has,
    ev.NO_STATION: lambda e, _: f"near:{e['station']}" if e.get("station") else None,
    ev.SEARCH: _not_found,
    ev.NO_FUEL: lambda e, _: "has_fuel",
    ev.RECEPTACLE_CLOSED: lambda e, _: f"opened:{e['kind']}" if e.get("kind") else None,
    ev.NOT_HOLDING: _held,
    ev.OBJECT_NOT_FOUND: lambda e, _: f"here:{e['object']}" if e.get("object") else None,
    ev.INVALID: _hands_full,
}
"""The fact whose absence an evidence event shows (a crafting grid that lacked an ingredient:
`has:<it>`), read from the event's own data."""


def _hand(event: dict[str, Any], subgoal: Subgoal) -> str | None:
    if event.get("harvestable", True) and event.get("tilled", True):
        return None
    return f"equipped:{event['tool']}" if event.get("tool") else "hands:empty"


CONTEXT_FACTS: dict[str, FactRule] = {
    ev.DIG: _hand,
    ev.TILL: _hand,
    "tool_lost": lambda e, _: "hands:empty",
    ev.WRONG_APPLIANCE: lambda e, _: f"at:{e['kind']}" if e.get("kind") else None,
}
"""Evidence that names no missing fact, only the condition the attempt failed under (what
was in hand, where the agent stood)."""


def observed(outcome: Outcome) -> dict[str, str | int | float]:
    """What the attempt's evidence shows, as diagnosis details. For a failure: `needs` (the
    missing fact), `context` (the condition it failed under, where no fact is named),
    `hurt_by` (what hurt the agent last) and what a crafting grid showed (`ingredients`,
    `makes`, `times`, `missing`, `station`: the recipe it tried). For a success: how many
    crafts or furnace runs it took (`times`) and what burned (`fuel`)."""
    out: dict[str, str | int | float] = {}
    if outcome.success:  # how many crafts (or furnace runs) it took, and what burned
        for event in outcome.trace:
            if event.get("event") == ev.CRAFT and event.get("item") == outcome.subgoal.target:
                out["times"] = int(out.get("times", 0)) + int(event.get("times", 1))
            elif event.get("event") == ev.SMELT and event.get("item") == outcome.subgoal.target:
                out["times"] = int(out.get("times", 0)) + int(event.get("runs", 1))
                out["fuel"] = pack_counts(event.get("fuel") or {})
        return out
    for event in reversed(outcome.trace):
        name = str(event.get("event"))
        if "needs" not in out and name in MISSING_FACTS:
            fact = MISSING_FACTS[name](event, outcome.subgoal)
            if fact:
                out["needs"] = fact
                if name == ev.MISSING and event.get("ingredients"):
                    out["ingredients"] = pack_counts(event["ingredients"])
                    out["missing"] = pack_counts(event.get("missing") or {})
                    out["makes"] = int(event.get("makes", 1))
                    out["times"] = int(event.get("times", 1))
                    if event.get("station"):
                        out["station"] = str(event["station"])
        if "hurt_by" not in out and name in (ev.DAMAGE, ev.DEATH) and event.get("source"):
            out["hurt_by"] = str(event["source"])  # what hurt (or killed) the agent last
        if "context" not in out and name in CONTEXT_FACTS:
            fact = CONTEXT_FACTS[name](event, outcome.subgoal)
            if fact:
                out["context"] = fact
    return out


def _describe(event: dict[str, Any]) -> str:
    data = ", ".join(f"{k}={v}" for k, v in event.items() if k not in ("event", "t"))
    return f"{event['event']}({data}) at t={event.get('t', '?')}"


def attribute(
    outcome: Outcome, extra: Mapping[str, Rule] | None = None
) -> tuple[FailureCause, list[str]]:
    """The cause of a failed attempt, from the last piece of evidence in its trace.

    Reads event names only (`sim.events`), never the world's own verdict; `extra` lets a world
    give meaning to events of its own."""
    if outcome.success:
        return FailureCause.NONE, []
    rules = {**EVENT_CAUSES, **(extra or {})}
    for event in reversed(outcome.trace):
        rule = rules.get(str(event.get("event")))
        if rule is None:
            continue
        cause = rule(event, outcome.subgoal) if callable(rule) else rule
        if cause is not None:
            return cause, [_describe(event)]
    damage = sum(float(e.get("damage", 0)) for e in outcome.trace if e.get("event") == ev.DAMAGE)
    if damage >= 4:
        return FailureCause.DAMAGE, [f"took {damage:g} damage and failed"]
    return FailureCause.UNKNOWN, [f"no evidence in the trace; world said: {outcome.message}"]


def diagnose(
    pre: WorldState,
    subgoal: Subgoal,
    outcome: Outcome,
    history: History,
    task: Task,
    progress: ProgressFn,
    extra_causes: Mapping[str, Rule] | None = None,
) -> Diagnosis:
    """A fine-grained diagnosis of one attempt, and the history signals it raises."""
    post = outcome.post_state
    diff = state_diff(pre, post)
    cause, evidence = attribute(outcome, extra_causes)
    if post.dead and cause in (FailureCause.NONE, FailureCause.UNKNOWN):
        cause = FailureCause.MOB_KILLED
    details = observed(outcome)
    blocked = next((e for e in outcome.trace if e.get("event") == ev.BLOCKED), None)
    if blocked is not None:  # the loop's own event: the rule's lifting fact or condition
        for key in ("needs", "context"):
            if blocked.get(key):
                details[key] = str(blocked[key])
    damage = [e for e in outcome.trace if e.get("event") == ev.DAMAGE]
    if damage:
        evidence.append(f"took {sum(float(e['damage']) for e in damage):g} damage")
    before, after = progress(pre), progress(post)
    gained = diff.gained.get(subgoal.target, 0)
    sub_progress = 1.0 if outcome.success else min(1.0, gained / subgoal.count)
    key = signature([subgoal.key(), *(f"{k}={v}" for k, v in sorted(post.inventory.items()))])
    stagnation, loop, deadlock = history.push(after, cause, key)
    again = history.repeated(subgoal, outcome.success, diff)
    if again is not None:  # a loop no state key shows: the same product made twice
        loop = True
        details["repeat"] = again
    new_cells = history.visit(pre.position, post.position)
    return Diagnosis(
        success=outcome.success,
        cause=cause,
        evidence=[e for e in evidence if e],
        diff=diff,
        subgoal_progress=sub_progress,
        task_progress=after,
        task_progress_delta=after - before,
        budget_used=min(1.0, post.tick / task.max_ticks),
        resource_delta=sum(diff.gained.values()) - sum(diff.lost.values()),
        moved=diff.moved,
        new_cells=new_cells,
        steps=outcome.steps,
        stagnation=stagnation,
        loop=loop,
        deadlock=deadlock,
        details=details,
    )
