"""Loading task suites from YAML, with errors that name the file, the field and the line.

The YAML is composed into a node tree first (which keeps every node's position), then
constructed with PyYAML's safe constructor (plain data only, never Python objects) and validated
against `TaskSuite`. Each validation error's location is walked back through the node tree to
the line that holds it, or to the nearest enclosing node when the field is absent.

Files come from users and from other projects, so reading is bounded: at most
`MAX_FILE_BYTES`, nested at most `MAX_DEPTH` deep, at most `MAX_NODES` values once aliases are
expanded. Past a bound the file is refused with an error naming where, before PyYAML's
recursive composer or anything downstream can crash or hang on it.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from scenarios.schema import TaskSuite

Loc = tuple[int | str, ...]

SUITES_DIR = Path(__file__).parent / "suites"

# The largest shipped suite is 12 KB and a JARVIS-1 tasks file a few hundred; PyYAML (pure
# Python) takes seconds per megabyte, so 2 MiB is generous yet answers within seconds.
MAX_FILE_BYTES = 2 * 1024 * 1024
# A suite is 4 levels deep (tasks[0].goal.item), an imported JARVIS-1 entry 6; PyYAML composes
# recursively (3 frames a level), so 32 keeps far from Python's recursion limit.
MAX_DEPTH = 32
# Values (keys, scalars, lists, mappings) once aliases are expanded: a 70-task suite has about
# 1,000; the bound stops a "billion laughs" file of nested aliases from exploding in memory.
MAX_NODES = 200_000


class SuiteError(Exception):
    """A suite file that cannot be used: where (`path`, dotted `field`, 1-based `line`) and why.

    `errors` holds every problem found in the file (this one first), so a CLI can print them
    all; `str()` gives the first as `path:line: field: message`.
    """

    def __init__(
        self,
        path: str,
        field: str,
        line: int | None,
        message: str,
    ) -> None:
        super().__init__(path, field, line, message)
        self.path = path
        self.field = field
        self.line = line
        self.message = message
        self.errors: list[SuiteError] = [self]

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


def read_raw(path: str | Path) -> Any:
    """A suite file's YAML as plain data, read within the bounds but not validated (a few
    fields are needed before the suite can be: its world). Raises `SuiteError`."""
    shown = str(path)
    return parse_yaml(read_text(Path(path), shown, "suite file"), shown)[1]


def load_suite(path: str | Path, *, known_items: Collection[str] | None = None) -> TaskSuite:
    """Read, parse and validate a suite file.

    With `known_items`, every item named by a goal or an initial inventory must be one of them
    (an unknown name is reported with the closest known ones). Raises `SuiteError`.
    """
    shown = str(path)
    text = read_text(Path(path), shown, "suite file")
    root, data = parse_yaml(text, shown)
    if root is None:
        raise SuiteError(shown, "", None, "the file is empty; a suite needs 'name' and 'tasks'")
    _check_duplicate_keys(root, (), shown)
    if not isinstance(data, dict):
        raise SuiteError(
            shown,
            "",
            root.start_mark.line + 1,
            f"the top level must be a mapping (name, tasks, ...), not a {_yaml_kind(data)}",
        )

    try:
        suite = TaskSuite.model_validate(data)
    except ValidationError as exc:
        raise _collect(
            shown, [_from_pydantic(shown, root, data, e) for e in _merged(exc)]
        ) from None

    if known_items is not None:
        unknown = _unknown_items(shown, root, suite, set(known_items))
        if unknown:
            raise _collect(shown, unknown)
    return suite


def field_line(path: str | Path, loc: Loc) -> int | None:
    """The 1-based line of a field of a suite file (`("world_options", "seed")`), for what is
    found wrong only after loading, such as a world option the world does not take; None
    where the file cannot be read."""
    shown = str(path)
    try:
        root, _ = parse_yaml(read_text(Path(path), shown, "suite file"), shown)
    except SuiteError:
        return None
    return line_of(root, loc) if root is not None else None


def iter_suites() -> list[Path]:
    """The suite files shipped with the package (`scenarios/suites/*.yaml`), sorted by name."""
    return sorted(SUITES_DIR.glob("*.yaml"))


def shipped_suites() -> dict[str, Path]:
    """Every shipped suite by the name `resolve_suite` takes: `wooden` for `wooden.yaml`, and
    for the other worlds' suites in subfolders both `alfworld/alfworld_seen` and, where no other
    suite has it, the bare `alfworld_seen` (`wooden` stays CraftWorld's; the Minecraft one is
    `minecraft/wooden`)."""
    names = {p.stem: p for p in iter_suites()}
    nested = sorted(SUITES_DIR.glob("*/*.yaml"))
    stems = [p.stem for p in nested]
    for p in nested:
        if stems.count(p.stem) == 1:
            names.setdefault(p.stem, p)
        names[f"{p.parent.name}/{p.stem}"] = p
    return names


def resolve_suite(name_or_path: str) -> Path:
    """A suite file from a path, or a shipped suite by name (`shipped_suites`)."""
    candidate = Path(name_or_path)
    if candidate.is_file():
        return candidate
    shipped = shipped_suites()
    if name_or_path in shipped:
        return shipped[name_or_path]
    close = difflib.get_close_matches(name_or_path, list(shipped), n=3)
    hint = f"did you mean: {', '.join(close)}; " if close else ""
    raise SuiteError(
        name_or_path,
        "",
        None,
        f"no such file and no shipped suite by that name ({hint}shipped: "
        f"{', '.join(sorted(shipped)) or 'none'})",
    )


# --- reading and parsing -------------------------------------------------------------------


def read_text(path: Path, shown: str, what: str) -> str:
    """A UTF-8 text file of at most `MAX_FILE_BYTES`; `what` names it in errors ("suite file").
    Raises `SuiteError`."""
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)  # bounded even for /dev/zero
    except FileNotFoundError:
        raise SuiteError(shown, "", None, f"no such {what}") from None
    except IsADirectoryError:
        raise SuiteError(shown, "", None, f"a directory, not a {what}") from None
    except OSError as exc:
        raise SuiteError(shown, "", None, f"cannot read {what}: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise SuiteError(
            shown, "", None, f"larger than {MAX_FILE_BYTES // 2**20} MiB, the limit for a {what}"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SuiteError(
            shown,
            "",
            raw.count(b"\n", 0, exc.start) + 1,
            f"not a UTF-8 text file (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            f"a {what} is YAML or JSON text",
        ) from None


class _LimitError(yaml.MarkedYAMLError):
    """A file past one of the reading bounds (`MAX_DEPTH`, `MAX_NODES`), or with an alias
    that loops back into itself."""

    def __init__(self, message: str, mark: Any, field: str) -> None:
        super().__init__(problem=message, problem_mark=mark)
        self.field = field


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing files past `MAX_DEPTH` and `MAX_NODES` while it composes
    them (before its recursion can overflow), and values its constructors cannot build."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._path: list[int | str | None] = []
        self._depth = 0
        self._nodes = 0  # values composed so far, aliases counted at their expanded size
        self._sizes: dict[int, int] = {}  # id(node) -> its expanded size, once composed

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        part = index.value if isinstance(index, yaml.ScalarNode) else index
        self._path.append(part if isinstance(part, int | str) else None)
        try:
            if isinstance(event, yaml.AliasEvent):
                node = super().compose_node(parent, index)
                size = self._sizes.get(id(node))
                if size is None:  # still being composed: the alias is inside its own anchor
                    self._fail("an alias refers to a value that contains it", event)
                self._count(size or 0, event)
                return node
            nested = isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent)
            if nested:
                self._depth += 1
            if self._depth > MAX_DEPTH:
                self._fail(f"nested more than {MAX_DEPTH} levels deep (the limit)", event)
            start = self._nodes
            self._count(1, event)
            node = super().compose_node(parent, index)
            if nested:
                self._depth -= 1
            if node is not None:
                self._sizes[id(node)] = self._nodes - start
            return node
        finally:
            self._path.pop()

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:  # an int of 5,000 digits, month 13, ...
            reason = str(exc).split(";")[0]  # not Python's advice on raising its limits
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read the value: {reason}", node.start_mark
            ) from None

    def _count(self, size: int, event: yaml.Event) -> None:
        self._nodes += size
        if self._nodes > MAX_NODES:
            self._fail(
                f"more than {MAX_NODES:,} values (aliases expanded), the limit for a file", event
            )

    def _fail(self, message: str, event: yaml.Event) -> None:
        field = format_loc(tuple(p for p in self._path[1:] if p is not None))
        raise _LimitError(message, event.start_mark, field)


def parse_yaml(text: str, shown: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (for positions) and the plain data built from it, safely and within the
    reading bounds."""
    loader = _BoundedLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except _LimitError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise SuiteError(shown, exc.field, line, str(exc.problem)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = f"invalid YAML: {exc.problem or exc.context}"
        if exc.context and exc.problem and exc.context_mark is not None:
            message += f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise SuiteError(shown, "", mark.line + 1 if mark else None, message) from None
    except yaml.YAMLError as exc:
        raise SuiteError(shown, "", None, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return root, data


def _check_duplicate_keys(node: yaml.Node, loc: Loc, shown: str) -> None:
    """Reject a key repeated in one mapping, which PyYAML would otherwise silently drop."""
    errors: list[SuiteError] = []
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, Loc]] = [(node, loc)]
    while stack:
        current, where = stack.pop()
        if id(current) in seen:  # aliases may share (or even loop back to) a node
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            keys: set[str] = set()
            for key_node, value_node in current.value:
                key = str(key_node.value)
                if isinstance(key_node, yaml.ScalarNode) and key in keys:
                    line = key_node.start_mark.line + 1
                    field = format_loc((*where, key))
                    errors.append(SuiteError(shown, field, line, f"duplicate key {key!r}"))
                keys.add(key)
                stack.append((value_node, (*where, key)))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((child, (*where, i)) for i, child in enumerate(current.value))
    if errors:
        raise _collect(shown, errors)


