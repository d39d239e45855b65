"""Upgrading stores written by older versions, in place and in one transaction.

Schema 1 (the first release) kept each tuple as one JSON body with a text signature and a
`tags (tag, tuple_id)` table. Schema 2 splits the indexed fields into columns, stores facts
once per signature, and adds cells, texts, vectors and per-cause summary rows. Schema 3 drops
the unique indexes on the hashes of `signatures` and `texts` (writers and readers map hashes
to ids in memory, `knowledge.hashids`). Schema 4 keys episodes by run and episode (two runs of
the same seeds were one row each). Tuple ids are kept, so the evidence ids of skills and
guardrails stay valid. Each step upgrades to the next; `migrate` runs them in turn.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from knowledge import tier2
from knowledge.schema import ExperienceTuple

if TYPE_CHECKING:
    from knowledge.store import ExperienceStore

_BATCH = 2000


def _create(db: sqlite3.Connection) -> None:
    """The current schema's tables and indexes, where missing (inside the caller's
    transaction: `executescript` would commit it)."""
    from knowledge.store import DDL

    for stmt in (DDL + tier2.DDL).split(";"):
        if stmt.strip():
            db.execute(stmt)


def migrate(store: ExperienceStore, version: int) -> None:
    """Upgrade a store of schema `version` to the current one, a step at a time."""
    if version == 1:
        migrate_v1(store)
    elif version == 2:
        migrate_v2(store)
    migrate_v3(store)


def migrate_v3(store: ExperienceStore) -> None:
    """Schema 3 to 4: `episodes` keyed by (run, episode)."""
    db = store.db
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("ALTER TABLE episodes RENAME TO episodes_v3")
        _create(db)
        db.execute(
            "INSERT INTO episodes (run_id, episode_id, task_id, success, body) "
            "SELECT run_id, episode_id, task_id, success, body FROM episodes_v3"
        )
        db.execute("DROP TABLE episodes_v3")
        db.execute("UPDATE meta SET value='4' WHERE key='schema'")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def migrate_v2(store: ExperienceStore) -> None:
    """Schema 2 to 3: `signatures` and `texts` copied into tables without the hash index."""
    db = store.db
    db.execute("BEGIN IMMEDIATE")
    try:
        for table in ("signatures", "texts"):
            db.execute(f"ALTER TABLE {table} RENAME TO {table}_v2")
        _create(db)
        for table in ("signatures", "texts"):
            db.execute(f"INSERT INTO {table} SELECT * FROM {table}_v2 ORDER BY id")
            db.execute(f"DROP TABLE {table}_v2")
        db.execute("UPDATE meta SET value='3' WHERE key='schema'")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def migrate_v1(store: ExperienceStore) -> None:
    """Schema 1 to 3: tuples re-anchored into columns, signatures, cells, texts, summaries."""
    db = store.db
    db.execute("BEGIN IMMEDIATE")
    try:
        for table in ("tuples", "tags", "summaries"):
            db.execute(f"ALTER TABLE {table} RENAME TO {table}_v1")
        for index in ("tuples_op", "tuples_sig", "tuples_episode", "tags_tag"):
            db.execute(f"DROP INDEX IF EXISTS {index}")
        _create(db)
        store._in_tx = True  # the inserts below join this transaction
        last = 0
        while True:
            rows = db.execute(
                "SELECT id, body FROM tuples_v1 WHERE id > ? ORDER BY id LIMIT ?", (last, _BATCH)
            ).fetchall()
            if not rows:
                break
            tups = []
            for _tid, body in rows:
                tup = ExperienceTuple.model_validate_json(body)
                tup.signature = ""  # recomputed from the facts
                tups.append(tup)
            store._insert(tups, ids=[r[0] for r in rows])
            last = rows[-1][0]
        for table in ("tuples_v1", "tags_v1", "summaries_v1"):
            db.execute(f"DROP TABLE {table}")
        db.execute("UPDATE meta SET value='3' WHERE key='schema'")
    except BaseException:
        store._in_tx = False
        db.execute("ROLLBACK")
        raise
    store._in_tx = False
    db.execute("COMMIT")
