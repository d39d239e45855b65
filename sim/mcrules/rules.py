"""The game rules of Minecraft 1.16.5: items, blocks, recipes, smelting, tools and drops.

Everything comes from data: minecraft-data for Java 1.16.5 (items, blocks, crafting recipes,
harvest tools, tool speeds, foods, loot) plus two hand-written tables next to this module,
``smelting.yaml`` (furnace recipes and fuels, which minecraft-data lacks) and ``loot.yaml``
(corrections where minecraft-data's flattened loot is wrong for an unenchanted player).
``Rules.load()`` builds the whole thing once per version and caches it.
"""

from __future__ import annotations

import difflib
import functools
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np

from sim.mcrules.loot import (
    TOOL_KINDS,
    Loot,
    expected_loot,
    loot_from_minecraft_data,
    roll_loot,
)
from sim.mcrules.recipes import MissingIngredients, Recipe, craft, recipes_from_minecraft_data
from sim.mcrules.tables import (
    RulesDataError,
    SmeltRecipe,
    load_loot_table,
    load_smelting_table,
)

__all__ = [
    "LOOT_PATH",
    "SMELTING_PATH",
    "TOOL_KINDS",
    "TOOL_TIERS",
    "VERSION",
    "BlockInfo",
    "FoodInfo",
    "ItemInfo",
    "MissingIngredients",
    "Recipe",
    "Rules",
    "RulesDataError",
    "SmeltRecipe",
    "UndiggableBlock",
    "UnknownName",
]

logger = logging.getLogger(__name__)

VERSION = "1.16.5"
SMELTING_PATH = Path(__file__).with_name("smelting.yaml")
LOOT_PATH = Path(__file__).with_name("loot.yaml")

TOOL_TIERS: Mapping[str, int] = MappingProxyType(
    {"wooden": 1, "golden": 1, "stone": 2, "iron": 3, "diamond": 4, "netherite": 5}
)
"""Harvest tier by tool material; 0 is the hand (or anything that is not a tiered tool)."""
_TIERED_KINDS = frozenset({"pickaxe", "axe", "shovel", "hoe", "sword"})
# Cheapest to make first: gold harvests like wood but costs more than iron to obtain.
_MATERIAL_COST = {"wooden": 0, "stone": 1, "iron": 2, "golden": 3, "diamond": 4, "netherite": 5}
_SHEARS_COST = 2  # two iron ingots

# Break-time divisors of Minecraft 1.16 (ticks = hardness * divisor / tool speed): a block
# broken without its harvest tool takes 100/30 longer, i.e. x5 instead of x1.5 in seconds.
_HARVEST_DIVISOR = 30
_NO_HARVEST_DIVISOR = 100

_V = TypeVar("_V")


@dataclass(frozen=True)
class ItemInfo:
    """What the rules know about an item."""

    name: str
    stack_size: int
    max_durability: int | None


@dataclass(frozen=True)
class BlockInfo:
    """What the rules know about a block: how hard it is and what harvests it."""

    name: str
    hardness: float | None
    diggable: bool
    material: str | None
    harvest_tools: frozenset[str] | None
    """Items that harvest the block (it drops loot); None when the hand will do."""


@dataclass(frozen=True)
class FoodInfo:
    """How much an edible item restores."""

    name: str
    food_points: int
    saturation: float


class UnknownName(KeyError):
    """A name that is not an item, block or mob of the version; carries close suggestions."""

    def __init__(self, name: str, kind: str, suggestions: list[str]) -> None:
        self.name = name
        self.kind = kind
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown {kind} {name!r}{hint}")

    def __str__(self) -> str:
        return str(self.args[0])


class UndiggableBlock(ValueError):
    """Raised by :meth:`Rules.dig_ticks` for blocks no player can break (bedrock, water)."""


