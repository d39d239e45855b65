"""Tests of CraftWorld's game rules: recipes, smelting, tools, dig times and drops (1.16.5)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from sim.mcrules.recipes import Recipe
from sim.mcrules.rules import (
    LOOT_PATH,
    SMELTING_PATH,
    MissingIngredients,
    Rules,
    RulesDataError,
    UndiggableBlock,
    UnknownName,
)
from sim.mcrules.tables import load_loot_table, load_smelting_table


@pytest.fixture(scope="module")
def rules() -> Rules:
    return Rules.load()


def _all_recipes(rules: Rules) -> list[Recipe]:
    return [recipe for options in rules.recipes.values() for recipe in options]


# --- crafting ------------------------------------------------------------------------------


def test_every_recipe_crafts_from_exactly_its_ingredients(rules: Rules) -> None:
    recipes = _all_recipes(rules)
    assert len(recipes) > 1000  # 1198 in minecraft-data 1.16.5
    bystander = {"bedrock": 3}  # in no recipe; must survive every craft untouched
    for recipe in recipes:
        assert recipe.ingredients, recipe
        inventory = dict(recipe.ingredients) | bystander
        after = rules.craft(inventory, recipe)
        expected = Counter(bystander)
        expected[recipe.result] += recipe.count
        assert after == dict(expected), recipe
        assert inventory == dict(recipe.ingredients) | bystander, "input must not be mutated"


def test_every_recipe_one_item_short_names_the_missing_item(rules: Rules) -> None:
    for recipe in _all_recipes(rules):
        for item, n in recipe.ingredients:
            inventory = dict(recipe.ingredients)
            inventory[item] = n - 1
            with pytest.raises(MissingIngredients) as caught:
                rules.craft(inventory, recipe)
            assert caught.value.missing == {item: 1}, recipe
            assert item in str(caught.value)
            assert isinstance(caught.value, ValueError)


def test_craft_many_times_and_zero_counts_removed(rules: Rules) -> None:
    planks = next(
        r for r in rules.crafting_options("oak_planks") if r.ingredients[0][0] == "oak_log"
    )
    assert rules.craft({"oak_log": 3}, planks, times=3) == {"oak_planks": 12}
    with pytest.raises(MissingIngredients) as caught:
        rules.craft({"oak_log": 2}, planks, times=3)
    assert caught.value.missing == {"oak_log": 1}
    with pytest.raises(ValueError):
        rules.craft({"oak_log": 2}, planks, times=0)


def test_crafting_table_need(rules: Rules) -> None:
    assert all(r.needs_table for r in rules.crafting_options("wooden_pickaxe"))
    assert len(rules.crafting_options("wooden_pickaxe")) >= 6  # one per plank type
    assert not any(r.needs_table for r in rules.crafting_options("oak_planks"))
    assert not any(r.needs_table for r in rules.crafting_options("stick"))
    assert not any(r.needs_table for r in rules.crafting_options("crafting_table"))
    assert all(r.needs_table for r in rules.crafting_options("furnace"))
    pickaxe = rules.crafting_options("wooden_pickaxe")[0]
    assert dict(pickaxe.ingredients) == {"oak_planks": 3, "stick": 2}
    assert pickaxe.shape is not None and len(pickaxe.shape) == 3
    assert rules.crafting_options("oak_planks")[0].shape is None
    assert rules.crafting_options("stick")[0].count == 4


def test_crafting_options_of_unknown_and_uncraftable_items(rules: Rules) -> None:
    assert rules.crafting_options("diamond") != ()  # from a diamond block
    assert rules.crafting_options("cobblestone") == ()
    with pytest.raises(UnknownName, match="wooden_pickaxe"):
        rules.crafting_options("wooden_pikaxe")


# --- smelting ------------------------------------------------------------------------------


def test_smelting_table_loads_with_valid_names(rules: Rules) -> None:
    for recipe in rules.smelting_by_input.values():
        assert rules.is_item(recipe.input) and rules.is_item(recipe.output), recipe
        assert recipe.ticks == 200 and recipe.count == 1 and recipe.xp > 0
    assert all(rules.is_item(item) and ticks > 0 for item, ticks in rules.fuels.items())
    expected = {
        "iron_ore": "iron_ingot",
        "gold_ore": "gold_ingot",
        "sand": "glass",
        "cobblestone": "stone",
        "stone": "smooth_stone",
        "clay_ball": "brick",
        "netherrack": "nether_brick",
        "cactus": "green_dye",
        "dark_oak_log": "charcoal",
        "wet_sponge": "sponge",
        "beef": "cooked_beef",
        "potato": "baked_potato",
        "kelp": "dried_kelp",
        "ancient_debris": "netherite_scrap",
        "iron_sword": "iron_nugget",
        "golden_helmet": "gold_nugget",
        "diamond_ore": "diamond",
        "nether_quartz_ore": "quartz",
    }
    for source, output in expected.items():
        assert rules.smelting_by_input[source].output == output
    assert rules.smelting["iron_ingot"].xp == pytest.approx(0.7)
    assert rules.smelting["charcoal"].input == "oak_log"
    assert len(rules.smelting_options("charcoal")) == 24
    assert rules.fuels["coal"] == 1600 and rules.fuels["charcoal"] == 1600
    assert rules.fuels["lava_bucket"] == 20000 and rules.fuels["oak_planks"] == 300
    assert rules.fuels["stick"] == 100 and rules.fuels["wooden_pickaxe"] == 200
    assert "crimson_planks" not in rules.fuels  # nether wood does not burn


def test_broken_smelting_yaml_names_file_and_bad_name(rules: Rules, tmp_path: Path) -> None:
    path = tmp_path / "smelting.yaml"
    path.write_text(
        "smelting:\n"
        "  - {input: iron_ore, output: iron_ingot, xp: 0.7}\n"
        "  - {input: iron_ore_block, output: iron_ingot, xp: 0.7}\n"
        "fuels: {coal: 1600}\n"
    )
    with pytest.raises(RulesDataError) as caught:
        load_smelting_table(path, rules.items)
    message = str(caught.value)
    assert str(path) in message and "iron_ore_block" in message
    assert f"{path}:3:" in message  # the line of the bad entry


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("smelting: []\nfuels: {coal_lump: 1600}\n", "coal_lump"),
        ("smelting: []\nfuels: {'{tree}_log': 300}\n", "{tree}"),
        ("smelting: [{input: sand, output: glass, xp: 0.1, time: 3}]\nfuels: {}\n", "time"),
        ("smelting: [{input: sand, output: glass}]\nfuels: {}\n", "xp"),
        ("smelting: [{input: sand, output: glass, xp: -1}]\nfuels: {}\n", "-1"),
        ("smelting: []\nfuels: {coal: 0}\n", ">= 1"),
        ("fuels: {}\n", "smelting"),
        ("smelting: [\n", "not valid YAML"),
        (
            "smelting:\n  - {input: sand, output: glass, xp: 0.1}\n"
            "  - {input: sand, output: stone, xp: 0.1}\nfuels: {}\n",
            "already smelted",
        ),
    ],
)
def test_smelting_yaml_mistakes_are_reported(
    rules: Rules, tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(RulesDataError, match=r"bad\.yaml") as caught:
        load_smelting_table(path, rules.items)
    assert needle in str(caught.value)


def test_shipped_tables_reload_cleanly(rules: Rules) -> None:
    assert len(load_smelting_table(SMELTING_PATH, rules.items).recipes) == len(
        rules.smelting_by_input
    )
    fixes = load_loot_table(LOOT_PATH, rules.items, rules.blocks, rules.mob_loot)
    assert "oak_leaves" in fixes.blocks and "cow" in fixes.mobs


def test_broken_loot_yaml_names_file_and_bad_name(rules: Rules, tmp_path: Path) -> None:
    path = tmp_path / "loot.yaml"
    path.write_text("blocks:\n  coal_ore: [{item: coal}]\n  iron_ore: [{item: iron_nugget_x}]\n")
    with pytest.raises(RulesDataError) as caught:
        load_loot_table(path, rules.items, rules.blocks, rules.mob_loot)
    assert str(path) in str(caught.value) and "iron_nugget_x" in str(caught.value)


# --- tools, harvesting and dig times -------------------------------------------------------


def test_tool_kind_and_tier(rules: Rules) -> None:
    assert rules.tool_kind("wooden_pickaxe") == "pickaxe"
    assert rules.tool_kind("golden_axe") == "axe"
    assert rules.tool_kind("shears") == "shears"
    assert rules.tool_kind("stick") is None and rules.tool_kind(None) is None
    tiers = {
        None: 0,
        "dirt": 0,
        "shears": 0,
        "wooden_pickaxe": 1,
        "golden_shovel": 1,
        "stone_axe": 2,
        "iron_sword": 3,
        "diamond_hoe": 4,
        "netherite_pickaxe": 5,
    }
    for tool, tier in tiers.items():
        assert rules.tool_tier(tool) == tier, tool


def test_harvesting(rules: Rules) -> None:
    assert not rules.can_harvest("iron_ore", "wooden_pickaxe")
    assert rules.can_harvest("iron_ore", "stone_pickaxe")
    assert not rules.can_harvest("stone", None)
    assert rules.can_harvest("oak_log", None)
    assert rules.min_harvest_tool("iron_ore") == "stone_pickaxe"
    assert rules.min_harvest_tool("diamond_ore") == "iron_pickaxe"
    assert rules.min_harvest_tool("stone") == "wooden_pickaxe"
    assert rules.min_harvest_tool("obsidian") == "diamond_pickaxe"
    assert rules.min_harvest_tool("oak_log") is None
    with pytest.raises(UnknownName):
        rules.can_harvest("stone", "wooden_pikaxe")


def test_dig_ticks(rules: Rules) -> None:
    hand, wood, stone = (
        rules.dig_ticks("stone", t) for t in (None, "wooden_pickaxe", "stone_pickaxe")
    )
    assert hand > wood > stone
    assert (hand, wood, stone) == (150, 23, 12)  # 7.5 s, 1.15 s, 0.6 s in 1.16
    assert rules.dig_ticks("oak_log", None) == 60 and rules.dig_ticks("oak_log", "stone_axe") == 15
    assert rules.dig_ticks("dirt", None) == 15  # 0.75 s; no float noise
    assert rules.dig_ticks("grass", None) == 1  # instant-break plants still take a tick
    for block in ("bedrock", "water", "barrier"):
        with pytest.raises(UndiggableBlock):
            rules.dig_ticks(block, "netherite_pickaxe")


# --- drops ---------------------------------------------------------------------------------


def test_block_drops(rules: Rules) -> None:
    rng = np.random.default_rng(0)
    assert rules.drops("stone", "wooden_pickaxe", rng) == {"cobblestone": 1}
    assert rules.drops("stone", None, rng) == {}
    assert rules.drops("coal_ore", "wooden_pickaxe", rng) == {"coal": 1}
    assert rules.drops("oak_log", None, rng) == {"oak_log": 1}
    assert rules.drops("iron_ore", "stone_pickaxe", rng) == {"iron_ore": 1}
    assert rules.drops("iron_ore", "wooden_pickaxe", rng) == {}
    assert rules.drops("diamond_ore", "iron_pickaxe", rng) == {"diamond": 1}
    assert rules.drops("grass_block", None, rng) == {"dirt": 1}
    assert rules.drops("oak_leaves", "shears", rng) == {"oak_leaves": 1}
    assert rules.drops("glass", None, rng) == {}  # silk touch only
    redstone = {rules.drops("redstone_ore", "iron_pickaxe", rng)["redstone"] for _ in range(200)}
    lapis = {rules.drops("lapis_ore", "stone_pickaxe", rng)["lapis_lazuli"] for _ in range(400)}
    assert redstone == {4, 5} and lapis == set(range(4, 10))


def test_leaves_and_gravel_drop_sometimes(rules: Rules) -> None:
    rng = np.random.default_rng(1)
    leaves: Counter[str] = Counter()
    gravel: Counter[str] = Counter()
    for _ in range(3000):
        leaves.update(rules.drops("oak_leaves", None, rng))
        gravel.update(rules.drops("gravel", "wooden_shovel", rng))
    assert set(leaves) == {"oak_sapling", "stick", "apple"}
    assert 100 < leaves["oak_sapling"] < 200  # 5%
    assert gravel["flint"] + gravel["gravel"] == 3000 and 200 < gravel["flint"] < 400  # 10%


def test_mob_drops(rules: Rules) -> None:
    rng = np.random.default_rng(2)
    leather: set[int] = set()
    beef: set[int] = set()
    for _ in range(300):
        drops = rules.mob_drops("cow", rng)
        leather.add(drops.get("leather", 0))
        beef.add(drops.get("beef", 0))
    assert leather == {0, 1, 2} and beef == {1, 2, 3}
    assert set(rules.mob_drops("creeper", rng)) <= {"gunpowder"}
    with pytest.raises(UnknownName):
        rules.mob_drops("kow", rng)


def test_drops_are_deterministic_per_seed(rules: Rules) -> None:
    def sample(seed: int) -> list[dict[str, int]]:
        rng = np.random.default_rng(seed)
        return [rules.drops("oak_leaves", None, rng) for _ in range(200)]

    assert sample(7) == sample(7)


# --- names, items, foods -------------------------------------------------------------------


def test_names_and_items(rules: Rules) -> None:
    assert rules.version == "1.16.5"
    assert Rules.load() is rules  # cached
    assert rules.closest("wooden_pikaxe")[0] == "wooden_pickaxe"
    assert rules.closest("iron_or", kind="block")[0] == "iron_ore"
    with pytest.raises(ValueError):
        rules.closest("x", kind="spell")
    assert rules.is_item("stick") and not rules.is_block("stick")
    assert rules.is_block("water") and not rules.is_item("water")
    assert rules.stack_size("stick") == 64 and rules.stack_size("ender_pearl") == 16
    assert rules.stack_size("wooden_pickaxe") == 1
    assert rules.items["wooden_pickaxe"].max_durability == 59
    assert rules.items["stick"].max_durability is None
    assert rules.foods["bread"].food_points == 5
    assert rules.foods["cooked_beef"].saturation == pytest.approx(12.8)
    with pytest.raises(UnknownName, match="did you mean"):
        rules.stack_size("stik")
