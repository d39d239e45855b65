"""Remedies and lifting conditions induced from tier-1 experience, never read from a world.

A failure's diagnosis names what was missing (`has:stick`, `near:crafting_table`) or, where the
evidence names nothing, the condition it failed under (`hands:empty` when a block dropped
nothing). What to do about it is learned:

- `remedy_for(fact)`: the action that made `fact` true before. Every anchored tuple is tagged
  `gain:<fact>` for each condition fact its attempt made true (`gain_tags`), so this is one
  tag-index range scan; the action seen most often (then most recently) wins, and the remedy
  names the tuples it rests on.
- `condition_for(op, failed_facts)`: for a failure under a condition, the fact that held when
  the same operation succeeded and did not hold now (`equipped:wooden_pickaxe` for `mine:stone`
  after stone dropped nothing by hand): a contrast between successes and this failure.

With no such experience both return None: the guardrail keeps no remedy (it is still
enforced), and the agent has to find a way (`agent.explore`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from knowledge.schema import ExperienceTuple
from knowledge.store import ExperienceStore
from sim.schema import FailureCause, Subgoal

GAIN = "gain:"
DURABLE = "durable:"
SCAN = 32  # newest tuples read per lookup


def gain_tags(pre: Iterable[str], post: Iterable[str]) -> list[str]:
    """The tags of an attempt that made these facts true (facts after, not before)."""
    return [f"{GAIN}{f}" for f in sorted(set(post) - set(pre))]


@dataclass(frozen=True)
class Induced:
    """A remedy (or a lifting condition) and the ids of the tuples it was induced from."""

    steps: tuple[Subgoal, ...]
    evidence: tuple[int, ...]
    fact: str = ""  # for `condition_for`: the condition found


def producers(store: ExperienceStore, fact: str, limit: int = SCAN) -> list[ExperienceTuple]:
    """The newest attempts that made `fact` true, newest first."""
    return store.get_tuples(store.lookup.by_tags([f"{GAIN}{fact}"], limit=limit))


def remedy_for(
    store: ExperienceStore,
    fact: str,
    *,
    avoid: Iterable[str] = (),
    shortfall: int = 1,
) -> Induced | None:
    """The action that made `fact` true before (most often, then most recently), scaled to a
    `shortfall` of items for a `has:` fact; None where nothing ever did. `avoid`: operation
    keys not to offer (the one that just failed)."""
    skip = set(avoid)
    seen: dict[str, list[ExperienceTuple]] = {}
    for tup in producers(store, fact):
        key = tup.action.key()
        if key not in skip and tup.action.verb not in ("skill", "plan"):
            seen.setdefault(key, []).append(tup)
    if not seen:
        return None

    def rank(key: str) -> tuple[int, int, int]:
        tups = seen[key]
        wins = sum(t.diagnosis.success for t in tups)
        return wins, len(tups), max(int(t.id or 0) for t in tups)

    best = max(seen, key=rank)
    tups = seen[best]
    last = max(tups, key=lambda t: int(t.id or 0))
    count = 1
    kind, _, item = fact.partition(":")
    if kind == "has":
        gained = last.diagnosis.diff.gained.get(item, 0)
        per_unit = gained / max(1, last.action.count)
        count = max(1, math.ceil(shortfall / per_unit)) if per_unit > 0 else max(1, shortfall)
        if last.action.verb == "craft" and last.action.target == item:
            count = max(1, shortfall)  # craft counts are items, not crafts
    step = Subgoal(verb=last.action.verb, target=last.action.target, count=count)
    ids = sorted({int(t.id or 0) for t in tups}, reverse=True)[:5]
    return Induced((step,), tuple(sorted(ids)))


def condition_for(
    store: ExperienceStore, op: str, failed: Iterable[str], prefix: str
) -> Induced | None:
    """The `prefix` fact (e.g. `equipped:`) that held most often when `op` succeeded and did
    not hold at this failure, with the action that made it true before as its remedy."""
    verb, _, target = op.partition(":")
    ids = store.lookup.by_tags([verb, target, FailureCause.NONE.value], limit=SCAN)
    wins = [t for t in store.get_tuples(ids) if t.action.key() == op and t.diagnosis.success]
    held = set(failed)
    counts = Counter(f for t in wins for f in t.facts if f.startswith(prefix) and f not in held)
    if not counts:
        return None
    fact = max(counts, key=lambda f: (counts[f], f))
    basis = sorted(int(t.id or 0) for t in wins if fact in t.facts)[-5:]
    remedy = remedy_for(store, fact)
    if remedy is None:
        return Induced((), tuple(basis), fact)
    return Induced(remedy.steps, tuple(sorted({*basis, *remedy.evidence})), fact)


def durable_items(store: ExperienceStore, limit: int = 64) -> list[str]:
    """Items the agent has held with a durability bar (tools, by what a player sees), the
    most recently first seen first."""
    return [t[len(DURABLE) :] for t in store.lookup.tag_names(DURABLE, limit=limit)]
