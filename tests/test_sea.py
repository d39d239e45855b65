"""Squid (issue 33): passive mobs of deep water whose ink sacs make black and gray dyes and
books and quills; spawned from a draw of their own, so the land animals stay as they were."""

from __future__ import annotations

import sim
from sim.craftworld.body import WATER
from sim.craftworld.palette import SEA_LEVEL
from sim.craftworld.world import CraftWorld
from sim.schema import Goal, Subgoal, Task


def _world(seed: int) -> CraftWorld:
    w = sim.make("craftworld/v1")
    assert isinstance(w, CraftWorld)
    w.reset(Task(id="ink", instruction="ink", goal=Goal(item="black_dye")), seed)
    return w


def test_squid_keep_to_deep_water_and_leave_the_land_animals_alone() -> None:
    w = _world(1)
    assert not any(m.kind in WATER for m in w.body.mobs)  # spawn is inland
    assert w.execute(Subgoal(verb="explore", target="squid")).success
    squid = [m for m in w.body.mobs if m.kind in WATER]
    assert squid
    for m in squid:
        x, y, z = m.block_pos()
        assert w.terrain.get(x, y, z) == "water"
        assert w.terrain.get(x, SEA_LEVEL - 4, z) == "water"
    land = [m for m in w.body.mobs if m.kind not in WATER]
    assert all(w.terrain.get(*m.block_pos()) != "water" for m in land)


def test_a_hunted_squid_gives_ink_sacs_that_craft_black_dye() -> None:
    w = _world(1)
    assert w.execute(Subgoal(verb="explore", target="squid")).success
    out = w.execute(Subgoal(verb="attack", target="squid"))
    assert out.success, out.message
    assert w.inventory["ink_sac"] >= 1
    assert w.execute(Subgoal(verb="craft", target="black_dye")).success
