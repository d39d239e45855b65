"""What every importer shares: reading a source with positions, checking item names and
counts, and building the suite while remembering where each task came from.

Errors are `SuiteError`s naming the file, the entry (`field`, e.g. `all_task[3]`) and, where
PyYAML can read the source (YAML, and nearly all JSON), the line.
"""

from __future__ import annotations

import difflib
import functools
import json
import logging
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from scenarios.loader import (
    MAX_DEPTH,
    Loc,
    SuiteError,
    format_loc,
    line_of,
    parse_yaml,
    read_text,
    short_repr,
)
from scenarios.schema import ID_PATTERN, MAX_COUNT, TaskSuite

logger = logging.getLogger("scenarios.importers")

MC_VERSION = "1.16.5"


@functools.cache
def minecraft_items(version: str = MC_VERSION) -> frozenset[str]:
    """Every item name of a Minecraft version (minecraft-data): the names importers accept."""
    import minecraft_data  # a core dependency, but slow to import: only when importing

    return frozenset(minecraft_data(version).items_name)


def known_set(known_items: Collection[str] | None) -> frozenset[str]:
    return frozenset(known_items) if known_items is not None else minecraft_items()


@dataclass
class Source:
    """A parsed file: the data, and its YAML node tree (for line numbers) when there is one."""

    path: Path
    data: Any
    root: yaml.Node | None

    @property
    def shown(self) -> str:
        return str(self.path)

    def error(self, loc: Loc, message: str) -> SuiteError:
        line = line_of(self.root, loc) if self.root is not None else None
        return SuiteError(self.shown, format_loc(loc), line, message)


def read_source(path: Path) -> Source:
    """Parse a JSON (by suffix) or YAML file safely, within the loader's bounds (size, nesting,
    values). Raises `SuiteError`."""
    shown = str(path)
    text = read_text(path, shown, "file")
    if path.suffix.lower() == ".json":
        _check_json_depth(text, shown)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SuiteError(shown, "", exc.lineno, f"invalid JSON: {exc.msg}") from None
        except ValueError as exc:  # an int of 5,000 digits
            reason = str(exc).split(";")[0]
            raise SuiteError(shown, "", None, f"invalid JSON: {reason}") from None
        try:  # JSON is (nearly always) YAML too, and PyYAML keeps positions
            root, _ = parse_yaml(text, shown)
        except SuiteError:
            root = None
        return Source(path, data, root)
    root, data = parse_yaml(text, shown)
    if root is None:
        raise SuiteError(shown, "", None, "the file is empty")
    return Source(path, data, root)


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _check_json_depth(text: str, shown: str) -> None:
    """Refuse JSON nested deeper than `MAX_DEPTH` before `json.loads` recurses into it."""
    depth = 0
    # Brackets inside strings do not nest; blanking the strings keeps every offset.
    blanked = _JSON_STRING.sub(lambda m: " " * len(m.group()), text)
    for match in _JSON_BRACKET.finditer(blanked):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_DEPTH:
            line = text.count("\n", 0, match.start()) + 1
            raise SuiteError(
                shown, "", line, f"nested more than {MAX_DEPTH} levels deep (the limit)"
            )


