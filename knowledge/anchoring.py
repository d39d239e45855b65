"""Writing tuples: one transaction per batch, with as little Python per tuple as possible.

Per tuple, Python does only what SQLite cannot: checks the signature, makes the text and its
hash, serialises the body (`knowledge.codec`) and builds one row per table. Rows name
signatures and texts by hash; the SQL side (`knowledge.writer.ChunkWriter`) turns hashes into
ids from its maps (`knowledge.hashids`), writes the chunk and adds its rows to the summary sums
(`knowledge.tier2.Sums`), which it writes every `SUMS_EVERY` tuples or so and at a batch's
end. Summing there, not here, keeps the two processes of a bulk batch about equally busy.

A small batch (the closed loop anchors one attempt at a time) is written on the store's own
connection. A bulk batch (`PROCESS_FROM` tuples or more) is written by a writer process
(`knowledge.writer`): this process prepares chunk k+1 while that one writes chunk k, in one
transaction that commits when the last chunk is in. The store's first bulk batch starts the
writer and is written here while it starts. A writer *thread* was tried and was slower
than one thread: SQLite lets go of the GIL for each row's step, and each time it wants it back
it waits out this thread's switch interval (a convoy).

A WAL checkpoint, by contrast, is one long call that lets go of the GIL (copying pages and
waiting on fsync), so after a bulk commit a thread of its own runs it on a second connection
while the next batch is prepared; the writers' automatic checkpoints are pushed out to
`WAL_PAGES` as a backstop. A checkpoint never changes what a reader sees, and one that is
killed is redone on the next open.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import sqlite3
import time
import weakref
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from knowledge.codec import encode_body, pack_body, tuple_text
from knowledge.schema import ExperienceTuple
from knowledge.signature import canonical, signature_of_canonical
from knowledge.writer import WAL_PAGES, ChunkWriter, WriterError, WriterProcess, first_free_id

if TYPE_CHECKING:
    from knowledge.store import ExperienceStore

log = logging.getLogger(__name__)

CHUNK = 5000  # tuples prepared and written at a time on the store's connection
PIPE_CHUNK = 250  # tuples a chunk for the writer process
PIPE_FIRST = 64  # the first and last chunks: the writer waits for the first, we for the last
PIPE_AHEAD = 2  # chunks sent before we wait for the writer's answer to the oldest
SUMS_EVERY = 2000  # tuples summed before the writer writes their summaries (fewer upserts)
BULK = 1000  # batches at least this large hand their checkpoint to a thread
PROCESS_FROM = 2500  # batches at least this large go to the writer process (writer="auto")
_CELL = 16  # knowledge.signature.CELL_SIZE, inlined in the hot loop
_MASK32 = 0xFFFFFFFF

Chunk = tuple[Any, ...]  # what `ChunkWriter.write` takes: see `Anchorer._prepare`


def text_hash(text: str) -> int:
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Anchorer:
    """The write path of one store: the SQL side (`ChunkWriter`, and its caches of fact and
    tag ids) and, once a bulk batch needs it, the writer process."""

    def __init__(self, store: ExperienceStore) -> None:
        self.store = store
        self.writer = ChunkWriter()
        self._process: WriterProcess | None = None
        self._no_process = False  # a writer process failed to start: write here
        self._checkpointer: _Checkpointer | None = None

    @property
    def fact_ids(self) -> dict[str, int]:
        return self.writer.fact_ids

    def close(self) -> None:
        if self._process is not None:
            self._process.close()
            self._process = None
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None

    def forget(self) -> None:
        """After a rollback: ids handed out in it do not exist."""
        self.writer.forget()

    def insert(self, tups: list[ExperienceTuple], ids: Sequence[int] | None = None) -> list[int]:
        if not tups:
            return []
        now = time.time()
        pack = self.store.compress
        if pack is None:
            pack = len(tups) < BULK
        try:
            if ids is None and self._by_process(len(tups)):
                out = self._insert_by_process(tups, now, pack)
            else:
                out = self._insert_here(tups, ids, now, pack)
        except BaseException:
            for tup in tups:
                tup.id = None
            raise
        if len(tups) >= BULK and self.store.path != ":memory:":
            if self._checkpointer is None:
                self.store.db.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
                self._checkpointer = _Checkpointer(self.store.path)
            self._checkpointer.kick()
        return out

    def _by_process(self, n: int) -> bool:
        store, mode = self.store, self.store.writer
        if mode == "inline" or store.path == ":memory:" or store.in_transaction:
            return False
        if mode == "auto" and self._no_process:
            return False
        if mode == "auto" and n < PROCESS_FROM:
            return False
        # another connection writes only beside a WAL journal (a private copy may use another)
        if store.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            return False
        if mode == "auto" and self._process is None:
            # the writer takes a few tenths of a second to start (imports): this batch is
            # written here while it does, the store's next bulk batches go to it
            self._start_process()
            return False
        return True

    def _start_process(self) -> WriterProcess:
        proc = WriterProcess(self.store.path)
        self._process = proc
        # a store dropped without close() still ends its writer (end-of-file: it exits)
        weakref.finalize(self, proc.close)
        return proc

    def _insert_here(
        self, tups: list[ExperienceTuple], ids: Sequence[int] | None, now: float, pack: bool
    ) -> list[int]:
        with self.store._tx() as db:
            if ids is None:
                first = first_free_id(db)
                ids = range(first, first + len(tups))
            ids = list(ids)
            for a in range(0, len(tups), CHUNK):
                chunk = self._prepare(tups[a : a + CHUNK], ids[a : a + CHUNK], now, pack, True)
                new = self.writer.write(db, chunk, embeds=self.store.embedder is not None)
                if new:
                    self.writer.add_vectors(db, self._vectors(new))
        return ids

    def _insert_by_process(self, tups: list[ExperienceTuple], now: float, pack: bool) -> list[int]:
        """Prepare chunk k+1 here while the writer process writes chunk k; one transaction."""
        proc = self._process
        if proc is None or not proc.alive:
            proc = self._start_process()
        try:
            first = proc.call(("begin",))[1]
        except WriterError as exc:  # nothing was written
            self._process = None
            if self.store.writer != "auto":
                raise
            log.warning("%s; this store writes on its own connection from now on", exc)
            self._no_process = True
            return self._insert_here(tups, None, now, pack)
        except BaseException:
            proc.abort()
            raise
        embeds = self.store.embedder is not None
        try:
            ids = list(range(first, first + len(tups)))
            vectors: list[tuple[int, bytes]] = []
            summed = 0
            for a, b in _pipe_chunks(len(tups)):
                summed += b - a
                flush = summed >= SUMS_EVERY or b == len(tups)
                if flush:
                    summed = 0
                chunk = self._prepare(tups[a:b], ids[a:b], now, pack, flush)
                proc.request(("chunk", vectors, chunk, embeds))
                vectors = []
                if proc.outstanding > PIPE_AHEAD:  # an earlier chunk: written by now, or nearly
                    vectors = self._vectors(proc.reply()[1])
            while proc.outstanding:
                vectors += self._vectors(proc.reply()[1])
            proc.call(("commit", vectors))
        except WriterError:
            self._process = None  # it is gone, and its transaction with it
            raise
        except BaseException:
            proc.abort()
            if not proc.alive:
                self._process = None
            raise
        return ids

    def _vectors(self, new: list[tuple[int, str]]) -> list[tuple[int, bytes]]:
        """Vectors of newly added texts, as the store keeps them (float16)."""
        embedder = self.store.embedder
        if not new or embedder is None:
            return []
        vecs = embedder.embed([t for _, t in new]).astype(np.float16)
        return [(i, v.tobytes()) for (i, _), v in zip(new, vecs, strict=True)]

    def _prepare(
        self, tups: list[ExperienceTuple], ids: list[int], now: float, pack: bool, flush: bool
    ) -> Chunk:
        """The CPU work of a chunk: everything but SQLite (`pack`: deflate the bodies).

        Returns `(facts, signatures, texts, rows, tagged, flush)`: plain data, so the chunk can
        cross to the writer process (`flush`: the writer writes the summaries it has summed
        once this chunk is in). A row is the `tuples` table's columns, the signature and text
        by hash, then the attempt's ticks and steps for the summaries."""
        facts_seen: set[str] = set()
        signatures: dict[int, list[str]] = {}  # hash -> facts
        texts: dict[int, str] = {}  # hash -> text
        rows: list[tuple[object, ...]] = []
        tagged: dict[str, list[int]] = {}  # tag -> tuple ids, ascending
        add_row, add_facts = rows.append, facts_seen.update
        compress = pack_body if pack else None
        for tup, tid in zip(tups, ids, strict=True):
            fields = tup.__dict__
            facts, sig = tup.facts, tup.signature
            # the loop hands in sorted facts with their signature: checking that is cheaper
            if not sig or signature_of_canonical(facts) != sig:
                facts = canonical(facts)
                sig = signature_of_canonical(facts)
                if tup.signature and tup.signature != sig:
                    raise ValueError(f"tuple signature {tup.signature} does not match its facts")
                tup.facts, tup.signature = facts, sig
            # what pydantic's __setattr__ would do, at a fraction of its cost (no validation:
            # an int and a float)
            fields["id"] = tid
            if not fields["created_at"]:
                fields["created_at"] = now
                tup.__pydantic_fields_set__.add("created_at")
            tup.__pydantic_fields_set__.add("id")
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
            verb, target, success, cause = act.verb, act.target, int(diag.success), diag.cause.value
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
                    verb,
                    target,
                    success,
                    cause,
                    sig_hash,
                    # knowledge.signature.pack_cell(cell_of(pos)), inlined
                    ((int(pos[0]) // _CELL) << 32) | ((int(pos[2]) // _CELL) & _MASK32),
                    thash,
                    fields["created_at"],
                    body,
                    diag.diff.ticks,
                    diag.steps,
                )
            )
            tags = tup.tags
            if tags:
                for g in dict.fromkeys(tags) if len(tags) > 1 else tags:
                    ids_of = tagged.get(g)
                    if ids_of is None:
                        tagged[g] = [tid]
                    else:
                        ids_of.append(tid)
        return (
            list(facts_seen),
            list(signatures.items()),
            list(texts.items()),
            rows,
            tagged,
            flush,
        )


def _pipe_chunks(n: int) -> list[tuple[int, int]]:
    """`(start, end)` of the chunks a batch of `n` goes to the writer process in: small at
    both ends, so the two processes overlap for as much of the batch as they can."""
    edges = [0]
    if n > 2 * PIPE_FIRST:
        edges.append(PIPE_FIRST)
    while edges[-1] + PIPE_CHUNK + PIPE_FIRST < n:
        edges.append(edges[-1] + PIPE_CHUNK)
    if n - edges[-1] > PIPE_FIRST and n > 2 * PIPE_FIRST:
        edges.append(n - PIPE_FIRST)
    edges.append(n)
    return list(itertools.pairwise(edges))


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
