"""JSON schema to llama.cpp grammar (GBNF), fast for large enums.

llama.cpp checks every candidate token against every live grammar stack, and an enum written
as a flat alternation of 1,000 names starts 1,000 stacks at once: with CraftWorld's names the
stock converter's grammar made a plan call several times slower than this one (numbers:
benchmarks/llm_bench.py). Here an enum becomes a prefix tree (`"oak_" ("log" | "planks")`),
which keeps a few dozen stacks alive; integer bounds are kept (the stock converter drops them).

Covers what plans and checks use: objects (required properties, in order), arrays with
min/max items, enum, const, anyOf/oneOf, strings, integers (small ranges become enums),
numbers, booleans, null. Anything else raises `Unsupported`, and the caller falls back to
llama.cpp's own converter.
"""

from __future__ import annotations

import json
from typing import Any

SMALL_RANGE = 256  # integer ranges up to this size are written as an enum
PRIMITIVES = {
    "ws": "[ ]?",
    "string": r'"\"" ([^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4}))* "\""',
    "integer": '"-"? ([0-9] | [1-9] [0-9]{0,15})',
    "number": '"-"? ([0-9] | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,4})?',
    "boolean": '"true" | "false"',
    "null": '"null"',
}


class Unsupported(ValueError):
    """A schema feature this converter does not write."""


def schema_to_gbnf(schema: dict[str, Any]) -> str:
    """A GBNF grammar (root rule `root`) whose sentences are the JSON values `schema` admits."""
    conv = _Converter()
    root = conv.visit(schema)
    lines = [f"root ::= {root}"]
    lines += [f"{name} ::= {body}" for name, body in conv.rules.items()]
    lines += [f"{name} ::= {PRIMITIVES[name]}" for name in sorted(conv.used)]
    return "\n".join(lines) + "\n"


class _Converter:
    def __init__(self) -> None:
        self.rules: dict[str, str] = {}
        self.used: set[str] = {"ws"}
        self._memo: dict[str, str] = {}

    def rule(self, body: str) -> str:
        """A named rule for `body` (shared when two parts of the schema write the same one)."""
        if body in self._memo:
            return self._memo[body]
        name = f"r{len(self.rules)}"
        self.rules[name] = body
        self._memo[body] = name
        return name

    def visit(self, s: dict[str, Any]) -> str:
        if not isinstance(s, dict):
            raise Unsupported(f"schema node {s!r}")
        if "const" in s:
            return literals([s["const"]])
        if "enum" in s:
            return self.rule(literals(s["enum"]))
        for key in ("anyOf", "oneOf"):
            if key in s:
                return self.rule(" | ".join(self.visit(x) for x in s[key]))
        kind = s.get("type")
        extra = set(s) - {"type", "description", "title", "additionalProperties", "default"}
        if kind == "object":
            return self.obj(s)
        if kind == "array":
            return self.array(s)
        if kind == "integer" and {"minimum", "maximum"} <= set(s):
            lo, hi = int(s["minimum"]), int(s["maximum"])
            if 0 <= hi - lo < SMALL_RANGE:
                return self.rule(literals(list(range(lo, hi + 1))))
        if kind in PRIMITIVES and not extra - {"minimum", "maximum"}:
            if extra:  # a bound we cannot write exactly
                raise Unsupported(f"{kind} with {sorted(extra)}")
            self.used.add(kind)
            return kind
        raise Unsupported(f"schema node with keys {sorted(s)}")

    def obj(self, s: dict[str, Any]) -> str:
        props: dict[str, Any] = s.get("properties", {})
        required = [k for k in props if k in set(s.get("required", []))]
        if set(s) - {"type", "properties", "required", "additionalProperties", "description"}:
            raise Unsupported(f"object with keys {sorted(s)}")
        parts = [f'"{_esc(json.dumps(k))}" ":" ws {self.visit(props[k])}' for k in required]
        body = ' "," ws '.join(parts)
        return self.rule(f'"{{" ws {body} ws "}}"' if parts else '"{" ws "}"')

    def array(self, s: dict[str, Any]) -> str:
        item = self.visit(s.get("items", {"type": "string"}))
        lo, hi = int(s.get("minItems", 0)), s.get("maxItems")
        if hi is not None and int(hi) < lo:
            raise Unsupported("maxItems < minItems")
        more = f'"," ws {item}'
        if lo == 0:
            tail = f"{more}*" if hi is None else f"{more}{{0,{int(hi) - 1}}}" if int(hi) > 1 else ""
            inner = f"({item} {tail})?" if hi is None or int(hi) > 0 else ""
        else:
            rest_hi = "" if hi is None else str(int(hi) - 1)
            inner = f"{item} ({more}){{{lo - 1},{rest_hi}}}"
        return self.rule(f'"[" ws {inner} ws "]"')


def literals(values: list[Any]) -> str:
    """An alternation of JSON literals, factored as a prefix tree."""
    texts = sorted({json.dumps(v, ensure_ascii=False) for v in values})
    if not texts:
        raise Unsupported("empty enum")
    return _trie(texts)


def _trie(texts: list[str]) -> str:
    """GBNF for a sorted set of strings: shared prefixes written once."""
    ends = "" in texts
    texts = [t for t in texts if t]
    groups: dict[str, list[str]] = {}
    for t in texts:
        groups.setdefault(t[0], []).append(t)
    alts = []
    for group in groups.values():
        prefix = _common_prefix(group)
        rest = [t[len(prefix) :] for t in group]
        tail = "" if rest == [""] else f" {_trie(rest)}"
        alts.append(f'"{_esc(prefix)}"{tail}')
    if not alts:
        return '""'
    if ends:
        return f"({' | '.join(alts)})?"
    return alts[0] if len(alts) == 1 else f"({' | '.join(alts)})"


def _common_prefix(texts: list[str]) -> str:
    first, last = min(texts), max(texts)
    n = 0
    while n < len(first) and first[n] == last[n]:
        n += 1
    return first[:n]


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
