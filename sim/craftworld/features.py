"""Feature passes of CraftWorld world generation: caves, fluid pockets, ores, trees and plants.

Each pass edits one chunk array in place. Caves come from coordinate hashes (a tunnel that
starts in a neighbouring chunk is recomputed here and carved where it crosses this chunk);
everything else draws from the chunk's own Generator and stays inside the chunk, so chunks do
not depend on one another's generation order.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from sim.craftworld.noise import cos_poly, sin_poly, uniform
from sim.craftworld.palette import BIOMES, BLOCK_ID, CHUNK, HEIGHT, SEA_LEVEL, lut

Blocks = NDArray[np.uint8]
Generator = np.random.Generator

_AIR = BLOCK_ID["air"]
_STONE = BLOCK_ID["stone"]
_WATER = BLOCK_ID["water"]
_LAVA = BLOCK_ID["lava"]
LAVA_LEVEL = 10
"""Carved air at or below this y becomes lava, as in Minecraft 1.16."""

_CARVABLE = lut(
    (
        "stone",
        "dirt",
        "grass_block",
        "sand",
        "sandstone",
        "gravel",
        "granite",
        "diorite",
        "andesite",
        "snow_block",
    )
)

# ---------------------------------------------------------------------------------- caves
_SALT_CAVE = 300
_WORMS = 2
"""Tunnels that may start in one chunk; the chance of each is `_WORM_ODDS`."""
_WORM_ODDS = np.array([0.7, 0.35]).reshape(1, 1, _WORMS, 1)
_STEPS = 80
_REACH = 20.0
"""A tunnel stops once it wanders this far (x or z) from its chunk's centre, so it can only
touch that chunk and its 8 neighbours: those are exactly the origins each chunk recomputes."""
_MAX_R = 2.9
"""Largest tunnel radius; tunnels are squashed to 0.7 of it vertically."""
_SQUASH = np.array([1.0, 0.7, 1.0])
_SPAN_XZ = np.arange(-3, 4)
_SPAN_Y = np.arange(-2, 3)
_OFFSETS = np.stack(np.meshgrid(_SPAN_XZ, _SPAN_Y, _SPAN_XZ, indexing="ij"), axis=-1).reshape(-1, 3)
"""Cell offsets covering any sphere of radius <= 3.4 squashed vertically to <= 2.5."""


def _worm_spheres(seed: int, cx: int, cz: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Centres (M, 3) and radii (M,) of the tunnel spheres from chunk (cx, cz) and its 8
    neighbours, all computed at once from coordinate hashes."""
    ring = np.arange(-1, 2)
    ox = (cx + ring)[:, None, None, None]
    oz = (cz + ring)[None, :, None, None]
    w = np.arange(_WORMS)[None, None, :, None]
    k = np.arange(_STEPS)[None, None, None, :]

    # One hash call per shape: 8 per-tunnel channels, then 2 per-step channels.
    per = uniform(seed, _SALT_CAVE, ox[..., None], oz[..., None], w[..., None], np.arange(8))
    uodds, ux, uz, uy, uyaw, uphase, urad, ulen = (per[..., c] for c in range(8))
    step = uniform(
        seed, _SALT_CAVE + 1, ox[..., None], oz[..., None], w[..., None], k[..., None], np.arange(2)
    )
    exists = uodds < _WORM_ODDS
    centre_x = ox * CHUNK + CHUNK / 2
    centre_z = oz * CHUNK + CHUNK / 2
    sx = ox * CHUNK + ux * CHUNK
    sz = oz * CHUNK + uz * CHUNK
    sy = 8.0 + 52.0 * uy * np.sqrt(uy)  # biased low, as Minecraft's cave starts are
    yaw = uyaw * 2 * np.pi + np.cumsum((step[..., 0] - 0.5) * 0.6, axis=-1)
    pitch = 0.45 * sin_poly(uphase * 2 * np.pi + np.cumsum((step[..., 1] - 0.5) * 0.7, axis=-1))
    length = 40.0 + (_STEPS - 40.0) * ulen
    flat = cos_poly(pitch)
    px = sx + np.cumsum(flat * cos_poly(yaw), axis=-1)
    py = sy + np.cumsum(sin_poly(pitch), axis=-1)
    pz = sz + np.cumsum(flat * sin_poly(yaw), axis=-1)
    # Widest in the middle, narrowing towards both ends.
    along = np.minimum(k / length, 1.0)
    radius = (1.5 + 1.4 * urad) * (0.55 + 1.8 * along * (1.0 - along))
    inside = (np.abs(px - centre_x) < _REACH) & (np.abs(pz - centre_z) < _REACH)
    # Once a tunnel leaves its reach it ends there rather than reappearing later.
    alive = np.cumprod(inside, axis=-1).astype(bool)
    valid = exists & alive & (k < length) & (py > 2.0) & (py < HEIGHT - 8)
    centres = np.stack([px[valid], py[valid], pz[valid]], axis=-1)
    return centres, np.minimum(radius, _MAX_R)[valid]


