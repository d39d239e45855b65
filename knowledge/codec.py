"""How a tuple is laid out in SQLite: indexed columns plus a compact body.

The columns hold what the indices and summaries read (run, episode, task, operation, outcome,
signature, cell, time); the body holds the rest — the two states, the action's count and
arguments, the diagnosis — as JSON without default values, deflated. Nothing is stored twice:
the facts live once per distinct signature, and `get_tuple` puts the tuple back together.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from knowledge.schema import ExperienceTuple

# body formats, told apart by the first byte
_DEFLATE = b"z"
_PLAIN = b"{"

# fields kept in columns (or, for `facts`, in the signatures table), so not in the body
_COLUMNS = {
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


def encode_body(tup: ExperienceTuple) -> bytes:
    """The tuple's body: what the columns do not hold, as JSON without default values."""
    return tup.model_dump_json(exclude=_COLUMNS, exclude_defaults=True).encode()


def pack_body(raw: bytes) -> bytes:
    """A body deflated (about a third of the size, for ~20 us a tuple)."""
    return _DEFLATE + zlib.compress(raw, 1, -15)


def decode_body(body: bytes | str) -> dict[str, Any]:
    if isinstance(body, str):  # a plain-JSON body written by hand or by an old version
        return dict(json.loads(body))
    if body[:1] == _DEFLATE:
        body = zlib.decompress(body[1:], wbits=-15)
    elif body[:1] != _PLAIN:
        raise ValueError(f"unknown tuple body format {body[:1]!r}")
    return dict(json.loads(body))


def tuple_text(tup: ExperienceTuple) -> str:
    """What the lexical and semantic indices read: the attempt, its outcome and its goal."""
    d = tup.diagnosis
    parts = [tup.action.verb, tup.action.target.replace("_", " ")]
    parts.append("succeeded" if d.success else f"failed {d.cause.value.lower().replace('_', ' ')}")
    for key in ("needs", "remedy_target"):
        if key in d.details:
            parts.append(f"{key.partition('_')[0]} {str(d.details[key]).replace('_', ' ')}")
    parts.extend(e for e in d.evidence[:2] if e)
    if tup.task_goal:
        parts.append(f"goal {tup.task_goal.replace('_', ' ')}")
    return " ".join(parts)
