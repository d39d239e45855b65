"""The experience store: three tiers in one SQLite database (WAL).

Tier 1 holds experience tuples, append-only. Tier 2 holds rolling summaries keyed by subgoal
kind, task goal and condition signature, updated in the same transaction as the tuple that
changes them, plus one summary per episode. Tier 3 holds skills and guardrails with their
evidence ids and versions. Recall lives in `knowledge.recall`; distillation in
`knowledge.distill`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from knowledge.schema import ExperienceTuple, Guardrail, Skill
from knowledge.signature import signature

SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tuples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL, episode_id TEXT NOT NULL, task_id TEXT NOT NULL,
    task_goal TEXT NOT NULL, step INTEGER NOT NULL,
    verb TEXT NOT NULL, target TEXT NOT NULL, success INTEGER NOT NULL, cause TEXT NOT NULL,
    signature TEXT NOT NULL, created_at REAL NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tuples_op ON tuples (verb, target);
CREATE INDEX IF NOT EXISTS tuples_sig ON tuples (signature);
CREATE INDEX IF NOT EXISTS tuples_episode ON tuples (episode_id);
CREATE TABLE IF NOT EXISTS tags (tag TEXT NOT NULL, tuple_id INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS tags_tag ON tags (tag);
CREATE TABLE IF NOT EXISTS summaries (
    kind TEXT NOT NULL, key TEXT NOT NULL,
    attempts INTEGER NOT NULL, successes INTEGER NOT NULL, ticks INTEGER NOT NULL,
    causes TEXT NOT NULL, last_tuple INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS episodes (
    episode_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, task_id TEXT NOT NULL,
    success INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS skills (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,
    target TEXT NOT NULL, retired INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS guardrails (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE,
    forbidden TEXT NOT NULL, retired INTEGER NOT NULL, body TEXT NOT NULL
);
"""


class StoreError(RuntimeError):
    """The store cannot be opened or written as asked; the message names the file."""