def _yaml_kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


# --- locating errors -----------------------------------------------------------------------


def line_of(root: yaml.Node, loc: Loc) -> int:
    """The 1-based line of the node at `loc`, or of its nearest ancestor that exists.

    A mapping entry is located by its key (where `field: value` starts); a list item by its
    own start.
    """
    node = root
    line = root.start_mark.line
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            # The last of repeated keys wins when constructing, so search from the end.
            match = next(
                ((k, v) for k, v in reversed(node.value) if str(k.value) == str(part)), None
            )
            if match is None:
                break
            line, node = match[0].start_mark.line, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line
        else:
            break
    return line + 1


def _field_loc(data: Any, loc: Loc, error_type: str) -> Loc:
    """The part of a pydantic `loc` that names user-written fields.

    Pydantic appends tags that are not in the file (union members such as `str`, `[key]` for
    dict keys); the walk stops at the first part the data does not contain. A missing field
    keeps its name, since that is what the user has to add.
    """
    kept: list[int | str] = []
    current = data
    for i, part in enumerate(loc):
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_dict or in_list:
            current = current[part]
        elif isinstance(current, dict) and error_type == "missing" and i == len(loc) - 1:
            pass
        else:
            break
        kept.append(part)
    return tuple(kept)


def format_loc(loc: Loc) -> str:
    """A field's place as it is written in messages: `tasks[2].goal.items`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at `loc`, if there is one."""
    model: type[BaseModel] = TaskSuite
    keyed = False  # the next part is a key of a `dict[str, Model]` field (e.g. a group name)
    for part in loc:
        if isinstance(part, int) or keyed:
            keyed = False
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        inner = _find_model(field.annotation)
        if inner is None:
            return None
        keyed = typing.get_origin(field.annotation) is dict
        model = inner
    return model


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is dict:
        return _find_model(typing.get_args(annotation)[1])
    if origin in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _find_model(arg)
            if found is not None:
                return found
    return None