def carve_caves(arr: Blocks, seed: int, cx: int, cz: int, protect: NDArray[np.int64]) -> None:
    """Carve worm tunnels (chains of squashed spheres) through this chunk's solid ground.

    `protect` (CHUNK, CHUNK) is the lowest y per column that may not be carved, which keeps
    tunnels from opening under the sea. Carved air at or below `LAVA_LEVEL` is lava.
    """
    centres, radii = _worm_spheres(seed, cx, cz)
    if len(radii) == 0:
        return
    local = centres - np.array([cx * CHUNK, 0.0, cz * CHUNK])
    near = np.all(
        (local[:, [0, 2]] > -radii[:, None] - 1) & (local[:, [0, 2]] < CHUNK + radii[:, None]),
        axis=1,
    )
    local, radii = local[near], radii[near]
    if len(radii) == 0:
        return
    base = np.rint(local).astype(np.int64)
    inv = 1.0 / (radii[:, None] * _SQUASH)
    # Separable distances: per axis (M, 7 or 5) squared terms, broadcast to (M, 7, 5, 7).
    dx = ((_SPAN_XZ[None, :] + base[:, 0:1] - local[:, 0:1]) * inv[:, 0:1]) ** 2
    dy = ((_SPAN_Y[None, :] + base[:, 1:2] - local[:, 1:2]) * inv[:, 1:2]) ** 2
    dz = ((_SPAN_XZ[None, :] + base[:, 2:3] - local[:, 2:3]) * inv[:, 2:3]) ** 2
    inside = dx[:, :, None, None] + dy[:, None, :, None] + dz[:, None, None, :] <= 1.0
    m, i, j, n = np.nonzero(inside)
    x = base[m, 0] + _SPAN_XZ[i]
    y = base[m, 1] + _SPAN_Y[j]
    z = base[m, 2] + _SPAN_XZ[n]
    keep = (x >= 0) & (x < CHUNK) & (z >= 0) & (z < CHUNK) & (y >= 1) & (y < HEIGHT)
    x, y, z = x[keep], y[keep], z[keep]
    keep = _CARVABLE[arr[x, y, z]] & (y < protect[x, z])
    x, y, z = x[keep], y[keep], z[keep]
    arr[x, y, z] = np.where(y <= LAVA_LEVEL, _LAVA, _AIR).astype(np.uint8)


