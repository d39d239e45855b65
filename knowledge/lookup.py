"""Queries over tier 1: by condition signature, world cell, tags, text and vectors.

Every query returns tuple ids, newest first (or best first, with scores, for text); fetch the
tuples with `store.get_tuples(ids)`. Exact signature, cell and tag lookups are SQLite index
range scans, so they always see exactly what is committed; partial signature matching and the
condition filters of text search use `knowledge.conditions`, caught up inside one read
snapshot before each query.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from knowledge.conditions import ConditionIndex, Where
from knowledge.lexical import LexicalIndex
from knowledge.signature import neighbourhood, pack_cell, signature, signature_int

if TYPE_CHECKING:
    from knowledge.store import ExperienceStore
    from knowledge.vectors import VectorIndex

log = logging.getLogger(__name__)

_EMBED_BATCH = 256


class Lookup:
    def __init__(self, store: ExperienceStore) -> None:
        self.store = store
        self.conditions = ConditionIndex()
        self.lexical = LexicalIndex()
        self._vectors: VectorIndex | None = None
        # per operation code: how many of its tuples are known to have their text in its
        # block of `_checked_index` (-1: one is not; see `_whole_block`)
        self._checked_index: VectorIndex | None = None
        self._checked: dict[int, int] = {}
        self._embedded_upto = 0  # texts up to this id are known to have vectors

    # ---- SQLite range scans -------------------------------------------------------------------
    def by_signature(
        self,
        facts: Iterable[str] | None = None,
        *,
        sig: str | None = None,
        mode: str = "exact",
        limit: int = 10,
    ) -> list[int]:
        """Tuples whose pre-state conditions equal (`exact`), include (`superset`) or lie
        within (`subset`) the given facts, newest first."""
        if mode == "exact":
            sid = self.store.signature_id(
                signature_int(sig if sig is not None else signature(facts or ()))
            )
            if sid is None:
                return []
            return [
                r[0]
                for r in self.store.db.execute(
                    "SELECT id FROM tuples WHERE sig_id = ? ORDER BY id DESC LIMIT ?", (sid, limit)
                )
            ]
        if facts is None:
            raise ValueError("partial signature matching needs the facts, not a hash")
        wanted = frozenset(facts)
        cond = self._synced_conditions()
        if mode == "superset":
            return cond.superset(wanted, limit)
        if mode == "subset":
            return cond.subset(wanted, limit)
        raise ValueError(f"unknown signature match mode {mode!r} (exact, superset, subset)")

    def by_cell(self, cell: tuple[int, int], *, radius: int = 1, limit: int = 10) -> list[int]:
        """The newest tuples that started in `cell` or a cell within `radius` of it."""
        db = self.store.db
        per_cell = [
            [
                r[0]
                for r in db.execute(
                    "SELECT id FROM tuples WHERE cell = ? ORDER BY id DESC LIMIT ?",
                    (pack_cell(c), limit),
                )
            ]
            for c in neighbourhood(cell, radius)
        ]
        return list(heapq.merge(*per_cell, reverse=True))[:limit]

    def by_tags(self, tags: Iterable[str], *, match_all: bool = True, limit: int = 10) -> list[int]:
        """The newest tuples carrying every tag (`match_all`) or any of them."""
        db = self.store.db
        names = sorted(set(tags))
        if not names:
            return []
        marks = ",".join("?" * len(names))
        found = db.execute(f"SELECT id, n FROM tag_names WHERE tag IN ({marks})", names)
        ids = {tid: n for tid, n in sorted(found, key=lambda r: r[1])}  # rarest first
        if match_all and len(ids) < len(names):
            return []
        if not match_all or len(ids) == 1:
            lists = [
                [
                    r[0]
                    for r in db.execute(
                        "SELECT tuple_id FROM tags WHERE tag_id = ? ORDER BY tuple_id DESC LIMIT ?",
                        (tid, limit),
                    )
                ]
                for tid in ids
            ]
            merged = heapq.merge(*lists, reverse=True)
            out: list[int] = []
            for tid in merged:
                if not out or out[-1] != tid:
                    out.append(tid)
            return out[:limit]
        first, *rest = ids  # walk the rarest tag's postings, probe the others
        exists = " AND ".join(
            f"EXISTS (SELECT 1 FROM tags x{i} WHERE x{i}.tag_id = ? AND x{i}.tuple_id = t.tuple_id)"
            for i in range(len(rest))
        )
        sql = (
            f"SELECT tuple_id FROM tags t WHERE tag_id = ? AND {exists} "
            "ORDER BY tuple_id DESC LIMIT ?"
        )
        return [r[0] for r in db.execute(sql, (first, *rest, limit))]

    def tag_names(self, prefix: str, *, limit: int = 64) -> list[str]:
        """Tags that start with `prefix`, the most recently first seen first."""
        rows = self.store.db.execute(
            "SELECT tag FROM tag_names WHERE substr(tag, 1, ?) = ? ORDER BY id DESC LIMIT ?",
            (len(prefix), prefix, limit),
        )
        return [str(r[0]) for r in rows]

    # ---- in-memory indices --------------------------------------------------------------------
    def _synced_conditions(self) -> ConditionIndex:
        with self.store.read() as db:
            self.conditions.sync(db, self.store.generation())
        return self.conditions

    def where(self, where: Where) -> np.ndarray:
        """The ids of every tuple that passes `where`, oldest first."""
        return self._synced_conditions().select(where)

    @property
    def vector_ready(self) -> bool:
        """Whether text search uses vectors (an embedder and faiss), rather than BM25."""
        if self.store.embedder is None:
            return False
        try:
            import faiss  # noqa: F401
        except ImportError:
            return False
        return True

    def vectors(self) -> VectorIndex:
        """The faiss index, loaded or built on first use and caught up with SQLite."""
        from knowledge.vectors import VectorIndex

        embedder = self.store.embedder
        if embedder is None:
            raise RuntimeError(f"{self.store.path}: no embedder, so no vector index")
        self.embed_pending()
        generation = self.store.generation()
        if self._vectors is None or self._vectors.generation != generation:
            index = VectorIndex(self.store.path, embedder.name, embedder.dim)
            if not index.load(generation):
                index.generation = generation
            self._vectors = index
        with self.store.read() as db:
            self._vectors.sync(db)
        self._vectors.save()  # only if it is worth writing (see VectorIndex.save)
        self._group_vectors(self._vectors)
        return self._vectors

    def _group_vectors(self, index: VectorIndex) -> None:
        """Each new row of a large vector index into the block of its text's operation (that
        of the text's newest tuple), so a search filtered by operation reads one block."""
        if index.kind != "hnsw" or index.grouped >= index.size:
            return
        cond = self._synced_conditions()
        texts = index.rows[index.grouped :]
        newest = np.zeros(len(texts), dtype=np.int64)  # 0: no tuple known yet (block "")
        known = texts < len(cond.text_last)
        newest[known] = cond.text_last[texts[known]]
        names = cond.ops_by_code()
        index.group([names[c] for c in cond.op[newest].tolist()])

    def embed_pending(self) -> int:
        """Embed the texts stored without a vector (anchored before an embedder was set)."""
        embedder = self.store.embedder
        if embedder is None:
            return 0
        db = self.store.db
        done = 0
        while True:
            rows = db.execute(
                "SELECT t.id, t.text FROM texts t WHERE t.id > ? AND NOT EXISTS "
                "(SELECT 1 FROM vectors v WHERE v.text_id = t.id) ORDER BY t.id LIMIT ?",
                (self._embedded_upto, _EMBED_BATCH),
            ).fetchall()
            if not rows:
                top = db.execute("SELECT coalesce(max(id), 0) FROM texts").fetchone()[0]
                self._embedded_upto = max(self._embedded_upto, int(top))
                return done
            vecs = embedder.embed([r[1] for r in rows]).astype(np.float16)
            with self.store._tx() as tx:
                tx.executemany(
                    "INSERT OR IGNORE INTO vectors (text_id, vec) VALUES (?, ?)",
                    [(r[0], v.tobytes()) for r, v in zip(rows, vecs, strict=True)],
                )
            done += len(rows)
            self._embedded_upto = rows[-1][0]

    def search(self, text: str, k: int = 10, where: Where | None = None) -> list[tuple[int, float]]:
        """The tuples whose text best matches `text` (vectors if an embedder is set, BM25
        otherwise), one per distinct text, best first: `[(tuple_id, score)]`."""
        if self.vector_ready:
            assert self.store.embedder is not None
            query = self.store.embedder.embed([text])[0]
            return self.search_vector(query, k, where)
        cond = self._synced_conditions()
        with self.store.read() as db:
            self.lexical.sync(db, self.store.generation())
        ids = None if where is None else cond.select(where)
        allowed = None if ids is None else self._text_mask(ids, len(self.lexical.doclen))
        return self._to_tuples(self.lexical.search(text, k, allowed), ids)

    def search_vector(
        self, query: np.ndarray, k: int = 10, where: Where | None = None
    ) -> list[tuple[int, float]]:
        """The tuples nearest to `query` by inner product, among those passing `where`."""
        index = self.vectors()
        cond = self._synced_conditions()
        if where is None:
            return self._to_tuples(index.search(query, k), None)
        ids = cond.select(where)
        if where.op is not None and where == Where(op=where.op) and self._whole_block(index, ids):
            return self._to_tuples(index.search_group(query, k, where.op), ids)
        return self._to_tuples(index.search(query, k, cond.text[ids].astype(np.int64)), ids)

    def _whole_block(self, index: VectorIndex, ids: np.ndarray) -> bool:
        """Whether the texts of these tuples (one operation's, ascending) are exactly the rows
        of that operation's block in a large vector index, so a search among them can scan the
        block without mapping each one. The block holds the texts whose newest tuple has the
        operation, all of them among these; the converse is checked once per tuple, as tuples
        arrive, and a text found in another block (a text two operations share) rules the
        shortcut out for the operation."""
        from knowledge import vectors

        if index.kind != "hnsw" or len(ids) <= vectors.EXACT_BELOW:
            return False
        cond = self.conditions
        op = int(cond.op[ids[0]])
        if self._checked_index is not index:
            self._checked_index, self._checked = index, {}
        done = self._checked.get(op, 0)
        if done < 0:
            return False
        if done < len(ids):
            texts = cond.text[ids[done:]].astype(np.int64)
            rows = np.full(len(texts), -1, dtype=np.int64)
            inside = texts < len(index.text_row)
            rows[inside] = index.text_row[texts[inside]]
            grouped = (rows >= 0) & (rows < index.grouped)
            block = index.block_ids.get(cond.ops_by_code()[op], -1)
            here = np.zeros(len(rows), dtype=bool)
            here[grouped] = index.block_of[rows[grouped]] == block
            if not here.all():
                first = int(np.argmin(here))
                # a text not yet in a block is checked again next time; one in another block
                # rules the operation out
                self._checked[op] = -1 if grouped[first] else done + first
                return False
            self._checked[op] = len(ids)
        return True

    def _text_mask(self, ids: np.ndarray, size: int) -> np.ndarray:
        """Which text ids have at least one of these tuples."""
        out = np.zeros(max(size, 1), dtype=bool)
        out[self.conditions.text[ids]] = True
        return out

    def _to_tuples(
        self, found: list[tuple[int, float]], ids: np.ndarray | None
    ) -> list[tuple[int, float]]:
        """Each found text's newest tuple (among `ids`, ascending, when given)."""
        cond = self.conditions
        out = []
        for text_id, score in found:
            newest = int(cond.text_last[text_id]) if text_id < len(cond.text_last) else 0
            if newest and (ids is None or _holds(ids, newest)):
                out.append((newest, score))
            elif ids is not None:  # the text's newest tuple is filtered out: look further
                hits = ids[cond.text[ids] == text_id]
                if len(hits):
                    out.append((int(hits[-1]), score))
        return out

    def save(self) -> None:
        if self._vectors is not None:
            self._vectors.save()


def _holds(ids: np.ndarray, tuple_id: int) -> bool:
    """Whether ascending `ids` hold `tuple_id`."""
    at = int(np.searchsorted(ids, tuple_id))
    return at < len(ids) and int(ids[at]) == tuple_id
