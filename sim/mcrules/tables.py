"""Hand-written rule tables that minecraft-data lacks: smelting, fuels and loot corrections.

Both tables are YAML files next to this module, validated on load against the names of the
version's items, blocks and mobs; a mistake names the file, the line, the entry and the bad
name. Keys and values may use ``{variant}`` placeholders (``"{wood}_log"``) that expand over
the lists in the file's ``variants:`` section, so 6 wood types or 16 colours stay one line.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sim.mcrules.loot import TOOL_KINDS, Loot, LootEntry, LootPool

DEFAULT_COOK_TICKS = 200
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class RulesDataError(ValueError):
    """A rule table (YAML) is malformed or names something the game version does not have."""


@dataclass(frozen=True)
class SmeltRecipe:
    """One furnace recipe: ``input`` becomes ``count`` x ``output`` after ``ticks`` game ticks."""

    input: str
    output: str
    count: int
    ticks: int
    xp: float


@dataclass(frozen=True)
class SmeltingTable:
    """The contents of ``smelting.yaml``: furnace recipes in file order and fuel burn times."""

    recipes: tuple[SmeltRecipe, ...]
    fuels: dict[str, int]


@dataclass(frozen=True)
class LootTable:
    """The contents of ``loot.yaml``: replacement loot for blocks and mobs, by name."""

    blocks: dict[str, Loot]
    mobs: dict[str, Loot]


class _Doc:
    """A parsed YAML document that can say on which line any part of it starts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            loader = _Loader(path.read_text(encoding="utf-8"))
            try:
                self.node = loader.get_single_node()
                self.data: Any = loader.construct_document(self.node) if self.node else None
            finally:
                loader.dispose()
        except yaml.YAMLError as exc:
            raise RulesDataError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(self.data, dict):
            raise RulesDataError(f"{path}: expected a mapping at the top level")

    def line(self, *keys: str | int) -> int:
        """1-based line of the value at ``keys`` (mapping keys or sequence indices)."""
        node = self.node
        for key in keys:
            if isinstance(node, yaml.MappingNode):
                found = next((v for k, v in node.value if k.value == key), None)
                if found is None:
                    break
                node = found
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
                node = node.value[key]
            else:
                break
        return int(node.start_mark.line) + 1 if node is not None else 0

    def fail(self, keys: tuple[str | int, ...], message: str) -> RulesDataError:
        return RulesDataError(f"{self.path}:{self.line(*keys)}: {message}")

    def check_keys(self, allowed: Collection[str], required: Collection[str] = ()) -> None:
        for key in self.data:
            if key not in allowed:
                raise self.fail((), f"unknown top-level key {key!r}; allowed: {sorted(allowed)}")
        for key in required:
            if key not in self.data:
                raise self.fail((), f"missing top-level key {key!r}")

    def variants(self) -> dict[str, list[str]]:
        raw = self.data.get("variants") or {}
        if not isinstance(raw, dict) or not all(
            isinstance(v, list) and all(isinstance(s, str) for s in v) for v in raw.values()
        ):
            raise self.fail(("variants",), "variants must map a name to a list of strings")
        return raw


def _combos(
    doc: _Doc, keys: tuple[str | int, ...], templates: list[str], variants: dict[str, list[str]]
) -> list[dict[str, str]]:
    """Every assignment of the placeholders used in ``templates`` (one empty one if none)."""
    names = sorted({m for t in templates for m in _PLACEHOLDER.findall(t)})
    for name in names:
        if name not in variants:
            raise doc.fail(keys, f"unknown placeholder {{{name}}}; variants: {sorted(variants)}")
    return [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(variants[n] for n in names))
    ]


def _fill(template: str, values: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), template)


