"""Farming (issue 33): tilling and sowing with `plant`, crops that ripen over ticks, a harvest
of ripe crops only, and the symbolic planner's farm, meals and chance-drop counts."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from agent.diagnosis import attribute, observed
from agent.planner.symbolic import SymbolicPlanner
from knowledge.schema import Briefing
from sim.craftworld import crops
from sim.craftworld.world import CraftWorld
from sim.schema import FailureCause, Goal, Subgoal, Task, WorldState


def _world(seed: int = 4, **inventory: int) -> CraftWorld:
    w = sim.make("craftworld/v1")
    assert isinstance(w, CraftWorld)
    task = Task(
        id="farm",
        instruction="farm",
        goal=Goal(item="bread"),
        initial_inventory=inventory,
        max_ticks=400_000,
        helpers={"hostile_mobs": False},
    )
    w.reset(task, seed)
    return w


def test_planting_needs_seeds_and_a_hoe_and_says_what_it_saw() -> None:
    w = _world(wheat_seeds=3)
    out = w.execute(Subgoal(verb="plant", target="wheat_seeds", count=5))
    assert out.cause is FailureCause.MISSING_ITEM
    out = w.execute(Subgoal(verb="plant", target="wheat_seeds", count=3))
    assert out.cause is FailureCause.WRONG_TOOL  # bare hands do not till
    till = [e for e in out.trace if e["event"] == "till"]
    assert till and till[-1]["tilled"] is False and till[-1]["tool"] is None
    assert attribute(out)[0] is FailureCause.WRONG_TOOL
    assert observed(out).get("context") == "hands:empty"
    out = w.execute(Subgoal(verb="plant", target="oak_sapling", count=1))
    assert out.cause in (FailureCause.INVALID_ACTION, FailureCause.MISSING_ITEM)
    assert w.inventory["wheat_seeds"] == 3  # nothing sown, nothing lost


def test_sown_crops_ripen_over_ticks_and_only_ripe_ones_are_harvested() -> None:
    w = _world(wheat_seeds=9, wooden_hoe=1)
    w.execute(Subgoal(verb="equip", target="wooden_hoe"))
    out = w.execute(Subgoal(verb="plant", target="wheat_seeds", count=9))
    assert out.success, out.message
    assert w.inventory["wheat_seeds"] == 0 and len(w.crops) == 9
    for x, y, z in w.crops:
        assert w.terrain.get(x, y, z) == "wheat" and w.terrain.get(x, y - 1, z) == "farmland"
    assert any(e.get("hydrated") for e in out.trace if e["event"] == "till")  # seed 4: by water
    assert w.state().nearby_blocks.get("wheat") == 9
    green = w.execute(Subgoal(verb="mine", target="wheat", count=3))
    assert green.cause is FailureCause.TARGET_NOT_FOUND
    assert "growing" in green.message and w.inventory["wheat"] == 0
    assert "needs" not in observed(green)  # no missing fact: only time ripens a crop
    for _ in range(60):  # a harvest takes what is ripe; the rest waits
        need = 3 - w.inventory["wheat"]
        if need <= 0:
            break
        w.execute(Subgoal(verb="mine", target="wheat", count=need))
        assert w.execute(Subgoal(verb="wait", target="seconds", count=300)).success
    assert w.inventory["wheat"] == 3 and w.inventory["wheat_seeds"] >= 3
    assert len(w.crops) == 6  # harvested crops leave the world's record
    assert w.tick > 7 * crops.RANDOM_TICK  # seven ages, each at least one random tick away


def test_growth_chance_follows_minecraft_and_a_wet_field_ripens_sooner() -> None:
    assert crops.growth_chance(True, []) == pytest.approx(1 / 7)
    assert crops.growth_chance(True, [True] * 8) == pytest.approx(1 / 3)
    assert crops.growth_chance(False, []) == pytest.approx(1 / 13)
    rng = np.random.default_rng(0)
    wet = [crops.ripening(rng, 1 / 3, 0)[-1] for _ in range(2000)]
    dry = [crops.ripening(rng, 1 / 13, 0)[-1] for _ in range(2000)]
    assert np.mean(wet) == pytest.approx(7 * 3 * crops.RANDOM_TICK, rel=0.05)
    assert np.mean(dry) > 4 * np.mean(wet)
    stages = crops.ripening(rng, 1 / 3, 100)
    assert list(stages) == sorted(stages) and crops.age(stages, 99) == 0
    assert crops.age(stages, stages[-1]) == crops.RIPE


def _texts(subgoals: list[Subgoal]) -> list[str]:
    return [s.text() for s in subgoals]


def _bread() -> Task:
    return Task(id="bread", instruction="bake bread", goal=Goal(item="bread"))


def test_the_planner_farms_a_field_then_waits_for_it() -> None:
    planner = SymbolicPlanner()
    state = WorldState(world="craftworld/v1")
    texts = _texts(planner.plan(_bread(), state, Briefing()).subgoals)
    # seeds are a chance drop (1 in 8 grass): planned on the mean, with half again to spare
    assert texts[0] == "mine 108 grass"
    at = texts.index("plant 9 wheat_seeds")
    assert texts[at - 1] == "equip 1 wooden_hoe" and "mine 12 grass_block" in texts[:at]
    assert texts[at + 1 :] == ["place 12 dirt"]  # the plan ends at the field: a wait is
    # sized from the clock when the next plan is made
    # a field already growing: no more seeds, no hoe; wait and harvest
    growing = WorldState(world="craftworld/v1", nearby_blocks={"wheat": 9, "crafting_table": 1})
    texts = _texts(planner.plan(_bread(), growing, Briefing()).subgoals)
    assert texts == ["wait 300 seconds", "mine 3 wheat"]
    assert not any(t.startswith(("plant", "mine 108", "craft 1 wooden_hoe")) for t in texts)
    # by night the walls stay shut: a wait that ends at dawn, and nothing after it
    night = growing.model_copy(update={"time_of_day": 20_000})
    assert _texts(planner.plan(_bread(), night, Briefing()).subgoals) == ["wait 151 seconds"]
    dusk = growing.model_copy(update={"time_of_day": 9_000})  # 150 s of day: 120 to wait
    assert _texts(planner.plan(_bread(), dusk, Briefing()).subgoals) == [
        "wait 120 seconds",
        "mine 3 wheat",
    ]
    ripe = growing.model_copy(update={"inventory": {"wheat": 3}})  # harvested: bake
    assert _texts(planner.plan(_bread(), ripe, Briefing()).subgoals) == [
        "move_to 1 crafting_table",
        "craft 1 bread",
    ]


def test_a_hungry_planner_eats_what_it_holds_else_hunts_a_meal() -> None:
    planner = SymbolicPlanner()
    fed = WorldState(world="craftworld/v1", food=6.0, inventory={"beef": 5})
    assert _texts(planner.plan(_bread(), fed, Briefing()).subgoals)[0] == "eat 5 beef"
    empty = WorldState(world="craftworld/v1", food=4.0, nearby_entities={"pig": 2})
    assert _texts(planner.plan(_bread(), empty, Briefing()).subgoals)[:2] == [
        "attack 1 pig",
        "eat 1 porkchop",
    ]
    full = WorldState(world="craftworld/v1", food=7.0, inventory={"beef": 5})
    assert not _texts(planner.plan(_bread(), full, Briefing()).subgoals)[0].startswith("eat")


def test_a_wheat_item_is_no_crop_to_place() -> None:
    # placed, it was a crop the world had not seen sown, so ripe: one wheat gave back wheat
    # and seeds from nothing
    w = _world(wheat=1)
    out = w.execute(Subgoal(verb="place", target="wheat"))
    assert out.cause is FailureCause.INVALID_ACTION
    assert w.inventory["wheat"] == 1 and not w.state().nearby_blocks.get("wheat")
