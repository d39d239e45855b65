"""The SQL half of anchoring, and a process that runs it beside the one preparing tuples.

`ChunkWriter` writes a prepared chunk (`knowledge.anchoring.Chunk`, plain data: rows, texts,
signatures and tags) inside the caller's transaction, sums its rows into the tier-2 summaries
(written when a chunk says so), and returns the texts it added, so their vectors can follow
in the same transaction. It runs on the store's own connection for small batches, as the
closed loop anchors one attempt at a time.

A bulk batch is split in two: this process turns tuples into rows (Python, pydantic) while a
writer process (`WriterProcess`, running `main` here; one per store) runs the SQL of the chunk
before. SQLite lets go of the GIL only inside each row's step, so a writer *thread* convoys on
the GIL (`knowledge.anchoring`); a process does not, and on two cores the two halves overlap.

The protocol is one reply for each request, framed as `<length><marshal>` over the child's
stdin and stdout (plain data only, between two processes of the same interpreter; nothing
that crosses it comes from outside):

| request | reply |
|---|---|
| `("begin",)` | `("ok", first free tuple id)`, inside `BEGIN IMMEDIATE` |
| `("chunk", vectors, chunk, embeds)` | `("new", [(text id, text), ...])`: texts to embed |
| `("commit", vectors)` | `("ok",)` once committed |
| `("rollback",)` | `("ok",)` |

`vectors` are `(text id, float16 bytes)` for texts an earlier reply named (`embeds`: whether
the store has an embedder; without one, replies name no texts). Any request may be
answered `("error", exception class, message)`: the writer has rolled back, and answers
`("error", ...)` to every request until a `rollback` or `commit` ends the batch. When the
parent dies, the writer reads end-of-file, rolls back what it had not committed and exits.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import sqlite3
import struct
import subprocess
import sys
from array import array
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from knowledge import tier2
from knowledge.hashids import HashIds

_MAX_VARS = 500
WAL_PAGES = 16384  # a bulk writer checkpoints itself only if the WAL grows beyond this
_FRAME = struct.Struct("<Q")
_PIPE_BYTES = 1 << 20  # F_SETPIPE_SZ: a whole chunk fits, so sending one rarely blocks
_F_SETPIPE_SZ = 1031

_INSERT_TUPLE = "INSERT INTO tuples VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
_VECTOR = "INSERT INTO vectors (text_id, vec) VALUES (?, ?)"


def connect(path: str) -> sqlite3.Connection:
    """A bulk writer's connection, with the store's settings (WAL is the file's own mode);
    checkpoints are left to the store's background checkpointer."""
    from knowledge.store import CACHE_KIB

    db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"PRAGMA cache_size={-CACHE_KIB}")
    db.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
    return db


