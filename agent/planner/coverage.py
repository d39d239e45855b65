"""Which of Minecraft's craftable items CraftWorld's agent can plan for, and why not the rest.

    python -m agent.planner.coverage [--version 1.16.5] [--markdown]

Overworld craftables: the items of minecraft-data that have a crafting recipe and can be made,
through recipes and smelting, from what the overworld has: every item nothing makes (mined,
dropped, grown) except those found only in the Nether or the End (`NETHER_END`), what
CraftWorld generates (diorite is mined, though its recipe needs nether quartz), and the few
raw items a recipe also makes (`OVERWORLD_RAW`). For each, this says
whether the symbolic planner's recipe graph obtains it (`planned`: mining, crafting, smelting
and hunting the passive animals), whether it can be had only by fighting hostile mobs, which
the world spawns but the planner does not choose (`hostile only`), or else why not, in words
(agent/planner/coverage.yaml). `tests/test_coverage.py` holds the counts and keeps
docs/coverage.md, this module's Markdown, current; an item missing with no reason fails it.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

NETHER_END = frozenset(
    {
        # the Nether
        "netherrack", "quartz", "blaze_rod", "ghast_tear", "nether_wart", "crimson_stem",
        "warped_stem", "crimson_fungus", "warped_fungus", "soul_sand", "soul_soil", "basalt",
        "blackstone", "netherite_scrap", "ancient_debris", "glowstone_dust", "magma_cream",
        "nether_star", "crying_obsidian", "gilded_blackstone", "shroomlight",
        "wither_skeleton_skull", "twisting_vines", "weeping_vines", "magma_block",
        "stripped_crimson_stem", "stripped_warped_stem", "stripped_crimson_hyphae",
        "stripped_warped_hyphae", "nether_quartz_ore", "nether_gold_ore",
        "nether_wart_block", "warped_wart_block", "crimson_nylium", "warped_nylium",
        # the End
        "end_stone", "chorus_fruit", "shulker_shell", "dragon_breath", "dragon_head", "elytra",
        "ender_pearl",
    }
)  # fmt: skip
"""Raw items found only in the Nether or the End (ender pearls: endermen are rare in the
overworld and CraftWorld has none)."""
OVERWORLD_RAW = frozenset({"wheat", "slime_ball", "honey_bottle", "honeycomb", "melon_slice"})
"""Overworld items a recipe also makes (wheat from hay): found, not only made."""

REASONS = Path(__file__).with_name("coverage.yaml")
"""Why an overworld craftable the planner cannot obtain is missing, by item-name pattern."""


@dataclass
class Coverage:
    version: str
    craftables: set[str] = field(default_factory=set)  # overworld craftables
    planned: set[str] = field(default_factory=set)
    hostile_only: set[str] = field(default_factory=set)
    missing: dict[str, str | None] = field(default_factory=dict)  # item -> why (None: unknown)
    nether_end: set[str] = field(default_factory=set)  # craftable, but only from those places

    def markdown(self) -> str:
        n = len(self.craftables)
        pct = 100 * len(self.planned) / n
        lines = [
            f"# What the planner can obtain ({self.version})",
            "",
            "Written by `python -m agent.planner.coverage --markdown` (kept current by",
            "`tests/test_coverage.py`).",
            "",
            f"Of {n} overworld craftables (items with a crafting recipe, less the"
            f" {len(self.nether_end)} whose every recipe needs the Nether or the End), the"
            f" symbolic planner's recipe graph obtains {len(self.planned)} ({pct:.0f}%);"
            f" {len(self.hostile_only)} more only from hostile mobs (the world spawns them, the"
            f" planner does not hunt them); {len(self.missing)} are missing, for these reasons:",
            "",
            "| reason | items |",
            "|---|---|",
        ]
        by: dict[str, list[str]] = {}
        for item, why in sorted(self.missing.items()):
            by.setdefault(why or "no reason recorded", []).append(item)
        for why, items in sorted(by.items(), key=lambda kv: -len(kv[1])):
            lines.append(f"| {why} ({len(items)}) | {', '.join(items)} |")
        lines += [
            "",
            f"Only from hostile mobs ({len(self.hostile_only)}): "
            + ", ".join(sorted(self.hostile_only)),
            "",
            f"Craftable only with the Nether or the End ({len(self.nether_end)}): "
            + ", ".join(sorted(self.nether_end)),
            "",
        ]
        return "\n".join(lines)


@cache
def _reasons() -> tuple[tuple[re.Pattern[str], str], ...]:
    rows = yaml.safe_load(REASONS.read_text()) or []
    return tuple((re.compile(str(r["pattern"])), str(r["why"])) for r in rows)


def stale_reasons(missing: Iterable[str]) -> list[str]:
    """Patterns of coverage.yaml that explain none of the missing items (their items have
    come to be obtained: the line should go)."""
    names = list(missing)
    return [p.pattern for p, _ in _reasons() if not any(p.search(n) for n in names)]


def why_missing(item: str) -> str | None:
    """The first reason whose pattern the item's name matches, else None."""
    for pattern, why in _reasons():
        if pattern.search(item):
            return why
    return None


def coverage(version: str = "1.16.5") -> Coverage:
    from agent.planner.recipe_graph import graph_for
    from sim.craftworld.body import HOSTILE, PASSIVE, WATER
    from sim.craftworld.palette import NATURAL
    from sim.mcrules.rules import Rules

    rules = Rules.load(version)
    produced = {*rules.recipes, *rules.smelting}
    # the overworld's raw materials: what nothing makes (mined, dropped, grown), what the
    # world generates, and the few raw items a recipe can also make (wheat from hay)
    here = {i for i in rules.items if i not in produced} - NETHER_END
    here |= set(NATURAL) | OVERWORLD_RAW
    changed = True
    while changed:  # what recipes and smelting make from them
        changed = False
        for item in produced - here:
            smelt = rules.smelting.get(item)
            if any(
                all(i in here for i, _ in r.ingredients) for r in rules.recipes.get(item, ())
            ) or (smelt is not None and smelt.input in here):
                here.add(item)
                changed = True
    only_there = set(rules.items) - here
    out = Coverage(version)
    out.nether_end = set(rules.recipes) & only_there
    out.craftables = set(rules.recipes) - only_there
    planned = set(graph_for(version, NATURAL, PASSIVE + WATER, "oak").methods)
    fought = set(graph_for(version, NATURAL, PASSIVE + WATER + HOSTILE, "oak").methods)
    out.planned = out.craftables & planned
    out.hostile_only = (out.craftables & fought) - planned
    out.missing = {i: why_missing(i) for i in sorted(out.craftables - fought)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--version", default="1.16.5")
    ap.add_argument("--markdown", action="store_true", help="docs/coverage.md's text")
    args = ap.parse_args()
    c = coverage(args.version)
    if args.markdown:
        print(c.markdown(), end="")
        return
    n = len(c.craftables)
    print(f"overworld craftables: {n}; planned {len(c.planned)} ({100 * len(c.planned) / n:.0f}%)")
    print(f"only from hostile mobs: {len(c.hostile_only)}; missing: {len(c.missing)}")
    unknown = [i for i, why in c.missing.items() if why is None]
    if unknown:
        print("missing with no reason recorded: " + ", ".join(unknown))


if __name__ == "__main__":
    main()
