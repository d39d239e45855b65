"""Writing tuples: one transaction per batch, with as little Python per tuple as possible.

Per tuple, Python does only what SQLite cannot: checks the signature, makes the text and its
hash, serialises the body (`knowledge.codec`) and builds one row per table. Everything that can
be done per batch is done by SQLite in C: ids are resolved by hash inside the inserts
(`INSERT OR IGNORE` into `signatures` and `texts`, sub-selects in the tuple rows), and the
tier-2 summaries are one `GROUP BY` upsert per kind over the rows just written (ticks and steps,
which live in the body, come from a temporary table of the batch).

Everything runs on the calling thread but the WAL checkpoints of bulk writes. A writer thread
used to run the inserts while this one prepared the next chunk, but the GIL turned that into a
convoy (each of the writer's many short GIL-free calls waits out this thread's switch interval
to get the GIL back), slower than one thread on a two-core machine. A checkpoint, by contrast,
is one long call that lets go of the GIL (copying pages and waiting on fsync), so after a bulk
commit a thread of its own runs it on a second connection while this one goes on writing; the
writer's own automatic checkpoint is pushed out to `WAL_PAGES` as a backstop. A checkpoint
never changes what a reader sees, and one that is killed is redone on the next open.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from array import array
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from knowledge import tier2
from knowledge.codec import encode_body, pack_body, tuple_text
from knowledge.schema import ExperienceTuple
from knowledge.signature import canonical, signature_of_canonical

if TYPE_CHECKING:
    from knowledge.store import ExperienceStore

log = logging.getLogger(__name__)

CHUNK = 5000  # tuples prepared and written at a time (bounds the memory a large batch takes)
BULK = 1000  # batches at least this large hand their checkpoint to a thread
WAL_PAGES = 16384  # then the writer checkpoints itself only if the WAL grows beyond this
_MAX_VARS = 500
_CELL = 16  # knowledge.signature.CELL_SIZE, inlined in the hot loop
_MASK32 = 0xFFFFFFFF

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
    signatures: dict[int, list[str]] = field(default_factory=dict)  # hash -> facts
    texts: dict[int, str] = field(default_factory=dict)  # hash -> text
    rows: list[tuple[object, ...]] = field(default_factory=list)
    costs: list[tuple[int, int, int]] = field(default_factory=list)  # (tuple id, ticks, steps)
    tagged: dict[str, list[int]] = field(default_factory=dict)  # tag -> tuple ids, ascending


class Anchorer:
    """The write path of one store (it owns the vocabulary caches)."""

    def __init__(self, store: ExperienceStore) -> None:
        self.store = store
        self.fact_ids: dict[str, int] = {}
        self.tag_ids: dict[str, int] = {}
        self._checkpointer: _Checkpointer | None = None

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None

    def forget(self) -> None:
        """After a rollback: ids handed out in it do not exist."""
        self.fact_ids.clear()
        self.tag_ids.clear()

    def insert(self, tups: list[ExperienceTuple], ids: Sequence[int] | None = None) -> list[int]:
        if not tups:
            return []
        now = time.time()
        try:
            with self.store._tx() as db:
                if ids is None:
                    row = db.execute(
                        "SELECT seq FROM sqlite_sequence WHERE name='tuples'"
                    ).fetchone()
                    first = (int(row[0]) if row else 0) + 1
                    ids = range(first, first + len(tups))
                ids = list(ids)
                mode = self.store.compress
                pack = mode or (mode is None and len(tups) < BULK)
                tier2.begin_batch(db)
                for a in range(0, len(tups), CHUNK):
                    chunk = self._prepare(tups[a : a + CHUNK], ids[a : a + CHUNK], now, pack)
                    self._write(db, chunk)
                tier2.write_batch(db)
        except BaseException:
            for tup in tups:
                tup.id = None
            raise
        if len(tups) >= BULK and self.store.path != ":memory:":
            if self._checkpointer is None:
                self.store.db.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
                self._checkpointer = _Checkpointer(self.store.path)
            self._checkpointer.kick()
        return ids

    def _prepare(
        self, tups: list[ExperienceTuple], ids: list[int], now: float, pack: bool
    ) -> _Chunk:
        """The CPU work of a chunk: everything but SQLite (`pack`: deflate the bodies)."""
        chunk = _Chunk()
        signatures, texts, tagged = chunk.signatures, chunk.texts, chunk.tagged
        add_row, add_cost, add_facts = chunk.rows.append, chunk.costs.append, chunk.facts.update
        compress = pack_body if pack else None
        for tup, tid in zip(tups, ids, strict=True):
            facts, sig = tup.facts, tup.signature
            # the loop hands in sorted facts with their signature: checking that is cheaper
            if not sig or signature_of_canonical(facts) != sig:
                facts = canonical(facts)
                sig = signature_of_canonical(facts)
                if tup.signature and tup.signature != sig:
                    raise ValueError(f"tuple signature {tup.signature} does not match its facts")
                tup.facts, tup.signature = facts, sig
            tup.id = tid
            if not tup.created_at:
                tup.created_at = now
            sig_hash = int(sig, 16)
            if sig_hash >= 1 << 63:
                sig_hash -= 1 << 64
            if sig_hash not in signatures:
                signatures[sig_hash] = facts
                add_facts(facts)
            text = tuple_text(tup)
            thash = int.from_bytes(
                hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True
            )
            texts[thash] = text
            body = encode_body(tup)
            if compress is not None:
                body = compress(body)
            act, diag = tup.action, tup.diagnosis
            pos = tup.pre_state.position
            add_row(
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
                    # knowledge.signature.pack_cell(cell_of(pos)), inlined
                    ((int(pos[0]) // _CELL) << 32) | ((int(pos[2]) // _CELL) & _MASK32),
                    thash,
                    tup.created_at,
                    body,
                )
            )
            add_cost((tid, diag.diff.ticks, diag.steps))
            tags = tup.tags
            if tags:
                for g in dict.fromkeys(tags) if len(tags) > 1 else tags:
                    ids_of = tagged.get(g)
                    if ids_of is None:
                        tagged[g] = [tid]
                    else:
                        ids_of.append(tid)
        return chunk

    def _write(self, db: sqlite3.Connection, chunk: _Chunk) -> None:
        fact_ids = self._vocab(db, "facts", "fact", self.fact_ids, chunk.facts)
        tag_ids = self._vocab(db, "tag_names", "tag", self.tag_ids, set(chunk.tagged))
        fid = fact_ids.__getitem__
        db.executemany(
            "INSERT OR IGNORE INTO signatures (hash, facts) VALUES (?, ?)",
            [
                (h, array("I", sorted(map(fid, facts))).tobytes())
                for h, facts in chunk.signatures.items()
            ],
        )
        before = db.execute("SELECT coalesce(max(id), 0) FROM texts").fetchone()[0]
        db.executemany(
            "INSERT OR IGNORE INTO texts (hash, text) VALUES (?, ?)", chunk.texts.items()
        )
        embedder = self.store.embedder
        if embedder is not None:  # a new text and its vector commit together
            new = db.execute("SELECT id, text FROM texts WHERE id > ?", (before,)).fetchall()
            if new:
                vecs = embedder.embed([t for _, t in new]).astype(np.float16)
                db.executemany(
                    "INSERT INTO vectors (text_id, vec) VALUES (?, ?)",
                    zip([i for i, _ in new], vecs, strict=True),
                )
        db.executemany(_INSERT_TUPLE, chunk.rows)
        tier2.add_costs(db, chunk.costs)
        # one tag's postings at a time, in id order: appends at the end of each tag's range
        by_id = sorted((tag_ids[g], tids) for g, tids in chunk.tagged.items())
        db.executemany(
            "INSERT INTO tags VALUES (?, ?)", [(t, i) for t, tids in by_id for i in tids]
        )
        # so a query can start from the rarest tag
        db.executemany(
            "UPDATE tag_names SET n = n + ? WHERE id = ?", [(len(ids), t) for t, ids in by_id]
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


class _Checkpointer:
    """Runs `PRAGMA wal_checkpoint(PASSIVE)` on a thread and connection of its own (it never
    blocks the writer or readers, and skips what a reader still needs)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="knowledge-checkpoint")
        self._job: Future[None] | None = None
        self._db: sqlite3.Connection | None = None

    def kick(self) -> None:
        if self._job is None or self._job.done():
            self._job = self._pool.submit(self._run)

    def _run(self) -> None:
        try:
            if self._db is None:
                self._db = sqlite3.connect(
                    self.path, isolation_level=None, timeout=30.0, check_same_thread=False
                )
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # the writer's own checkpoint is the backstop
            log.warning("%s: background checkpoint failed (%s)", self.path, exc)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self._db is not None:
            self._db.close()
            self._db = None
