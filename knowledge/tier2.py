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

A batch of tuples is summed inside SQLite: one `GROUP BY` upsert per kind over the tuple rows
the batch wrote (ticks and steps, which live in the tuple body, come from a temporary table of
the batch), so anchoring a batch costs one statement per kind and one row write per distinct
key, with no Python per tuple and key. Signature summaries are keyed inside SQLite by the
signature's row id (zero-padded, so new signatures append to the index instead of landing at
random places in it); `read` and `read_kind` translate to and from the public
`<signature hash>|<op>` form.
"""

from __future__ import annotations

import sqlite3
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
# the batch's tuples: ids, and the ticks and steps the summaries add up
_BATCH = "CREATE TEMP TABLE IF NOT EXISTS anchor_batch (id INTEGER PRIMARY KEY, ticks, steps)"
_FROM_BATCH = (
    "SELECT {kind}, {key}, t.cause, count(*), sum(t.success), sum(b.ticks), sum(b.steps), "
    "max(t.id) FROM temp.anchor_batch b CROSS JOIN tuples t ON t.id = b.id WHERE {where} "
    "GROUP BY 2, 3"
)  # CROSS JOIN: the batch is the outer loop (else a filter or an index can tempt the planner
# into scanning every tuple)
_OP = "t.verb || ':' || t.target"
_KEYS = [  # kind, key (SQL over the tuple row), which rows
    ("op", _OP, "true"),
    ("verb", "t.verb", "true"),
    ("goal", "t.task_goal", "true"),
    ("family", "t.task_family", "t.task_family != ''"),
    ("signature", f"printf('%012d|%s', t.sig_id, {_OP})", "true"),
    ("episode", "t.episode_id", "true"),
]
_UPSERTS = [
    "INSERT INTO summaries "
    + _FROM_BATCH.format(kind=f"'{kind}'", key=key, where=where)
    + " "
    + _SET
    for kind, key, where in _KEYS
]
_TOTALS = (
    "SELECT key, cause, attempts, successes, ticks, steps, last_tuple FROM summaries "
    "WHERE kind = ? AND key >= ? AND key < ? ORDER BY key"
)


def _sig_key(sig_id: int, op: str) -> str:
    return f"{sig_id:012d}|{op}"


def begin_batch(db: sqlite3.Connection) -> None:
    """Start summing a batch (inside the transaction that writes it)."""
    db.execute(_BATCH)
    db.execute("DELETE FROM temp.anchor_batch")


def add_costs(db: sqlite3.Connection, costs: list[tuple[int, int, int]]) -> None:
    """`(tuple id, ticks, steps)` of tuples the batch wrote."""
    db.executemany("INSERT INTO temp.anchor_batch VALUES (?, ?, ?)", costs)


def write_batch(db: sqlite3.Connection) -> None:
    """Add the batch's tuples (written, with their costs) to every summary they touch."""
    for sql in _UPSERTS:
        db.execute(sql)
    db.execute("DELETE FROM temp.anchor_batch")


def _public_key(db: sqlite3.Connection, kind: str, key: str) -> str:
    """`<sig id>|op` (stored) to `<signature hash>|op` (public)."""
    if kind != "signature":
        return key
    sid, _, op = key.partition("|")
    row = db.execute("SELECT hash FROM signatures WHERE id=?", (int(sid),)).fetchone()
    return f"{signature_hex(row[0]) if row else sid}|{op}"


def _stored_key(db: sqlite3.Connection, kind: str, key: str) -> str | None:
    if kind != "signature":
        return key
    sig, sep, op = key.partition("|")
    try:
        value = signature_int(sig)
    except ValueError:
        return None
    row = db.execute("SELECT id FROM signatures WHERE hash=?", (value,)).fetchone()
    return None if row is None else (_sig_key(row[0], op) if sep else _sig_key(row[0], ""))


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


def read(db: sqlite3.Connection, kind: str, key: str) -> dict[str, Any] | None:
    stored = _stored_key(db, kind, key)
    if stored is None:
        return None
    rows = db.execute(_TOTALS, (kind, stored, stored + "\x00")).fetchall()
    found = [r for r in rows if r[0] == stored]
    if not found:
        return None
    ((_, tot, causes),) = _collect(found)
    return _as_dict(kind, key, tot, causes)


def read_kind(
    db: sqlite3.Connection, kind: str, prefix: str = "", limit: int | None = None
) -> list[dict[str, Any]]:
    """Every summary of one kind (keys starting with `prefix`), in key order. A signature
    prefix must be a whole signature hash, optionally followed by `|` and an op prefix."""
    if kind == "signature" and prefix:
        sig, _, rest = prefix.partition("|")
        head = _stored_key(db, kind, sig + "|")
        if head is None:
            return []
        prefix = head + rest
    rows = db.execute(_TOTALS, (kind, prefix, prefix + "\U0010ffff")).fetchall()
    out = [_as_dict(kind, _public_key(db, kind, k), t, c) for k, t, c in _collect(rows)]
    return out if limit is None else out[:limit]
