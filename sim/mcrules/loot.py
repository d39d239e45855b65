"""Loot: what a broken block or a killed mob drops, as pools of weighted entries.

The model is a small subset of Minecraft's loot tables, enough for an unenchanted player:
a block or mob has pools, every pool drops at most one of its entries (the first whose tool
condition holds and whose chance roll succeeds), and counts are uniform over a range.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

TOOL_KINDS = frozenset({"pickaxe", "axe", "shovel", "hoe", "sword", "shears"})
"""Kinds of tool the rules distinguish (the last word of the item name, or ``shears``)."""


@dataclass(frozen=True)
class LootEntry:
    """One possible drop."""

    item: str
    chance: float = 1.0
    min_count: int = 1
    max_count: int = 1
    tool: str | None = None
    """Tool kind (e.g. ``"shears"``) this entry needs; None when any tool or the hand works."""


@dataclass(frozen=True)
class LootPool:
    """Alternatives: the first entry that applies and wins its chance roll drops, then stop."""

    entries: tuple[LootEntry, ...]


Loot = tuple[LootPool, ...]


def loot_from_minecraft_data(raw: Iterable[Mapping[str, Any]]) -> Loot:
    """Turn a minecraft-data ``blockLoot``/``entityLoot`` drop list into independent pools.

    minecraft-data flattens loot tables lossily. Two quirks are undone here:
    silk-touch-only entries are dropped (CraftWorld has no enchantments), and the
    ``dropChance`` of a ``noSilkTouch`` entry is the silk-touch *alternative's* share, not a
    real probability, so without enchantments that entry always drops. Anything else the
    flattening gets wrong (ore bonus counts, leaves, crops, mob count ranges) is corrected by
    the hand-written ``loot.yaml``, which replaces a block's or mob's whole list.
    """
    pools: list[LootPool] = []
    for entry in raw:
        if entry.get("silkTouch"):
            continue
        low, high = entry.get("stackSizeRange", [1, 1])
        low = 1 if low is None else int(low)
        high = low if high is None else int(high)
        chance = 1.0 if entry.get("noSilkTouch") else float(entry.get("dropChance", 1.0))
        drop = LootEntry(item=str(entry["item"]), chance=chance, min_count=low, max_count=high)
        pools.append(LootPool((drop,)))
    return tuple(pools)


def roll_loot(loot: Loot, tool_kind: str | None, rng: np.random.Generator) -> dict[str, int]:
    """Draw the drops of one break/kill.

    Entries that name a tool kind take precedence: when the player holds that kind of tool
    (shears on leaves, grass, cobwebs) only those entries are rolled, mirroring vanilla's
    "shears drop the block itself, nothing else" alternatives. Otherwise only entries without a
    tool condition are rolled.
    """
    conditional = any(e.tool is not None and e.tool == tool_kind for p in loot for e in p.entries)
    drops: dict[str, int] = {}
    for pool in loot:
        for entry in _applicable(pool.entries, tool_kind if conditional else None):
            if entry.chance < 1.0 and rng.random() >= entry.chance:
                continue
            count = entry.min_count
            if entry.max_count > entry.min_count:
                count = int(rng.integers(entry.min_count, entry.max_count + 1))
            if count > 0:
                drops[entry.item] = drops.get(entry.item, 0) + count
            break
    return drops


def expected_loot(loot: Loot, tool_kind: str | None) -> dict[str, float]:
    """The mean drops of one break/kill, exactly (the expectation of `roll_loot`)."""
    conditional = any(e.tool is not None and e.tool == tool_kind for p in loot for e in p.entries)
    out: dict[str, float] = {}
    for pool in loot:
        reach = 1.0  # chance that the roll gets to this entry (earlier ones failed theirs)
        for entry in _applicable(pool.entries, tool_kind if conditional else None):
            mean = (entry.min_count + entry.max_count) / 2
            out[entry.item] = out.get(entry.item, 0.0) + reach * min(entry.chance, 1.0) * mean
            reach *= max(0.0, 1.0 - entry.chance)
    return {k: v for k, v in out.items() if v > 0}


def _applicable(entries: Sequence[LootEntry], tool_kind: str | None) -> Iterable[LootEntry]:
    return (e for e in entries if e.tool == tool_kind)
