"""Writing suite files: a commented template to start a new suite from, and any `TaskSuite`
(an imported one, say) as YAML that `load_suite` reads back unchanged.

Neither overwrites a file unless asked: an existing path raises `FileExistsError` naming it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from scenarios.schema import ID_PATTERN, TaskSuite

SCHEMA_FILE = "steve-suite.schema.json"
"""The JSON Schema `steve suite new` writes beside a new suite, which the suite's first line
names for editors (the YAML language server reads `$schema` from that comment)."""

TEMPLATE = """\
# yaml-language-server: $schema=steve-suite.schema.json
# {name}: a task suite for steve-evolving. Edit the tasks below, then check the file with
# `steve suite validate {name}.yaml` and run it with `steve run {name}.yaml`.
#
# Every field is shown, with its meaning. Unknown fields are errors (a typo never silently
# becomes a default), and every item name is checked against the world's items (Minecraft
# 1.16.5 names), so a mistake is reported with the file, the field and the line.

{name_line} # suite name: letters, digits, `_`, `.`, `-`; used in run folders
description: >-
  What this suite measures, for humans.
version: 1                   # bump when the tasks change, so old results are not compared
world: craftworld/v1         # versioned id of the world the tasks run in
world_options: {{}}            # keyword options passed to the world when it is made

defaults:                    # applied to every task that does not set its own
  max_ticks: 12000           # world-tick budget per episode (20 ticks = 1 s; a day is 24000)
  max_subgoals: 40           # subgoal attempts the planner may make per episode
  seeds: [0, 1]              # each task is run once per seed

# Budgets per task group, between a task's own settings and `defaults` (each optional).
# Every key must be the `group` of some task.
groups:
  stone: {{max_ticks: 24000, max_subgoals: 60}}

tasks:
  - id: craft_wooden_pickaxe             # unique within the suite
    instruction: Craft a wooden pickaxe. # what the planner is told
    group: wooden                        # tech-tree group, for per-group reports and budgets
    goal:                                # success: hold at least `count` of `item` ...
      item: wooden_pickaxe               # (Minecraft 1.16.5 item name)
      count: 1
      # predicate: ...                   # ... or, instead of `item`, a world predicate;
      # all: [stick, {{item: oak_planks, count: 4}}]   # ... or several items held at once;
      # then: [wooden_pickaxe, stone_pickaxe]        # ... or milestones reached in order
      #                                  # (each scored; see scenarios/examples/long_horizon.yaml)
    # Optional, each shown with its default:
    # initial_inventory: {{}}              # items to start with, e.g. {{oak_log: 2}}
    # max_ticks: null                    # null: the group's, else defaults.max_ticks
    # max_subgoals: null                 # null: the group's, else defaults.max_subgoals
    # seeds: null                        # null: the group's, else defaults.seeds
    # split: seen                        # `seen` (learn from it) or `unseen` (held out)
    # helpers: {{}}                        # help the world gives (off unless named; reported)
    # skip: null                         # a reason string: the task is listed but not run

  - id: craft_stone_pickaxe
    instruction: Craft a stone pickaxe, starting with three cobblestone.
    group: stone
    goal: {{item: stone_pickaxe}}
    initial_inventory: {{cobblestone: 3}}
"""


def render_template(name: str) -> str:
    """The text of a new, commented suite named `name` (which must be a valid suite name)."""
    if not re.match(ID_PATTERN, name):
        raise ValueError(
            f"invalid suite name {name!r}: use letters, digits, '_', '.' and '-' "
            "(not starting with '.' or '-')"
        )
    text = TEMPLATE.format(name=name, name_line=f"name: {name}".ljust(28))
    # The template must stay valid as the schema evolves; never hand out a broken one.
    TaskSuite.model_validate(yaml.safe_load(text))
    return text


def suite_schema() -> dict[str, Any]:
    """The suite format as a JSON Schema (draft 2020-12), made from the pydantic model that
    `load_suite` validates with, so it cannot drift from what loads."""
    schema = TaskSuite.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "steve-evolving task suite",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def schema_text() -> str:
    return json.dumps(suite_schema(), indent=2, sort_keys=True) + "\n"


def write_schema_beside(suite_path: Path) -> Path | None:
    """Write `SCHEMA_FILE` in the suite's folder unless the same schema is already there;
    returns the path written, or None."""
    path = Path(suite_path).parent / SCHEMA_FILE
    text = schema_text()
    if path.is_file() and path.read_text(encoding="utf-8", errors="replace") == text:
        return None
    path.write_text(text, encoding="utf-8")
    return path


def write_template(path: Path, name: str, *, overwrite: bool = False) -> None:
    """Write a commented suite template named `name` to `path`; it loads as it is.

    Raises `FileExistsError` naming `path` if it exists and `overwrite` is false, and
    `ValueError` for a name that is not a valid suite name.
    """
    _write(Path(path), render_template(name), overwrite)


def suite_to_yaml(suite: TaskSuite, *, header: str = "") -> str:
    """A suite as YAML that `load_suite` reads back equal; `header` becomes comment lines.

    Fields left at their defaults are omitted from tasks, so the file stays short.
    """
    data: dict[str, Any] = {
        "name": suite.name,
        "description": suite.description,
        "version": suite.version,
        "world": suite.world,
    }
    if suite.world_options:
        data["world_options"] = suite.world_options
    data["defaults"] = suite.defaults.model_dump(mode="json")
    if suite.groups:
        data["groups"] = {
            group: values.model_dump(mode="json", exclude_none=True)
            for group, values in suite.groups.items()
        }
    data["tasks"] = [task.model_dump(mode="json", exclude_defaults=True) for task in suite.tasks]
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    body = yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True, width=96, default_flow_style=None
    )
    return comments + ("\n" if comments else "") + body


def write_suite(suite: TaskSuite, path: Path, *, overwrite: bool = False, header: str = "") -> None:
    """Write a suite (e.g. from `scenarios.importers.import_tasks`) as YAML to `path`.

    Raises `FileExistsError` naming `path` if it exists and `overwrite` is false.
    """
    _write(Path(path), suite_to_yaml(suite, header=header), overwrite)


def _write(path: Path, text: str, overwrite: bool) -> None:
    try:
        # "x" creates the file only if it is absent, so no race can clobber one.
        with path.open("w" if overwrite else "x", encoding="utf-8") as f:
            f.write(text)
    except FileExistsError:
        raise FileExistsError(
            f"{path} already exists (not overwritten; pass overwrite=True to replace it)"
        ) from None