def first_free_id(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name='tuples'").fetchone()
    return (int(row[0]) if row else 0) + 1


class ChunkWriter:
    """Writes prepared chunks; owns the caches of fact and tag ids (names are few and
    reused, so each is looked up or added once), the maps from signature and text hashes
    to row ids (`knowledge.hashids`: SQLite keeps no index on them), and the summary sums of
    the rows written since the summaries were last written."""

    def __init__(self) -> None:
        self.fact_ids: dict[str, int] = {}
        self.tag_ids: dict[str, int] = {}
        self.sig_ids = HashIds("signatures")
        self.text_ids = HashIds("texts")
        self.sums = tier2.Sums()

    def forget(self) -> None:
        """After a rollback: ids handed out in it do not exist, nor do its rows' sums."""
        self.sums = tier2.Sums()
        self.fact_ids.clear()
        self.tag_ids.clear()
        self.sig_ids.reset()
        self.text_ids.reset()

    def write(
        self, db: sqlite3.Connection, chunk: tuple[Any, ...], *, embeds: bool
    ) -> list[tuple[int, str]]:
        """Write one chunk; with `embeds` (the store has an embedder), returns the texts it
        added (id, text), which need vectors."""
        facts, signatures, texts, rows, tagged, flush = chunk
        fid = self._vocab(db, "facts", "fact", self.fact_ids, facts).__getitem__
        tag_ids = self._vocab(db, "tag_names", "tag", self.tag_ids, tagged)
        sid = self._add(
            db,
            self.sig_ids,
            "INSERT INTO signatures (id, hash, facts) VALUES (?, ?, ?)",
            signatures,
            lambda names: array("I", sorted(map(fid, names))).tobytes(),
        )
        added: list[tuple[int, str]] = []
        tid = self._add(db, self.text_ids, "INSERT INTO texts VALUES (?, ?, ?)", texts, None, added)
        # rows name their signature and text by hash (columns 11 and 13): ids here; the
        # attempt's ticks and steps (16 and 17) are for the summaries only
        sig_ids = [sid[r[11]] for r in rows]
        db.executemany(
            _INSERT_TUPLE,
            [
                (*r[:11], s, r[12], tid[r[13]], r[14], r[15])
                for r, s in zip(rows, sig_ids, strict=True)
            ],
        )
        # one tag's postings at a time, in id order: appends at the end of each tag's range
        by_id = sorted((tag_ids[g], tids) for g, tids in tagged.items())
        db.executemany(
            "INSERT INTO tags VALUES (?, ?)", [(t, i) for t, tids in by_id for i in tids]
        )
        # so a query can start from the rarest tag
        db.executemany(
            "UPDATE tag_names SET n = n + ? WHERE id = ?", [(len(ids), t) for t, ids in by_id]
        )
        self.sums.add(rows, sig_ids)
        if flush:
            db.executemany(tier2.UPSERT, self.sums.rows())
            self.sums = tier2.Sums()
        return added if embeds else []

    @staticmethod
    def _add(
        db: sqlite3.Connection,
        known: HashIds,
        insert: str,
        items: list[tuple[int, Any]],
        encode: Callable[[Any], Any] | None,
        added: list[tuple[int, Any]] | None = None,
    ) -> dict[int, int]:
        """Insert the `(hash, value)` items the table does not hold yet, with ids after its
        last; returns every item's id by hash (`added`: gets `(id, value)` of the new)."""
        known.sync(db)
        ids = known.get_many(h for h, _ in items)
        top = known.upto
        out: dict[int, int] = {}
        new: list[tuple[int, int]] = []
        values: list[tuple[int, int, Any]] = []
        for (h, value), i in zip(items, ids, strict=True):
            if not i:  # items are distinct (a chunk's hashes are dict keys)
                top += 1
                i = top
                new.append((h, i))
                values.append((i, h, value if encode is None else encode(value)))
                if added is not None:
                    added.append((i, value))
            out[h] = i
        if values:
            db.executemany(insert, values)
            known.add(new)
        return out

    @staticmethod
    def add_vectors(db: sqlite3.Connection, vectors: Iterable[tuple[int, bytes]]) -> None:
        db.executemany(_VECTOR, vectors)

    @staticmethod
    def _vocab(
        db: sqlite3.Connection, table: str, col: str, cache: dict[str, int], names: Iterable[str]
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


# ---- framing --------------------------------------------------------------------------------
def send(out: IO[bytes], message: Any) -> None:
    data = marshal.dumps(message)
    out.write(_FRAME.pack(len(data)))
    out.write(data)
    out.flush()


def receive(inp: IO[bytes]) -> Any:
    """The next message, or EOFError when the other end has gone."""
    head = inp.read(_FRAME.size)
    if len(head) < _FRAME.size:
        raise EOFError("the other end of the writer pipe closed")
    (size,) = _FRAME.unpack(head)
    data = inp.read(size)
    if len(data) < size:
        raise EOFError("the other end of the writer pipe closed mid-message")
    return marshal.loads(data)


def _widen(fd: int) -> None:
    try:
        import fcntl

        fcntl.fcntl(fd, _F_SETPIPE_SZ, _PIPE_BYTES)
    except (ImportError, OSError):  # not Linux, or above /proc/sys/fs/pipe-max-size
        pass


class WriterError(RuntimeError):
    """The writer process died or broke the protocol (what it was writing is rolled back)."""


class WriterProcess:
    """The parent's handle on a writer process for one store file."""

    def __init__(self, path: str) -> None:
        self.path = path
        root = str(Path(__file__).resolve().parents[1])  # so a source checkout works too
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(
            # -c, not -m: `knowledge/__init__` imports this module before runpy would run it
            [sys.executable, "-c", "from knowledge.writer import main; main()", path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._out, self._in = self._proc.stdin, self._proc.stdout
        _widen(self._out.fileno())
        self.outstanding = 0  # requests not yet answered

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def request(self, message: tuple[Any, ...]) -> None:
        try:
            send(self._out, message)
        except (BrokenPipeError, OSError) as exc:
            raise self._died() from exc
        self.outstanding += 1

    def reply(self) -> tuple[Any, ...]:
        """The answer to the oldest outstanding request; raises what the writer raised."""
        try:
            answer = receive(self._in)
        except (EOFError, OSError) as exc:
            raise self._died() from exc
        self.outstanding -= 1
        if answer[0] == "error":
            raise _rebuild(answer[1], f"{self.path}: {answer[2]}")
        return tuple(answer)

    def call(self, message: tuple[Any, ...]) -> tuple[Any, ...]:
        self.request(message)
        return self.reply()

    def abort(self) -> None:
        """End the batch with a rollback, whatever state the protocol is in; a writer that
        cannot be brought back to a clean state is stopped (its transaction rolls back)."""
        try:
            while self.outstanding and self.alive:
                with contextlib.suppress(sqlite3.Error, WriterError, RuntimeError):
                    self.reply()
            self.call(("rollback",))
        except Exception:  # any failure here means: stop it
            self.close(kill=True)

    def _died(self) -> WriterError:
        self.close(kill=True)
        self.outstanding = 0  # no answer will come
        return WriterError(
            f"{self.path}: the writer process exited ({self._proc.returncode}); "
            "the batch it was writing was rolled back"
        )

    def close(self, *, kill: bool = False) -> None:
        if self._proc.poll() is None and not kill:
            try:
                self._out.close()  # end-of-file: it exits
                self._proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                kill = True
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        for f in (self._out, self._in):
            with contextlib.suppress(OSError):
                f.close()


def _rebuild(kind: str, message: str) -> Exception:
    """The writer's exception, as the same `sqlite3` class where it was one."""
    cls = getattr(sqlite3, kind, None)
    if isinstance(cls, type) and issubclass(cls, sqlite3.Error):
        return cls(message)
    return WriterError(f"{message} ({kind})")


# ---- the writer process ---------------------------------------------------------------------
def serve(path: str, inp: IO[bytes], out: IO[bytes]) -> None:
    """Answer requests until end-of-file (see the module's docstring)."""
    db = connect(path)
    writer = ChunkWriter()
    failed: tuple[str, str] | None = None  # the error that ended the batch in progress
    in_tx = False
    try:
        while True:
            try:
                message = receive(inp)
            except EOFError:
                return
            op = message[0]
            if failed is not None and op not in ("rollback", "commit"):
                send(out, ("error", *failed))
                continue
            try:
                if op == "begin":
                    db.execute("BEGIN IMMEDIATE")
                    in_tx = True
                    send(out, ("ok", first_free_id(db)))
                elif op == "chunk":
                    writer.add_vectors(db, message[1])
                    send(out, ("new", writer.write(db, message[2], embeds=message[3])))
                elif op == "commit":
                    if failed is not None:
                        send(out, ("error", *failed))
                        failed = None
                        continue
                    writer.add_vectors(db, message[1])
                    db.execute("COMMIT")
                    in_tx = False
                    send(out, ("ok",))
                elif op == "rollback":
                    failed = None
                    if in_tx:
                        db.execute("ROLLBACK")
                        in_tx = False
                        writer.forget()
                    send(out, ("ok",))
                else:
                    raise ValueError(f"unknown writer request {op!r}")
            except Exception as exc:  # reported to the parent, which raises it
                if in_tx:
                    db.execute("ROLLBACK")
                    in_tx = False
                    writer.forget()
                failed = (type(exc).__name__, str(exc))
                send(out, ("error", *failed))
                if op == "commit":  # the batch has ended
                    failed = None
    finally:
        if in_tx:  # never committed: gone with the connection
            db.execute("ROLLBACK")
        db.close()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -c 'from knowledge.writer import main; main()' STORE")
    inp = os.fdopen(sys.stdin.fileno(), "rb", buffering=_PIPE_BYTES)
    out = os.fdopen(sys.stdout.fileno(), "wb", buffering=1 << 16)
    _widen(sys.stdout.fileno())
    serve(args[0], inp, out)


if __name__ == "__main__":
    main()
