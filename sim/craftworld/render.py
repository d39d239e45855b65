"""A top-down RGB view of CraftWorld terrain around the agent, with agent and mob markers.

Pure: terrain and positions in, image out. Each pixel block shows the highest block of its column
at or below a view ceiling: the agent's head level when it is underground, so the cut-away shows
the tunnels and caves it is in, and the top of the world when it stands in the open.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from sim.craftworld.palette import BLOCK_ID, BLOCKS, HEIGHT, SOLID_LUT
from sim.craftworld.terrain import Terrain


class Voxels(Protocol):
    """What the views read of a world: the block ids in a box (`Terrain`, or a `BlockBox` of
    a Minecraft server's blocks)."""

    def region(self, lo: tuple[int, int, int], hi: tuple[int, int, int]) -> NDArray[np.uint8]: ...


BLOCK_COLORS: dict[str, tuple[int, int, int]] = {
    "air": (0, 0, 0),
    "bedrock": (40, 40, 40),
    "stone": (125, 125, 125),
    "cobblestone": (110, 110, 110),
    "dirt": (134, 96, 67),
    "grass_block": (95, 159, 53),
    "farmland": (110, 75, 45),
    "sand": (219, 207, 163),
    "sandstone": (216, 202, 155),
    "gravel": (136, 126, 126),
    "clay": (160, 166, 179),
    "water": (47, 87, 200),
    "lava": (230, 100, 20),
    "granite": (149, 103, 85),
    "diorite": (188, 188, 188),
    "andesite": (136, 136, 136),
    "coal_ore": (50, 50, 50),
    "iron_ore": (216, 175, 147),
    "gold_ore": (252, 238, 75),
    "redstone_ore": (200, 20, 20),
    "lapis_ore": (30, 70, 190),
    "diamond_ore": (90, 230, 220),
    "emerald_ore": (20, 200, 80),
    "oak_log": (102, 81, 50),
    "oak_leaves": (60, 120, 30),
    "birch_log": (215, 210, 200),
    "birch_leaves": (110, 150, 70),
    "spruce_log": (58, 37, 16),
    "spruce_leaves": (50, 80, 50),
    "jungle_log": (87, 67, 27),
    "jungle_leaves": (48, 140, 20),
    "acacia_log": (103, 96, 86),
    "acacia_leaves": (90, 130, 40),
    "dark_oak_log": (60, 46, 26),
    "dark_oak_leaves": (40, 90, 20),
    "cocoa": (150, 90, 40),
    "melon": (110, 150, 40),
    "brown_mushroom": (150, 110, 80),
    "red_mushroom": (200, 40, 40),
    "vine": (50, 110, 25),
    "cactus": (15, 110, 30),
    "snow_block": (245, 250, 250),
    "grass": (110, 175, 60),
    "dandelion": (240, 220, 40),
    "poppy": (210, 30, 30),
    "dead_bush": (140, 100, 50),
    "sugar_cane": (148, 196, 96),
    "azure_bluet": (215, 225, 240),
    "oxeye_daisy": (235, 235, 215),
    "cornflower": (70, 110, 220),
    "red_tulip": (220, 40, 40),
    "orange_tulip": (240, 130, 40),
    "white_tulip": (240, 240, 240),
    "pink_tulip": (240, 150, 190),
    "lily_of_the_valley": (250, 250, 250),
    "allium": (180, 90, 220),
    "oak_planks": (162, 130, 78),
    "birch_planks": (196, 179, 123),
    "spruce_planks": (115, 85, 49),
    "crafting_table": (140, 95, 55),
    "furnace": (90, 90, 90),
    "chest": (160, 110, 40),
    "torch": (255, 210, 80),
    "obsidian": (20, 15, 30),
}
"""Block name -> RGB; names not listed render grey."""
UNKNOWN_COLOR = (150, 150, 150)

HOSTILE_MOBS: frozenset[str] = frozenset(
    {
        "zombie",
        "husk",
        "drowned",
        "skeleton",
        "stray",
        "creeper",
        "spider",
        "cave_spider",
        "enderman",
        "witch",
        "slime",
        "phantom",
        "pillager",
        "zombie_villager",
    }
)
TALL_MOBS: frozenset[str] = frozenset(
    {"zombie", "husk", "drowned", "skeleton", "stray", "creeper", "enderman", "witch"}
    | {"pillager", "zombie_villager", "villager"}
)
"""Mobs two blocks high (the views draw the others one high)."""
HOSTILE_COLOR = np.array([220, 30, 30], dtype=np.uint8)
PASSIVE_COLOR = np.array([255, 170, 200], dtype=np.uint8)
AGENT_COLOR = np.array([255, 230, 0], dtype=np.uint8)
OUTLINE_COLOR = np.array([0, 0, 0], dtype=np.uint8)

CUTAWAY_ABOVE = 1
"""The cut-away ceiling is this far above the agent's feet: its head. One higher (y + 2) is the
roof of a 2-high tunnel, which would hide the very tunnel the agent stands in."""

NIGHT = (13000, 23000)
"""Minecraft ticks of the day during which the view is darkened."""
NIGHT_FACTOR = 0.45

PALETTE = np.array([BLOCK_COLORS.get(n, UNKNOWN_COLOR) for n in BLOCKS], dtype=np.float32)
PALETTE = np.concatenate([PALETTE, np.tile(UNKNOWN_COLOR, (256 - len(BLOCKS), 1))])
"""Block id -> RGB (float32, 256 rows: every uint8 id has one), for the views to shade."""
_AIR = BLOCK_ID["air"]


def render_topdown(
    terrain: Terrain,
    center: tuple[int, int, int],
    radius: int,
    *,
    agent: tuple[int, int, int],
    mobs: list[tuple[str, tuple[int, int, int]]],
    time_of_day: int,
    scale: int = 4,
    cutaway: bool | None = None,
) -> NDArray[np.uint8]:
    """An RGB image ((2r+1)*scale square, uint8) of the columns within `radius` of `center`.

    x runs left to right and z top to bottom (north up, as on a Minecraft map). Each column
    shows its highest block at or below the view ceiling, shaded by how far below the ceiling
    it lies. The ceiling is the agent's head (y + `CUTAWAY_ABOVE`) when `cutaway` is true;
    when false it is the top of the world (the surface view); by default (None) it is the
    head only when something solid is above the agent's head (it is underground), so hills
    around an agent standing in the open are not shown cut open.
    """
    cx, _, cz = center
    side = 2 * radius + 1
    if cutaway is None:
        cutaway = under_cover(terrain, agent)
    ceiling = min(max(agent[1] + CUTAWAY_ABOVE, 0), HEIGHT - 1) if cutaway else HEIGHT - 1
    box = terrain.region(
        (cx - radius, 0, cz - radius), (cx + radius + 1, ceiling + 1, cz + radius + 1)
    )
    filled = box != _AIR
    # Index of the highest non-air block at or below the ceiling (bedrock guarantees one).
    top = ceiling - np.argmax(filled[:, ::-1, :], axis=1)
    ix, iz = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    colors = PALETTE[box[ix, top, iz]].astype(np.float64)
    if cutaway:
        # Open space below the cut shows its floor, strongly darkened so tunnels stand out.
        shade = np.clip(1.0 - 0.12 * (ceiling - top), 0.3, 1.0)
    else:
        # Gentle relief around the agent's feet: hills lighter, valleys and sea floors darker.
        shade = np.clip(1.0 + 0.025 * (top - agent[1]), 0.45, 1.15)
    # Slight relief: columns higher than their western neighbour are lit, lower ones shadowed.
    relief = np.zeros_like(shade)
    relief[1:, :] = np.clip(top[1:, :] - top[:-1, :], -2, 2) * 0.04
    colors = colors * np.clip(shade + relief, 0.35, 1.1)[..., None]
    if NIGHT[0] <= time_of_day % 24000 < NIGHT[1]:
        colors = colors * NIGHT_FACTOR
    # Image rows are z and columns x.
    img = np.clip(colors, 0, 255).astype(np.uint8).transpose(1, 0, 2)
    img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)

    for name, (mx, _, mz) in mobs:
        color = HOSTILE_COLOR if name in HOSTILE_MOBS else PASSIVE_COLOR
        _marker(img, mx - cx + radius, mz - cz + radius, scale, color, side)
    _marker(img, agent[0] - cx + radius, agent[2] - cz + radius, scale, AGENT_COLOR, side)
    return img


def under_cover(terrain: Voxels, agent: tuple[int, int, int]) -> bool:
    """Whether a solid block lies above the agent's head (leaves and plants do not count)."""
    x, y, z = agent
    if y + 2 >= HEIGHT:
        return False
    column = terrain.region((x, y + 2, z), (x + 1, HEIGHT, z + 1))[0, :, 0]
    return bool(SOLID_LUT[column].any())


def _marker(
    img: NDArray[np.uint8], col: int, row: int, scale: int, color: NDArray[np.uint8], side: int
) -> None:
    """Fill one cell with `color` inside a dark outline (when the cell is in view)."""
    if not (0 <= col < side and 0 <= row < side):
        return
    cell = img[row * scale : (row + 1) * scale, col * scale : (col + 1) * scale]
    cell[...] = OUTLINE_COLOR if scale >= 3 else color
    if scale >= 3:
        cell[1:-1, 1:-1] = color
