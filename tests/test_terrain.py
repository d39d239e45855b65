"""Tests of CraftWorld's voxel terrain: determinism, Minecraft-faithful content, queries, render."""

from __future__ import annotations

import numpy as np
import pytest

from sim.craftworld.features import EMERALD_RANGE, LAVA_LEVEL, ORES
from sim.craftworld.palette import BIOMES, LOGS, NON_SOLID, SOLID_LUT
from sim.craftworld.render import render_topdown
from sim.craftworld.terrain import BLOCK_ID, BLOCKS, CHUNK, HEIGHT, SEA_LEVEL, Terrain
from sim.craftworld.worldgen import MOUNTAINS, columns

SEEDS = range(20)


@pytest.fixture(scope="module")
def spawned() -> dict[int, Terrain]:
    """Terrains of 20 seeds with their spawn area generated (shared: generation dominates)."""
    out = {}
    for seed in SEEDS:
        terrain = Terrain(seed)
        terrain.spawn_point()
        out[seed] = terrain
    return out


@pytest.fixture(scope="module")
def area() -> tuple[Terrain, np.ndarray]:
    """Seed 7 with a 160 x 160 area generated, and that area's block ids."""
    terrain = Terrain(7)
    return terrain, terrain.region((-80, 0, -80), (80, HEIGHT, 80))


def test_palette_is_minecraft_1_16_5() -> None:
    minecraft_data = pytest.importorskip("minecraft_data")
    names = set(minecraft_data("1.16.5").blocks_name)
    assert BLOCKS[0] == "air"
    assert [b for b in BLOCKS if b not in names] == []
    assert len(BLOCKS) == len(set(BLOCKS)) <= 256
    assert all(BLOCKS[i] == n for n, i in BLOCK_ID.items())


def test_same_seed_same_chunks_in_any_order() -> None:
    keys = [(cx, cz) for cx in range(-2, 3) for cz in range(-2, 3)]
    a, b, c = Terrain(123), Terrain(123), Terrain(124)
    for key in keys:
        a.chunk(*key)
    order = np.random.default_rng(0).permutation(len(keys))
    for i in order:
        b.chunk(*keys[i])
    for key in keys:
        assert a.chunk(*key).dtype == np.uint8
        assert a.chunk(*key).shape == (CHUNK, HEIGHT, CHUNK)
        np.testing.assert_array_equal(a.chunk(*key), b.chunk(*key))
    assert any(not np.array_equal(a.chunk(*k), c.chunk(*k)) for k in keys)
    # A chunk generated alone, far from anything else, is the same as amid its neighbours.
    np.testing.assert_array_equal(Terrain(123).chunk(1, -1), a.chunk(1, -1))


def test_bedrock_floor(area: tuple[Terrain, np.ndarray]) -> None:
    terrain, box = area
    assert np.all(box[:, 0, :] == BLOCK_ID["bedrock"])
    assert not np.any(box[:, 5:, :] == BLOCK_ID["bedrock"])
    assert terrain.get(3, -1, 3) == "bedrock"
    assert terrain.get(3, HEIGHT, 3) == "air"


def test_ores_only_in_their_height_ranges(area: tuple[Terrain, np.ndarray]) -> None:
    _, box = area
    for name, _, _, y_lo, y_hi in ORES:
        if name in ("dirt", "gravel"):
            continue  # also surface blocks
        ys = np.nonzero(box == BLOCK_ID[name])[1]
        assert ys.size > 0, f"no {name} in 100 chunks"
        assert y_lo <= ys.min() and ys.max() < y_hi, name
    ys = np.nonzero(box == BLOCK_ID["emerald_ore"])[1]
    assert ys.size == 0 or (EMERALD_RANGE[0] <= ys.min() and ys.max() < EMERALD_RANGE[1])


def test_emeralds_in_mountains() -> None:
    xs = np.arange(-1024, 1024, 16.0)
    cols = columns(0, xs[:, None], xs[None, :])
    i, k = np.argwhere(cols.biome == MOUNTAINS)[0]
    terrain = Terrain(0)
    x, z = int(xs[i]), int(xs[k])
    found = terrain.find_nearest("emerald_ore", (x, 20, z), 24)
    assert found is not None and EMERALD_RANGE[0] <= found[1] < EMERALD_RANGE[1]
    assert terrain.biome(found[0], found[2]) == "mountains"