# --- turning errors into messages ----------------------------------------------------------


def _merged(exc: ValidationError) -> list[ErrorDetails]:
    """Pydantic's errors, with a duplicate `tasks` error moved onto the offending task's id and
    an unused `groups` key onto that key."""
    errors: list[ErrorDetails] = []
    for error in exc.errors():
        ctx = error.get("ctx") or {}
        if error["type"] == "duplicate_id" and "index" in ctx:
            error = {**error, "loc": (*error["loc"], ctx["index"], "id")}
        elif error["type"] == "unused_group" and "group" in ctx:
            error = {**error, "loc": ("groups", ctx["group"])}
        errors.append(error)
    return errors


def _message(error: ErrorDetails, field_loc: Loc) -> str:
    kind = error["type"]
    if kind == "missing":
        return f"missing required field {str(error['loc'][-1])!r}"
    if kind == "extra_forbidden":
        name = str(error["loc"][-1])
        model = _model_at(field_loc[:-1])
        allowed = sorted(model.model_fields) if model is not None else []
        close = difflib.get_close_matches(name, allowed, n=3)
        if close:
            return f"unknown field {name!r} (did you mean: {', '.join(close)})"
        return f"unknown field {name!r} (allowed: {', '.join(allowed)})"
    message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    if kind not in ("duplicate_id", "unused_group") and isinstance(
        value, str | int | float | bool | type(None)
    ):
        message += f" (got {short_repr(value)})"
    return message


