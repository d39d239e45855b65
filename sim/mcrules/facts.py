"""The condition facts of a state under Minecraft's rules, and which blocks a state lists.

One definition for every world that plays by Minecraft's rules (CraftWorld, real Minecraft):
their condition signatures must match to the letter for knowledge to cross between them.
"""

from __future__ import annotations

from typing import ClassVar

from sim.mcrules.checks import VERBS
from sim.mcrules.rules import Rules
from sim.schema import WorldState

TIERS = ("wood", "stone", "iron", "diamond", "netherite")
"""Tool tiers in order, as condition facts name them (``pickaxe>=stone``)."""
INTERESTING = (
    "_log",
    "_ore",
    "crafting_table",
    "furnace",
    "water",
    "lava",
    "sand",
    "cobblestone",
    "stone",
    "gravel",
    "clay",
    "farmland",
    "wheat",
)
"""Blocks (by name or name ending) that a state's `nearby_blocks` lists."""


def interesting(block: str) -> bool:
    """Whether a state lists this block among the nearby ones."""
    return any(block.endswith(s) or block == s for s in INTERESTING)


def state_facts(rules: Rules, state: WorldState) -> frozenset[str]:
    """The condition facts of a state under these rules. One function for every world that plays
    by Minecraft's rules (CraftWorld, real Minecraft): their condition signatures must match
    to the letter for knowledge to cross between them."""
    facts = {f"has:{k}" for k, n in state.inventory.items() if n > 0}
    for kind in ("pickaxe", "sword", "axe"):
        best = max(
            (rules.tool_tier(k) for k in state.inventory if rules.tool_kind(k) == kind),
            default=0,
        )
        facts.update(f"{kind}>={TIERS[t]}" for t in range(best))
    # what the hand holds, as the household world says it: a guardrail learned from a block
    # that dropped nothing names what was held (or that nothing was)
    facts.add(f"equipped:{state.equipped}" if state.equipped else "hands:empty")
    facts.update(f"near:{k}" for k in state.nearby_blocks if k in ("crafting_table", "furnace"))
    if any(rules.fuels.get(k) for k in state.inventory):
        facts.add("has_fuel")
    if state.is_night:
        facts.add("night")
    if state.position[1] < 16:
        facts.add("y<16")
    if state.health < 8:
        facts.add("health_low")
    if state.food < 6:
        facts.add("food_low")
    return frozenset(facts)


def describe(state: WorldState, where: str) -> str:
    """A state in words, as a player would tell it (`where`: ``in plains``, ``on host:port``)."""
    s = state
    inv = ", ".join(f"{n} {k}" for k, n in s.inventory.items()) or "nothing"
    near = ", ".join(f"{k} x{n}" for k, n in s.nearby_blocks.items()) or "nothing of note"
    mobs = ", ".join(f"{k} x{n}" for k, n in s.nearby_entities.items()) or "none"
    phase = "night" if s.is_night else "day"
    return (
        f"At {s.position} {where}, {phase} (time {s.time_of_day}); "
        f"health {s.health:g}/20, food {s.food:g}/20; holding {s.equipped or 'nothing'}; "
        f"inventory: {inv}; nearby: {near}; mobs: {mobs}."
    )


class MinecraftRules:
    """What a world playing by Minecraft's rules answers from its `rules` alone, the same in
    every such world: its verbs, the names a target may take and a state's condition facts.
    Mixed into a `sim.base.World` ahead of it (``class CraftWorld(MinecraftRules, World)``)."""

    VERBS: ClassVar[tuple[str, ...]] = VERBS
    rules: Rules

    @property
    def verbs(self) -> tuple[str, ...]:
        return self.VERBS

    def item_names(self) -> tuple[str, ...]:
        return tuple(sorted({*self.rules.items, *self.rules.blocks}))

    def facts(self, state: WorldState) -> frozenset[str]:
        """The condition facts of `state_facts`, to the letter in every such world."""
        return state_facts(self.rules, state)
