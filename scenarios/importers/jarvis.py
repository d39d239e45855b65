"""JARVIS-1 `tasks.json` -> `TaskSuite`.

The file is a JSON list of entries, each naming itself in `task` (as JARVIS-1 ships it), or a
JSON object of entries keyed by task name. Per entry:

| JARVIS-1                  | suite                                                         |
|---------------------------|---------------------------------------------------------------|
| `task` (or the key)       | `id`                                                          |
| `task_obj: {item: n}`     | `goal` (exactly one item: a goal holds one)                   |
| `env.init_inventory`      | `initial_inventory`: slot -> `{"type", "quantity"}` (digit     |
|                           | keys), item -> n, or a list of `{"type", "quantity"}`; counts |
|                           | of one item summed, `minecraft:` prefixes removed             |
| `group`                   | `group` (else `default`)                                      |
| `instruction` or `text`   | `instruction` (else "Obtain a <item>.")                       |
| anything else non-empty   | listed as not imported (e.g. `env.biome`, `env.mobs`)         |
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from scenarios.importers.base import (
    Builder,
    default_instruction,
    inventory,
    is_empty,
    known_set,
    read_source,
)
from scenarios.loader import Loc
from scenarios.schema import TaskSuite


def import_jarvis(
    path: str | Path, *, name: str | None = None, known_items: Collection[str] | None = None
) -> TaskSuite:
    """Import a JARVIS-1 `tasks.json`. Raises `SuiteError` naming the file and the entry."""
    path = Path(path)
    src = read_source(path)
    b = Builder("JARVIS-1 tasks file", known_set(known_items))
    data = src.data
    entries: list[tuple[Loc, str | None, Any]]
    if isinstance(data, list):
        entries = [((i,), None, entry) for i, entry in enumerate(data)]
    elif isinstance(data, dict):
        entries = [((str(key),), str(key), entry) for key, entry in data.items()]
    else:
        raise src.error((), "a JARVIS-1 tasks file is a JSON list or object of task entries")

    for loc, key, entry in entries:
        who = f"task {key!r}" if key is not None else f"entry {loc[0]}"
        if not isinstance(entry, dict):
            raise src.error(loc, f"{who}: a task entry is an object, not {entry!r}")
        task_name = entry.get("task", key)
        if not isinstance(task_name, str) or not task_name:
            raise src.error(loc, f"{who}: missing required field 'task' (the task's name)")
        if key is None:
            who = f"entry {loc[0]} (task {task_name!r})"
        if "task_obj" not in entry:
            raise src.error(loc, f"{who}: missing required field 'task_obj' (the goal)")
        goal_raw = entry["task_obj"]
        if not isinstance(goal_raw, dict) or len(goal_raw) != 1:
            raise src.error(
                (*loc, "task_obj"),
                f"{who}: 'task_obj' must hold exactly one {{item: count}} (a goal is one item; "
                f"split the task), not {goal_raw!r}",
            )
        ((goal_item, goal_count),) = goal_raw.items()
        goal_loc = (*loc, "task_obj", goal_item)
        goal = (b.item(src, goal_loc, goal_item, who), b.count(src, goal_loc, goal_count, who))

        env = entry.get("env") or {}
        if not isinstance(env, dict):
            raise src.error((*loc, "env"), f"{who}: 'env' must be an object, not {env!r}")
        held = inventory(b, src, (*loc, "env", "init_inventory"), env.get("init_inventory"), who)
        b.drop_unused(env, ("init_inventory",), "env.")
        b.drop_unused(entry, ("task", "task_obj", "env", "group", "instruction", "text"), "")

        said = "instruction" if entry.get("instruction") else "text"
        instruction = entry.get(said)
        if instruction is not None and not isinstance(instruction, str):
            raise src.error((*loc, said), f"{who}: {said!r} must be text, not {instruction!r}")
        group = entry.get("group")
        b.add(
            src,
            loc,
            who,
            task_id=task_name,
            goal=goal,
            inventory=held,
            instruction=(instruction or default_instruction(*goal)).strip(),
            group="default" if is_empty(group) else str(group),
        )
    return b.build(src.shown, name or path.stem, {})
