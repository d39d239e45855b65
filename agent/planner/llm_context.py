"""What the LLM planner is told about a goal beyond the state.

Two things: the names that bound the plan grammar (a 135M model picks among a handful of
targets instead of a thousand), and one-step recipe facts ("craft 4 oak_planks from 1
oak_log"), with no order and no counts to gather. They come from one of two places
(`planner.recipes`):

- `oracle`: the world's rules, per world family (`CONTEXTS`, looked up by the part of the
  world id before the slash): the goal's whole requirement tree in the recipe graph. This is
  help the agent is given, not knowledge it learned, and reports say so;
- `learned`: the recipes the agent has seen (`knowledge.recipes`, in the briefing), and only
  those (`learned_context`).

A world family without a context (the household world) gets the full `verb_targets()` and no
facts either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import networkx as nx

from knowledge.schema import LearnedRecipe
from sim.schema import Task, WorldState

if TYPE_CHECKING:
    from agent.planner.recipe_graph import Method, RecipeGraph
    from sim.base import World


@dataclass(frozen=True)
class GoalContext:
    """`names`: targets a plan for this goal may use (the requirement tree, with the blocks
    and mobs its items come from); `facts`: one line per item of the tree, goal first;
    `single`: verbs whose count means nothing (always 1); `caps`: the most of an item one
    step may ask for (the goal's own count; 1 for a tool or station that is never used up);
    `goal_step`: the step that makes the goal itself (what to retry when nothing moves)."""

    names: frozenset[str] = frozenset()
    facts: tuple[str, ...] = ()
    single: frozenset[str] = field(default_factory=frozenset)
    caps: Mapping[str, int] = field(default_factory=dict)
    goal_step: tuple[str, str, int] | None = None  # (verb, target, count) that makes the goal


class Context(Protocol):
    def __call__(self, task: Task, state: WorldState) -> GoalContext: ...


class CraftContext:
    """CraftWorld: the recipe graph (`agent.planner.recipe_graph`) of the wood in sight."""

    single = frozenset({"equip", "place", "move_to", "explore"})

    def __init__(self, world: World) -> None:
        self.version = str(getattr(getattr(world, "rules", None), "version", "1.16.5"))

    def graph(self, state: WorldState) -> RecipeGraph:
        from agent.planner.recipe_graph import WOODS, graph_for
        from sim.craftworld.body import PASSIVE, WATER
        from sim.craftworld.palette import NATURAL

        # oak while there is oak at hand or in sight, so that the facts do not change wood
        # from one call to the next as logs are used up; else the wood most held, then seen
        def score(w: str) -> tuple[bool, int, int]:
            log = f"{w}_log"
            oak = w == "oak" and (state.inventory.get(log, 0) + state.nearby_blocks.get(log, 0)) > 0
            return oak, state.inventory.get(log, 0), state.nearby_blocks.get(log, 0)

        return graph_for(self.version, NATURAL, PASSIVE + WATER, max(WOODS, key=score))

    def __call__(self, task: Task, state: WorldState) -> GoalContext:
        goal = task.goal.item
        if goal is None:
            return GoalContext(single=self.single)
        g = self.graph(state)
        if goal not in g.methods:
            return GoalContext(frozenset({goal}), single=self.single)
        tree = nx.ancestors(g.graph, goal) | {goal}
        names = set(tree)
        for item in tree:
            m = g.methods[item]
            names.add(m.source)
            if m.tool:
                names.add(m.tool)
        # goal first, then what it is made of, breadth first: the facts read top-down
        order = [goal, *(n for n in nx.bfs_tree(g.graph.reverse(copy=False), goal) if n != goal)]
        facts = tuple(_fact(item, g.methods[item], g) for item in order)
        used_up = {i for n in tree for i, _ in g.methods[n].inputs()} | {g.fuel()}
        kept = {p for n in tree for p in g.prerequisites(n)} - used_up
        caps = {**dict.fromkeys(kept, 1), goal: task.goal.count}
        m = g.methods[goal]
        verb = {"mine": "mine", "hunt": "attack", "smelt": "smelt"}.get(m.kind, "craft")
        step = (verb, goal if verb in ("craft", "smelt") else m.source, task.goal.count)
        return GoalContext(frozenset(names), facts, self.single, caps, step)


def _fact(item: str, m: Method, g: RecipeGraph) -> str:
    if m.kind == "mine":
        with_tool = f" with {m.tool} equipped" if m.tool else ""
        return f"{item}: mine {m.source}{with_tool}"
    if m.kind == "hunt":
        return f"{item}: attack {m.source}"
    if m.kind == "smelt":
        source = m.smelt.input if m.smelt is not None else "?"
        return f"{item}: smelt {m.per} {item} from 1 {source} at a placed furnace ({g.fuel()} fuel)"
    parts = " + ".join(f"{n} {i}" for i, n in m.inputs())
    table = ", at a placed crafting_table" if m.recipe is not None and m.recipe.needs_table else ""
    return f"{item}: craft {m.per} {item} from {parts}{table}"


def learned_context(
    task: Task, recipes: list[LearnedRecipe], single: frozenset[str] = frozenset()
) -> GoalContext:
    """The goal context of what the agent has seen: its recipes' lines and names, the goal's
    count, and as the goal's own step the way it was seen made (else: craft it, which either
    works or shows its recipe)."""
    goal = task.goal.item
    if goal is None:
        return GoalContext(single=single)
    names = {goal} | {n for r in recipes for n in r.names()}
    mine = next((r for r in recipes if r.item == goal), None)
    step = ("craft", goal, task.goal.count)
    if mine is not None and mine.verb not in ("craft", "smelt"):
        step = (mine.verb, mine.source, task.goal.count)
    elif mine is not None:
        step = (mine.verb, goal, task.goal.count)
    facts = tuple(r.text() for r in recipes)
    return GoalContext(frozenset(names), facts, single, {goal: task.goal.count}, step)


CONTEXTS: dict[str, Callable[[World], Context]] = {"craftworld": CraftContext}


def context_for(world: World) -> Context | None:
    """The goal context of a world's family, or None where there is none."""
    factory = CONTEXTS.get(world.id.partition("/")[0])
    return factory(world) if factory is not None else None
