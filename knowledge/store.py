"""The experience store: three tiers and their indices in one SQLite database (WAL).

Tier 1 holds experience tuples, append-only, with the index rows that find them again: the
condition signature (facts stored once per distinct signature), the world cell, the semantic
tags, and the tuple's text (the lexical and vector indices read it). Tier 2 holds rolling
summaries (`knowledge.tier2`), and tier 3 skills and guardrails with evidence ids and versions.
A tuple, its index rows and the summaries it changes commit in one transaction, so a reader
never sees half an item and a killed writer loses at most the batch in flight.

The in-memory indices (`knowledge.conditions`, `knowledge.lexical`, `knowledge.vectors`) are
caches of these tables: built on first use, caught up by id, and rebuilt from SQLite when they
are missing or stale. Queries over them live in `knowledge.lookup`.
"""

from __future__ import annotations

import gc
import json
import logging
import sqlite3
from array import array
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from knowledge import tier2
from knowledge.anchoring import Anchorer
from knowledge.codec import decode_body
from knowledge.schema import ExperienceTuple, Guardrail, Skill

if TYPE_CHECKING:
    from knowledge.lookup import Lookup
    from knowledge.vectors import Embedder

log = logging.getLogger(__name__)

SCHEMA_VERSION = 4
LEDGER_COLUMNS = ("recalled", "shown", "followed", "ignored", "blocks", "probes", "ok", "failed")
CACHE_KIB = 65536  # SQLite page cache: the hot index pages of a million-tuple store
_MAX_VARS = 500  # host parameters per IN (...) list
_GC_OFF_FROM = 1000

# Guardrails are found by what they forbid, its target, their task's goal and the fact that
# lifts them, each through an index (expression indices over the JSON body, so stores made
# before them need no migration): enforcement, recall and distillation stay flat as rules grow.
RAIL_TARGET = "substr(forbidden, instr(forbidden, ':') + 1)"
RAIL_GOAL = "json_extract(body, '$.task_goal')"
RAIL_UNLESS = "json_extract(body, '$.unless[0]')"
RAIL_SHUT = f"{RAIL_UNLESS} IS NULL AND json_extract(body, '$.scope') = 'subgoal'"
RAIL_WHEN = "json_extract(body, '$.when[0]')"

DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS facts (id INTEGER PRIMARY KEY, fact TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS signatures (
    id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, facts BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tag_names (
    id INTEGER PRIMARY KEY, tag TEXT NOT NULL UNIQUE, n INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS texts (
    id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS vectors (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, text_id INTEGER NOT NULL UNIQUE, vec BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tuples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL, episode_id TEXT NOT NULL, task_id TEXT NOT NULL,
    task_goal TEXT NOT NULL, task_family TEXT NOT NULL, step INTEGER NOT NULL,
    verb TEXT NOT NULL, target TEXT NOT NULL, success INTEGER NOT NULL, cause TEXT NOT NULL,
    sig_id INTEGER NOT NULL, cell INTEGER NOT NULL, text_id INTEGER NOT NULL,
    created_at REAL NOT NULL, body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS tuples_sig ON tuples (sig_id);
CREATE INDEX IF NOT EXISTS tuples_cell ON tuples (cell);
CREATE INDEX IF NOT EXISTS tuples_episode ON tuples (episode_id);
CREATE TABLE IF NOT EXISTS tags (
    tag_id INTEGER NOT NULL, tuple_id INTEGER NOT NULL, PRIMARY KEY (tag_id, tuple_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS episodes (
    run_id TEXT NOT NULL, episode_id TEXT NOT NULL, task_id TEXT NOT NULL,
    success INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (run_id, episode_id)
);
CREATE TABLE IF NOT EXISTS skills (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,
    target TEXT NOT NULL, retired INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS guardrails (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE,
    forbidden TEXT NOT NULL, retired INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger (
    kind TEXT NOT NULL, item INTEGER NOT NULL,
    recalled INTEGER NOT NULL DEFAULT 0, shown INTEGER NOT NULL DEFAULT 0,
    followed INTEGER NOT NULL DEFAULT 0, ignored INTEGER NOT NULL DEFAULT 0,
    blocks INTEGER NOT NULL DEFAULT 0, probes INTEGER NOT NULL DEFAULT 0,
    ok INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, item)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS skills_target ON skills (target);
CREATE INDEX IF NOT EXISTS guardrails_forbidden ON guardrails (forbidden);
CREATE INDEX IF NOT EXISTS guardrails_target ON guardrails (RAIL_TARGET);
CREATE INDEX IF NOT EXISTS guardrails_goal ON guardrails (RAIL_GOAL);
CREATE INDEX IF NOT EXISTS guardrails_unless ON guardrails (RAIL_UNLESS);
CREATE INDEX IF NOT EXISTS guardrails_closed ON guardrails (RAIL_WHEN, forbidden)
    WHERE RAIL_SHUT;
"""
DDL = (
    DDL.replace("RAIL_TARGET", RAIL_TARGET)
    .replace("RAIL_GOAL", RAIL_GOAL)
    .replace("RAIL_UNLESS", RAIL_UNLESS)
    .replace("RAIL_SHUT", RAIL_SHUT)
    .replace("RAIL_WHEN", RAIL_WHEN)
)
_COLS = "id, run_id, episode_id, task_id, task_goal, task_family, step, sig_id, created_at, body"


class StoreError(RuntimeError):
    """The store cannot be opened or written as asked; the message names the file."""


class ExperienceStore:
    """Tier 1-3 storage over one SQLite file; `":memory:"` for a throwaway store.

    `embedder` turns on the vector index: `"auto"` (the packaged MiniLM model when the
    `vector` extra is installed), `"minilm"`, `"hashing"` (deterministic, for tests), or an
    `Embedder`; with none, text recall falls back to BM25. `compress` deflates tuple bodies
    (about half the bytes): `True` always, `False` never, `None` (the default) in batches of
    fewer than `knowledge.anchoring.BULK` tuples only — one at a time, as the loop anchors, the
    ~20 us a body takes is nothing next to the commit, but in a bulk load it is a third of the
    time, so bulk loads keep their bodies plain. `writer` says who writes a bulk batch:
    `"auto"` a writer process beside this one for batches of
    `knowledge.anchoring.PROCESS_FROM` tuples or more, `"process"` for every batch, `"inline"`
    this process always (see `knowledge.anchoring`).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        embedder: Embedder | str | None = None,
        compress: bool | None = None,
        writer: Literal["auto", "process", "inline"] = "auto",
    ) -> None:
        if writer not in ("auto", "process", "inline"):
            raise ValueError(f"writer must be 'auto', 'process' or 'inline', not {writer!r}")
        self.path = str(path)
        self.compress = compress
        self.writer = writer
        self._in_tx = False
        self._lookup: Lookup | None = None
        self.embedder: Embedder | None = None
        self._anchorer = Anchorer(self)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                self.path, isolation_level=None, timeout=30.0, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(f"PRAGMA cache_size={-CACHE_KIB}")
            row = self._schema_version()
            if row is not None and row > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: store schema {row} is newer than this version understands "
                    f"({SCHEMA_VERSION}); upgrade steve-evolving"
                )
            if row in (1, 2, 3):
                from knowledge.migrate import migrate

                migrate(self, row)
            else:
                self._db.executescript(DDL + tier2.DDL)
                self._db.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
                )
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(f"{self.path}: not a usable experience store ({exc})") from exc
        from knowledge.vectors import resolve_embedder

        self.embedder = resolve_embedder(embedder)
        if self.embedder is not None:
            self._bind_embedder(self.embedder)

    def _bind_embedder(self, embedder: Embedder) -> None:
        """One store, one embedding model: vectors of two models never share an index."""
        row = self._db.execute("SELECT value FROM meta WHERE key='vector_model'").fetchone()
        if row is None:
            with self._tx() as db:
                db.execute("DELETE FROM vectors")
                db.execute("INSERT INTO meta VALUES ('vector_model', ?)", (embedder.name,))
        elif row[0] != embedder.name:
            log.warning(
                "%s: vectors were made by %s, not %s; text recall uses BM25 "
                "(reset_vectors() re-embeds with the new model)",
                self.path,
                row[0],
                embedder.name,
            )
            self.embedder = None

    def vector_model(self) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key='vector_model'").fetchone()
        return None if row is None else str(row[0])

    def reset_vectors(self, embedder: Embedder | str) -> None:
        """Drop every vector and bind the store to another embedding model (re-embedded
        lazily, on the next vector search)."""
        from knowledge.vectors import resolve_embedder

        resolved = resolve_embedder(embedder)
        if resolved is None:
            raise StoreError(f"{self.path}: no embedder {embedder!r} is installed")
        with self._tx() as db:
            db.execute("DELETE FROM vectors")
            db.execute("DELETE FROM meta WHERE key='vector_model'")
        self.bump_generation()
        self.embedder = resolved
        self._bind_embedder(resolved)
        self._lookup = None

    def _schema_version(self) -> int | None:
        has_meta = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        if not has_meta:
            return None
        row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        return None if row is None else int(row[0])

    def close(self) -> None:
        if self._lookup is not None:
            self._lookup.save()
        self._anchorer.close()
        self._db.close()

    @property
    def db(self) -> sqlite3.Connection:
        """The connection, for the index modules and packs (not for writing tuples)."""
        return self._db

    @property
    def lookup(self) -> Lookup:
        """The indices over tier 1: by signature, cell, tags, text and vectors."""
        if self._lookup is None:
            from knowledge.lookup import Lookup

            self._lookup = Lookup(self)
        return self._lookup

    @property
    def in_transaction(self) -> bool:
        """Inside `_tx` or `read`: writes join the open transaction, on this connection."""
        return self._in_tx

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: everything in it commits together or not at all."""
        if self._in_tx:
            yield self._db
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._in_tx = True
        try:
            yield self._db
        except BaseException:
            self._in_tx = False
            self._db.execute("ROLLBACK")
            self._anchorer.forget()
            raise
        self._in_tx = False
        self._db.execute("COMMIT")

    @contextmanager
    def batch(self) -> Iterator[ExperienceStore]:
        """Several writes as one transaction (a bulk load): all of them commit, or none."""
        with self._tx():
            yield self

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads (a writer may commit meanwhile)."""
        if self._in_tx:
            yield self._db
            return
        self._db.execute("BEGIN")
        self._in_tx = True
        try:
            yield self._db
        finally:
            self._in_tx = False
            self._db.execute("COMMIT")

    def generation(self) -> int:
        """Bumped whenever tuples are deleted, so derived index files know they are stale."""
        row = self._db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def bump_generation(self) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO meta VALUES ('generation', '1') ON CONFLICT (key) DO UPDATE SET "
                "value = CAST(value AS INTEGER) + 1"
            )

    # ---- tier 1 + 2 -------------------------------------------------------------------------
    def anchor(self, tup: ExperienceTuple) -> int:
        """Store one tuple, its index rows and the summaries it touches; returns its id."""
        return self.anchor_many([tup])[0]

    def anchor_many(self, tuples: Iterable[ExperienceTuple]) -> list[int]:
        """Store a batch in one transaction (much faster per tuple than one at a time, see
        `knowledge.anchoring`)."""
        tups = list(tuples)
        if len(tups) < _GC_OFF_FROM:
            return self._insert(tups)
        collecting = gc.isenabled()
        gc.disable()  # a bulk insert makes no garbage cycles; scanning for them costs ~10%
        try:
            return self._insert(tups)
        finally:
            if collecting:
                gc.enable()

    def _insert(self, tups: list[ExperienceTuple], ids: Sequence[int] | None = None) -> list[int]:
        return self._anchorer.insert(tups, ids)

    def forget_unfinished(self, run_id: str, finished: Collection[str]) -> int:
        """Roll back what the episodes of run `run_id` that did not finish left behind (a run
        killed mid-episode, being resumed: the rerun anchors its own attempts): their tuples
        and tag rows, their ids in the evidence of skills and guardrails (knowledge left with
        no evidence is deleted; a remedy whose tuples went is dropped), their episode rows
        and their counts in the rolling summaries. Returns how many tuples went."""
        done = set(finished)
        with self._tx() as db:
            rows = db.execute("SELECT id, episode_id FROM tuples WHERE run_id=?", (run_id,))
            gone = {tid for tid, episode in rows.fetchall() if episode not in done}
            if not gone:
                return 0
            ids = sorted(gone)
            self._unsum(db, ids)
            for i in range(0, len(ids), _MAX_VARS):
                part = ids[i : i + _MAX_VARS]
                marks = ",".join("?" * len(part))
                db.execute(f"DELETE FROM tags WHERE tuple_id IN ({marks})", part)
                db.execute(f"DELETE FROM tuples WHERE id IN ({marks})", part)
            for skill in self.skills(include_retired=True):
                if gone.intersection(skill.evidence):
                    skill.evidence = [e for e in skill.evidence if e not in gone]
                    if skill.evidence:
                        self.put_skill(skill)
                    else:
                        db.execute("DELETE FROM skills WHERE id=?", (skill.id,))
            for rail in self.guardrails(include_retired=True):
                if gone.intersection([*rail.evidence, *rail.remedy_evidence]):
                    rail.evidence = [e for e in rail.evidence if e not in gone]
                    if gone.intersection(rail.remedy_evidence):
                        rail.remedy, rail.remedy_evidence = [], []
                    if rail.evidence:
                        self.put_guardrail(rail)
                    else:
                        db.execute("DELETE FROM guardrails WHERE id=?", (rail.id,))
            for episode in {ep for ep in self._episodes_of(run_id) if ep not in done}:
                db.execute(
                    "DELETE FROM episodes WHERE run_id=? AND episode_id=?", (run_id, episode)
                )
        self.tuples_deleted()
        return len(gone)

    def _unsum(self, db: sqlite3.Connection, ids: list[int]) -> None:
        """Take these tuples' attempts out of the tier-2 summaries (rows left with none go)."""
        sums = tier2.Sums()
        for i in range(0, len(ids), _MAX_VARS):
            part = ids[i : i + _MAX_VARS]
            marks = ",".join("?" * len(part))
            sig_of = dict(db.execute(f"SELECT id, sig_id FROM tuples WHERE id IN ({marks})", part))
            tups = self.get_tuples(part)
            sums.add(
                [
                    (
                        *(t.id, t.run_id, t.episode_id, t.task_id, t.task_goal, t.task_family),
                        *(t.step, t.action.verb, t.action.target, int(t.diagnosis.success)),
                        *(t.diagnosis.cause.value, t.diagnosis.diff.ticks, t.diagnosis.steps),
                    )
                    for t in tups
                ],
                [sig_of[t.id] for t in tups],
            )
        for kind, key, cause, attempts, successes, ticks, steps, _last in sums.rows():
            db.execute(
                "UPDATE summaries SET attempts = attempts - ?, successes = successes - ?, "
                "ticks = ticks - ?, steps = steps - ? WHERE kind=? AND key=? AND cause=?",
                (attempts, successes, ticks, steps, kind, key, cause),
            )
            db.execute(
                "DELETE FROM summaries WHERE kind=? AND key=? AND cause=? AND attempts <= 0",
                (kind, key, cause),
            )

    def _episodes_of(self, run_id: str) -> list[str]:
        sql = "SELECT episode_id FROM episodes WHERE run_id=?"
        return [r[0] for r in self._db.execute(sql, (run_id,))]

    def tuples_deleted(self) -> None:
        """After tuples were deleted: the in-memory and on-disk indices over them rebuild."""
        self.bump_generation()
        path = Path(self.path)
        for f in (path.with_name(path.name + ".faiss"), path.with_name(path.name + ".faiss.npz")):
            f.unlink(missing_ok=True)
        self._lookup = None

    def get_tuple(self, tuple_id: int) -> ExperienceTuple:
        found = self.get_tuples([tuple_id])
        if not found:
            raise KeyError(f"no tuple {tuple_id} in {self.path}")
        return found[0]

    def get_tuples(self, ids: Sequence[int]) -> list[ExperienceTuple]:
        """The tuples with these ids, in the order given (missing ids are skipped)."""
        rows: dict[int, tuple[Any, ...]] = {}
        for i in range(0, len(ids), _MAX_VARS):
            part = list(ids[i : i + _MAX_VARS])
            marks = ",".join("?" * len(part))
            for r in self._db.execute(f"SELECT {_COLS} FROM tuples WHERE id IN ({marks})", part):
                rows[r[0]] = r
        return self._load([rows[i] for i in ids if i in rows])

    def tuples(
        self, *, episode_id: str | None = None, limit: int | None = None
    ) -> list[ExperienceTuple]:
        sql, args = f"SELECT {_COLS} FROM tuples", []
        if episode_id is not None:
            sql, args = sql + " WHERE episode_id=?", [episode_id]
        sql += " ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._load(self._db.execute(sql, args).fetchall())

    def _load(self, rows: list[tuple[Any, ...]]) -> list[ExperienceTuple]:
        sigs = {r[7] for r in rows}
        facts = self._facts_of(sigs)
        out = []
        for tid, run, ep, task, goal, family, step, sig_id, created, body in rows:
            data = decode_body(body)
            data.update(
                id=tid,
                run_id=run,
                episode_id=ep,
                task_id=task,
                task_goal=goal,
                task_family=family,
                step=step,
                facts=facts[sig_id][1],
                signature=facts[sig_id][0],
                created_at=created,
            )
            out.append(ExperienceTuple.model_validate(data))
        return out

    def _facts_of(self, sig_ids: set[int]) -> dict[int, tuple[str, list[str]]]:
        out: dict[int, tuple[str, list[str]]] = {}
        cache = self._anchorer.fact_ids
        names = {i: n for n, i in cache.items()}
        ids = list(sig_ids)
        for i in range(0, len(ids), _MAX_VARS):
            part = ids[i : i + _MAX_VARS]
            marks = ",".join("?" * len(part))
            for sid, h, packed in self._db.execute(
                f"SELECT id, hash, facts FROM signatures WHERE id IN ({marks})", part
            ):
                fids = list(array("I", packed))
                if any(f not in names for f in fids):
                    names.update((i, n) for n, i in self._db.execute("SELECT fact, id FROM facts"))
                    cache.update((n, i) for i, n in names.items())
                out[sid] = (f"{h & ((1 << 64) - 1):016x}", sorted(names[f] for f in fids))
        return out

    def summary(self, kind: str, key: str) -> dict[str, Any] | None:
        """One rolling summary (see `knowledge.tier2` for the kinds), or None."""
        return tier2.read(self._db, kind, key, self.signature_id)

    def signature_id(self, value: int) -> int | None:
        """The row id of a signature, from its hash (a signed 64-bit int), or None."""
        sig_ids = self._anchorer.writer.sig_ids
        sig_ids.sync(self._db)
        return sig_ids.get(value)

    def summaries(self, kind: str, prefix: str = "") -> list[dict[str, Any]]:
        return tier2.read_kind(self._db, kind, prefix, self.signature_id)

    def record_episode(self, episode_id: str, run_id: str, task_id: str, body: dict[str, Any]):
        """The tier-2 episode summary (one row per episode of a run, replaced on retry: two
        runs of the same seeds are two episodes each)."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO episodes (run_id, episode_id, task_id, success, body) "
                "VALUES (?,?,?,?,?)",
                (run_id, episode_id, task_id, int(bool(body.get("success"))), json.dumps(body)),
            )

    # ---- the ledger: what each piece of knowledge did -----------------------------------------
    def ledger_add(self, counts: Iterable[tuple[str, int, str, int]]) -> None:
        """Add to the ledger: `(kind, item id, column, n)` rows (`LEDGER_COLUMNS`), one
        transaction. A guardrail's `blocks` are also kept on the guardrail itself."""
        rows = [(k, i, c, n) for k, i, c, n in counts if n]
        for _, _, column, _ in rows:
            if column not in LEDGER_COLUMNS:
                raise ValueError(f"unknown ledger column {column!r}; known: {LEDGER_COLUMNS}")
        if not rows:
            return
        with self._tx() as db:
            for kind, item, column, n in rows:
                db.execute(
                    f"INSERT INTO ledger (kind, item, {column}) VALUES (?,?,?) ON CONFLICT "
                    f"(kind, item) DO UPDATE SET {column} = {column} + excluded.{column}",
                    (kind, item, n),
                )
                if kind == "guardrail" and column == "blocks":
                    db.execute(
                        "UPDATE guardrails SET body = json_set(body, '$.blocks', "
                        "json_extract(body, '$.blocks') + ?) WHERE id = ?",
                        (n, item),
                    )

    def ledger(self, kind: str | None = None) -> dict[tuple[str, int], dict[str, int]]:
        """Each item's counts, keyed `(kind, id)`: recalled, shown (in a planner's prompt),
        followed and ignored (by the plan it was shown to), blocks (a guardrail stopping an
        attempt), probes (a guardrail on probation letting one through), and the attempts made
        while a plan followed it that succeeded (`ok`) or failed."""
        sql = f"SELECT kind, item, {', '.join(LEDGER_COLUMNS)} FROM ledger"
        rows = self._db.execute(sql + (" WHERE kind = ?" if kind else ""), (kind,) if kind else ())
        return {(r[0], r[1]): dict(zip(LEDGER_COLUMNS, r[2:], strict=True)) for r in rows}

    # ---- tier 3 -----------------------------------------------------------------------------
    def put_skill(self, skill: Skill) -> Skill:
        """Insert a skill, or replace the one with the same name (its version goes up)."""
        with self._tx() as db:
            row = db.execute("SELECT id, body FROM skills WHERE name=?", (skill.name,)).fetchone()
            if row is not None:
                skill.id = row[0]
                skill.version = Skill.model_validate_json(row[1]).version + 1
                db.execute(
                    "UPDATE skills SET target=?, retired=?, body=? WHERE id=?",
                    (skill.target, int(skill.retired), skill.model_dump_json(), skill.id),
                )
            else:
                cur = db.execute(
                    "INSERT INTO skills (name, target, retired, body) VALUES (?,?,?,?)",
                    (skill.name, skill.target, int(skill.retired), "{}"),
                )
                skill.id = int(cur.lastrowid or 0)
                db.execute(
                    "UPDATE skills SET body=? WHERE id=?", (skill.model_dump_json(), skill.id)
                )
        return skill

    def put_guardrail(self, rail: Guardrail) -> Guardrail:
        """Insert a guardrail, or replace the one with the same key (its version goes up).

        A remedy is learned from experience, so it must name the tuples it was induced from:
        one without (a world's advice, or a pack written before remedies were learned) is
        refused, and nothing is written."""
        if rail.remedy and not rail.remedy_evidence:
            raise StoreError(
                f"{self.path}: guardrail {rail.forbidden!r} has a remedy "
                f"({'; '.join(s.text() for s in rail.remedy)}) that names no tuple it was "
                "induced from (remedy_evidence)"
            )
        key = guardrail_key(rail)
        with self._tx() as db:
            row = db.execute("SELECT id, body FROM guardrails WHERE key=?", (key,)).fetchone()
            if row is not None:
                rail.id = row[0]
                rail.version = Guardrail.model_validate_json(row[1]).version + 1
                db.execute(
                    "UPDATE guardrails SET retired=?, body=? WHERE id=?",
                    (int(rail.retired), rail.model_dump_json(), rail.id),
                )
            else:
                cur = db.execute(
                    "INSERT INTO guardrails (key, forbidden, retired, body) VALUES (?,?,?,?)",
                    (key, rail.forbidden, int(rail.retired), "{}"),
                )
                rail.id = int(cur.lastrowid or 0)
                db.execute(
                    "UPDATE guardrails SET body=? WHERE id=?", (rail.model_dump_json(), rail.id)
                )
        return rail

    def revise_skill(self, skill: Skill) -> Skill:
        """Rewrite a stored skill after the loop checked it (`put_skill`, named apart so that a
        private copy of the store can tell the loop's revisions from the distiller's)."""
        return self.put_skill(skill)

    def revise_guardrail(self, rail: Guardrail) -> Guardrail:
        """Rewrite a stored guardrail in place (its id kept) after its conditions changed (a
        probe narrowed it): its key follows. If another guardrail already has the new key, that
        one is the rule now: it gains this one's evidence and this one is retired."""
        if rail.id is None:
            raise ValueError("revise_guardrail needs a stored guardrail (with an id)")
        key = guardrail_key(rail)
        with self._tx() as db:
            row = db.execute(
                "SELECT id, body FROM guardrails WHERE key=? AND id<>?", (key, rail.id)
            ).fetchone()
            if row is not None:
                other = Guardrail.model_validate_json(row[1])
                other.id, other.retired = row[0], False
                other.evidence = sorted({*other.evidence, *rail.evidence})[-50:]
                other.version += 1
                db.execute(
                    "UPDATE guardrails SET retired=0, body=? WHERE id=?",
                    (other.model_dump_json(), other.id),
                )
                rail = rail.model_copy(update={"retired": True})
                key = f"{key}|merged into {other.id}|{rail.id}"
            body = db.execute("SELECT body FROM guardrails WHERE id=?", (rail.id,)).fetchone()
            if body is None:
                raise ValueError(f"{self.path}: no guardrail {rail.id} to revise")
            rail.version = Guardrail.model_validate_json(body[0]).version + 1
            db.execute(
                "UPDATE guardrails SET key=?, retired=?, body=? WHERE id=?",
                (key, int(rail.retired), rail.model_dump_json(), rail.id),
            )
        return rail

    def skills(
        self, *, include_retired: bool = False, limit: int = -1, offset: int = 0
    ) -> list[Skill]:
        sql = "SELECT id, body FROM skills" + ("" if include_retired else " WHERE retired=0")
        out = []
        for sid, body in self._db.execute(sql + " ORDER BY id LIMIT ? OFFSET ?", (limit, offset)):
            skill = Skill.model_validate_json(body)
            skill.id = sid
            out.append(skill)
        return out

    def guardrails(
        self, *, include_retired: bool = False, limit: int = -1, offset: int = 0
    ) -> list[Guardrail]:
        sql = "SELECT id, body FROM guardrails" + ("" if include_retired else " WHERE retired=0")
        out = []
        for gid, body in self._db.execute(sql + " ORDER BY id LIMIT ? OFFSET ?", (limit, offset)):
            rail = Guardrail.model_validate_json(body)
            rail.id = gid
            out.append(rail)
        return out

    def _rails(self, where: str, args: Sequence[Any] = ()) -> list[Guardrail]:
        sql = f"SELECT id, body FROM guardrails WHERE retired=0 AND {where} ORDER BY id"
        out = []
        for gid, body in self._db.execute(sql, tuple(args)):
            rail = Guardrail.model_validate_json(body)
            rail.id = gid
            out.append(rail)
        return out

    def _rails_in(self, column: str, values: Iterable[str]) -> list[Guardrail]:
        keys = sorted(set(values))
        found: dict[int, Guardrail] = {}
        for i in range(0, len(keys), _MAX_VARS):
            part = keys[i : i + _MAX_VARS]
            marks = ",".join("?" * len(part))
            for rail in self._rails(f"{column} IN ({marks})", part):
                found[int(rail.id or 0)] = rail
        return [found[k] for k in sorted(found)]

    def guardrails_for(self, op: str) -> list[Guardrail]:
        """The active guardrails that forbid operation `op` (`verb:target`), oldest first."""
        return self._rails("forbidden = ?", (op,))

    def guardrails_about(self, targets: Iterable[str], goal: str | None) -> list[Guardrail]:
        """Active guardrails whose operation's target is one of `targets`, and task-scope ones
        of this goal: every guardrail recall can score above zero, oldest first."""
        found = {int(r.id or 0): r for r in self._rails_in(RAIL_TARGET, targets)}
        if goal:
            found.update((int(r.id or 0), r) for r in self._rails(f"{RAIL_GOAL} = ?", (goal,)))
        return [found[k] for k in sorted(found)]

    def guardrails_lifted_by(self, facts: Iterable[str]) -> list[Guardrail]:
        """Active guardrails whose (first) lifting condition is one of `facts`."""
        return self._rails_in(RAIL_UNLESS, facts)

    def shut(self, facts: Collection[str]) -> set[str]:
        """The operations that active subgoal guardrails forbid here with nothing to lift them
        (no `unless`; their `when` facts all hold): what the grammar leaves out. Read from one
        index, by each rule's first `when` fact; only the bodies of rules whose first
        condition holds are parsed."""
        where = f"{RAIL_SHUT} AND retired=0"
        rails = "guardrails INDEXED BY guardrails_closed"  # the planner may pick another
        sql = f"SELECT DISTINCT forbidden FROM {rails} WHERE {where} AND {RAIL_WHEN} IS NULL"
        out = {op for (op,) in self._db.execute(sql)}
        keys = sorted(set(facts))
        for i in range(0, len(keys), _MAX_VARS):
            part = keys[i : i + _MAX_VARS]
            sql = (
                f"SELECT forbidden, json_extract(body, '$.when') FROM {rails} WHERE {where} "
                f"AND {RAIL_WHEN} IN ({','.join('?' * len(part))})"
            )
            for op, when in self._db.execute(sql, part):
                if op not in out and all(f in facts for f in json.loads(when)):
                    out.add(op)
        return out

    def skills_for(self, targets: Iterable[str]) -> list[Skill]:
        """Active skills that produce one of `targets`, oldest first."""
        keys = sorted(set(targets))
        out: dict[int, Skill] = {}
        for i in range(0, len(keys), _MAX_VARS):
            part = keys[i : i + _MAX_VARS]
            sql = (
                "SELECT id, body FROM skills WHERE retired=0 AND target IN "
                f"({','.join('?' * len(part))})"
            )
            for sid, body in self._db.execute(sql, part):
                skill = Skill.model_validate_json(body)
                skill.id = sid
                out[sid] = skill
        return [out[k] for k in sorted(out)]

    def find_guardrail(self, rail: Guardrail) -> Guardrail | None:
        row = self._db.execute(
            "SELECT id, body FROM guardrails WHERE key=?", (guardrail_key(rail),)
        ).fetchone()
        if row is None:
            return None
        found = Guardrail.model_validate_json(row[1])
        found.id = row[0]
        return found

    def find_skill(self, name: str) -> Skill | None:
        row = self._db.execute("SELECT id, body FROM skills WHERE name=?", (name,)).fetchone()
        if row is None:
            return None
        skill = Skill.model_validate_json(row[1])
        skill.id = row[0]
        return skill

    def active_counts(self) -> tuple[int, int]:
        """How many skills and guardrails are active (not retired)."""
        one = "SELECT COUNT(*) FROM {} WHERE retired=0"
        return (
            int(self._db.execute(one.format("skills")).fetchone()[0]),
            int(self._db.execute(one.format("guardrails")).fetchone()[0]),
        )

    def stats(self) -> dict[str, int]:
        def count(sql: str) -> int:
            return int(self._db.execute(sql).fetchone()[0])

        return {
            "tuples": count("SELECT COUNT(*) FROM tuples"),
            "episodes": count("SELECT COUNT(*) FROM episodes"),
            "summaries": count("SELECT COUNT(*) FROM (SELECT 1 FROM summaries GROUP BY kind, key)"),
            "skills": count("SELECT COUNT(*) FROM skills WHERE retired=0"),
            "guardrails": count("SELECT COUNT(*) FROM guardrails WHERE retired=0"),
            "retired": count("SELECT COUNT(*) FROM skills WHERE retired=1")
            + count("SELECT COUNT(*) FROM guardrails WHERE retired=1"),
            "signatures": count("SELECT COUNT(*) FROM signatures"),
            "vectors": count("SELECT COUNT(*) FROM vectors"),
        }


def ledger_text(counts: dict[str, int] | None) -> str:
    """A ledger row in a line: `recalled 12, shown 4, followed 3 of 4, blocks 2, ok 5/7`."""
    if not counts:
        return "never recalled"
    c = counts
    parts = [f"recalled {c['recalled']}", f"shown {c['shown']}"]
    if c["followed"] or c["ignored"]:
        parts.append(f"followed {c['followed']} of {c['followed'] + c['ignored']}")
    if c["blocks"] or c["probes"]:
        parts.append(f"blocks {c['blocks']}" + (f", probes {c['probes']}" if c["probes"] else ""))
    if c["ok"] or c["failed"]:
        parts.append(f"ok {c['ok']}/{c['ok'] + c['failed']}")
    return ", ".join(parts)


def guardrail_key(rail: Guardrail) -> str:
    """What makes two guardrails the same rule: scope, goal, operation and conditions."""
    return "|".join(
        [
            rail.scope,
            rail.task_goal or "",
            rail.forbidden,
            ",".join(sorted(rail.when)),
            ",".join(sorted(rail.unless)),
        ]
    )