@dataclass(frozen=True, eq=False)
class Rules:
    """The rules of one Minecraft version, as read-only tables and the queries built on them.

    Create with :meth:`Rules.load`; the tables are shared by every caller.
    """

    version: str
    items: Mapping[str, ItemInfo]
    blocks: Mapping[str, BlockInfo]
    recipes: Mapping[str, tuple[Recipe, ...]]
    """Every crafting recipe of the version, by result item."""
    smelting: Mapping[str, SmeltRecipe]
    """The canonical furnace recipe of each output (the first listed in smelting.yaml)."""
    smelting_by_input: Mapping[str, SmeltRecipe]
    fuels: Mapping[str, int]
    """Item -> burn time in ticks."""
    foods: Mapping[str, FoodInfo]
    tool_speeds: Mapping[str, Mapping[str, float]]
    """Block material -> tool item -> break-speed multiplier."""
    block_loot: Mapping[str, Loot]
    mob_loot: Mapping[str, Loot]

    @classmethod
    def load(cls, version: str = VERSION) -> Rules:
        """The rules of ``version``, built on the first call and cached afterwards."""
        return _load(version)

    # --- names ---------------------------------------------------------------------------

    def is_item(self, name: str) -> bool:
        return name in self.items

    def is_block(self, name: str) -> bool:
        return name in self.blocks

    def closest(self, name: str, kind: str = "item", n: int = 5) -> list[str]:
        """Up to ``n`` known names of ``kind`` ("item", "block" or "mob") that look like ``name``.

        For turning a planner's typo ("wooden_pikaxe") into a helpful error message.
        """
        pools: dict[str, Mapping[str, Any]] = {
            "item": self.items,
            "block": self.blocks,
            "mob": self.mob_loot,
        }
        if kind not in pools:
            raise ValueError(f"kind must be one of {sorted(pools)}, got {kind!r}")
        return difflib.get_close_matches(name, list(pools[kind]), n=n, cutoff=0.6)

    def stack_size(self, item: str) -> int:
        return self._lookup(self.items, item, "item").stack_size

    # --- tools ---------------------------------------------------------------------------

    def tool_kind(self, item: str | None) -> str | None:
        """``"pickaxe"``, ``"axe"``, ``"shovel"``, ``"hoe"``, ``"sword"``, ``"shears"`` or None."""
        if item is None:
            return None
        if item == "shears":
            return "shears"
        material, _, kind = item.rpartition("_")
        return kind if kind in _TIERED_KINDS and material in TOOL_TIERS else None

    def tool_tier(self, item: str | None) -> int:
        """Harvest tier: 0 hand/non-tool, wooden and golden 1, stone 2, ..., netherite 5."""
        if self.tool_kind(item) not in _TIERED_KINDS or item is None:
            return 0
        return TOOL_TIERS[item.rpartition("_")[0]]

    def can_harvest(self, block: str, tool: str | None) -> bool:
        """Whether breaking ``block`` while holding ``tool`` (None: bare hand) yields its loot."""
        info = self._lookup(self.blocks, block, "block")
        self._check_tool(tool)
        if info.harvest_tools is None:
            return True
        return tool is not None and tool in info.harvest_tools

    def min_harvest_tool(self, block: str) -> str | None:
        """The cheapest tool that harvests ``block`` (iron_ore -> stone_pickaxe); None: the hand."""
        tools = self._lookup(self.blocks, block, "block").harvest_tools
        if tools is None:
            return None
        return min(tools, key=lambda tool: (self._tool_cost(tool), tool))

    def dig_ticks(self, block: str, tool: str | None) -> int:
        """Game ticks to break ``block`` with ``tool``, by the Minecraft 1.16 formula.

        ``hardness * 1.5 s / speed`` with the harvest tool, ``hardness * 5 s / speed`` without,
        where speed is the tool's multiplier on the block's material (1 otherwise); no
        enchantments, effects, or in-water/airborne penalties. At least one tick.
        """
        info = self._lookup(self.blocks, block, "block")
        if not info.diggable or info.hardness is None or info.hardness < 0:
            raise UndiggableBlock(f"{block} cannot be broken")
        if info.hardness == 0:
            return 1
        speed = 1.0
        if tool is not None and info.material is not None:
            speed = self.tool_speeds.get(info.material, {}).get(tool, 1.0)
        divisor = _HARVEST_DIVISOR if self.can_harvest(block, tool) else _NO_HARVEST_DIVISOR
        # Rounding first keeps float noise (0.6 * 30 = 18.000000000000004) from adding a tick.
        return max(1, math.ceil(round(info.hardness * divisor / speed, 6)))

    # --- drops ---------------------------------------------------------------------------

    def drops(self, block: str, tool: str | None, rng: np.random.Generator) -> dict[str, int]:
        """Items dropped by breaking ``block`` with ``tool``; ``{}`` when it is not harvestable.

        No enchantments apply (no Silk Touch, no Fortune); crops count as fully grown.
        """
        if not self.can_harvest(block, tool):
            return {}
        return roll_loot(self.block_loot.get(block, ()), self.tool_kind(tool), rng)

    def expected_drops(self, block: str, tool: str | None) -> dict[str, float]:
        """The mean of `drops` (what a plan should count on from a chance drop)."""
        if not self.can_harvest(block, tool):
            return {}
        return expected_loot(self.block_loot.get(block, ()), self.tool_kind(tool))

    def mob_drops(self, mob: str, rng: np.random.Generator) -> dict[str, int]:
        """Items dropped by a mob the player kills (player-kill drops included, no Looting)."""
        return roll_loot(self._lookup(self.mob_loot, mob, "mob"), None, rng)

    # --- crafting and smelting -----------------------------------------------------------

    def crafting_options(self, item: str) -> tuple[Recipe, ...]:
        """Every recipe producing ``item`` (empty when it cannot be crafted)."""
        self._lookup(self.items, item, "item")
        return self.recipes.get(item, ())

    def craft(self, inventory: Mapping[str, int], recipe: Recipe, times: int = 1) -> dict[str, int]:
        """The inventory after crafting ``recipe`` ``times`` times; raises MissingIngredients."""
        return craft(inventory, recipe, times)

    def smelting_options(self, output: str) -> tuple[SmeltRecipe, ...]:
        """Every furnace recipe producing ``output``, canonical one first."""
        return tuple(r for r in self.smelting_by_input.values() if r.output == output)

    # --- helpers -------------------------------------------------------------------------

    def _lookup(self, table: Mapping[str, _V], name: str, kind: str) -> _V:
        try:
            return table[name]
        except KeyError:
            raise UnknownName(name, kind, self.closest(name, kind, n=3)) from None

    def _check_tool(self, tool: str | None) -> None:
        if tool is not None and tool not in self.items:
            raise UnknownName(tool, "item", self.closest(tool, "item", n=3))

    def _tool_cost(self, tool: str) -> int:
        kind = self.tool_kind(tool)
        if kind in _TIERED_KINDS:
            return _MATERIAL_COST[tool.rpartition("_")[0]]
        return _SHEARS_COST if kind == "shears" else len(_MATERIAL_COST)