def _ellipsoid(
    rng: Generator, centre: NDArray[np.int64], radii: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """The in-chunk cells (x, y, z arrays) of an axis-aligned ellipsoid with a ragged edge."""
    cells = centre[None, :] + _OFFSETS
    d = (cells - centre[None, :]) / radii[None, :]
    inside = d[:, 0] ** 2 + d[:, 1] ** 2 + d[:, 2] ** 2 <= rng.uniform(0.75, 1.0, len(cells))
    cells = cells[inside]
    ok = np.all((cells >= 0) & (cells < np.array([CHUNK, HEIGHT, CHUNK])), axis=1)
    cells = cells[ok]
    return cells[:, 0], cells[:, 1], cells[:, 2]


def add_pockets(arr: Blocks, rng: Generator) -> None:
    """Occasional underground water pockets, and lava pockets (kept at or below `LAVA_LEVEL`)."""
    if rng.random() < 0.12:
        centre = np.array([rng.integers(4, 12), rng.integers(12, 50), rng.integers(4, 12)])
        x, y, z = _ellipsoid(rng, centre, rng.uniform([2.0, 1.5, 2.0], [3.5, 2.5, 3.5]))
        keep = arr[x, y, z] == _STONE
        arr[x[keep], y[keep], z[keep]] = _WATER
    if rng.random() < 0.1:
        centre = np.array([rng.integers(4, 12), rng.integers(4, LAVA_LEVEL), rng.integers(4, 12)])
        x, y, z = _ellipsoid(rng, centre, rng.uniform([2.0, 1.5, 2.0], [3.5, 2.5, 3.5]))
        keep = (arr[x, y, z] == _STONE) & (y <= LAVA_LEVEL)
        arr[x[keep], y[keep], z[keep]] = _LAVA


# ----------------------------------------------------------------------------------- ores
ORES: tuple[tuple[str, int, int, int, int], ...] = (
    ("dirt", 33, 10, 0, 128),
    ("gravel", 33, 8, 0, 128),
    ("granite", 33, 10, 0, 80),
    ("diorite", 33, 10, 0, 80),
    ("andesite", 33, 10, 0, 80),
    ("coal_ore", 17, 20, 0, 128),
    ("iron_ore", 9, 20, 0, 64),
    ("gold_ore", 9, 2, 0, 32),
    ("redstone_ore", 8, 8, 0, 16),
    ("diamond_ore", 8, 1, 0, 16),
    ("lapis_ore", 7, 1, 0, 32),
)
"""(block, vein size, veins per chunk, y_min, y_max exclusive), Minecraft 1.16's overworld ore
table; lapis is drawn from a triangle centred on y 16 (spread 16). Veins replace only stone,
and blocks outside a vein's height range are dropped so ranges hold exactly."""
EMERALD_RANGE = (4, 32)


_ORE_IDS = np.array([BLOCK_ID[o[0]] for o in ORES], dtype=np.uint8)
_ORE_SIZE = np.array([o[1] for o in ORES])
_ORE_COUNT = np.array([o[2] for o in ORES])
_VEIN_ORE = np.repeat(np.arange(len(ORES)), _ORE_COUNT)
"""Ore index of every vein of a chunk, in table order."""
_VEIN_LO = np.array([o[3] for o in ORES])[_VEIN_ORE]
_VEIN_HI = np.array([o[4] for o in ORES])[_VEIN_ORE]
_VEIN_SIGMA = np.array([0.4 * o[1] ** (1.0 / 3.0) for o in ORES])[_VEIN_ORE]
_VEIN_USED = np.arange(_ORE_SIZE.max())[None, :] < _ORE_SIZE[_VEIN_ORE][:, None]
_LAPIS = ORES.index(("lapis_ore", 7, 1, 0, 32))


def add_ores(arr: Blocks, rng: Generator, mountains: NDArray[np.bool_]) -> None:
    """Place stone-variant blobs and ore veins (replacing stone only), and mountain emeralds.

    All veins of the chunk are drawn at once: a vein is a Gaussian cloud of `size` cells
    around a centre whose height is uniform in its range.
    """
    veins = len(_VEIN_ORE)
    cy = _VEIN_LO + (rng.random(veins) * (_VEIN_HI - _VEIN_LO)).astype(np.int64)
    lapis = _VEIN_ORE == _LAPIS
    cy[lapis] = rng.integers(0, 16, int(lapis.sum())) + rng.integers(0, 16, int(lapis.sum()))
    centres = np.stack([rng.integers(0, CHUNK, veins), cy, rng.integers(0, CHUNK, veins)], 1)
    spread = rng.normal(0.0, 1.0, (veins, _VEIN_USED.shape[1], 3)) * _VEIN_SIGMA[:, None, None]
    cells = centres[:, None, :] + np.rint(spread).astype(np.int64)
    x, y, z = cells[..., 0], cells[..., 1], cells[..., 2]
    keep = _VEIN_USED & (x >= 0) & (x < CHUNK) & (z >= 0) & (z < CHUNK)
    keep &= (y >= _VEIN_LO[:, None]) & (y < _VEIN_HI[:, None])
    ore = np.broadcast_to(_ORE_IDS[_VEIN_ORE][:, None], keep.shape)[keep]
    x, y, z = x[keep], y[keep], z[keep]
    keep = arr[x, y, z] == _STONE
    # Overlapping veins: numpy keeps the last write of a repeated index, so later table rows
    # win as if placed one after another (and in any case the result is deterministic).
    arr[x[keep], y[keep], z[keep]] = ore[keep]
    # Minecraft 1.16 scatters 3-8 single emerald ores per chunk, in mountain biomes only.
    n = int(rng.integers(3, 9))
    x = rng.integers(0, CHUNK, n)
    y = rng.integers(*EMERALD_RANGE, n)
    z = rng.integers(0, CHUNK, n)
    keep = mountains[x, z] & (arr[x, y, z] == _STONE)
    arr[x[keep], y[keep], z[keep]] = BLOCK_ID["emerald_ore"]


# ---------------------------------------------------------------------------------- trees
_PLAINS, _FOREST, _DESERT, _MOUNTAINS, _OCEAN, _JUNGLE, _SAVANNA, _DARK_FOREST = range(len(BIOMES))
_GROUND = lut(("grass_block", "dirt"))
_REPLACEABLE = lut(("air", "grass", "dandelion", "poppy", "dead_bush"))
TREE_MARGIN = 2
"""Trunks stand at local x, z in [2, 13], so a canopy of radius 2 stays inside the chunk."""


def _layer(dy: int, radius: int, corners: str) -> list[tuple[int, int, int, int]]:
    """Offsets (dx, dy, dz, corner flag) of one canopy layer; corners: 'keep', 'maybe', 'drop'."""
    out = []
    for dx in range(-radius, radius + 1):
        for dz in range(-radius, radius + 1):
            corner = radius > 0 and abs(dx) == radius and abs(dz) == radius
            if corner and corners == "drop":
                continue
            out.append((dx, dy, dz, int(corner and corners == "maybe")))
    return out


def _canopy(layers: list[tuple[int, int, str]]) -> NDArray[np.int64]:
    return np.array([o for dy, r, c in layers for o in _layer(dy, r, c)], dtype=np.int64)


_BROADLEAF = _canopy([(-2, 2, "maybe"), (-1, 2, "maybe"), (0, 1, "maybe"), (1, 1, "drop")])
_CONIFER = _canopy(
    [
        (1, 0, "keep"),
        (0, 1, "drop"),
        (-1, 1, "keep"),
        (-2, 2, "drop"),
        (-3, 1, "keep"),
        (-4, 2, "drop"),
        (-5, 1, "keep"),
    ]
)
_KINDS = {
    "oak": (BLOCK_ID["oak_log"], BLOCK_ID["oak_leaves"], _BROADLEAF, 4, 6),
    "birch": (BLOCK_ID["birch_log"], BLOCK_ID["birch_leaves"], _BROADLEAF, 5, 6),
    "spruce": (BLOCK_ID["spruce_log"], BLOCK_ID["spruce_leaves"], _CONIFER, 5, 7),
    "jungle": (BLOCK_ID["jungle_log"], BLOCK_ID["jungle_leaves"], _BROADLEAF, 6, 9),
    "acacia": (BLOCK_ID["acacia_log"], BLOCK_ID["acacia_leaves"], _BROADLEAF, 4, 6),
    "dark_oak": (BLOCK_ID["dark_oak_log"], BLOCK_ID["dark_oak_leaves"], _BROADLEAF, 4, 6),
}
"""kind -> (log id, leaves id, canopy offsets from the trunk top, min and max trunk height)."""
_TREE_TRIES = {_PLAINS: (3, 0.2), _FOREST: (12, 0.8), _MOUNTAINS: (8, 0.35)}
"""biome -> (trunk positions tried per chunk, chance each is kept)."""


def _trunk_fits(arr: Blocks, trunks: list[tuple[int, int]], x: int, g: int, z: int) -> bool:
    """A trunk may stand at (x, z) on ground at `g`: grass or dirt below, air above, and 3
    blocks from every trunk already standing."""
    if not _GROUND[arr[x, g, z]] or arr[x, g + 1, z] != _AIR:
        return False
    return not any(abs(x - tx) < 3 and abs(z - tz) < 3 for tx, tz in trunks)


def _place_tree(arr: Blocks, rng: Generator, x: int, ground: int, z: int, kind: str) -> None:
    log, leaves, canopy, t_lo, t_hi = _KINDS[kind]
    top = ground + int(rng.integers(t_lo, t_hi + 1))
    canopy = canopy[(canopy[:, 1] + top > ground + 1) & (canopy[:, 1] + top < HEIGHT)]
    canopy = canopy[(canopy[:, 3] == 0) | (rng.random(len(canopy)) < 0.5)]
    lx, ly, lz = x + canopy[:, 0], top + canopy[:, 1], z + canopy[:, 2]
    free = _REPLACEABLE[arr[lx, ly, lz]]
    arr[lx[free], ly[free], lz[free]] = leaves
    arr[x, ground + 1 : min(top, HEIGHT - 1) + 1, z] = log


def add_trees(
    arr: Blocks, rng: Generator, height: NDArray[np.int64], biome: NDArray[np.uint8]
) -> None:
    """Oak and birch in forests, a few oaks on plains, spruce on mountain grass; cacti in deserts.

    Trunks need grass or dirt below and air above, and keep 3 blocks from each other.
    """
    lo, hi = TREE_MARGIN, CHUNK - TREE_MARGIN
    trunks: list[tuple[int, int]] = []
    for b, (tries, odds) in _TREE_TRIES.items():
        xs = rng.integers(lo, hi, tries)
        zs = rng.integers(lo, hi, tries)
        keep = rng.random(tries) < odds
        birch = rng.random(tries) < (0.3 if b == _FOREST else 0.05)
        for x, z, k, is_birch in zip(xs.tolist(), zs.tolist(), keep, birch, strict=True):
            g = int(height[x, z])
            if not k or biome[x, z] != b or g + 8 >= HEIGHT:
                continue
            if not _trunk_fits(arr, trunks, x, g, z):
                continue
            kind = "spruce" if b == _MOUNTAINS else ("birch" if is_birch else "oak")
            _place_tree(arr, rng, x, g, z, kind)
            trunks.append((x, z))
    _add_cacti(arr, rng, height, biome)


def _add_cacti(
    arr: Blocks, rng: Generator, height: NDArray[np.int64], biome: NDArray[np.uint8]
) -> None:
    sand = BLOCK_ID["sand"]
    xs = rng.integers(1, CHUNK - 1, 3).tolist()
    zs = rng.integers(1, CHUNK - 1, 3).tolist()
    for x, z in zip(xs, zs, strict=True):
        g = int(height[x, z])
        tall = int(rng.integers(1, 4))
        if biome[x, z] != _DESERT or arr[x, g, z] != sand or g + tall + 1 >= HEIGHT:
            continue
        # Minecraft cacti need air on all four sides.
        around = arr[[x - 1, x + 1, x, x], g + 1, [z, z, z - 1, z + 1]]
        if np.all(around == _AIR):
            arr[x, g + 1 : g + 1 + tall, z] = BLOCK_ID["cactus"]


_FLOWERS: dict[int, NDArray[np.uint8]] = {
    b: np.array([BLOCK_ID[n] for n in names], dtype=np.uint8)
    for b, names in {
        # half of them dandelions and poppies, as before the others grew
        _PLAINS: ("dandelion", "poppy") * 4
        + ("azure_bluet", "oxeye_daisy", "cornflower", "red_tulip", "orange_tulip")
        + ("white_tulip", "pink_tulip"),
        _FOREST: ("dandelion", "poppy") * 2 + ("lily_of_the_valley", "allium"),
    }.items()
}
"""biome -> the flowers that grow there (Minecraft 1.16's plains and forest flowers; a flower
forest's alliums and lilies of the valley in the forest)."""

_PLANT_ODDS: dict[int, tuple[float, float]] = {
    _PLAINS: (0.12, 0.015),
    _FOREST: (0.06, 0.01),
    _MOUNTAINS: (0.04, 0.0),
    _DESERT: (0.0, 0.012),
}
"""biome -> (chance of grass, chance of a flower, or of a dead bush in the desert) per column."""


def add_plants(
    arr: Blocks, rng: Generator, height: NDArray[np.int64], biome: NDArray[np.uint8]
) -> None:
    """Short grass and flowers on grass blocks, dead bushes on desert sand."""
    x, z = np.meshgrid(np.arange(CHUNK), np.arange(CHUNK), indexing="ij")
    h = np.minimum(height, HEIGHT - 2)
    ground = arr[x, h, z]
    free = arr[x, h + 1, z] == _AIR
    roll = rng.random((CHUNK, CHUNK))
    pick_flower = rng.random((CHUNK, CHUNK))
    out = np.zeros((CHUNK, CHUNK), dtype=np.uint8)
    for b, (grass, bloom) in _PLANT_ODDS.items():
        kinds = _FLOWERS.get(b, _FLOWERS[_PLAINS])
        flower = kinds[np.minimum((pick_flower * len(kinds)).astype(np.int64), len(kinds) - 1)]
        here = (biome == b) & free
        if b == _DESERT:
            out[here & (ground == BLOCK_ID["sand"]) & (roll < bloom)] = BLOCK_ID["dead_bush"]
            continue
        on_grass = here & (ground == BLOCK_ID["grass_block"])
        out[on_grass & (roll < grass)] = BLOCK_ID["grass"]
        pick = on_grass & (roll >= grass) & (roll < grass + bloom)
        out[pick] = flower[pick]
    placed = out != _AIR
    arr[x[placed], h[placed] + 1, z[placed]] = out[placed]
    _add_sugar_cane(arr, rng, h, free & ~placed)


SUGAR_CANE_ODDS = 0.2
"""Chance that a column at the water's edge (sand, grass or dirt at sea level, water beside it)
grows sugar cane, one to three high (Minecraft grows it only beside water)."""


def _add_sugar_cane(
    arr: Blocks, rng: Generator, h: NDArray[np.int64], free: NDArray[np.bool_]
) -> None:
    x, z = np.meshgrid(np.arange(CHUNK), np.arange(CHUNK), indexing="ij")
    ground = arr[x, h, z]
    soil = np.isin(ground, [BLOCK_ID["sand"], BLOCK_ID["grass_block"], BLOCK_ID["dirt"]])
    wet = np.zeros((CHUNK, CHUNK), dtype=bool)
    for dx, dz in ((1, 0), (-1, 0), (0, 1), (0, -1)):  # within the chunk: its edges stay dry
        xs, zs = np.clip(x + dx, 0, CHUNK - 1), np.clip(z + dz, 0, CHUNK - 1)
        inside = (x + dx == xs) & (z + dz == zs)
        wet |= inside & (arr[xs, h, zs] == BLOCK_ID["water"])  # beside it, at its level
    roll = rng.random((CHUNK, CHUNK))
    tall = rng.integers(1, 4, (CHUNK, CHUNK))
    grow = soil & free & wet & (h == SEA_LEVEL) & (roll < SUGAR_CANE_ODDS)
    for i, j in zip(*np.nonzero(grow), strict=True):
        top = min(int(h[i, j]) + 1 + int(tall[i, j]), HEIGHT)
        arr[i, int(h[i, j]) + 1 : top, j] = BLOCK_ID["sugar_cane"]


_WILD_TREES = {
    _JUNGLE: ("jungle", 14, 0.8),
    _SAVANNA: ("acacia", 4, 0.5),
    _DARK_FOREST: ("dark_oak", 16, 0.9),
}
"""biome -> (tree kind, trunk positions tried per chunk, chance each is kept)."""
WILD_BIOMES = tuple(_WILD_TREES)
_WILD_PLANTS = {
    _JUNGLE: (0.15, "melon", 0.012),
    _SAVANNA: (0.2, "", 0.0),
    _DARK_FOREST: (0.04, "mushroom", 0.03),
}
"""biome -> (chance of grass, what else grows on grass there, its chance) per column."""
COCOA_ODDS = 0.5
"""Chance that a jungle trunk carries a cocoa pod (on a side, 2-4 blocks up)."""
VINE_ODDS = 0.5
"""Chance that vines hang down a side of a jungle trunk (shears collect them)."""


def add_wild_biomes(
    arr: Blocks,
    rng: Generator,
    height: NDArray[np.int64],
    biome: NDArray[np.uint8],
    vine_rng: Generator,
) -> None:
    """The jungles, savannas and dark forests: jungle trees with cocoa, vines and melons,
    acacias, dark oaks with mushrooms beneath, and grass. Drawn from a generator of their own,
    so a chunk without these biomes is what it was before they came (and the vines from one of
    theirs: everything else is where it was before the vines)."""
    lo, hi = TREE_MARGIN, CHUNK - TREE_MARGIN
    trunks: list[tuple[int, int]] = []
    jungle: list[tuple[int, int, int]] = []
    for b, (kind, tries, odds) in _WILD_TREES.items():
        xs = rng.integers(lo, hi, tries).tolist()
        zs = rng.integers(lo, hi, tries).tolist()
        keep = rng.random(tries) < odds
        pods = rng.random(tries) < COCOA_ODDS
        for x, z, k, pod in zip(xs, zs, keep, pods, strict=True):
            g = int(height[x, z])
            if not k or biome[x, z] != b or g + 10 >= HEIGHT:
                continue
            if not _trunk_fits(arr, trunks, x, g, z):
                continue
            _place_tree(arr, rng, x, g, z, kind)
            trunks.append((x, z))
            if kind == "jungle" and pod:
                dx, dz = _SIDES4[int(rng.integers(4))]
                y = g + 2 + int(rng.integers(3))
                if arr[x + dx, y, z + dz] == _AIR:
                    arr[x + dx, y, z + dz] = BLOCK_ID["cocoa"]
            if kind == "jungle":
                jungle.append((x, g, z))
    x, z = np.meshgrid(np.arange(CHUNK), np.arange(CHUNK), indexing="ij")
    h = np.minimum(height, HEIGHT - 2)
    on_grass = (arr[x, h, z] == BLOCK_ID["grass_block"]) & (arr[x, h + 1, z] == _AIR)
    roll = rng.random((CHUNK, CHUNK))
    red = rng.random((CHUNK, CHUNK)) < 0.5
    out = np.zeros((CHUNK, CHUNK), dtype=np.uint8)
    for b, (grass, other, odds) in _WILD_PLANTS.items():
        here = on_grass & (biome == b)
        out[here & (roll < grass)] = BLOCK_ID["grass"]
        pick = here & (roll >= grass) & (roll < grass + odds)
        if other == "melon":
            out[pick] = BLOCK_ID["melon"]
        elif other == "mushroom":
            out[pick & red] = BLOCK_ID["red_mushroom"]
            out[pick & ~red] = BLOCK_ID["brown_mushroom"]
    placed = out != _AIR
    arr[x[placed], h[placed] + 1, z[placed]] = out[placed]
    for tx, g, tz in jungle:  # vines down a side of the trunk, under the canopy
        if vine_rng.random() < VINE_ODDS:
            dx, dz = _SIDES4[int(vine_rng.integers(4))]
            for y in range(g + 2, g + 6):
                if arr[tx + dx, y, tz + dz] == _AIR:
                    arr[tx + dx, y, tz + dz] = BLOCK_ID["vine"]


_SIDES4 = ((1, 0), (-1, 0), (0, 1), (0, -1))
