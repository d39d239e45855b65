"""Importers for task formats people already have; each returns a validated `TaskSuite`.

| format    | what                                                      | mapping in        |
|-----------|-----------------------------------------------------------|-------------------|
| `jarvis`  | JARVIS-1 `tasks.json` (`task_obj`, `env.init_inventory`)  | `jarvis.py`       |
| `optimus` | Optimus-1 / MineEvolve benchmark YAML (`all_task`)        | `optimus.py`      |
| `mcu`     | MCU task YAML (`text`, `custom_init_commands`), or a      | `mcu.py`          |
|           | directory of them                                         |                   |
| `steve`   | this project's own suite YAML                             | `../schema.py`    |

`import_tasks(path)` tells the formats apart by content. Nothing is dropped silently: every
source field, value or command with no place in a suite is listed in the suite's
`description` (and logged as a warning). Item names are checked against Minecraft 1.16.5's.
A mistake raises `SuiteError` naming the file, the entry (`field`) and, where the source can
be read with positions, the line. `scenarios.template.write_suite` saves the result as YAML.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from scenarios.importers.base import minecraft_items, read_source, suite_name
from scenarios.importers.jarvis import import_jarvis
from scenarios.importers.mcu import import_mcu, mcu_files
from scenarios.importers.optimus import import_optimus
from scenarios.importers.words import ALIASES, items_in_text
from scenarios.loader import SuiteError, load_suite
from scenarios.schema import TaskSuite

__all__ = [
    "ALIASES",
    "FORMATS",
    "import_jarvis",
    "import_mcu",
    "import_optimus",
    "import_tasks",
    "items_in_text",
    "minecraft_items",
    "sniff_format",
]

FORMATS = ("jarvis", "optimus", "mcu", "steve")
FORMAT_ALIASES = {"jarvis-1": "jarvis", "jarvis1": "jarvis", "mineevolve": "optimus"}


def import_tasks(
    path: str | Path,
    fmt: str | None = None,
    *,
    name: str | None = None,
    known_items: Collection[str] | None = None,
) -> TaskSuite:
    """Import a task file (or an MCU directory) in any supported format as a `TaskSuite`.

    `fmt` is one of `FORMATS` (or `mineevolve`, `jarvis-1`); unset, it is sniffed from the
    content (`sniff_format`). `name` is the suite name (default: the file's stem). Item names
    are checked against `known_items` (default: Minecraft 1.16.5's). Raises `SuiteError`.
    """
    path = Path(path)
    chosen = sniff_format(path) if fmt is None else FORMAT_ALIASES.get(fmt.lower(), fmt.lower())
    if chosen not in FORMATS:
        known = ", ".join([*FORMATS, *FORMAT_ALIASES])
        raise SuiteError(str(path), "", None, f"unknown format {fmt!r} (known: {known})")
    if chosen == "steve":
        suite = load_suite(path, known_items=known_items or minecraft_items())
        return suite.model_copy(update={"name": suite_name(name)}) if name else suite
    importer = {"jarvis": import_jarvis, "optimus": import_optimus, "mcu": import_mcu}[chosen]
    return importer(path, name=name, known_items=known_items)


def sniff_format(path: str | Path) -> str:
    """The format of a task file (one of `FORMATS`), told by its content. Raises `SuiteError`."""
    path = Path(path)
    if path.is_dir():
        if mcu_files(path):
            return "mcu"
        raise SuiteError(str(path), "", None, "the directory holds no *.yaml task files")
    data = read_source(path).data
    if isinstance(data, dict):
        if "all_task" in data:
            return "optimus"
        if "tasks" in data and "name" in data:
            return "steve"
        if "custom_init_commands" in data or "text" in data:
            return "mcu"
        if data and all(isinstance(v, dict) and "task_obj" in v for v in data.values()):
            return "jarvis"
    if (
        isinstance(data, list)
        and data
        and all(isinstance(e, dict) and "task_obj" in e for e in data)
    ):
        return "jarvis"
    raise SuiteError(
        str(path),
        "",
        None,
        "cannot tell the task format: expected a JARVIS-1 tasks.json (entries with "
        "'task_obj'), an Optimus-1/MineEvolve YAML ('all_task'), an MCU task YAML ('text', "
        "'custom_init_commands') or a steve suite ('name', 'tasks'); name the format "
        f"({', '.join(FORMATS)})",
    )