class ExperienceStore:
    """Tier 1-3 storage over one SQLite file; `":memory:"` for a throwaway store."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_DDL)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable experience store ({exc})") from exc
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: store schema {row[0]} is newer than this version understands "
                f"({SCHEMA_VERSION}); upgrade steve-evolving"
            )

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: everything in it commits together or not at all."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ---- tier 1 + 2 -------------------------------------------------------------------------
    def anchor(self, tup: ExperienceTuple) -> int:
        """Store one tuple and update the summaries it touches; returns its id."""
        return self.anchor_many([tup])[0]

    def anchor_many(self, tuples: Iterable[ExperienceTuple]) -> list[int]:
        ids = []
        with self._tx() as db:
            for tup in tuples:
                if not tup.signature:
                    tup.signature = signature(tup.facts)
                if not tup.created_at:
                    tup.created_at = time.time()
                cur = db.execute(
                    "INSERT INTO tuples (run_id, episode_id, task_id, task_goal, step, verb, "
                    "target, success, cause, signature, created_at, body) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        tup.run_id,
                        tup.episode_id,
                        tup.task_id,
                        tup.task_goal,
                        tup.step,
                        tup.action.verb,
                        tup.action.target,
                        int(tup.diagnosis.success),
                        tup.diagnosis.cause.value,
                        tup.signature,
                        tup.created_at,
                        tup.model_dump_json(exclude={"id"}),
                    ),
                )
                tid = int(cur.lastrowid or 0)
                tup.id = tid
                db.executemany(
                    "INSERT INTO tags VALUES (?, ?)", [(tag, tid) for tag in set(tup.tags)]
                )
                for kind, key in (
                    ("op", tup.action.key()),
                    ("goal", tup.task_goal),
                    ("signature", f"{tup.signature}|{tup.action.key()}"),
                ):
                    self._bump_summary(db, kind, key, tup)
                ids.append(tid)
        return ids

    @staticmethod
    def _bump_summary(db: sqlite3.Connection, kind: str, key: str, tup: ExperienceTuple) -> None:
        row = db.execute(
            "SELECT attempts, successes, ticks, causes FROM summaries WHERE kind=? AND key=?",
            (kind, key),
        ).fetchone()
        attempts, successes, ticks, causes = row if row else (0, 0, 0, "{}")
        counts: dict[str, int] = json.loads(causes)
        cause = tup.diagnosis.cause.value
        counts[cause] = counts.get(cause, 0) + 1
        db.execute(
            "INSERT OR REPLACE INTO summaries VALUES (?,?,?,?,?,?,?)",
            (
                kind,
                key,
                attempts + 1,
                successes + int(tup.diagnosis.success),
                ticks + tup.diagnosis.diff.ticks,
                json.dumps(counts, sort_keys=True),
                tup.id,
            ),
        )

    def get_tuple(self, tuple_id: int) -> ExperienceTuple:
        row = self._db.execute("SELECT id, body FROM tuples WHERE id=?", (tuple_id,)).fetchone()
        if row is None:
            raise KeyError(f"no tuple {tuple_id} in {self.path}")
        return self._load_tuple(row)

    def tuples(
        self, *, episode_id: str | None = None, limit: int | None = None
    ) -> list[ExperienceTuple]:
        sql, args = "SELECT id, body FROM tuples", []
        if episode_id is not None:
            sql, args = sql + " WHERE episode_id=?", [episode_id]
        sql += " ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [self._load_tuple(r) for r in self._db.execute(sql, args)]

    @staticmethod
    def _load_tuple(row: tuple[int, str]) -> ExperienceTuple:
        tup = ExperienceTuple.model_validate_json(row[1])
        tup.id = row[0]
        return tup

    def summary(self, kind: str, key: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT attempts, successes, ticks, causes, last_tuple FROM summaries "
            "WHERE kind=? AND key=?",
            (kind, key),
        ).fetchone()
        if row is None:
            return None
        attempts, successes, ticks, causes, last = row
        return {
            "kind": kind,
            "key": key,
            "attempts": attempts,
            "successes": successes,
            "success_rate": successes / attempts,
            "mean_ticks": ticks / attempts,
            "causes": json.loads(causes),
            "last_tuple": last,
        }

    def summaries(self, kind: str) -> list[dict[str, Any]]:
        keys = [r[0] for r in self._db.execute("SELECT key FROM summaries WHERE kind=?", (kind,))]
        return [s for k in keys if (s := self.summary(kind, k)) is not None]

    def record_episode(self, episode_id: str, run_id: str, task_id: str, body: dict[str, Any]):
        """The tier-2 episode summary (one row per episode, replaced on retry)."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO episodes VALUES (?,?,?,?,?)",
                (episode_id, run_id, task_id, int(bool(body.get("success"))), json.dumps(body)),
            )

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
        """Insert a guardrail, or replace the one with the same key (its version goes up)."""
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

    def skills(self, *, include_retired: bool = False) -> list[Skill]:
        sql = "SELECT id, body FROM skills" + ("" if include_retired else " WHERE retired=0")
        out = []
        for sid, body in self._db.execute(sql + " ORDER BY id"):
            skill = Skill.model_validate_json(body)
            skill.id = sid
            out.append(skill)
        return out

    def guardrails(self, *, include_retired: bool = False) -> list[Guardrail]:
        sql = "SELECT id, body FROM guardrails" + ("" if include_retired else " WHERE retired=0")
        out = []
        for gid, body in self._db.execute(sql + " ORDER BY id"):
            rail = Guardrail.model_validate_json(body)
            rail.id = gid
            out.append(rail)
        return out

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

    def stats(self) -> dict[str, int]:
        def count(sql: str) -> int:
            return int(self._db.execute(sql).fetchone()[0])

        return {
            "tuples": count("SELECT COUNT(*) FROM tuples"),
            "episodes": count("SELECT COUNT(*) FROM episodes"),
            "summaries": count("SELECT COUNT(*) FROM summaries"),
            "skills": count("SELECT COUNT(*) FROM skills WHERE retired=0"),
            "guardrails": count("SELECT COUNT(*) FROM guardrails WHERE retired=0"),
            "retired": count("SELECT COUNT(*) FROM skills WHERE retired=1")
            + count("SELECT COUNT(*) FROM guardrails WHERE retired=1"),
        }


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
