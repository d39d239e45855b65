"""The tech tree as a networkx graph, built from the world's game rules (minecraft-data).

Each item gets its cheapest way of being obtained (mine a block with a tool, craft a recipe,
smelt, hunt a mob, or farm: sow seeds on tilled ground and harvest the ripe crop), found by a
fixed point over costs so cyclic recipes (iron_block <-> iron_ingot) never recurse. `expand`
turns a goal into the counts of every step it needs, which the symbolic planner orders and the
diagnosis uses as weighted progress.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import networkx as nx
import numpy as np

from sim.mcrules.recipes import Recipe
from sim.mcrules.rules import Rules, drop_stats
from sim.mcrules.tables import SmeltRecipe

WOODS = ("oak", "birch", "spruce", "jungle", "acacia", "dark_oak")
MINE_COST, CRAFT_COST, SMELT_COST, HUNT_COST = 4.0, 1.0, 3.0, 12.0
FUEL = "planks"  # burn 300 ticks each; every tech-tree agent has wood
PLACED = frozenset({"crafting_table", "furnace"})  # stations placed in the world to be used
CHANCE_MARGIN = 1.5
FARM_COST = 40.0  # a crop ripens over days of ticks
SOWN = {"wheat": "wheat_seeds"}
"""Crop item -> the seed sown for it (the crop block has the item's name)."""
FIELD = 9
"""Seeds a farm sows at least: in a 3x3 field each crop grows faster (more farmland around)."""
HOES = ("wooden_hoe", "stone_hoe", "iron_hoe", "golden_hoe", "diamond_hoe")


@dataclass(frozen=True)
class Method:
    """How one item is obtained: `kind` is mine, craft, smelt, hunt or farm (`source` is the
    seed sown, `tool` the hoe that tills)."""

    kind: str
    source: str  # block mined, mob hunted, or the item crafted/smelted
    per: int  # items gained per action
    tool: str | None = None
    recipe: Recipe | None = None
    smelt: SmeltRecipe | None = None
    chance: float = 0.0  # a chance drop: the mean dropped per block (0: `per` is guaranteed)

    def runs(self, need: int) -> int:
        """Times to run the method for `need` items: a chance drop plans half as many blocks
        again as the mean asks, so one plan mostly yields enough."""
        if self.chance:
            return math.ceil(need * CHANCE_MARGIN / self.chance)
        return -(-need // self.per)

    def inputs(self) -> list[tuple[str, int]]:
        if self.recipe is not None:
            return list(self.recipe.ingredients)
        if self.smelt is not None:
            return [(self.smelt.input, 1)]
        if self.kind == "farm":
            return [(self.source, 1)]
        return []

    def sow(self, times: int, growing: int = 0) -> int:
        """Seeds to sow for `times` ripe crops when `growing` are in the ground already."""
        if self.kind != "farm" or growing >= times:
            return 0
        return max(times, FIELD) - growing


class RecipeGraph:
    """Cheapest methods for every obtainable item, for one preferred wood type."""

    def __init__(
        self, rules: Rules, blocks: Iterable[str], mobs: Iterable[str], wood: str = "oak"
    ) -> None:
        self.rules, self.wood = rules, wood
        self.methods: dict[str, Method] = {}
        self.cost: dict[str, float] = {}
        self._mines: list[tuple[str, float, Method]] = []
        self._seed_sources(sorted(set(blocks)), sorted(set(mobs)))
        self._fixpoint()
        self.graph = nx.DiGraph()
        for item, m in self.methods.items():
            self.graph.add_node(item, method=m.kind, cost=self.cost[item])
            for dep, n in m.inputs():
                self.graph.add_edge(dep, item, n=n)
            for dep in self.prerequisites(item):
                self.graph.add_edge(dep, item, n=0)
        # one topological order of the whole graph, fixed by insertion order: a subgraph's own
        # order would follow the iteration of a set of names, which differs between processes
        self._rank = {item: i for i, item in enumerate(nx.topological_sort(self.graph))}

    def _offer(self, item: str, cost: float, method: Method) -> bool:
        if cost < self.cost.get(item, math.inf) - 1e-9:
            self.cost[item], self.methods[item] = cost, method
            return True
        return False

    def _seed_sources(self, blocks: list[str], mobs: list[str]) -> None:
        for block in blocks:
            info = self.rules.blocks.get(block)
            if info is None or not info.diggable:
                continue
            tool = self.rules.min_harvest_tool(block)
            exact = self.rules.expected_drops(block, tool)
            for item, (low, mean) in drop_stats(self.rules.version, block).items():
                # guaranteed drops plan on the fewest; chance drops on the mean, but dearer
                cost = MINE_COST / (low if low else max(mean, 1e-3) / 4)
                m = Method(
                    "mine",
                    block,
                    max(low, 1),
                    tool=tool,
                    chance=0.0 if low else exact.get(item, mean),
                )
                self._mines.append((item, cost, m))
            if tool is None:  # what only shears collect whole (vines, leaves, grass)
                plain = set(exact)
                for item, mean in sorted(self.rules.expected_drops(block, "shears").items()):
                    if item not in plain and mean >= 1:
                        m = Method("mine", block, int(mean), tool="shears")
                        self._mines.append((item, MINE_COST, m))
        rng = np.random.default_rng(0)
        for mob in mobs:
            samples = [self.rules.mob_drops(mob, rng) for _ in range(16)]
            for item in sorted({i for s in samples for i in s}):  # ties: the same winner
                low = min(s.get(item, 0) for s in samples)
                mean = sum(s.get(item, 0) for s in samples) / len(samples)
                self._offer(
                    item, HUNT_COST / max(low, mean / 2, 1e-3), Method("hunt", mob, max(low, 1))
                )

    def _wood_penalty(self, names: Iterable[str]) -> float:
        other = [w for w in WOODS if w != self.wood]
        return sum(0.5 for n in names if any(n.startswith(f"{w}_") for w in other))

    def _fixpoint(self) -> None:
        # Bellman-Ford style: costs only ever go down, and every method costs more than what
        # it consumes or needs at hand (tool, table, furnace), so chosen methods form a DAG.
        for _ in range(60):
            changed = False
            for item, base, m in self._mines:
                if m.tool is None:
                    changed |= self._offer(item, base, m)
                elif m.tool in self.cost:
                    changed |= self._offer(item, base + self.cost[m.tool], m)
            for item, recipes in self.rules.recipes.items():
                for r in recipes:
                    if all(i in self.cost for i, _ in r.ingredients):
                        c = sum(n * self.cost[i] for i, n in r.ingredients) / r.count + CRAFT_COST
                        c += self._wood_penalty([item, *(i for i, _ in r.ingredients)])
                        if r.needs_table:
                            c += self.cost.get("crafting_table", math.inf)
                        changed |= self._offer(item, c, Method("craft", item, r.count, recipe=r))
            for item, s in self.rules.smelting.items():
                if s.input in self.cost and "furnace" in self.cost:
                    c = self.cost[s.input] + SMELT_COST + self._wood_penalty([s.input])
                    c += self.cost["furnace"] + self.cost.get(self.fuel(), math.inf)
                    changed |= self._offer(
                        item, c / s.count, Method("smelt", item, s.count, smelt=s)
                    )
            for crop, seed in SOWN.items():
                hoes = [h for h in HOES if h in self.cost]
                if seed in self.cost and hoes:
                    hoe = min(hoes, key=self.cost.__getitem__)
                    c = self.cost[seed] + FARM_COST + self.cost[hoe]
                    changed |= self._offer(crop, c, Method("farm", seed, 1, tool=hoe))
            if not changed:
                return

    def ordered(self, items: Iterable[str]) -> list[str]:
        """`items` in the graph's topological order (producers first), the same in every
        process."""
        return sorted(items, key=self._rank.__getitem__)

    def method(self, item: str) -> Method | None:
        return self.methods.get(item)

    def prerequisites(self, item: str) -> list[str]:
        """Items that must exist (not be consumed) before the item can be made."""
        m = self.methods.get(item)
        if m is None:
            return []
        out = [m.tool] if m.tool else []
        if m.recipe is not None and m.recipe.needs_table:
            out.append("crafting_table")
        if m.smelt is not None:
            out += ["furnace", self.fuel()]
        return out

    def fuel(self) -> str:
        return f"{self.wood}_{FUEL}"

    def expand(
        self,
        goal: str,
        count: int,
        inventory: dict[str, int],
        also: dict[str, int] | None = None,
        placed: Iterable[str] = (),
        growing: dict[str, int] | None = None,
    ) -> dict[str, int]:
        """How many times each item's method must run to hold `count` of `goal` (and the
        counts in `also`, made along the way). Stations in `placed` stand in the world: they
        serve as stations, but a recipe that consumes one (a blast furnace takes a furnace)
        needs another. Crops in `growing` (item -> blocks in the ground) need no seeds sown.

        Items are visited consumers-first (topological order of the goals' ancestors), so each
        item's demand is complete before it is expanded; what the inventory holds is used up
        first. Raises KeyError for an item with no method."""
        goals = {goal: count, **(also or {})}
        for item in goals:
            if item not in self.methods:
                raise KeyError(item)
        needed = set().union(*(nx.ancestors(self.graph, g) for g in goals)) | set(goals)
        demand: Counter[str] = Counter(goals)
        runs: dict[str, int] = {}
        placed = set(placed)
        for item in reversed(self.ordered(needed)):
            need = demand[item] - inventory.get(item, 0)
            if need <= 0:
                continue
            m = self.methods[item]
            times = m.runs(need)
            runs[item] = times
            pres = self.prerequisites(item)
            if m.kind == "farm":
                sow = m.sow(times, (growing or {}).get(item, 0))
                demand[m.source] += sow
                pres = pres if sow else []  # a field already sown only waits
            else:
                for dep, n in m.inputs():
                    demand[dep] += n * times
            for pre in pres:
                if pre == self.fuel():
                    demand[pre] += -(-200 * times // 300)
                elif pre in PLACED:  # placing a station uses one up, once
                    if pre not in placed:
                        placed.add(pre)
                        demand[pre] += 1
                else:
                    demand[pre] = max(demand[pre], 1)
        return runs

    def steps_needed(self, goal: str, count: int, inventory: dict[str, int]) -> int:
        return sum(self.expand(goal, count, inventory).values())

    def progress(self, goal: str, count: int, inventory: dict[str, int]) -> float:
        """Weighted progress toward the goal: 1 - remaining steps / steps from nothing."""
        total = self.steps_needed(goal, count, {})
        if total == 0:
            return 1.0
        return max(0.0, 1.0 - self.steps_needed(goal, count, inventory) / total)


@cache
def graph_for(
    version: str, blocks: tuple[str, ...], mobs: tuple[str, ...], wood: str
) -> RecipeGraph:
    """A cached graph per rules version, world palette and preferred wood."""
    return RecipeGraph(Rules.load(version), blocks, mobs, wood)
