"""Per-world task adapters: weighted progress and the items that matter for recall.

Looked up by world family (the part of the id before the slash), never by if/elif.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import networkx as nx

from agent.planner.recipe_graph import graph_for
from sim.base import World
from sim.schema import Task, WorldState


class TaskAdapter(Protocol):
    def progress(self, state: WorldState) -> float:
        """Weighted progress toward the task's goal, 0..1."""
        ...

    def relevant(self) -> frozenset[str]:
        """Names in the goal's requirement tree (for recall)."""
        ...


class CraftAdapter:
    """Progress over the goal's requirement tree, from the recipe graph."""

    def __init__(self, world: World, task: Task) -> None:
        from sim.craftworld.body import PASSIVE
        from sim.craftworld.palette import NATURAL

        version = getattr(getattr(world, "rules", None), "version", "1.16.5")
        self.graph = graph_for(version, NATURAL, PASSIVE, "oak")
        self.goal, self.count = task.goal.item or "", task.goal.count

    def progress(self, state: WorldState) -> float:
        if self.goal not in self.graph.methods:
            return 1.0 if state.count(self.goal) >= self.count else 0.0
        return self.graph.progress(self.goal, self.count, state.inventory)

    def relevant(self) -> frozenset[str]:
        if self.goal not in self.graph.graph:
            return frozenset({self.goal})
        names = nx.ancestors(self.graph.graph, self.goal)
        names |= {m.source for n in names if (m := self.graph.methods.get(n))}
        return frozenset(names | {self.goal})


class HouseholdAdapter:
    """Progress through a household task's stages (hold the object, clean / heat / cool it,
    put it in place, twice for two; or hold it where the lamp is on), from the goal predicate."""

    def __init__(self, world: World, task: Task) -> None:
        from sim.alfworld.gamefiles import spec_for

        self.spec = spec_for(task.goal.predicate or "")

    def progress(self, state: WorldState) -> float:
        from sim.alfworld.tasks import progress

        return progress(self.spec, state)

    def relevant(self) -> frozenset[str]:
        return self.spec.names()


ADAPTERS: dict[str, Callable[[World, Task], TaskAdapter]] = {
    "craftworld": CraftAdapter,
    "minecraft": CraftAdapter,  # real Minecraft: the same tech tree, the same recipe graph
    "alfworld": HouseholdAdapter,
}


def adapter_for(world: World, task: Task) -> TaskAdapter:
    family = world.id.partition("/")[0]
    if family not in ADAPTERS:
        raise KeyError(f"no task adapter for world family {family!r}; known: {sorted(ADAPTERS)}")
    return ADAPTERS[family](world, task)
