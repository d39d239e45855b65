"""The block palette of CraftWorld: Minecraft 1.16.5 block names, their uint8 ids, and lookups.

Chunk arrays store ids, not names; everything that turns ids into meaning (what an agent can
stand on, what it can see through) lives here so terrain, world generation and rendering agree.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

CHUNK = 16
"""Chunk width in x and z."""
HEIGHT = 128
"""World height: y lies in [0, HEIGHT)."""
SEA_LEVEL = 62
"""The y of the highest water block of oceans."""

WILD_PLANTS: tuple[str, ...] = (
    "grass",
    "dandelion",
    "poppy",
    "dead_bush",
    "sugar_cane",
    "azure_bluet",
    "oxeye_daisy",
    "cornflower",
    "red_tulip",
    "orange_tulip",
    "white_tulip",
    "pink_tulip",
    "lily_of_the_valley",
    "allium",
)
"""What world generation grows on the ground: grass, flowers, dead bushes, sugar cane."""

BLOCKS: tuple[str, ...] = (
    "air",
    "bedrock",
    "stone",
    "dirt",
    "grass_block",
    "sand",
    "sandstone",
    "gravel",
    "clay",
    "water",
    "lava",
    "granite",
    "diorite",
    "andesite",
    "coal_ore",
    "iron_ore",
    "gold_ore",
    "redstone_ore",
    "lapis_ore",
    "diamond_ore",
    "emerald_ore",
    "oak_log",
    "oak_leaves",
    "birch_log",
    "birch_leaves",
    "spruce_log",
    "spruce_leaves",
    "cactus",
    "snow_block",
    *WILD_PLANTS,
    # Never generated, but agents place them (set() only accepts palette names).
    "jungle_log",
    "jungle_leaves",
    "acacia_log",
    "acacia_leaves",
    "dark_oak_log",
    "dark_oak_leaves",
    "cocoa",
    "melon",
    "brown_mushroom",
    "red_mushroom",
    "vine",
    "cobblestone",
    "oak_planks",
    "birch_planks",
    "spruce_planks",
    "crafting_table",
    "furnace",
    "chest",
    "torch",
    "glass",
    "obsidian",
    "stone_bricks",
    "oak_sapling",
    "birch_sapling",
    "spruce_sapling",
    "farmland",
    "wheat",
    "ladder",
    "iron_block",
    "gold_block",
    "diamond_block",
    "coal_block",
)
"""Every block name CraftWorld knows, in id order; index 0 is air."""

BLOCK_ID: dict[str, int] = {name: i for i, name in enumerate(BLOCKS)}
"""Block name -> uint8 id."""

BIOMES: tuple[str, ...] = (
    "plains",
    "forest",
    "desert",
    "mountains",
    "ocean",
    "jungle",
    "savanna",
    "dark_forest",
)
"""Biome names, in the order of the biome ids world generation stores per column."""

FLUIDS: frozenset[str] = frozenset({"water", "lava"})
PLANTS: frozenset[str] = frozenset(
    {
        *WILD_PLANTS,
        "oak_sapling",
        "birch_sapling",
        "spruce_sapling",
        "wheat",
        "torch",
        "ladder",
        "cocoa",
        "brown_mushroom",
        "red_mushroom",
        "vine",
    }
)
LEAVES: frozenset[str] = frozenset(
    {f"{w}_leaves" for w in ("oak", "birch", "spruce", "jungle", "acacia", "dark_oak")}
)
LOGS: frozenset[str] = frozenset(
    {f"{w}_log" for w in ("oak", "birch", "spruce", "jungle", "acacia", "dark_oak")}
)

NON_SOLID: frozenset[str] = frozenset({"air"}) | FLUIDS | LEAVES | PLANTS
"""Blocks that are not ground: `surface_y` skips them (plants and torches are walk-through, and
leaves are a canopy, not a floor)."""

TRANSPARENT: frozenset[str] = NON_SOLID | {"glass"}
"""Blocks an agent sees through; a block next to one of these is exposed (visible)."""


def lut(names: Iterable[str]) -> NDArray[np.bool_]:
    """A 256-entry boolean lookup table over block ids, true for the given names.

    Indexing it with a chunk array (`lut(...)[arr]`) classifies every block in one vectorized
    step.
    """
    table = np.zeros(256, dtype=np.bool_)
    table[[BLOCK_ID[n] for n in names]] = True
    return table


SOLID_LUT: NDArray[np.bool_] = ~lut(NON_SOLID)
TRANSPARENT_LUT: NDArray[np.bool_] = lut(TRANSPARENT)

NATURAL: tuple[str, ...] = BLOCKS[: BLOCKS.index("cobblestone")]
"""The blocks world generation produces (the rest only exist where agents place them): what
an agent can mine for a resource."""
