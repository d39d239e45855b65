"""Reading JSON out of model text, repairing what is trivially broken.

For backends that cannot constrain their output (or a grammar cut short by `max_tokens`):
strip code fences, take the first JSON object or array, drop trailing commas, and close a
reply that was truncated after its last complete element. Anything worse stays unparsed.
"""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)(?:```|$)", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([\]}])")


def parse_json(text: str) -> Any:
    """The JSON value in `text`, repaired where trivial; None if there is none."""
    for candidate in _candidates(text):
        for fixed in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
            try:
                return json.loads(fixed)
            except json.JSONDecodeError:
                continue
        closed = _close_truncated(_TRAILING_COMMA.sub(r"\1", candidate))
        if closed is not None:
            try:
                return json.loads(closed)
            except json.JSONDecodeError:
                continue
    return None


def _candidates(text: str) -> list[str]:
    text = text.strip()
    out = [text]
    fenced = _FENCE.search(text)
    if fenced:
        out.append(fenced.group(1).strip())
    span = _first_value(text)
    if span is not None:
        out.append(span)
    return out


def _first_value(text: str) -> str | None:
    """The first balanced `{...}` or `[...]` in text (or its unbalanced tail if cut short)."""
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return None
    start = min(starts)
    depth, in_str, esc = 0, False, False
    for i in range(start, len(text)):
        c = text[i]
        if in_str:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return text[start:]


def _close_truncated(text: str) -> str | None:
    """Cut a truncated value back to its last complete element and close what is open."""
    stack: list[str] = []
    in_str, esc = False, False
    last_ok = -1  # index just after the last complete element at any depth
    ok_stack: list[str] = []
    for i, c in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
            continue
        if c == '"':
            in_str = True
        elif c in "{[":
            stack.append("}" if c == "{" else "]")
        elif c in "}]":
            if not stack:
                return None
            stack.pop()
            last_ok, ok_stack = i + 1, list(stack)
    if last_ok < 0 or not ok_stack:
        return None
    head = text[:last_ok].rstrip().rstrip(",")
    return head + "".join(reversed(ok_stack))