def test_lava_only_below_lava_level(area: tuple[Terrain, np.ndarray]) -> None:
    _, box = area
    ys = np.nonzero(box == BLOCK_ID["lava"])[1]
    assert ys.size > 0
    assert ys.max() <= LAVA_LEVEL < 11
    # Caves exist: air well below any surface.
    assert np.count_nonzero(box[:, 5:40, :] == BLOCK_ID["air"]) > 500


def test_surface_and_stand_y(area: tuple[Terrain, np.ndarray]) -> None:
    terrain, _ = area
    rng = np.random.default_rng(1)
    for x, z in rng.integers(-80, 80, (40, 2)).tolist():
        y = terrain.surface_y(x, z)
        assert terrain.stand_y(x, z) == y + 1
        assert terrain.get(x, y, z) not in NON_SOLID
        assert all(terrain.get(x, yy, z) in NON_SOLID for yy in range(y + 1, HEIGHT))


def test_water_fills_oceans_to_sea_level() -> None:
    xs = np.arange(-1024, 1024, 16.0)
    cols = columns(3, xs[:, None], xs[None, :])
    i, k = np.argwhere((cols.biome == BIOMES.index("ocean")) & (cols.height < SEA_LEVEL - 4))[0]
    x, z = int(xs[i]), int(xs[k])
    terrain = Terrain(3)
    assert terrain.biome(x, z) == "ocean"
    floor = terrain.surface_y(x, z)
    assert floor < SEA_LEVEL
    assert {terrain.get(x, y, z) for y in range(floor + 1, SEA_LEVEL + 1)} == {"water"}
    assert terrain.get(x, SEA_LEVEL + 1, z) == "air"


