"""What a player sees (issue 32): the isometric 3D view, the first-person observation, the map
one key away in the viewer. Rendered headless; checked by their pixels."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from sim.craftworld.firstperson import SKY, Camera
from sim.craftworld.iso import image_size, render_iso
from sim.craftworld.palette import BLOCK_ID
from sim.craftworld.render import AGENT_COLOR, BLOCK_COLORS
from sim.craftworld.world import CraftWorld
from sim.schema import Goal, Task

TASK = Task(id="t", instruction="Obtain a stick.", goal=Goal(item="stick"))


@pytest.fixture(scope="module")
def world() -> CraftWorld:
    w = CraftWorld()
    w.reset(TASK, 0)
    return w


def _has(img: np.ndarray, color: tuple[int, int, int], tol: int = 24) -> int:
    """Pixels within `tol` of `color` in every channel."""
    return int((np.abs(img.astype(int) - np.array(color)).max(axis=2) <= tol).sum())


def _yellow(img: np.ndarray) -> int:
    """Pixels the colour of gold ore, however shaded (red and green high, blue low)."""
    r, g, b = (img[..., i].astype(int) for i in range(3))
    return int(((r > 100) & (g > 0.8 * r) & (b < 0.55 * g)).sum())


def _carve(w: CraftWorld, feet: tuple[int, int, int]) -> None:
    """A two-high pocket of air where the agent stands (and a floor under it)."""
    x, y, z = feet
    w.terrain.set(x, y, z, "air")
    w.terrain.set(x, y + 1, z, "air")
    w.terrain.set(x, y - 1, z, "stone")


# ---- the isometric 3D view -----------------------------------------------------------------
def test_the_3d_view_shows_the_agent_at_the_centre_in_the_open(world: CraftWorld) -> None:
    img = world.render()
    assert img.shape == (*image_size(11)[::-1], 3) and img.dtype == np.uint8
    assert _has(img, tuple(int(v) for v in AGENT_COLOR), 0) >= 10, "the agent's figure"
    h, w, _ = img.shape
    middle = img[h // 2 - 20 : h // 2 + 4, w // 2 - 6 : w // 2 + 6]
    assert _has(middle, tuple(int(v) for v in AGENT_COLOR), 0) > 0, "standing at the centre"
    assert _has(img, (120, 170, 230), 0) > 1000, "sky behind the surface"
    assert np.array_equal(img, world.render()), "pure: the same state, the same pixels"
    faced = render_iso(world.terrain, world.pos, facing=(1, 0))  # an arrow the way it looks
    assert _has(faced, (255, 255, 255), 0) > _has(img, (255, 255, 255), 0)


def test_a_placed_block_changes_the_3d_view(world: CraftWorld) -> None:
    x, y, z = world.pos
    before = world.render()
    spot = (x + 1, y + 10, z + 1)  # high over the trees: nothing in front of it
    old = world.terrain.get(*spot)
    world.terrain.set(*spot, "crafting_table")
    try:
        after = world.render()
        changed = np.abs(after.astype(int) - before.astype(int)).max(axis=2) > 0
        assert 40 < changed.sum() < 2000, "one block's sprite, not the whole view"
        table = BLOCK_COLORS["crafting_table"]
        assert _has(after, table, 10) > _has(before, table, 10) + 20, "its top, in its colour"
    finally:
        world.terrain.set(*spot, old)


def test_underground_the_3d_view_is_cut_at_the_agents_head(world: CraftWorld) -> None:
    x, y, z = world.pos
    feet = (x, y - 14, z)
    _carve(world, feet)
    x2, y2, z2 = feet
    world.terrain.set(x2 + 1, y2 + 1, z2, "gold_ore")  # in the tunnel wall at head height
    img = render_iso(world.terrain, feet)
    surface = render_iso(world.terrain, feet, cutaway=False)
    assert _has(img, (120, 170, 230), 0) == 0, "no sky: the view is cut, not the surface"
    assert _has(surface, (120, 170, 230), 0) > 0
    assert _has(img, BLOCK_COLORS["gold_ore"], 30) > 0, "the wall beside the agent shows"
    assert _has(img, tuple(int(v) for v in AGENT_COLOR), 0) >= 10, "and the agent in it"


def test_night_darkens_the_3d_view(world: CraftWorld) -> None:
    day = render_iso(world.terrain, world.pos, time_of_day=1000)
    night = render_iso(world.terrain, world.pos, time_of_day=18000)
    assert night.astype(int).mean() < 0.7 * day.astype(int).mean()


def test_a_block_box_reads_as_terrain_does(world: CraftWorld) -> None:
    """What a Minecraft server's blocks become (`BlockBox`): the same regions, air outside,
    names the palette lacks drawn grey."""
    from sim.craftworld.iso import UNKNOWN_ID, BlockBox

    x, y, z = world.pos
    lo, hi = (x - 3, y - 2, z - 3), (x + 4, y + 3, z + 4)
    ids = world.terrain.region(lo, hi)
    box = BlockBox(lo, ids)
    assert np.array_equal(box.region(lo, hi), ids)
    inner = ((x - 1, y, z - 1), (x + 2, y + 2, z + 2))
    assert np.array_equal(box.region(*inner), world.terrain.region(*inner))
    wider = box.region((x - 5, y - 2, z - 3), (x + 4, y + 3, z + 4))
    assert (wider[:2] == 0).all() and np.array_equal(wider[2:], ids), "air outside the box"
    named = BlockBox.from_names((0, 0, 0), (1, 1, 2), ["air", "stone", "warped_stem"], [1, 2])
    assert named.ids[0, 0, 0] == BLOCK_ID["stone"]
    assert named.ids[0, 0, 1] == UNKNOWN_ID


# ---- the first-person view -------------------------------------------------------------------
def test_first_person_sees_sky_above_and_ground_below(world: CraftWorld) -> None:
    cam = Camera(64)
    img = cam.render(world.terrain, world.pos, 1)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    sky = tuple(int(v) for v in SKY)
    assert _has(img[:8], sky, 0) > 0, "sky at the top in the open"
    assert _has(img[-8:], sky, 0) == 0, "the ground at the bottom"
    wide = Camera((96, 48)).render(world.terrain, world.pos, 1)
    assert wide.shape == (48, 96, 3), "any size"


def test_first_person_sees_a_block_placed_in_front(world: CraftWorld) -> None:
    cam = Camera(32)
    x, y, z = world.pos
    spot = (x, y + 1, z + 1)  # facing 0 looks along +z: right in front of the eyes
    old = world.terrain.get(*spot)
    before = cam.render(world.terrain, world.pos, 0)
    away = cam.render(world.terrain, world.pos, 2)  # facing away (dandelions are yellow too)
    world.terrain.set(*spot, "gold_ore")
    try:
        after = cam.render(world.terrain, world.pos, 0)
        gold = _yellow(after)
        assert gold > 32 * 32 // 4, "a block at arm's length fills much of the view"
        assert gold > _yellow(before)
        assert _yellow(cam.render(world.terrain, world.pos, 2)) == _yellow(away), "unseen behind"
    finally:
        world.terrain.set(*spot, old)


def test_the_per_tick_env_observes_pixels_and_renders_them() -> None:
    env = gym.make("steve/CraftWorld-v1", pixels=48, render_mode="rgb_array").unwrapped
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs["rgb"].shape == (48, 48, 3) and obs["rgb"].dtype == np.uint8
    assert env.observation_space["rgb"].contains(obs["rgb"])
    frame = env.render()
    assert np.array_equal(frame, obs["rgb"])
    turned, *_ = env.step(env.actions.index("turn_right"))
    assert not np.array_equal(turned["rgb"], obs["rgb"]), "turning changes what it sees"
    still, *_ = env.step(env.actions.index("noop"))
    drawn = env.camera.render(env.world.terrain, env.world.pos, env.facing,
                              mobs=[(m.kind, m.block_pos()) for m in env.world.body.mobs],
                              time_of_day=env.world.time_of_day)  # fmt: skip
    assert np.array_equal(still["rgb"], drawn), "a kept view equals one drawn afresh"
    plain = gym.make("steve/CraftWorld-v1").unwrapped
    assert "rgb" not in plain.observation_space.spaces, "pixels only when asked for"
    assert gym.make("steve/CraftWorld-v1", render_mode="rgb_array").unwrapped.camera is not None


def test_pixel_rollouts_are_deterministic() -> None:
    def roll(seed: int) -> bytes:
        env = gym.make("steve/CraftWorld-v1", pixels=24)
        env.action_space.seed(seed)
        obs, _ = env.reset(seed=seed)
        out = [obs["rgb"].tobytes()]
        for _ in range(200):
            obs, _, term, trunc, _ = env.step(env.action_space.sample())
            out.append(obs["rgb"].tobytes())
            if term or trunc:
                obs, _ = env.reset()
        return b"".join(out)

    assert roll(3) == roll(3)