def short_repr(value: Any, limit: int = 60) -> str:
    """`repr(value)` cut to `limit` characters, so a hostile value cannot flood a message."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _from_pydantic(shown: str, root: yaml.Node, data: Any, error: ErrorDetails) -> SuiteError:
    field_loc = _field_loc(data, tuple(error["loc"]), error["type"])
    return SuiteError(
        shown, format_loc(field_loc), line_of(root, field_loc), _message(error, field_loc)
    )


def _collect(shown: str, errors: Sequence[SuiteError]) -> SuiteError:
    """One error to raise (the earliest in the file) carrying all of them, de-duplicated.

    Several errors at one field (one per member of a union type) are merged into one line.
    """
    by_field: dict[tuple[str, int | None], SuiteError] = {}
    for error in errors:
        key = (error.field, error.line)
        if key in by_field:
            previous = by_field[key]
            extra = error.message.removeprefix("Input should be ")
            if extra not in previous.message:
                previous.message = f"{previous.message}; or {extra}"
        else:
            by_field[key] = error
    ordered = sorted(by_field.values(), key=lambda e: (e.line is None, e.line or 0))
    first = ordered[0]
    raised = SuiteError(shown, first.field, first.line, first.message)
    raised.errors = [raised, *ordered[1:]]
    return raised


def _unknown_items(
    shown: str, root: yaml.Node, suite: TaskSuite, known: set[str]
) -> list[SuiteError]:
    errors: list[SuiteError] = []

    def check(name: str, loc: Loc) -> None:
        if name in known:
            return
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f" (did you mean: {', '.join(close)})" if close else ""
        errors.append(
            SuiteError(shown, format_loc(loc), line_of(root, loc), f"unknown item {name!r}{hint}")
        )

    for index, task in enumerate(suite.tasks):
        for name, where in task.goal.item_fields():
            check(name, ("tasks", index, "goal", *where))
        for name in task.initial_inventory:
            check(name, ("tasks", index, "initial_inventory", name))
    return errors