def _check_name(
    doc: _Doc, keys: tuple[str | int, ...], where: str, name: str, known: Collection[str], what: str
) -> None:
    if name in known:
        return
    close = difflib.get_close_matches(name, list(known), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise doc.fail(keys, f"{where}: unknown {what} {name!r}{hint}")


def _number(
    doc: _Doc,
    keys: tuple[str | int, ...],
    where: str,
    value: Any,
    *,
    integer: bool,
    minimum: int = 0,
) -> Any:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < minimum:
        wanted = f"{'an integer' if integer else 'a number'} >= {minimum}"
        raise doc.fail(keys, f"{where}: expected {wanted}, got {value!r}")
    return value


def load_smelting_table(path: Path, items: Collection[str]) -> SmeltingTable:
    """Read and validate a smelting table; ``items`` are the valid item names of the version."""
    doc = _Doc(path)
    doc.check_keys({"variants", "smelting", "fuels"}, required={"smelting", "fuels"})
    variants = doc.variants()
    entries = doc.data["smelting"]
    if not isinstance(entries, list):
        raise doc.fail(("smelting",), "smelting must be a list of {input, output, xp} entries")
    recipes: list[SmeltRecipe] = []
    seen: dict[str, str] = {}
    allowed = {"input", "output", "xp", "ticks", "count"}
    for i, entry in enumerate(entries):
        keys: tuple[str | int, ...] = ("smelting", i)
        where = f"smelting entry {entry!r}"
        if not isinstance(entry, dict) or not {"input", "output", "xp"} <= entry.keys():
            raise doc.fail(keys, f"{where}: needs input, output and xp")
        extra = set(entry) - allowed
        if extra:
            raise doc.fail(keys, f"{where}: unknown field(s) {sorted(extra)}")
        xp = float(_number(doc, keys, where, entry["xp"], integer=False))
        ticks = int(
            _number(
                doc, keys, where, entry.get("ticks", DEFAULT_COOK_TICKS), integer=True, minimum=1
            )
        )
        count = int(_number(doc, keys, where, entry.get("count", 1), integer=True, minimum=1))
        templates = [str(entry["input"]), str(entry["output"])]
        for values in _combos(doc, keys, templates, variants):
            source, output = (_fill(t, values) for t in templates)
            for name in (source, output):
                _check_name(doc, keys, where, name, items, "item")
            if source in seen:
                raise doc.fail(keys, f"{where}: {source!r} is already smelted above")
            seen[source] = output
            recipes.append(SmeltRecipe(source, output, count, ticks, xp))
    fuels_raw = doc.data["fuels"]
    if not isinstance(fuels_raw, dict):
        raise doc.fail(("fuels",), "fuels must map an item to its burn time in ticks")
    fuels: dict[str, int] = {}
    for template, ticks_raw in fuels_raw.items():
        keys = ("fuels", template)
        where = f"fuel entry {template!r}"
        burn = int(_number(doc, keys, where, ticks_raw, integer=True, minimum=1))
        for values in _combos(doc, keys, [str(template)], variants):
            item = _fill(str(template), values)
            _check_name(doc, keys, where, item, items, "item")
            if item in fuels:
                raise doc.fail(keys, f"{where}: {item!r} is already a fuel above")
            fuels[item] = burn
    return SmeltingTable(recipes=tuple(recipes), fuels=fuels)


def load_loot_table(
    path: Path, items: Collection[str], blocks: Collection[str], mobs: Collection[str]
) -> LootTable:
    """Read and validate a loot-correction table against the version's names."""
    doc = _Doc(path)
    doc.check_keys({"variants", "blocks", "mobs"})
    variants = doc.variants()
    sections: dict[str, dict[str, Loot]] = {"blocks": {}, "mobs": {}}
    for section, owners, what in (("blocks", blocks, "block"), ("mobs", mobs, "mob")):
        raw = doc.data.get(section) or {}
        if not isinstance(raw, dict):
            raise doc.fail((section,), f"{section} must map a {what} to a list of drops")
        for template, pools_raw in raw.items():
            keys: tuple[str | int, ...] = (section, template)
            where = f"{section} entry {template!r}"
            if not isinstance(pools_raw, list):
                raise doc.fail(keys, f"{where}: expected a list of drops")
            for values in _combos(doc, keys, [str(template)], variants):
                owner = _fill(str(template), values)
                _check_name(doc, keys, where, owner, owners, what)
                if owner in sections[section]:
                    raise doc.fail(keys, f"{where}: {owner!r} is already listed above")
                sections[section][owner] = tuple(
                    _loot_pool(doc, (*keys, i), where, spec, items, values)
                    for i, spec in enumerate(pools_raw)
                )
    return LootTable(blocks=sections["blocks"], mobs=sections["mobs"])


def _loot_pool(
    doc: _Doc,
    keys: tuple[str | int, ...],
    where: str,
    spec: Any,
    items: Collection[str],
    values: Mapping[str, str],
) -> LootPool:
    if isinstance(spec, dict) and set(spec) == {"first_of"} and isinstance(spec["first_of"], list):
        entries = spec["first_of"]
        return LootPool(tuple(_loot_entry(doc, keys, where, e, items, values) for e in entries))
    return LootPool((_loot_entry(doc, keys, where, spec, items, values),))


def _loot_entry(
    doc: _Doc,
    keys: tuple[str | int, ...],
    where: str,
    spec: Any,
    items: Collection[str],
    values: Mapping[str, str],
) -> LootEntry:
    if not isinstance(spec, dict) or "item" not in spec:
        raise doc.fail(keys, f"{where}: a drop is {{item, chance?, count?, tool?}} or first_of")
    extra = set(spec) - {"item", "chance", "count", "tool"}
    if extra:
        raise doc.fail(keys, f"{where}: unknown field(s) {sorted(extra)}")
    item = _fill(str(spec["item"]), values)
    _check_name(doc, keys, where, item, items, "item")
    chance = float(_number(doc, keys, where, spec.get("chance", 1.0), integer=False))
    if not 0.0 < chance <= 1.0:
        raise doc.fail(keys, f"{where}: chance must be in (0, 1], got {chance}")
    count = spec.get("count", 1)
    low, high = (count, count) if not isinstance(count, list) else [*count, None, None][:2]
    low = int(_number(doc, keys, where, low, integer=True))
    high = int(_number(doc, keys, where, high, integer=True))
    if high < low or (isinstance(count, list) and len(count) != 2):
        raise doc.fail(keys, f"{where}: count must be n or [low, high] with low <= high")
    tool = spec.get("tool")
    if tool is not None and tool not in TOOL_KINDS:
        raise doc.fail(keys, f"{where}: unknown tool kind {tool!r}; one of {sorted(TOOL_KINDS)}")
    return LootEntry(item=item, chance=chance, min_count=low, max_count=high, tool=tool)
