"""Behaviour of CraftWorld at the level of subgoals: determinism, tools, crafting, smelting,
mobs at night, budgets, names, rendering and facts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import sim
from sim.craftworld.body import HOSTILE
from sim.craftworld.mobnav import MobNav
from sim.craftworld.world import CraftWorld
from sim.schema import FailureCause, Goal, Outcome, Subgoal, Task

C = FailureCause


def _task(**kw: Any) -> Task:
    kw.setdefault("goal", Goal(item="diamond_pickaxe"))
    return Task(id="t", instruction="test", **kw)


def _sg(verb: str, target: str, count: int = 1, **args: Any) -> Subgoal:
    return Subgoal(verb=verb, target=target, count=count, args=args)


def _fail(outcome: Outcome) -> dict[str, Any]:
    return _event(outcome, "fail")


def _event(outcome: Outcome, name: str) -> dict[str, Any]:
    return next(e for e in reversed(outcome.trace) if e["event"] == name)


@pytest.fixture(scope="module")
def world() -> CraftWorld:
    w = sim.make("craftworld/v1")
    assert isinstance(w, CraftWorld)
    return w


# ---- determinism ---------------------------------------------------------------------------------
SEQUENCE = [
    _sg("mine", "oak_log", 3),
    _sg("craft", "oak_planks", 8),
    _sg("craft", "stick", 4),
    _sg("craft", "crafting_table"),
    _sg("place", "crafting_table"),
    _sg("craft", "wooden_pickaxe"),
    _sg("equip", "wooden_pickaxe"),
    _sg("mine", "stone", 3),
    _sg("wait", "seconds", 20),
]


def test_reset_and_rollout_are_deterministic() -> None:
    task = _task(max_ticks=50_000)
    a, b = sim.make("craftworld/v1"), sim.make("craftworld/v1")
    assert a.reset(task, 11).model_dump() == b.reset(task, 11).model_dump()
    for subgoal in SEQUENCE:
        out_a, out_b = a.execute(subgoal), b.execute(subgoal)
        assert out_a.model_dump() == out_b.model_dump()
    assert out_a.success, out_a.message
    assert np.array_equal(a.render(), b.render())


def test_a_different_seed_is_a_different_world(world: CraftWorld) -> None:
    first = world.reset(_task(), 11).model_dump()
    view = world.render()
    other = world.reset(_task(), 12).model_dump()
    assert first != other
    assert not np.array_equal(view, world.render())


# ---- tools ---------------------------------------------------------------------------------------
def test_iron_ore_needs_a_stone_pickaxe(world: CraftWorld) -> None:
    world.reset(_task(initial_inventory={"wooden_pickaxe": 1}), 3)
    assert world.execute(_sg("equip", "wooden_pickaxe")).success
    out = world.execute(_sg("mine", "iron_ore"))
    assert out.cause is C.WRONG_TOOL, out.message
    assert set(_fail(out)) == {"event", "t", "cause", "message"}, "no fix, no missing fact"
    dig = _event(out, "dig")  # what a player sees: the ore broke and dropped nothing
    assert dig["block"] == "iron_ore" and dig["tool"] == "wooden_pickaxe"
    assert dig["harvestable"] is False and dig["drops"] == {}
    assert "iron_ore" not in out.post_state.inventory

    world.reset(_task(initial_inventory={"stone_pickaxe": 1}), 3)
    assert world.execute(_sg("equip", "stone_pickaxe")).success
    out = world.execute(_sg("mine", "iron_ore"))
    assert out.success, out.message
    assert out.post_state.count("iron_ore") == 1
    # iron ore lies underground: the agent dug its way down to it
    assert any(e["event"] in ("shaft", "tunnel") for e in out.trace)


def test_a_tool_in_the_bag_must_be_equipped(world: CraftWorld) -> None:
    world.reset(_task(initial_inventory={"stone_pickaxe": 1}), 3)
    out = world.execute(_sg("mine", "iron_ore"))
    assert out.cause is C.WRONG_TOOL
    dig = _event(out, "dig")
    assert dig["tool"] is None and dig["harvestable"] is False, "dug by hand: nothing"
    assert "stone_pickaxe" not in out.message, "the world does not say which tool to hold"


def test_mining_never_digs_into_lava(world: CraftWorld) -> None:
    # diamonds lie by the lava lakes; across seeds, no route the agent digs touches lava
    for seed in range(3):
        world.reset(_task(initial_inventory={"iron_pickaxe": 1}, max_ticks=50_000), seed)
        world.execute(_sg("equip", "iron_pickaxe"))
        out = world.execute(_sg("mine", "diamond_ore"))
        assert not any(e.get("source") == "lava" for e in out.trace), out.message
        assert out.success or out.cause in (C.TARGET_UNREACHABLE, C.TARGET_NOT_FOUND)


# ---- mobs ----------------------------------------------------------------------------------------
NIGHT = {"start_time": 14_000}
LONG_WAIT = _sg("wait", "seconds", 600, max_ticks=12_000)


def test_an_idle_agent_dies_at_night(world: CraftWorld) -> None:
    killed = 0
    for seed in range(6):
        world.reset(_task(helpers=NIGHT, max_ticks=50_000), seed)
        out = world.execute(LONG_WAIT)
        if out.cause is C.MOB_KILLED:
            assert out.post_state.dead
            death = next(e for e in out.trace if e["event"] == "death")
            assert death["source"] in HOSTILE
            killed += 1
    assert killed >= 5


def test_without_hostile_mobs_the_agent_survives_the_night(world: CraftWorld) -> None:
    for seed in range(3):
        world.reset(_task(helpers={**NIGHT, "hostile_mobs": False}, max_ticks=50_000), seed)
        out = world.execute(LONG_WAIT)
        assert out.success and not out.post_state.dead
        assert not any(e["event"] in ("mob_spawn", "damage") for e in out.trace)


def test_mobs_cannot_reach_an_agent_walled_in(world: CraftWorld) -> None:
    # mobs spawn only where they can walk to the agent, as in Minecraft: a shelter works
    for seed in range(3):
        world.reset(_task(helpers=NIGHT, max_ticks=50_000), seed)
        x, y, z = world.pos
        for dx in (-1, 0, 1):
            for dz in (-1, 0, 1):
                for dy in (0, 1, 2):
                    if (dx, dz) != (0, 0) or dy == 2:
                        world.terrain.set(x + dx, y + dy, z + dz, "cobblestone")
        out = world.execute(LONG_WAIT)
        assert out.success and not out.post_state.dead


def test_mobs_spawn_in_the_dark_where_they_can_walk_to_the_agent(world: CraftWorld) -> None:
    world.reset(_task(), 4)
    rng = np.random.default_rng(0)
    nav = MobNav(world.terrain, world.pos)
    assert nav.sunlit()
    for _ in range(20):
        site = nav.spawn_site(rng, night=True)
        assert site is not None
        pos, path = site
        dx, dy, dz = np.subtract(pos, world.pos)
        assert 10 <= np.sqrt(dx * dx + dy * dy + dz * dz) <= 20
        assert path >= abs(dx) + abs(dz)  # mobs walk block by block, never through walls
    # by day only roofed cells are dark: none is in the sunlit open around the agent
    day = [nav.spawn_site(rng, night=False) for _ in range(20)]
    assert all(s is None or not nav.sunlit(tuple(int(v) for v in s[0])) for s in day)


def test_a_busy_agent_that_is_hurt_stops_and_names_its_attacker(world: CraftWorld) -> None:
    stopped = 0
    for seed in range(4):
        inventory = {"furnace": 1, "iron_ore": 30, "coal": 8}
        world.reset(_task(helpers=NIGHT, initial_inventory=inventory, max_ticks=50_000), seed)
        assert world.execute(_sg("place", "furnace")).success
        out = world.execute(_sg("smelt", "iron_ingot", 30, max_ticks=20_000))
        inv = out.post_state.inventory
        # whatever ended it, nothing was lost in the furnace
        assert inv.get("iron_ore", 0) + inv.get("iron_ingot", 0) == 30
        if out.cause is C.DAMAGE:
            attacked = _event(out, "attacked")
            assert attacked["mob"] in HOSTILE and "remedy" not in _fail(out)
            assert not out.post_state.dead
            stopped += 1
    assert stopped >= 2


# ---- crafting and smelting -----------------------------------------------------------------------
def test_crafting_needs_a_table_within_reach(world: CraftWorld) -> None:
    world.reset(_task(initial_inventory={"oak_planks": 7, "stick": 2}), 5)
    out = world.execute(_sg("craft", "wooden_pickaxe"))
    assert out.cause is C.RECIPE_FAIL
    assert _event(out, "no_station") == {
        "event": "no_station",
        "t": 0,
        "station": "crafting_table",
        "verb": "craft",
    }, "the station the grid asks for, and nothing about where to get one"
    assert world.execute(_sg("craft", "crafting_table")).success
    assert world.execute(_sg("place", "crafting_table")).success
    out = world.execute(_sg("craft", "wooden_pickaxe"))
    assert out.success, out.message
    assert out.post_state.inventory == {"wooden_pickaxe": 1}
    assert out.post_state.durability == {"wooden_pickaxe": 59}


def test_crafting_with_missing_ingredients_names_them(world: CraftWorld) -> None:
    world.reset(_task(initial_inventory={"oak_planks": 1, "stick": 2, "crafting_table": 1}), 5)
    world.execute(_sg("place", "crafting_table"))
    out = world.execute(_sg("craft", "wooden_pickaxe"))
    assert out.cause is C.MISSING_ITEM
    assert "oak_planks" in out.message
    grid = _event(out, "missing")  # what the crafting grid showed
    assert grid["ingredients"] == {"oak_planks": 3, "stick": 2} and grid["makes"] == 1
    assert grid["missing"] == {"oak_planks": 2} and grid["station"] == "crafting_table"
    assert (grid["item"], grid["need"], grid["have"]) == ("oak_planks", 3, 1)
    assert "remedy" not in grid and "needs" not in _fail(out)
    assert out.post_state.inventory == {"oak_planks": 1, "stick": 2}


def test_smelting_with_a_furnace_and_fuel(world: CraftWorld) -> None:
    world.reset(_task(initial_inventory={"furnace": 1, "iron_ore": 2, "oak_planks": 2}), 5)
    assert world.execute(_sg("place", "furnace")).success
    out = world.execute(_sg("smelt", "iron_ingot", 2))
    assert out.success, out.message
    assert out.post_state.inventory == {"iron_ingot": 2}  # two planks burn 600 ticks
    assert out.ticks >= 400  # ten seconds an item


def test_smelting_without_fuel_or_furnace_fails(world: CraftWorld) -> None:
    world.reset(_task(initial_inventory={"furnace": 1, "iron_ore": 1}), 5)
    out = world.execute(_sg("smelt", "iron_ingot"))
    assert out.cause is C.SMELT_FAIL and _event(out, "no_station")["station"] == "furnace"
    world.execute(_sg("place", "furnace"))
    out = world.execute(_sg("smelt", "iron_ingot"))
    assert out.cause is C.SMELT_FAIL and _event(out, "no_fuel")["short_ticks"] > 0
    assert "coal" not in str(out.trace), "an empty furnace, not what to burn"
    assert out.post_state.inventory == {"iron_ore": 1}


# ---- names and budgets ---------------------------------------------------------------------------
def test_an_unknown_verb_lists_close_ones(world: CraftWorld) -> None:
    world.reset(_task(), 0)
    out = world.execute(_sg("mien", "stone"))
    assert out.cause is C.INVALID_ACTION
    assert "mine" in out.message


@pytest.mark.parametrize("verb", ["craft", "equip"])
def test_an_unknown_item_lists_close_names(world: CraftWorld, verb: str) -> None:
    world.reset(_task(), 0)
    out = world.execute(_sg(verb, "wooden_pikaxe"))
    assert out.cause is C.INVALID_ACTION
    assert "wooden_pickaxe" in out.message


def test_the_episode_budget_ends_a_long_subgoal(world: CraftWorld) -> None:
    world.reset(_task(max_ticks=100), 0)
    out = world.execute(_sg("mine", "oak_log", 20))
    assert out.cause is C.TIMEOUT
    assert out.post_state.tick == 100


def test_a_subgoal_budget_ends_a_long_subgoal(world: CraftWorld) -> None:
    world.reset(_task(helpers={"hostile_mobs": False}), 0)
    out = world.execute(_sg("wait", "seconds", 600, max_ticks=200))
    assert out.cause is C.TIMEOUT and 200 < out.ticks < 600 * 20


def test_unknown_helpers_are_refused(world: CraftWorld) -> None:
    with pytest.raises(ValueError, match="spawn_diamonds"):
        world.reset(_task(helpers={"spawn_diamonds": True}), 0)


# ---- views and facts -----------------------------------------------------------------------------
def test_render_and_describe(world: CraftWorld) -> None:
    world.reset(_task(initial_inventory={"oak_log": 3, "wooden_pickaxe": 1}), 2)
    image = world.render()
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    assert image.shape[0] > 0 and image.shape[1] > 0
    text = world.describe()
    assert "3 oak_log" in text and "1 wooden_pickaxe" in text
    assert "day" in text


def test_facts(world: CraftWorld) -> None:
    state = world.reset(_task(initial_inventory={"wooden_pickaxe": 1, "coal": 2}), 2)
    facts = world.facts(state)
    assert {"has:wooden_pickaxe", "has:coal", "pickaxe>=wood", "has_fuel"} <= facts
    assert "pickaxe>=stone" not in facts and "night" not in facts
    state = world.execute(_sg("equip", "wooden_pickaxe")).post_state
    assert "equipped:wooden_pickaxe" in world.facts(state)
    state = world.reset(_task(helpers={"start_time": 14_000}), 2)
    assert "night" in world.facts(state)
    assert not any(f.startswith("has:") for f in world.facts(state))


# ---- every recipe of the version, crafted in the world ------------------------------------------
def test_every_crafting_recipe_can_be_crafted_in_the_world() -> None:
    """A property over all 1.16.5 recipes: given exactly a recipe's ingredients (and a placed
    crafting table for 3x3 recipes), `craft` in CraftWorld succeeds and yields the result."""
    from collections import Counter

    w = sim.make("craftworld/v1")
    assert isinstance(w, CraftWorld)
    w.reset(_task(initial_inventory={"crafting_table": 1}, helpers={"hostile_mobs": False}), 0)
    placed = w.execute(_sg("place", "crafting_table"))
    assert placed.success, placed.message
    failures, crafted = [], 0
    for item, recipes in sorted(w.rules.recipes.items()):
        for recipe in recipes:
            w.inventory = Counter(dict(recipe.ingredients))
            w.durability = {}
            w.equipped = None
            w.tick = 0
            out = w.execute(_sg("craft", item, recipe.count, max_ticks=10**6))
            if not out.success or w.inventory[item] < recipe.count:
                failures.append((item, recipe.describe(), out.message))
            crafted += 1
    assert crafted >= 1000
    assert failures == []
