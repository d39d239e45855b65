"""What the planner can obtain of Minecraft's overworld craftables (issue 33): the count, a
reason for every item missing, and docs/coverage.md current."""

from __future__ import annotations

from pathlib import Path

from agent.planner.coverage import coverage, why_missing

ROOT = Path(__file__).resolve().parents[1]
PLANNED_AT_LEAST = 269
"""The planned count when this test was written (issue 33's start); raise it as the world grows."""


def test_every_overworld_craftable_is_planned_or_missing_for_a_stated_reason() -> None:
    c = coverage("1.16.5")
    print(
        f"overworld craftables {len(c.craftables)}: planned {len(c.planned)}, hostile mobs only"
        f" {len(c.hostile_only)}, missing {len(c.missing)}"
    )
    unexplained = sorted(i for i, why in c.missing.items() if why is None)
    assert not unexplained, f"missing with no reason in agent/planner/coverage.yaml: {unexplained}"
    assert len(c.planned) >= PLANNED_AT_LEAST
    assert c.planned | c.hostile_only | set(c.missing) == c.craftables
    # the split is the recipe graph's: a planned item has a method, a missing one none
    assert {"wooden_pickaxe", "diamond_pickaxe", "white_bed", "furnace"} <= c.planned
    assert {"bow", "fishing_rod", "tnt"} <= c.hostile_only  # string, gunpowder
    assert {"bookshelf", "enchanting_table", "bread"} <= set(c.missing)
    assert {"nether_bricks", "ender_chest", "beacon"} <= c.nether_end
    assert "diorite" in c.craftables, "mined in the overworld, though its recipe needs quartz"


def test_a_reason_matches_by_pattern() -> None:
    assert why_missing("jungle_planks") is not None and "jungle" in str(
        why_missing("jungle_planks")
    )
    assert why_missing("stripped_oak_wood") == why_missing("stripped_spruce_wood")
    assert why_missing("wooden_pickaxe") is None


def test_the_docs_list_is_current() -> None:
    """docs/coverage.md is `python -m agent.planner.coverage --markdown`, as written now."""
    assert (ROOT / "docs/coverage.md").read_text() == coverage("1.16.5").markdown()
