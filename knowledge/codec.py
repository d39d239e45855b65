"""How a tuple is laid out in SQLite: indexed columns plus a compact body.

The columns hold what the indices and summaries read (run, episode, task, operation, outcome,
signature, cell, time); the body holds the rest — the pre-state, the action's count and
arguments, the diagnosis, the tags — as JSON without default values, and the post-state as what
changed from the pre-state (an attempt changes a few fields and a few inventory entries, so
writing the post-state out again doubled the body). Nothing is stored twice: the facts live once
per distinct signature, and `get_tuple` puts the tuple back together.

Body formats, told apart by the first byte: `d` (JSON, post-state as a delta) and `D` (the same,
deflated) are written; `{` (JSON with the whole post-state) and `z` (the same, deflated), written
by earlier versions, are still read.
"""

from __future__ import annotations

import json
import typing
import zlib
from typing import Any

import pydantic_core

from knowledge.schema import ExperienceTuple
from sim.schema import WorldState

_DELTA = b"d"
_DELTA_DEFLATE = b"D"
_DEFLATE = b"z"  # read only
_PLAIN = b"{"  # read only, and written when a post-state cannot be written as a delta

# fields kept in columns (or, for `facts`, in the signatures table), so not in the body
COLUMNS = {
    "id",
    "run_id",
    "episode_id",
    "task_id",
    "task_goal",
    "task_family",
    "step",
    "signature",
    "created_at",
    "facts",
}
_HEAD = COLUMNS | {"post_state"}
_to_json = ExperienceTuple.__pydantic_serializer__.to_json


def _dumps(value: Any) -> bytes:
    """Compact JSON (pydantic's writer; `inf` and `nan` as the constants `json` reads back)."""
    return pydantic_core.to_json(value, inf_nan_mode="constants")


_STATE_FIELDS = tuple(WorldState.model_fields)
# dict[str, ...] fields: a delta names the entries that changed, not the whole dict
_PATCHED = frozenset(
    name
    for name, f in WorldState.model_fields.items()
    if typing.get_origin(f.annotation) is dict and typing.get_args(f.annotation)[0] is str
)
_MISSING = object()


def encode_body(tup: ExperienceTuple) -> bytes:
    """The tuple's body: what the columns do not hold, as JSON without default values, the
    post-state as a delta from the pre-state."""
    head = _to_json(tup, exclude=_HEAD, exclude_defaults=True)
    try:
        delta = _state_delta(tup.pre_state, tup.post_state)
    except pydantic_core.PydanticSerializationError:  # the whole post-state, as pydantic writes it
        return tup.model_dump_json(exclude=COLUMNS, exclude_defaults=True).encode()
    return _DELTA + head[:-1] + delta + b"}"


def _state_delta(pre: WorldState, post: WorldState) -> bytes:
    """`,"post":{changed fields},"post+":{field:{set entries}},"post-":{field:[removed keys]}`,
    each part only where it is not empty."""
    a, b = pre.__dict__, post.__dict__
    changed: dict[str, Any] = {}
    plus: dict[str, dict[str, Any]] = {}
    minus: dict[str, list[str]] = {}
    for name in _STATE_FIELDS:
        x, y = a[name], b[name]
        if x is y or x == y:
            continue
        if name in _PATCHED and x and y:
            put = {k: v for k, v in y.items() if x.get(k, _MISSING) != v}
            gone = [k for k in x if k not in y] if len(x) + len(put) > len(y) else []
            if len(put) + len(gone) < len(y):
                if put:
                    plus[name] = put
                if gone:
                    minus[name] = gone
                continue
        changed[name] = y
    out: dict[str, Any] = {}
    if changed:
        out["post"] = changed
    if plus:
        out["post+"] = plus
    if minus:
        out["post-"] = minus
    return b"," + _dumps(out)[1:-1] if out else b""


def pack_body(raw: bytes) -> bytes:
    """A body deflated (about a third of the size, at some 20 us a tuple on a small machine)."""
    if raw[:1] == _DELTA:
        return _DELTA_DEFLATE + zlib.compress(raw[1:], 1, -15)
    return _DEFLATE + zlib.compress(raw, 1, -15)


def decode_body(body: bytes | str) -> dict[str, Any]:
    if isinstance(body, str):  # a plain-JSON body written by hand or by an old version
        return dict(json.loads(body))
    kind = body[:1]
    if kind == _DELTA_DEFLATE:
        return _undelta(json.loads(zlib.decompress(body[1:], wbits=-15)))
    if kind == _DELTA:
        return _undelta(json.loads(body[1:]))
    if kind == _DEFLATE:
        body = zlib.decompress(body[1:], wbits=-15)
    elif kind != _PLAIN:
        raise ValueError(f"unknown tuple body format {kind!r}")
    return dict(json.loads(body))


def _undelta(data: dict[str, Any]) -> dict[str, Any]:
    """A delta body back to the tuple's fields: the post-state rebuilt from the pre-state."""
    pre = data["pre_state"]
    post = dict(pre)
    post.update(data.pop("post", ()))
    plus, minus = data.pop("post+", {}), data.pop("post-", {})
    for name in plus.keys() | minus.keys():
        if name in pre:
            entries = dict(pre[name])
        else:  # the pre-state had the default, so its JSON left the field out
            entries = dict(WorldState.model_fields[name].get_default(call_default_factory=True))
        entries.update(plus.get(name, ()))
        for key in minus.get(name, ()):
            entries.pop(key, None)
        post[name] = entries
    data["post_state"] = post
    return data


def tuple_text(tup: ExperienceTuple) -> str:
    """What the lexical and semantic indices read: the attempt, its outcome and its goal."""
    d = tup.diagnosis
    parts = [tup.action.verb, tup.action.target.replace("_", " ")]
    parts.append("succeeded" if d.success else f"failed {d.cause.value.lower().replace('_', ' ')}")
    for key in ("needs", "context"):
        if key in d.details:
            parts.append(f"{key} {str(d.details[key]).replace('_', ' ')}")
    parts.extend(e for e in d.evidence[:2] if e)
    if tup.task_goal:
        parts.append(f"goal {tup.task_goal.replace('_', ' ')}")
    return " ".join(parts)
