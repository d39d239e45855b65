"""Whether a suite's tasks can succeed in their world at all, checked before anything runs.

A goal the world cannot produce (a book where no block drops sugar cane) or a predicate goal in
a world that reads only item goals validated, and the run then burnt its whole budget. Each
world family has a small checker, looked up by family (never by if/elif), that returns why a
task cannot succeed, or None; a family without one is not checked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scenarios.schema import TaskEntry, TaskSuite
from sim.schema import Goal, Task

if TYPE_CHECKING:
    from sim.mcrules.rules import Rules

AnyTask = Task | TaskEntry  # as a world is reset with it, or as a suite file says it
Checker = Callable[[str, AnyTask, Mapping[str, Any]], str | None]


def _goal(task: AnyTask) -> Goal:
    return task.goal if isinstance(task.goal, Goal) else task.goal.to_goal()


def _item_goals_only(world_id: str, task: AnyTask, options: Mapping[str, Any]) -> str | None:
    if task.goal.predicate is not None:
        return f"{world_id} has no predicate goals"
    return None


def _predicate_goals_only(world_id: str, task: AnyTask, options: Mapping[str, Any]) -> str | None:
    if task.goal.predicate is None:
        return f"{world_id} has only predicate goals, like 'pick_and_place_simple(apple, fridge)'"
    return None


def _craft_obstacle(world_id: str, task: AnyTask, options: Mapping[str, Any]) -> str | None:
    """CraftWorld: the goal must come, through recipes and smelting, from what the start
    inventory holds and what the world's natural blocks and its mobs drop (the recipe graph)."""
    from agent.planner.recipe_graph import graph_for
    from sim.craftworld.body import HOSTILE, PASSIVE, WATER
    from sim.craftworld.palette import NATURAL

    if (reason := _item_goals_only(world_id, task, options)) or task.goal.predicate is not None:
        return reason
    version = str(options.get("version", "1.16.5"))
    try:
        hunted = graph_for(version, NATURAL, PASSIVE + WATER + HOSTILE, "oak")
    except Exception:  # an unknown version: making the world says so
        return None
    graph = (
        hunted
        if bool(task.helpers.get("hostile_mobs", True))
        else graph_for(version, NATURAL, PASSIVE + WATER, "oak")
    )
    have = {i for i, n in task.initial_inventory.items() if n > 0} | set(graph.methods)
    for item in _goal(task).item_names():  # every item of an `all` and every milestone
        if item not in hunted.rules.items:
            continue  # a name the world does not know: the suite's item check says so
        chain = _missing(graph.rules, item, have, frozenset())
        if chain is None:
            continue
        chain = chain[: chain.index(chain[-1]) + 1]  # a cycle ends at its first repeated item
        goal, leaf = chain[0], chain[-1]
        drops = "no block or mob here drops"
        if leaf in hunted.methods:  # only hostile mobs drop it, and this task turns them off
            drops = "only hostile mobs drop, and this task sets hostile_mobs: false"
        if len(chain) == 1:
            return f"no way to obtain {goal} in {world_id}: no recipe makes {goal}, which {drops}"
        path = ", whose recipe needs ".join(chain[1:])
        return f"no way to obtain {goal} in {world_id}: its recipe needs {path}, which {drops}"
    return None


def _missing(rules: Rules, item: str, have: set[str], path: frozenset[str]) -> list[str] | None:
    """None when `item` can be had; else the chain from it, through the first recipe's first
    input that cannot, down to a leaf nothing makes. An item already on the path counts as
    missing there, so cyclic recipes (iron_block <-> iron_ingot) end."""
    if item in have:
        return None
    if item in path:
        return [item]
    options = [[i for i, _ in r.ingredients] for r in rules.recipes.get(item, ())]
    if (smelt := rules.smelting.get(item)) is not None:
        options.append([smelt.input])
    first: list[str] | None = None
    for inputs in options:
        bad = next((c for i in inputs if (c := _missing(rules, i, have, path | {item}))), None)
        if bad is None:
            have.add(item)
            return None
        if first is None or (first[-1] in path | {item} and bad[-1] not in path | {item}):
            first = bad  # rather a chain down to a leaf than one round a cycle
    return [item, *(first or [])]


CHECKERS: dict[str, Checker] = {
    "craftworld": _craft_obstacle,
    # real Minecraft has every block and mob, so only the goal's kind is checked
    "minecraft": _item_goals_only,
    "alfworld": _predicate_goals_only,
}


def obstacle(world_id: str, task: AnyTask, options: Mapping[str, Any] | None = None) -> str | None:
    """Why `task` cannot succeed in the world `world_id` (made with `options`), or None
    (also for a world family with no checker)."""
    check = CHECKERS.get(world_id.partition("/")[0])
    return check(world_id, task, options or {}) if check else None


def suite_problems(path: str | Path, suite: TaskSuite) -> list[str]:
    """Each task of the suite that cannot succeed, as `file:line: tasks[i] (id): why`; tasks
    marked `skip:` are not checked."""
    from scenarios.loader import field_line

    out = []
    for i, task in enumerate(suite.tasks):
        if task.skip is not None:
            continue
        reason = obstacle(suite.world, task, suite.world_options)
        if reason:
            line = field_line(path, ("tasks", i, "goal")) or "?"
            out.append(f"{path}:{line}: tasks[{i}] ({task.id}): {reason}")
    return out
