"""Writing tuples: one transaction per batch, pipelined over two threads.

This thread does the Python work of a chunk (canonical facts, signature, JSON body, text,
summary deltas) and builds finished SQL rows; a writer thread runs the inserts (SQLite and zlib
release the GIL) while this thread prepares the next chunk. Ids are resolved inside SQLite by
hash (`INSERT OR IGNORE` into `signatures` and `texts`, sub-selects in the tuple rows), so no
Python runs per row on the writer side. The connection is only ever used by one thread at a
time: this one waits for the writer before the summaries and the commit.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from array import array
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from knowledge import tier2
from knowledge.codec import encode_body, pack_body, tuple_text
from knowledge.schema import ExperienceTuple
from knowledge.signature import (
    canonical,
    cell_of,
    pack_cell,
    signature_int,
    signature_of_canonical,
)

if TYPE_CHECKING:
    from knowledge.store import ExperienceStore

CHUNK = 1000  # tuples per pipelined write
_MAX_VARS = 500

_INSERT_TUPLE = (
    "INSERT INTO tuples VALUES (?,?,?,?,?,?,?,?,?,?,?,"
    "(SELECT id FROM signatures WHERE hash = ?), ?, (SELECT id FROM texts WHERE hash = ?), ?, ?)"
)


def text_hash(text: str) -> int:
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass
class _Chunk:
    facts: set[str] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)
    signatures: dict[int, list[str]] = field(default_factory=dict)  # hash -> facts
    texts: dict[int, str] = field(default_factory=dict)  # hash -> text
    rows: list[tuple[object, ...]] = field(default_factory=list)
    tags_of: list[tuple[int, list[str]]] = field(default_factory=list)  # (tuple id, tags)


class Anchorer:
    """The write path of one store (it owns the writer thread and the vocabulary caches)."""

    def __init__(self, store: ExperienceStore) -> None:
        self.store = store
        self.fact_ids: dict[str, int] = {}
        self.tag_ids: dict[str, int] = {}
        self._writer: ThreadPoolExecutor | None = None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.shutdown()

    def forget(self) -> None:
        """After a rollback: ids handed out in it do not exist."""
        self.fact_ids.clear()
        self.tag_ids.clear()

    def insert(self, tups: list[ExperienceTuple], ids: Sequence[int] | None = None) -> list[int]:
        if not tups:
            return []
        now = time.time()
        summary = tier2.Aggregate()
        try:
            with self.store._tx() as db:
                if ids is None:
                    row = db.execute(
                        "SELECT seq FROM sqlite_sequence WHERE name='tuples'"
                    ).fetchone()
                    first = (int(row[0]) if row else 0) + 1
                    ids = range(first, first + len(tups))
                ids = list(ids)
                spans = [(i, min(i + CHUNK, len(tups))) for i in range(0, len(tups), CHUNK)]
                if len(spans) == 1:
                    self._write(db, self._prepare(tups, ids, now, summary))
                else:
                    self._pipeline(db, tups, ids, spans, now, summary)
                summary.write(db)
        except BaseException:
            for tup in tups:
                tup.id = None
            raise
        return ids

    def _pipeline(
        self,
        db: sqlite3.Connection,
        tups: list[ExperienceTuple],
        ids: list[int],
        spans: list[tuple[int, int]],
        now: float,
        summary: tier2.Aggregate,
    ) -> None:
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="knowledge-writer")
        jobs: list[Future[None]] = []
        try:
            for a, b in spans:
                chunk = self._prepare(tups[a:b], ids[a:b], now, summary)
                if jobs and jobs[-1].done() and jobs[-1].exception() is not None:
                    break
                jobs.append(self._writer.submit(self._write, db, chunk))
        finally:
            wait(jobs)  # the connection is never used by two threads at once
        for job in jobs:
            job.result()

    def _prepare(
        self,
        tups: list[ExperienceTuple],
        ids: list[int],
        now: float,
        summary: tier2.Aggregate,
    ) -> _Chunk:
        """The CPU work of a chunk: everything but SQLite."""
        chunk = _Chunk()
        for tup, tid in zip(tups, ids, strict=True):
            facts, sig = tup.facts, tup.signature
            # the loop hands in sorted facts with their signature: checking that is cheaper
            if not sig or signature_of_canonical(facts) != sig:
                facts = canonical(facts)
                sig = signature_of_canonical(facts)
                if tup.signature and tup.signature != sig:
                    raise ValueError(f"tuple signature {tup.signature} does not match its facts")
            tup.facts, tup.signature, tup.id = facts, sig, tid
            if not tup.created_at:
                tup.created_at = now
            sig_hash = signature_int(sig)
            chunk.signatures[sig_hash] = facts
            chunk.facts.update(facts)
            text = tuple_text(tup)
            thash = text_hash(text)
            chunk.texts[thash] = text
            body = encode_body(tup)
            act, diag = tup.action, tup.diagnosis
            chunk.rows.append(
                (
                    tid,
                    tup.run_id,
                    tup.episode_id,
                    tup.task_id,
                    tup.task_goal,
                    tup.task_family,
                    tup.step,
                    act.verb,
                    act.target,
                    int(diag.success),
                    diag.cause.value,
                    sig_hash,
                    pack_cell(cell_of(tup.pre_state.position)),
                    thash,
                    tup.created_at,
                    body,
                )
            )
            if tup.tags:
                chunk.tags.update(tup.tags)
                chunk.tags_of.append((tid, tup.tags))
            summary.add(tup, sig_hash)
        return chunk

    def _write(self, db: sqlite3.Connection, chunk: _Chunk) -> None:
        fact_ids = self._vocab(db, "facts", "fact", self.fact_ids, chunk.facts)
        tag_ids = self._vocab(db, "tag_names", "tag", self.tag_ids, chunk.tags)
        db.executemany(
            "INSERT OR IGNORE INTO signatures (hash, facts) VALUES (?, ?)",
            [
                (h, array("I", sorted(fact_ids[f] for f in facts)).tobytes())
                for h, facts in chunk.signatures.items()
            ],
        )
        before = db.execute("SELECT coalesce(max(id), 0) FROM texts").fetchone()[0]
        db.executemany(
            "INSERT OR IGNORE INTO texts (hash, text) VALUES (?, ?)", list(chunk.texts.items())
        )
        embedder = self.store.embedder
        if embedder is not None:  # a new text and its vector commit together
            new = db.execute("SELECT id, text FROM texts WHERE id > ?", (before,)).fetchall()
            if new:
                vecs = embedder.embed([t for _, t in new]).astype(np.float16)
                db.executemany(
                    "INSERT INTO vectors (text_id, vec) VALUES (?, ?)",
                    [(i, v.tobytes()) for (i, _), v in zip(new, vecs, strict=True)],
                )
        rows = chunk.rows
        if self.store.compress:  # here, because zlib lets go of the GIL
            rows = [(*r[:-1], pack_body(r[-1])) for r in rows]  # type: ignore[arg-type]
        db.executemany(_INSERT_TUPLE, rows)
        pairs = {(tag_ids[g], tid) for tid, tags in chunk.tags_of for g in tags}
        db.executemany("INSERT INTO tags VALUES (?, ?)", sorted(pairs))
        counts = Counter(tag for tag, _ in pairs)  # so a query can start from the rarest tag
        db.executemany(
            "UPDATE tag_names SET n = n + ? WHERE id = ?", [(n, t) for t, n in counts.items()]
        )

    @staticmethod
    def _vocab(
        db: sqlite3.Connection, table: str, col: str, cache: dict[str, int], names: set[str]
    ) -> dict[str, int]:
        missing = [n for n in names if n not in cache]
        if missing:  # another writer may have added some since we last looked
            for i in range(0, len(missing), _MAX_VARS):
                part = missing[i : i + _MAX_VARS]
                marks = ",".join("?" * len(part))
                cache.update(
                    db.execute(f"SELECT {col}, id FROM {table} WHERE {col} IN ({marks})", part)
                )
            new = sorted(n for n in missing if n not in cache)
            if new:
                top = db.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]
                pairs = [(top + 1 + i, n) for i, n in enumerate(new)]
                db.executemany(f"INSERT INTO {table} (id, {col}) VALUES (?, ?)", pairs)
                cache.update((n, i) for i, n in pairs)
        return cache
