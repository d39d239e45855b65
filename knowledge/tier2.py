"""Tier 2: rolling summaries, updated in the same transaction as the tuples that change them.

A summary counts attempts, successes, ticks and low-level steps (so success rate and typical
cost), and the failure causes seen, for one key of one kind:

| kind | key |
|---|---|
| `op` | the operation, `verb:target` |
| `verb` | the subgoal kind alone |
| `goal` | the task's goal |
| `family` | the task's family (suite group), when the tuple names one |
| `signature` | `<condition signature>|<op>`: how an operation fares under a condition |
| `episode` | the episode id |

The writer sums the tuple rows it writes in Python (`Sums`), over a few thousand tuples, into
one row per (kind, key, cause), and each row is one upsert (`UPSERT`), so anchoring costs one
row write per distinct key, not one per tuple and kind. Signature summaries are keyed inside
SQLite by the signature's row id (zero-padded, so new signatures append to the index instead of
landing at random places in it), which the writer has just resolved from the signature's hash
(`knowledge.hashids`); `read` and `read_kind` translate to and from the public
`<signature hash>|<op>` form, given the same lookup (`ExperienceStore.signature_id`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from knowledge.signature import signature_hex, signature_int

KINDS = ("op", "verb", "goal", "family", "signature", "episode")

DDL = """
CREATE TABLE IF NOT EXISTS summaries (
    kind TEXT NOT NULL, key TEXT NOT NULL, cause TEXT NOT NULL,
    attempts INTEGER NOT NULL, successes INTEGER NOT NULL, ticks INTEGER NOT NULL,
    steps INTEGER NOT NULL, last_tuple INTEGER NOT NULL,
    PRIMARY KEY (kind, key, cause)
) WITHOUT ROWID;
"""
# one row per (kind, key, cause): a summary is the sum of its rows, so one upsert per row
# counts the attempt and its cause at once
_SET = (
    "ON CONFLICT (kind, key, cause) DO UPDATE SET "
    "attempts = attempts + excluded.attempts, successes = successes + excluded.successes, "
    "ticks = ticks + excluded.ticks, steps = steps + excluded.steps, "
    "last_tuple = max(last_tuple, excluded.last_tuple)"
)
UPSERT = "INSERT INTO summaries VALUES (?, ?, ?, ?, ?, ?, ?, ?) " + _SET


def _accumulate(table: dict[Any, list[int]], key: Any, v: Sequence[int]) -> None:
    """Add `v` (attempts, successes, ticks, steps, last tuple id) to `table[key]`."""
    acc = table.get(key)
    if acc is None:
        table[key] = list(v)
    else:
        acc[0] += v[0]
        acc[1] += v[1]
        acc[2] += v[2]
        acc[3] += v[3]
        if v[4] > acc[4]:
            acc[4] = v[4]


class Sums:
    """Tuples' contribution to the summaries, added up per row in three dicts, each keyed by
    what some summaries read: the task's side (op, verb, goal and family summaries: few
    distinct keys), the episode, and the signature (its row id) with the op."""

    __slots__ = ("by_episode", "by_signature", "by_task")

    def __init__(self) -> None:
        # each value: [attempts, successes, ticks, steps, last tuple id]
        self.by_task: dict[tuple[str, str, str, str, str], list[int]] = {}  # verb..family, cause
        self.by_episode: dict[tuple[str, str], list[int]] = {}  # (episode, cause)
        self.by_signature: dict[tuple[int, str, str, str], list[int]] = {}  # sig id, verb..cause

    def add(self, rows: Sequence[Sequence[Any]], sig_ids: Sequence[int]) -> None:
        """Tuple rows, as `Anchorer._prepare` makes them, and their signatures' row ids."""
        by_task, by_episode, by_sig = self.by_task, self.by_episode, self.by_signature
        for r, sid in zip(rows, sig_ids, strict=True):
            tid, _, episode, _, goal, family, _, verb, target, success, cause, *_, ticks, steps = r
            v = (1, success, ticks, steps, tid)
            _accumulate(by_task, (verb, target, goal, family, cause), v)
            _accumulate(by_episode, (episode, cause), v)
            _accumulate(by_sig, (sid, verb, target, cause), v)

    def rows(self) -> list[tuple[object, ...]]:
        """`(kind, key, cause, attempts, successes, ticks, steps, last tuple)` for `UPSERT`."""
        out: dict[tuple[str, str, str], list[int]] = {}
        for (verb, target, goal, family, cause), v in self.by_task.items():
            _accumulate(out, ("op", f"{verb}:{target}", cause), v)
            _accumulate(out, ("verb", verb, cause), v)
            _accumulate(out, ("goal", goal, cause), v)
            if family:
                _accumulate(out, ("family", family, cause), v)
        rows: list[tuple[object, ...]] = [(*k, *v) for k, v in out.items()]
        rows += [("episode", ep, cause, *v) for (ep, cause), v in self.by_episode.items()]
        rows += [
            ("signature", _sig_key(sid, f"{verb}:{target}"), cause, *v)
            for (sid, verb, target, cause), v in self.by_signature.items()
        ]
        return rows


