"""World generation for CraftWorld: per-column climate and height, and the layered base chunk.

`columns` is a pure function of (seed, x, z) evaluated on whole coordinate arrays; it decides
height and biome. `generate_chunk` fills a chunk from those columns (bedrock, stone, dirt,
grass, sand, water) and then hands it to the feature passes in `features` (caves, pockets,
ores, trees, plants). Every pass is a function of (seed, cx, cz) only, so a chunk is identical
whatever order chunks are generated in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sim.craftworld import features
from sim.craftworld.noise import FloatArray, fbm2, int_seed, smoothstep, uniform, value2
from sim.craftworld.palette import BIOMES, BLOCK_ID, CHUNK, HEIGHT, SEA_LEVEL

PLAINS, FOREST, DESERT, MOUNTAINS, OCEAN, JUNGLE, SAVANNA, DARK_FOREST = range(len(BIOMES))

SPAWN_RADIUS = 160.0
"""Width (blocks) of the bias that makes the origin temperate land, as Minecraft picks a
spawn in a suitable biome: inside it oceans, mountains and deserts are pushed away."""

MOUNTAIN_BIOME = 0.45
"""Mountain factor above which a land column is the mountains biome."""
DESERT_BIOME = 0.5
FOREST_HUMIDITY = 0.02
NEW_BIOMES_FROM = 96.0
"""Distance (blocks) from the origin within which no jungle, savanna or dark forest grows: the
worlds near spawn stay as they were before these biomes came (every shipped suite starts there)."""
WARM = 0.05
"""Temperature above which lowland short of desert is savanna, or jungle where humid."""
JUNGLE_HUMIDITY = 0.1
DARK_HUMIDITY = 0.3
"""Humidity (without the spawn's bias) above which a forest is a dark forest."""

_SALT_CONT, _SALT_MOUNT, _SALT_TEMP, _SALT_HUMID = 101, 102, 103, 104
_SALT_DETAIL, _SALT_RIDGE, _SALT_DIRT, _SALT_GRAVEL, _SALT_FLOOR = 105, 106, 107, 108, 109
_SALT_CHUNK, _SALT_WILD, _SALT_VINE = 110, 111, 112

_AIR = BLOCK_ID["air"]
_WATER = BLOCK_ID["water"]
_STONE = BLOCK_ID["stone"]
_BEDROCK = BLOCK_ID["bedrock"]
_BEDROCK_ODDS = np.array([0.8, 0.6, 0.4, 0.2])[None, :, None]
"""Chance of bedrock at y = 1..4, thinning upwards like Minecraft's bedrock floor."""


@dataclass(frozen=True)
class Columns:
    """Per-column generation fields for an array of (x, z) world coordinates."""

    height: NDArray[np.int64]
    """y of the top terrain block (before caves and features)."""
    biome: NDArray[np.uint8]
    """Index into `BIOMES`."""
    mountain: FloatArray
    """0 (lowland) .. 1 (mountain massif)."""
    shore: FloatArray
    """0 (inland) .. 1 (open ocean): how far into the ocean transition a column is."""


def columns(seed: int, x: FloatArray, z: FloatArray) -> Columns:
    """Height and biome of every column; `x` and `z` broadcast against each other."""
    x = np.asarray(x, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    # A smooth bump, 1 at the origin and 0 beyond SPAWN_RADIUS (polynomial, not exp, so every
    # CPU computes the same bits).
    r2 = np.minimum((x * x + z * z) / SPAWN_RADIUS**2, 1.0)
    bias = (1.0 - r2) * (1.0 - r2)
    cont = fbm2(seed, _SALT_CONT, x, z, 384.0, 3) + 0.6 * bias
    mount = fbm2(seed, _SALT_MOUNT, x, z, 256.0, 3) - 0.6 * bias
    temp = fbm2(seed, _SALT_TEMP, x, z, 320.0, 2) - 0.6 * bias
    humid = fbm2(seed, _SALT_HUMID, x, z, 160.0, 2) + 0.4 * bias
    detail = fbm2(seed, _SALT_DETAIL, x, z, 48.0, 3)
    ridge = 1.0 - np.abs(fbm2(seed, _SALT_RIDGE, x, z, 96.0, 3))

    shore = smoothstep(-0.12, -0.3, cont)
    desert = smoothstep(0.15, 0.3, temp)
    land = SEA_LEVEL + 3.0 + (7.0 - 4.0 * desert) * detail
    floor = SEA_LEVEL - 13.0 + 5.0 * detail
    h = land + (floor - land) * shore
    mountain = smoothstep(0.12, 0.4, mount) * (1.0 - shore)
    h = h + mountain * (14.0 + 44.0 * ridge * ridge + 8.0 * detail)
    height = np.clip(np.rint(h), 8, 120).astype(np.int64)

    biome = np.full(height.shape, PLAINS, dtype=np.uint8)
    biome[humid > FOREST_HUMIDITY] = FOREST
    biome[desert > DESERT_BIOME] = DESERT
    biome[mountain > MOUNTAIN_BIOME] = MOUNTAINS
    biome[height < SEA_LEVEL] = OCEAN
    # the warm and the damp lowlands (outside the spawn's temperate bias, as in Minecraft)
    far = r2 > (NEW_BIOMES_FROM / SPAWN_RADIUS) ** 2
    lowland = far & ((biome == PLAINS) | (biome == FOREST))
    warm = lowland & (temp > WARM)
    dark = far & (biome == FOREST) & (humid - 0.4 * bias > DARK_HUMIDITY)
    biome[dark] = DARK_FOREST
    biome[warm & (humid <= JUNGLE_HUMIDITY)] = SAVANNA
    biome[warm & (humid > JUNGLE_HUMIDITY)] = JUNGLE
    return Columns(height=height, biome=biome, mountain=mountain, shore=shore)


def _surface_layers(
    seed: int, x: FloatArray, z: FloatArray, cols: Columns, slope: NDArray[np.int64]
) -> tuple[NDArray[np.uint8], ...]:
    """Per column: top block, first filler and its depth, second filler and its depth."""
    shape = cols.height.shape
    h = cols.height
    top = np.full(shape, BLOCK_ID["grass_block"], dtype=np.uint8)
    fill1 = np.full(shape, BLOCK_ID["dirt"], dtype=np.uint8)
    # Minecraft puts 3-4 dirt under grass.
    depth1 = (3 + (uniform(seed, _SALT_DIRT, x, z) < 0.5)).astype(np.uint8)
    fill2 = np.full(shape, _STONE, dtype=np.uint8)
    depth2 = np.zeros(shape, dtype=np.uint8)

    gravel = value2(seed, _SALT_GRAVEL, x, z, 5.0) > 0.86
    land = cols.biome != OCEAN
    patch = gravel & land & (cols.biome != DESERT)
    top[patch] = BLOCK_ID["gravel"]
    fill1[patch] = BLOCK_ID["gravel"]

    sandy = (cols.biome == DESERT) | (land & (h <= SEA_LEVEL + 1) & (cols.shore > 0.05))
    top[sandy] = BLOCK_ID["sand"]
    fill1[sandy] = BLOCK_ID["sand"]
    fill2[sandy] = BLOCK_ID["sandstone"]
    depth2[sandy] = np.where(cols.biome[sandy] == DESERT, 3, 1)

    sea = ~land
    floor = value2(seed, _SALT_FLOOR, x, z, 12.0)
    deep = sea & (h < SEA_LEVEL - 5)
    top[sea] = BLOCK_ID["sand"]
    fill1[sea] = BLOCK_ID["sand"]
    top[deep & (floor > 0.45)] = BLOCK_ID["gravel"]
    fill1[deep & (floor > 0.45)] = BLOCK_ID["gravel"]
    top[sea & (floor < 0.12)] = BLOCK_ID["clay"]

    # Mountains show bare stone on cliffs and high up, snow on the peaks.
    rocky = (cols.mountain > 0.3) & land & ((slope >= 3) | (h >= 95))
    top[rocky] = _STONE
    fill1[rocky] = _STONE
    top[rocky & (h >= 110)] = BLOCK_ID["snow_block"]
    return top, fill1, depth1, fill2, depth2


def generate_chunk(seed: int, cx: int, cz: int) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """The block ids (CHUNK, HEIGHT, CHUNK), indexed [x, y, z], and biome ids (CHUNK, CHUNK)
    of chunk (cx, cz)."""
    x0 = cx * CHUNK
    z0 = cz * CHUNK
    # One ring of neighbour columns too: slopes and shore protection look across the border.
    xs = np.arange(x0 - 1, x0 + CHUNK + 1, dtype=np.float64)[:, None]
    zs = np.arange(z0 - 1, z0 + CHUNK + 1, dtype=np.float64)[None, :]
    padded = columns(seed, xs, zs)
    hp = padded.height
    inner = (slice(1, -1), slice(1, -1))
    cols = Columns(
        height=hp[inner],
        biome=padded.biome[inner],
        mountain=padded.mountain[inner],
        shore=padded.shore[inner],
    )
    slope = np.zeros((CHUNK, CHUNK), dtype=np.int64)
    for dx, dz in ((0, 1), (2, 1), (1, 0), (1, 2)):
        np.maximum(slope, np.abs(hp[dx : dx + CHUNK, dz : dz + CHUNK] - cols.height), out=slope)

    top, fill1, depth1, fill2, depth2 = _surface_layers(seed, xs[1:-1], zs[:, 1:-1], cols, slope)
    # int16 depths and uint8 ids keep the full-chunk passes small (32K cells each).
    y = np.arange(HEIGHT, dtype=np.int16)[None, :, None]
    depth = cols.height.astype(np.int16)[:, None, :] - y
    d1 = depth1[:, None, :].astype(np.int16)
    d2 = d1 + depth2[:, None, :]
    arr = np.where(depth > d2, np.uint8(_STONE), fill2[:, None, :])
    arr = np.where(depth <= d1, fill1[:, None, :], arr)
    arr = np.where(depth == 0, top[:, None, :], arr)
    arr = np.where(depth < 0, np.where(y <= SEA_LEVEL, np.uint8(_WATER), np.uint8(_AIR)), arr)

    rng = np.random.default_rng(int_seed(seed, _SALT_CHUNK, cx, cz))
    arr[:, 0, :] = _BEDROCK
    floor = rng.random((CHUNK, 4, CHUNK)) < _BEDROCK_ODDS
    arr[:, 1:5, :][floor] = _BEDROCK

    # Shore protection: caves may not open within 2 blocks of any water column's floor nearby.
    wet = np.where(hp < SEA_LEVEL, hp, HEIGHT + 2)
    protect = np.full((CHUNK, CHUNK), HEIGHT + 2, dtype=np.int64)
    for dx in range(3):
        for dz in range(3):
            np.minimum(protect, wet[dx : dx + CHUNK, dz : dz + CHUNK], out=protect)
    features.carve_caves(arr, seed, cx, cz, protect - 2)
    features.add_pockets(arr, rng)
    features.add_ores(arr, rng, cols.biome == MOUNTAINS)
    features.add_trees(arr, rng, cols.height, cols.biome)
    features.add_plants(arr, rng, cols.height, cols.biome)
    if np.isin(cols.biome, features.WILD_BIOMES).any():
        wild = np.random.default_rng(int_seed(seed, _SALT_WILD, cx, cz))
        vines = np.random.default_rng(int_seed(seed, _SALT_VINE, cx, cz))
        features.add_wild_biomes(arr, wild, cols.height, cols.biome, vines)
    return arr, cols.biome