def suite_name(raw: str) -> str:
    """A suite name from a file name: characters ids may not hold become `_`."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", raw).lstrip(".-") or "imported"


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


@dataclass
class Builder:
    """Tasks as plain data plus, for each, the source entry it came from (for errors)."""

    label: str  # what was imported, for the description: "JARVIS-1 tasks file", ...
    known: frozenset[str]
    tasks: list[dict[str, Any]] = field(default_factory=list)
    origins: list[tuple[Source, Loc, str]] = field(default_factory=list)
    ids: dict[str, int] = field(default_factory=dict)
    dropped: Counter[str] = field(default_factory=Counter)

    def item(self, src: Source, loc: Loc, raw: Any, who: str) -> str:
        """A checked item name (any `minecraft:` prefix removed)."""
        if not isinstance(raw, str) or not raw.strip():
            raise src.error(
                loc, f"{who}: an item name must be a non-empty string, not {short_repr(raw)}"
            )
        name = raw.strip().removeprefix("minecraft:")
        if name not in self.known:
            close = difflib.get_close_matches(name, self.known, n=3, cutoff=0.6)
            hint = f" (did you mean: {', '.join(close)})" if close else ""
            raise src.error(loc, f"{who}: unknown item {short_repr(name)}{hint}")
        return name

    def count(self, src: Source, loc: Loc, raw: Any, who: str, limit: int = MAX_COUNT) -> int:
        """A checked count: a whole number from 1 to `limit` (`true` and `2.0` are mistakes)."""
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
            raise src.error(
                loc, f"{who}: a count must be a whole number >= 1, not {short_repr(raw)}"
            )
        if raw > limit:
            raise src.error(loc, f"{who}: a count must be at most {limit:,}, not {short_repr(raw)}")
        return raw

    def drop(self, what: str) -> None:
        """Record a source field, value or command that has no place in a suite."""
        self.dropped[what] += 1

    def drop_unused(self, mapping: Mapping[Any, Any], used: Iterable[str], prefix: str) -> None:
        """Record every non-empty field of `mapping` that the importer did not use."""
        keep = set(used)
        for key, value in mapping.items():
            if str(key) not in keep and not is_empty(value):
                shown = json.dumps(value, default=str)  # short ones are worth seeing
                self.drop(f"{prefix}{key}={shown}" if len(shown) <= 40 else f"{prefix}{key}")

    def add(
        self,
        src: Source,
        loc: Loc,
        who: str,
        *,
        task_id: str,
        goal: tuple[str, int],
        inventory: Mapping[str, int],
        **entry: Any,
    ) -> None:
        """Add one task; `who` names its source entry in errors."""
        item, count = goal
        if inventory.get(item, 0) >= count:
            # Such a task succeeds before the agent moves: the goal was surely misread.
            raise src.error(
                loc,
                f"{who}: the goal ({count} {item}) is already held at the start "
                f"({inventory[item]} in the initial inventory); give the entry a goal",
            )
        if not re.match(ID_PATTERN, task_id):
            task_id = re.sub(r"[^A-Za-z0-9_.\-]", "_", task_id).lstrip(".-") or "task"
        if task_id in self.ids:
            first_who = self.origins[self.ids[task_id]][2]
            raise src.error(
                loc, f"{who}: duplicate task id {task_id!r} (first used by {first_who})"
            )
        self.ids[task_id] = len(self.tasks)
        task = {"id": task_id, **entry, "goal": {"item": item, "count": count}}
        if inventory:
            task["initial_inventory"] = dict(inventory)
        self.tasks.append(task)
        self.origins.append((src, loc, who))

    def build(self, shown: str, name: str, defaults: Mapping[str, Any]) -> TaskSuite:
        """The validated suite; what was not imported is listed in its description."""
        if not self.tasks:
            raise SuiteError(shown, "", None, "the file holds no tasks")
        description = f"Imported from {self.label} {Path(shown).name}."
        not_imported = [
            what if n == 1 else f"{what} (x{n})" for what, n in sorted(self.dropped.items())
        ]
        if not_imported:
            description += " Not imported (unsupported): " + "; ".join(not_imported) + "."
            logger.warning("%s: not imported (unsupported): %s", shown, "; ".join(not_imported))
        data = {
            "name": suite_name(name),
            "description": description,
            "defaults": dict(defaults),
            "tasks": self.tasks,
        }
        try:
            return TaskSuite.model_validate(data)
        except ValidationError as exc:
            raise self._located(shown, exc) from None

    def _located(self, shown: str, exc: ValidationError) -> SuiteError:
        """A validation error of the built suite, pointed back at its source entry."""
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if len(loc) >= 2 and loc[0] == "tasks" and isinstance(loc[1], int):
            src, where, who = self.origins[loc[1]]
            return src.error(where, f"{who}: {format_loc(loc[2:]) or 'task'}: {message}")
        return SuiteError(shown, format_loc(loc), None, message)


def goal_spec(b: Builder, src: Source, loc: Loc, raw: Any, who: str) -> tuple[str, int]:
    """An explicitly written goal: an item name, or `{item, count}`."""
    if isinstance(raw, str):
        return b.item(src, loc, raw, who), 1
    if isinstance(raw, dict) and "item" in raw and set(raw) <= {"item", "count"}:
        count = b.count(src, (*loc, "count"), raw.get("count", 1), who)
        return b.item(src, (*loc, "item"), raw["item"], who), count
    raise src.error(loc, f"{who}: a goal is an item name or {{item, count}}, not {short_repr(raw)}")


def inventory(b: Builder, src: Source, loc: Loc, raw: Any, who: str) -> dict[str, int]:
    """An initial inventory in any shape JARVIS-1 and Optimus-1 write: slot -> {type, quantity}
    (digit keys), item -> count, or a list of {type, quantity[, slot]}; slots are dropped and
    counts of one item summed."""
    out: Counter[str] = Counter()
    if is_empty(raw):
        return {}

    def slot(where: Loc, value: Any) -> None:
        if not isinstance(value, dict) or "type" not in value:
            raise src.error(
                where, f"{who}: an inventory slot is {{type, quantity}}, not {short_repr(value)}"
            )
        b.drop_unused(value, ("type", "quantity", "slot"), "inventory slot field ")
        name = b.item(src, (*where, "type"), value["type"], who)
        out[name] += b.count(src, (*where, "quantity"), value.get("quantity", 1), who)

    if isinstance(raw, list):
        for i, value in enumerate(raw):
            slot((*loc, i), value)
    elif isinstance(raw, dict):
        for key, value in raw.items():
            where = (*loc, key)
            if str(key).isdigit():
                slot(where, value)
            else:
                out[b.item(src, where, str(key), who)] += b.count(src, where, value, who)
    else:
        raise src.error(loc, f"{who}: an inventory is a mapping or a list, not {short_repr(raw)}")
    return dict(out)


def default_instruction(item: str, count: int) -> str:
    words = item.replace("_", " ")
    if count != 1:
        return f"Obtain {count} {words}."
    return f"Obtain {'an' if words[0] in 'aeiou' else 'a'} {words}."
