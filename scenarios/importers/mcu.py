"""MCU task YAML -> `TaskSuite` (one task per file; a directory imports each `*.yaml`).

| MCU                                 | suite                                                 |
|-------------------------------------|-------------------------------------------------------|
| the file name (stem)                | `id`                                                  |
| `text`                              | `instruction`                                         |
| `/give <target> <item>[nbt] [n]`    | `initial_inventory` (n defaults to 1; NBT listed as   |
|                                     | not imported)                                         |
| `/replaceitem entity <target>       | `initial_inventory` (the slot listed as not imported) |
| <slot> <item> [n]`, `/item replace` |                                                       |
| every other command (`/setblock`,   | listed as not imported, by file                       |
| `/summon`, `/weather`, `/execute`)  |                                                       |
| `goal` (not MCU; optional)          | `goal`: an item name or `{item, count}`               |
| `task` (optional)                   | `goal`: the item it names                             |
| otherwise                           | `goal`: the item the file name names                  |
|                                     | (`craft_to_clock` -> `clock`), else the one `text`    |
|                                     | names; several or none is an error                    |
| `group` (not MCU; optional)         | `group` (else `mcu`)                                  |
| anything else non-empty             | listed as not imported (`thinking`, Hydra `defaults`, |
|                                     | `reward_cfg`, ...)                                    |

MCU tasks are scenario-initialised (items given, blocks placed); the world commands that only
a Minecraft server can run are what the description lists.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection
from pathlib import Path

from scenarios.importers.base import (
    Builder,
    Source,
    goal_spec,
    is_empty,
    known_set,
    read_source,
)
from scenarios.importers.words import goal_from_words
from scenarios.loader import Loc, SuiteError, short_repr
from scenarios.schema import MAX_COUNT, TaskSuite

_ITEM = r"(?P<item>[A-Za-z0-9_:]+)(?P<nbt>\{.*\})?(?:\s+(?P<count>\S+))?\s*$"
_GIVE = re.compile(r"^/give\s+(?P<target>\S+)\s+" + _ITEM)
_REPLACE = re.compile(
    r"^/(?:replaceitem\s+entity|item\s+replace\s+entity)\s+(?P<target>\S+)\s+(?P<slot>\S+)\s+"
    r"(?:with\s+)?" + _ITEM
)
_FIELDS = ("text", "custom_init_commands", "goal", "task", "group")


def import_mcu(
    path: str | Path, *, name: str | None = None, known_items: Collection[str] | None = None
) -> TaskSuite:
    """Import one MCU task YAML, or every `*.yaml`/`*.yml` task file of a directory.
    Raises `SuiteError` naming the file and the field."""
    path = Path(path)
    is_dir = path.is_dir()
    b = Builder("MCU task directory" if is_dir else "MCU task", known_set(known_items))
    files = mcu_files(path) if is_dir else [path]
    if not files:
        raise SuiteError(str(path), "", None, "the directory holds no *.yaml task files")
    for file in files:
        _task(b, read_source(file))
    return b.build(str(path), name or path.stem, {})


def mcu_files(directory: Path) -> list[Path]:
    """The task files of an MCU directory, by name."""
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def _task(b: Builder, src: Source) -> None:
    stem = src.path.stem
    who = f"task {stem!r}"
    data = src.data
    if not isinstance(data, dict):
        raise src.error((), f"{who}: an MCU task file is a mapping (text, custom_init_commands)")
    text = data.get("text")
    if is_empty(text):
        raise src.error((), f"{who}: missing required field 'text' (the instruction)")
    if not isinstance(text, str):
        raise src.error(("text",), f"{who}: 'text' must be text, not {text!r}")
    b.drop_unused(data, _FIELDS, "")
    held = _commands(b, src, data.get("custom_init_commands"), who)

    goal: tuple[str, int] | None
    if "goal" in data:
        goal = goal_spec(b, src, ("goal",), data["goal"], who)
    elif not is_empty(data.get("task")):
        task = data["task"]
        if not isinstance(task, str):
            raise src.error(("task",), f"{who}: 'task' must be text, not {task!r}")
        goal = goal_from_words(b, src, ("task",), task, who, "the task field")
        if goal is None:
            raise src.error(("task",), f"{who}: the task field {task!r} names no known item")
    else:
        goal = goal_from_words(b, src, (), stem.replace("_", " "), who, "the file name")
        if goal is None:
            goal = goal_from_words(b, src, ("text",), text, who, "the text")
    if goal is None:
        raise src.error(
            (),
            f"{who}: cannot derive a goal: neither the file name nor the text {text!r} names a "
            "known item; add a 'goal' field (an item name)",
        )
    group = data.get("group")
    b.add(
        src,
        (),
        who,
        task_id=stem,
        goal=goal,
        inventory=held,
        instruction=text.strip(),
        group="mcu" if is_empty(group) else str(group),
    )


def _commands(b: Builder, src: Source, commands: object, who: str) -> dict[str, int]:
    """The items `/give` and `/replaceitem` put in the inventory; other commands are listed
    as not imported."""
    if commands is None:
        return {}
    if not isinstance(commands, list):
        raise src.error(("custom_init_commands",), f"{who}: a list of commands is expected")
    held: Counter[str] = Counter()
    for i, raw in enumerate(commands):
        loc: Loc = ("custom_init_commands", i)
        if not isinstance(raw, str):
            raise src.error(loc, f"{who}: a command must be text, not {short_repr(raw)}")
        command = raw.strip()
        match = _GIVE.match(command) or _REPLACE.match(command)
        if match is None:
            b.drop(f"{src.path.stem}: {command}")
            continue
        count = match["count"] or "1"
        # ASCII digits only (`int` also reads "²" and "٣"); a long one is surely past the limit.
        if not re.fullmatch(r"[0-9]+", count) or not count.strip("0"):
            raise src.error(loc, f"{who}: the count in {command!r} is not a whole number >= 1")
        if len(count.lstrip("0")) > len(str(MAX_COUNT)):
            raise src.error(loc, f"{who}: the count in {command!r} is more than {MAX_COUNT:,}")
        item = b.item(src, loc, match["item"], who)
        held[item] += b.count(src, loc, int(count), who)
        if match["nbt"]:
            b.drop(f"{src.path.stem}: the NBT data of {command}")
        if match.groupdict().get("slot"):
            b.drop(f"{src.path.stem}: the slot of {command} (the item is in the inventory)")
    return dict(held)