def _frozen(mapping: dict[str, _V]) -> Mapping[str, _V]:
    return MappingProxyType(mapping)


@functools.cache
def _load(version: str) -> Rules:
    """Build the rules of ``version``; cached because every world and planner shares them."""
    import minecraft_data  # imported here so importing this module stays cheap

    started = time.perf_counter()
    data = minecraft_data(version)
    names_by_id: dict[int, str] = {int(i): item["name"] for i, item in data.items.items()}
    items = {
        name: ItemInfo(name, int(raw["stackSize"]), raw.get("maxDurability"))
        for name, raw in data.items_name.items()
    }
    blocks = {name: _block_info(name, raw, names_by_id) for name, raw in data.blocks_name.items()}
    tool_speeds = {
        material: _frozen({names_by_id[int(i)]: float(s) for i, s in speeds.items()})
        for material, speeds in data.materials.items()
    }
    foods = {
        name: FoodInfo(name, int(raw["foodPoints"]), float(raw["saturation"]))
        for name, raw in data.foods_name.items()
    }
    recipes = recipes_from_minecraft_data(data.recipes, names_by_id)

    table = load_smelting_table(SMELTING_PATH, items)
    smelting: dict[str, SmeltRecipe] = {}
    for recipe in table.recipes:
        smelting.setdefault(recipe.output, recipe)

    block_loot = {name: loot_from_minecraft_data(raw) for name, raw in data.blockLoot.items()}
    mob_loot = {name: loot_from_minecraft_data(raw) for name, raw in data.entityLoot.items()}
    fixes = load_loot_table(LOOT_PATH, items, blocks, mob_loot)
    block_loot.update(fixes.blocks)
    mob_loot.update(fixes.mobs)

    rules = Rules(
        version=version,
        items=_frozen(items),
        blocks=_frozen(blocks),
        recipes=_frozen(recipes),
        smelting=_frozen(smelting),
        smelting_by_input=_frozen({r.input: r for r in table.recipes}),
        fuels=_frozen(table.fuels),
        foods=_frozen(foods),
        tool_speeds=_frozen(tool_speeds),
        block_loot=_frozen(block_loot),
        mob_loot=_frozen(mob_loot),
    )
    logger.debug(
        "rules %s: %d items, %d blocks, %d crafting recipes, %d smelting recipes in %.0f ms",
        version,
        len(items),
        len(blocks),
        sum(len(r) for r in recipes.values()),
        len(table.recipes),
        (time.perf_counter() - started) * 1000,
    )
    return rules


def _block_info(name: str, raw: Mapping[str, Any], names_by_id: Mapping[int, str]) -> BlockInfo:
    tools = raw.get("harvestTools")
    hardness = raw.get("hardness")
    return BlockInfo(
        name=name,
        hardness=None if hardness is None else float(hardness),
        diggable=bool(raw.get("diggable", False)),
        material=raw.get("material"),
        harvest_tools=None if tools is None else frozenset(names_by_id[int(i)] for i in tools),
    )


@functools.cache
def drop_stats(version: str, block: str, samples: int = 24) -> dict[str, tuple[int, float]]:
    """What breaking `block` with its cheapest harvest tool yields: item -> (fewest, mean)
    over seeded samples. Planners and remedies use it to find which block gives an item."""
    rules = Rules.load(version)
    tool = rules.min_harvest_tool(block)
    rng = np.random.default_rng(0)
    rolls = [rules.drops(block, tool, rng) for _ in range(samples)]
    items = sorted({i for r in rolls for i in r})
    return {
        i: (min(r.get(i, 0) for r in rolls), sum(r.get(i, 0) for r in rolls) / samples)
        for i in items
    }