def test_biomes_all_present_and_desert_has_no_trees() -> None:
    xs = np.arange(-1536, 1536, 16.0)
    cols = columns(5, xs[:, None], xs[None, :])
    fractions = np.bincount(cols.biome.ravel(), minlength=len(BIOMES)) / cols.biome.size
    said = dict(zip(BIOMES, fractions, strict=True))
    assert np.all(fractions[:5] > 0.05) and np.all(fractions[5:] > 0.02), said
    mountain_tops = cols.height[cols.biome == MOUNTAINS]
    assert mountain_tops.max() >= 100 and np.percentile(mountain_tops, 50) >= 85

    terrain = Terrain(5)
    logs = [BLOCK_ID[n] for n in LOGS]
    desert = np.argwhere(cols.biome == BIOMES.index("desert"))[:3]
    for i, k in desert:
        arr = terrain.chunk(int(xs[i]) // CHUNK, int(xs[k]) // CHUNK)
        biome = {
            terrain.biome(int(xs[i]) + dx, int(xs[k]) + dz) for dx in (0, 15) for dz in (0, 15)
        }
        if biome == {"desert"}:
            assert not np.isin(arr, logs).any()


def test_forests_have_several_trees(spawned: dict[int, Terrain]) -> None:
    logs = [BLOCK_ID[n] for n in LOGS]
    trunks_per_chunk = []
    for seed, terrain in spawned.items():
        for cx in range(-3, 3):
            for cz in range(-3, 3):
                xs = np.arange(cx * CHUNK, (cx + 1) * CHUNK, dtype=np.float64)
                zs = np.arange(cz * CHUNK, (cz + 1) * CHUNK, dtype=np.float64)
                biome = columns(seed, xs[:, None], zs[None, :]).biome
                if np.all(biome == BIOMES.index("forest")):
                    # One log column per trunk.
                    arr = terrain.chunk(cx, cz)
                    trunks_per_chunk.append(int(np.isin(arr, logs).any(axis=1).sum()))
    assert len(trunks_per_chunk) >= 20
    assert np.mean(trunks_per_chunk) >= 4
    assert np.mean(np.array(trunks_per_chunk) >= 2) >= 0.9


def test_spawn_on_land_with_trees_nearby(spawned: dict[int, Terrain]) -> None:
    with_trees = 0
    for terrain in spawned.values():
        x, y, z = terrain.spawn_point()
        assert terrain.spawn_point() == (x, y, z)
        assert abs(x) <= 48 and abs(z) <= 48
        assert y == terrain.stand_y(x, z) and y > SEA_LEVEL
        assert terrain.biome(x, z) != "ocean"
        assert terrain.get(x, y, z) in NON_SOLID and terrain.get(x, y, z) != "water"
        if any(terrain.find_nearest(n, (x, y, z), 32) for n in LOGS):
            with_trees += 1
    assert with_trees >= 17


def test_diamonds_found_below_16(spawned: dict[int, Terrain]) -> None:
    found = 0
    for seed in range(10):
        terrain = spawned[seed]
        hit = terrain.find_nearest("diamond_ore", terrain.spawn_point(), 48)
        if hit is not None:
            assert hit[1] < 16
            found += 1
    assert found >= 8


def test_find_nearest_matches_brute_force(area: tuple[Terrain, np.ndarray]) -> None:
    terrain, box = area
    origin = (5, 40, -7)
    for name in ("iron_ore", "gold_ore", "oak_log", "no_such_block"):
        got = terrain.find_nearest(name, origin, 30)
        if name not in BLOCK_ID:
            assert got is None
            continue
        sub = box[80 + 5 - 30 : 80 + 5 + 31, :, 80 - 7 - 30 : 80 - 7 + 31]
        cells = np.argwhere(sub == BLOCK_ID[name]) + np.array([5 - 30, 0, -7 - 30])
        if cells.size == 0:
            assert got is None
            continue
        d2 = ((cells - np.array(origin)) ** 2).sum(axis=1)
        best = sorted((int(d), *map(int, c)) for d, c in zip(d2, cells, strict=True))[0]
        assert got == best[1:]


def test_count_near_and_exposed(area: tuple[Terrain, np.ndarray]) -> None:
    terrain, box = area
    origin = (10, 30, 10)
    counts = terrain.count_near(origin, 4)
    sub = box[86:95, 26:35, 86:95]  # the box starts at (-80, 0, -80)
    expected = {BLOCKS[i]: int(n) for i, n in enumerate(np.bincount(sub.ravel())) if n and i}
    assert counts == expected
    exposed = terrain.count_near(origin, 4, exposed_only=True)
    assert all(exposed[k] <= counts[k] for k in exposed)
    # At the surface the ground, trees and plants around are visible.
    x, z = 20, 20
    top = terrain.count_near((x, terrain.stand_y(x, z), z), 6, exposed_only=True)
    assert sum(top.values()) > 50
    assert "air" not in top


def test_set_persists_and_validates() -> None:
    terrain = Terrain(11)
    y = terrain.surface_y(3, -4)
    terrain.set(3, y + 1, -4, "crafting_table")
    assert terrain.get(3, y + 1, -4) == "crafting_table"
    assert terrain.surface_y(3, -4) == y + 1
    terrain.set(3, y + 1, -4, "air")
    assert terrain.surface_y(3, -4) == y
    with pytest.raises(ValueError):
        terrain.set(0, 70, 0, "iron_ingot")
    with pytest.raises(ValueError):
        terrain.set(0, HEIGHT, 0, "stone")
    assert terrain.loaded_chunks() == 1
    assert terrain.nbytes() >= CHUNK * HEIGHT * CHUNK


def test_ensure_area_generates_covering_chunks() -> None:
    terrain = Terrain(2)
    terrain.ensure_area(0, 0, 40)
    assert terrain.loaded_chunks() == 36
    terrain.ensure_area(8, 8, 7)
    assert terrain.loaded_chunks() == 36


def test_render_shape_markers_and_night(spawned: dict[int, Terrain]) -> None:
    terrain = spawned[0]
    spawn = terrain.spawn_point()
    mobs = [
        ("zombie", (spawn[0] + 3, spawn[1], spawn[2])),
        ("cow", (spawn[0], spawn[1], spawn[2] - 2)),
    ]
    day = render_topdown(terrain, spawn, 16, agent=spawn, mobs=mobs, time_of_day=1000, scale=4)
    night = render_topdown(terrain, spawn, 16, agent=spawn, mobs=mobs, time_of_day=18000, scale=4)
    assert day.shape == (33 * 4, 33 * 4, 3) and day.dtype == np.uint8
    assert night.shape == day.shape
    centre = day[16 * 4 + 1, 16 * 4 + 1]
    assert tuple(centre) == (255, 230, 0)
    zombie = day[16 * 4 + 1, 19 * 4 + 1]
    assert zombie[0] > 150 and zombie[1] < 100
    assert night.astype(int).mean() < 0.7 * day.astype(int).mean()
    # Underground the cut-away shows the level the agent is at, not the surface.
    deep = (spawn[0], 20, spawn[2])
    under = render_topdown(terrain, deep, 16, agent=deep, mobs=[], time_of_day=1000, scale=1)
    assert under.shape == (33, 33, 3)
    assert not np.array_equal(under, day[::4, ::4])


def test_solid_lookup_matches_names() -> None:
    for name, i in BLOCK_ID.items():
        assert bool(SOLID_LUT[i]) == (name not in NON_SOLID)


def test_sugar_cane_grows_at_the_waters_edge() -> None:
    """One to three high, on sand, grass or dirt at sea level, with water beside its base
    (issue 33: paper, books and maps come from it)."""
    terrain = Terrain(2)
    terrain.ensure_area(0, 0, 64)
    cane = BLOCK_ID["sugar_cane"]
    found = 0
    for cx, cz in [(cx, cz) for cx in range(-4, 5) for cz in range(-4, 5)]:
        arr = terrain.chunk(cx, cz)
        for x, y, z in zip(*np.nonzero(arr == cane), strict=True):
            if arr[x, y - 1, z] == cane:
                continue  # not the base of its column
            found += 1
            assert y - 1 == SEA_LEVEL and BLOCKS[arr[x, y - 1, z]] in (
                "sand",
                "grass_block",
                "dirt",
            )
            wx, wz = cx * CHUNK + int(x), cz * CHUNK + int(z)
            beside = [
                terrain.get(wx + dx, SEA_LEVEL, wz + dz)
                for dx, dz in ((1, 0), (-1, 0), (0, 1), (0, -1))
            ]
            assert "water" in beside
            height = 1
            while terrain.get(wx, int(y) + height, wz) == "sugar_cane":
                height += 1
            assert height <= 3
    assert found > 3


def test_the_wild_biomes_keep_away_from_spawn_and_grow_their_own_things() -> None:
    """Jungles, savannas and dark forests (issue 33) lie 96 blocks and more from the origin,
    so every start area is what it was; they grow jungle trees with cocoa and melons, acacias,
    and dark oaks with mushrooms."""
    from sim.craftworld.worldgen import NEW_BIOMES_FROM

    xs = np.arange(-640, 641, 8.0)
    d = np.hypot(xs[:, None], xs[None, :])
    wild = [BIOMES.index(b) for b in ("jungle", "savanna", "dark_forest")]
    seen: set[int] = set()
    for seed in range(6):
        biome = columns(seed, xs[:, None], xs[None, :]).biome
        here = np.isin(biome, wild)
        assert not here[d < NEW_BIOMES_FROM].any()
        seen |= set(np.unique(biome[here]).tolist())
    assert seen == set(wild)
    terrain = Terrain(0)
    found: dict[str, int] = {}
    for cx in range(-12, 13):
        for cz in range(-12, 13):
            arr = terrain.chunk(cx, cz)
            for name in ("jungle_log", "acacia_log", "dark_oak_log", "cocoa", "melon"):
                found[name] = found.get(name, 0) + int((arr == BLOCK_ID[name]).sum())
            for name in ("brown_mushroom", "red_mushroom"):
                found["mushroom"] = found.get("mushroom", 0) + int((arr == BLOCK_ID[name]).sum())
    assert all(n > 20 for n in found.values()), found
