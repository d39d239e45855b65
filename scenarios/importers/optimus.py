"""Optimus-1 / MineEvolve benchmark YAML -> `TaskSuite`.

Optimus-1 keeps one file per tech-tree group (`conf/benchmark/wooden.yaml`, ...):

| Optimus-1 / MineEvolve      | suite                                                       |
|-----------------------------|-------------------------------------------------------------|
| `all_task` (list, or        | `tasks`                                                     |
| mapping id -> entry)        |                                                             |
| entry `id`                  | `id`: `<group>_<id>` for a number, else the id itself       |
| entry `instruction`         | `instruction`; the goal is the item it names (longest name, |
|                             | spaces or underscores, plurals; "chop a tree" -> `oak_log`) |
| entry `goal` (optional)     | `goal` instead: an item name or `{item, count}`             |
| entry `type`                | `group`, except action kinds (`craft`, `mine`, `smelt`,     |
|                             | ...): then the file's name, as Optimus-1 names each file    |
|                             | after its group; an entry `group` key wins over both        |
| `env.initial_inventory`     | every task's `initial_inventory` (list of `{type, quantity, |
|                             | slot}` or item -> n; slots dropped)                         |
| `env.max_minutes`           | `defaults.max_ticks` = minutes x 1200 (20 ticks a second)   |
| `env.times`                 | `defaults.seeds` = 0 .. times-1 (runs per task)             |
| anything else non-empty     | listed as not imported (`evaluate`, `env.prefer_biome`, ...) |

An entry whose instruction names no item, or several, is an error naming the entry.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from pathlib import Path
from typing import Any

from scenarios.importers.base import (
    Builder,
    goal_spec,
    inventory,
    is_empty,
    known_set,
    read_source,
)
from scenarios.importers.words import goal_from_words
from scenarios.loader import Loc, format_loc, short_repr
from scenarios.schema import MAX_SEEDS, MAX_TICKS, TaskSuite

TICKS_PER_MINUTE = 1200
# Optimus-1 fills `type` with what the agent does, not with the tech-tree group.
ACTION_TYPES = frozenset({"craft", "mine", "smelt", "collect", "obtain", "kill", "hunt", "dig"})
_ENTRY_FIELDS = ("id", "type", "instruction", "goal", "group")


def import_optimus(
    path: str | Path, *, name: str | None = None, known_items: Collection[str] | None = None
) -> TaskSuite:
    """Import an Optimus-1 / MineEvolve benchmark YAML. Raises `SuiteError` naming the file
    and the entry."""
    path = Path(path)
    src = read_source(path)
    b = Builder("Optimus-1/MineEvolve benchmark file", known_set(known_items))
    data = src.data
    if not isinstance(data, dict) or "all_task" not in data:
        raise src.error((), "missing required field 'all_task' (the list of tasks)")
    env = data.get("env") or {}
    if not isinstance(env, dict):
        raise src.error(("env",), f"'env' must be a mapping, not {short_repr(env)}")
    b.drop_unused(data, ("all_task", "env"), "")
    b.drop_unused(env, ("initial_inventory", "max_minutes", "times"), "env.")
    held = inventory(b, src, ("env", "initial_inventory"), env.get("initial_inventory"), "env")
    defaults: dict[str, Any] = {}
    minutes = env.get("max_minutes")
    if minutes is not None:
        if (
            isinstance(minutes, bool)
            or not isinstance(minutes, int | float)
            or not math.isfinite(minutes)  # .inf and .nan are YAML floats too
            or minutes <= 0
        ):
            raise src.error(
                ("env", "max_minutes"), f"env: max_minutes must be > 0: {short_repr(minutes)}"
            )
        if minutes * TICKS_PER_MINUTE > MAX_TICKS:
            raise src.error(
                ("env", "max_minutes"),
                f"env: max_minutes must be at most {MAX_TICKS // TICKS_PER_MINUTE:,} "
                f"({MAX_TICKS:,} ticks, the limit of a suite): {short_repr(minutes)}",
            )
        defaults["max_ticks"] = max(1, int(minutes * TICKS_PER_MINUTE))
    if env.get("times") is not None:  # runs per task: checked before making one seed per run
        times = b.count(src, ("env", "times"), env["times"], "env", limit=MAX_SEEDS)
        defaults["seeds"] = list(range(times))

    tasks = data["all_task"]
    entries: list[tuple[Loc, Any, Any]]
    if isinstance(tasks, list):
        entries = [(("all_task", i), None, entry) for i, entry in enumerate(tasks)]
    elif isinstance(tasks, dict):
        entries = [(("all_task", key), key, entry) for key, entry in tasks.items()]
    else:
        raise src.error(("all_task",), "'all_task' must be a list (or mapping) of task entries")

    for loc, key, entry in entries:
        if not isinstance(entry, dict):
            raise src.error(loc, f"entry {format_loc(loc)}: a task entry is a mapping")
        task_key = entry.get("id", key)
        who = f"entry {format_loc(loc)}" + (f" (id {task_key!r})" if task_key is not None else "")
        for required in ("id", "instruction") if key is None else ("instruction",):
            if is_empty(entry.get(required)):
                raise src.error(loc, f"{who}: missing required field {required!r}")
        instruction = entry["instruction"]
        if not isinstance(instruction, str):
            raise src.error((*loc, "instruction"), f"{who}: an instruction must be text")
        b.drop_unused(entry, _ENTRY_FIELDS, "all_task[*].")

        kind = entry.get("type")
        group = entry.get("group") or (
            kind if kind and str(kind).lower() not in ACTION_TYPES else path.stem
        )
        if "goal" in entry:
            goal = goal_spec(b, src, (*loc, "goal"), entry["goal"], who)
        else:
            found = goal_from_words(
                b, src, (*loc, "instruction"), instruction, who, "the instruction"
            )
            if found is None:
                raise src.error(
                    (*loc, "instruction"),
                    f"{who}: cannot derive a goal: the instruction {instruction!r} names no "
                    "known item; give the entry a 'goal' (an item name)",
                )
            goal = found
        b.add(
            src,
            loc,
            who,
            task_id=f"{group}_{task_key}" if isinstance(task_key, int) else str(task_key),
            goal=goal,
            inventory=held,
            instruction=instruction.strip(),
            group=str(group),
        )
    return b.build(src.shown, name or path.stem, defaults)
