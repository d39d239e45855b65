"""Checking a parsed reply against the JSON schema it was asked for, before it is used.

Grammar-constrained backends cannot write outside the schema, but a server that ignores it
(or a fake one) can send anything: 200,000 steps where the schema allows 4, a name outside an
enum. So every reply is checked against the whole schema, not only the fields a reader picks.
This covers the JSON Schema keywords the project's schemas use (`type`, `enum`, `const`,
`anyOf`, `oneOf`, `allOf`, `properties`, `required`, `additionalProperties`, `items`,
`minItems`, `maxItems`, `minLength`, `maxLength`, `pattern`, `minimum`, `maximum`,
`exclusiveMinimum`, `exclusiveMaximum`); other keywords are not checked. Sizes are checked
before contents, so an over-long reply is refused without reading it through.
"""

from __future__ import annotations

import re
from typing import Any

from agent.llm.base import JSONSchema

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "null": (type(None),),
}


def schema_violation(value: Any, schema: JSONSchema, where: str = "reply") -> str | None:
    """The first way `value` breaks `schema` (a path and what is wrong), or None if it fits."""
    return _check(value, schema, where)[0]


def _check(value: Any, schema: JSONSchema, path: str) -> tuple[str | None, int]:
    """(the first violation or None, how many checks passed before it): among alternatives
    that all fail, the one that got furthest names the problem best."""
    passed = 0
    if "type" in schema:
        wanted = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is(value, t) for t in wanted):
            return f"{path}: expected {' or '.join(wanted)}, got {_kind(value)}", passed
        passed += 1
    if "const" in schema and not _equal(value, schema["const"]):
        return f"{path}: expected {_short(schema['const'])}, got {_short(value)}", passed
    if "enum" in schema:
        options = schema["enum"]
        if not any(_equal(value, o) for o in options):
            shown = ", ".join(map(_short, options[:6])) + (", ..." if len(options) > 6 else "")
            return f"{path}: {_short(value)} is not one of {len(options)} ({shown})", passed
        passed += 1
    for key in ("anyOf", "oneOf"):
        if key in schema:
            results = [_check(value, alt, path) for alt in schema[key]]
            fits = sum(err is None for err, _ in results)
            if fits == 0:
                err, got = max(results, key=lambda r: r[1])
                return err, passed + got
            if key == "oneOf" and fits > 1:
                return f"{path}: fits {fits} of the oneOf alternatives, not exactly one", passed
            passed += max(got for _, got in results)
    for alt in schema.get("allOf", []):
        err, got = _check(value, alt, path)
        passed += got
        if err is not None:
            return err, passed
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        err = _bounds(value, schema, path)
        if err is not None:
            return err, passed
    if isinstance(value, str):
        err = _length(len(value), schema, "minLength", "maxLength", path, "characters")
        if err is not None:
            return err, passed
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            return f"{path}: {_short(value)} does not match {schema['pattern']!r}", passed
    if isinstance(value, list):
        err = _length(len(value), schema, "minItems", "maxItems", path, "items")
        if err is not None:  # sizes first: a huge list is refused without walking it
            return err, passed
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                err, got = _check(item, items, f"{path}[{i}]")
                passed += got
                if err is not None:
                    return err, passed
    if isinstance(value, dict):
        err, got = _object(value, schema, path)
        return err, passed + got
    return None, passed


def _object(value: dict[str, Any], schema: JSONSchema, path: str) -> tuple[str | None, int]:
    passed = 0
    props: dict[str, Any] = schema.get("properties", {})
    for key in schema.get("required", []):
        if key not in value:
            return f"{path}: missing {key!r}", passed
    extra = schema.get("additionalProperties", True)
    for key in value:
        if key not in props and extra is False:
            return f"{path}: unexpected key {_short(key)}", passed
    for key, sub in props.items():  # in the schema's order: the first field names the form
        if key in value:
            err, got = _check(value[key], sub, f"{path}.{key}")
            passed += got
            if err is not None:
                return err, passed
            passed += 1
    if isinstance(extra, dict):
        for key in value:
            if key not in props:
                err, got = _check(value[key], extra, f"{path}.{key}")
                passed += got
                if err is not None:
                    return err, passed
    return None, passed


def _bounds(value: float, schema: JSONSchema, path: str) -> str | None:
    if "minimum" in schema and value < schema["minimum"]:
        return f"{path}: {value!r} is below the minimum {schema['minimum']!r}"
    if "maximum" in schema and value > schema["maximum"]:
        return f"{path}: {value!r} is above the maximum {schema['maximum']!r}"
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        return f"{path}: {value!r} is not above {schema['exclusiveMinimum']!r}"
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        return f"{path}: {value!r} is not below {schema['exclusiveMaximum']!r}"
    return None


def _length(n: int, schema: JSONSchema, low: str, high: str, path: str, unit: str) -> str | None:
    if high in schema and n > schema[high]:
        return f"{path}: {n:,} {unit}, at most {schema[high]:,}"
    if low in schema and n < schema[low]:
        return f"{path}: {n:,} {unit}, at least {schema[low]:,}"
    return None


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        if isinstance(value, float):
            return value.is_integer()
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES.get(kind, ()))


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: `true` is not `1`, though Python says so."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


def _kind(value: Any) -> str:
    for name in ("boolean", "object", "array", "string", "null", "integer", "number"):
        if _is(value, name):
            return name
    return type(value).__name__


def _short(value: Any, n: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."