_TOTALS = (
    "SELECT key, cause, attempts, successes, ticks, steps, last_tuple FROM summaries "
    "WHERE kind = ? AND key >= ? AND key < ? ORDER BY key"
)


def _sig_key(sig_id: int, op: str) -> str:
    return f"{sig_id:012d}|{op}"


def _public_key(db: sqlite3.Connection, kind: str, key: str) -> str:
    """`<sig id>|op` (stored) to `<signature hash>|op` (public)."""
    if kind != "signature":
        return key
    sid, _, op = key.partition("|")
    row = db.execute("SELECT hash FROM signatures WHERE id=?", (int(sid),)).fetchone()
    return f"{signature_hex(row[0]) if row else sid}|{op}"


SigId = Callable[[int], int | None]  # a signature's row id from its hash


def _stored_key(kind: str, key: str, sig_id: SigId) -> str | None:
    if kind != "signature":
        return key
    sig, sep, op = key.partition("|")
    try:
        value = signature_int(sig)
    except ValueError:
        return None
    sid = sig_id(value)
    return None if sid is None else (_sig_key(sid, op) if sep else _sig_key(sid, ""))


def _collect(rows: list[tuple[Any, ...]]) -> list[tuple[str, list[int], dict[str, int]]]:
    """Per-cause rows (sorted by key) summed per key."""
    out: list[tuple[str, list[int], dict[str, int]]] = []
    for key, cause, attempts, successes, ticks, steps, last in rows:
        if not out or out[-1][0] != key:
            out.append((key, [0, 0, 0, 0, 0], {}))
        tot, causes = out[-1][1], out[-1][2]
        tot[0] += attempts
        tot[1] += successes
        tot[2] += ticks
        tot[3] += steps
        tot[4] = max(tot[4], last)
        causes[cause] = attempts
    return out


def _as_dict(kind: str, key: str, tot: list[int], causes: dict[str, int]) -> dict[str, Any]:
    attempts, successes, ticks, steps, last = tot
    return {
        "kind": kind,
        "key": key,
        "attempts": attempts,
        "successes": successes,
        "success_rate": successes / attempts,
        "mean_ticks": ticks / attempts,
        "mean_steps": steps / attempts,
        "causes": dict(sorted(causes.items())),
        "common_causes": [c for c, _ in sorted(causes.items(), key=lambda kv: -kv[1])[:3]],
        "last_tuple": last,
    }


def read(db: sqlite3.Connection, kind: str, key: str, sig_id: SigId) -> dict[str, Any] | None:
    """One summary; `sig_id` finds a signature's row from its hash."""
    stored = _stored_key(kind, key, sig_id)
    if stored is None:
        return None
    rows = db.execute(_TOTALS, (kind, stored, stored + "\x00")).fetchall()
    found = [r for r in rows if r[0] == stored]
    if not found:
        return None
    ((_, tot, causes),) = _collect(found)
    return _as_dict(kind, key, tot, causes)


def read_kind(
    db: sqlite3.Connection,
    kind: str,
    prefix: str,
    sig_id: SigId,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Every summary of one kind (keys starting with `prefix`), in key order. A signature
    prefix must be a whole signature hash, optionally followed by `|` and an op prefix."""
    if kind == "signature" and prefix:
        sig, _, rest = prefix.partition("|")
        head = _stored_key(kind, sig + "|", sig_id)
        if head is None:
            return []
        prefix = head + rest
    rows = db.execute(_TOTALS, (kind, prefix, prefix + "\U0010ffff")).fetchall()
    out = [_as_dict(kind, _public_key(db, kind, k), t, c) for k, t, c in _collect(rows)]
    return out if limit is None else out[:limit]
