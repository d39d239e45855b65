"""BM25 over tuple texts: text recall when no embedding model is installed.

One document per distinct tuple text (`texts` table), postings kept as compact arrays, caught up
from SQLite by text id like the other in-memory indices.
"""

from __future__ import annotations

import math
import sqlite3
from array import array
from collections import Counter

import numpy as np

from knowledge.vectors import tokens

K1 = 1.2
B = 0.75


class LexicalIndex:
    def __init__(self) -> None:
        self.generation = -1
        self._reset()

    def _reset(self) -> None:
        self.last_text = 0
        self.terms: dict[str, tuple[array[int], array[int]]] = {}  # term -> (text ids, tfs)
        self.doclen = array("I", [0])  # index = text id
        self.total_len = 0
        self.ndocs = 0

    def sync(self, db: sqlite3.Connection, generation: int) -> None:
        if generation != self.generation:
            self._reset()
            self.generation = generation
        rows = db.execute(
            "SELECT id, text FROM texts WHERE id > ? ORDER BY id", (self.last_text,)
        ).fetchall()
        for tid, text in rows:
            toks = tokens(text)
            if tid >= len(self.doclen):
                self.doclen.extend([0] * (tid + 1 - len(self.doclen)))
            self.doclen[tid] = len(toks)
            self.total_len += len(toks)
            self.ndocs += 1
            for term, tf in Counter(toks).items():
                post = self.terms.get(term)
                if post is None:
                    post = self.terms[term] = (array("i"), array("H"))
                post[0].append(tid)
                post[1].append(min(tf, 65535))
        if rows:
            self.last_text = rows[-1][0]

    def search(
        self, query: str, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """The `k` best texts for `query` by BM25 (among the text ids where `allowed` is
        true): `[(text_id, score)]`, best first."""
        if self.ndocs == 0:
            return []
        avgdl = self.total_len / self.ndocs
        doclen = np.frombuffer(self.doclen, dtype=np.uint32)
        docs_parts, score_parts = [], []
        for term in dict.fromkeys(tokens(query)):  # (in order: sums alike in any process)
            post = self.terms.get(term)
            if post is None:
                continue
            docs = np.frombuffer(post[0], dtype=np.int32)
            tf = np.frombuffer(post[1], dtype=np.uint16).astype(np.float32)
            if allowed is not None:
                keep = allowed[docs]
                docs, tf = docs[keep], tf[keep]
            df = len(post[0])
            idf = math.log(1 + (self.ndocs - df + 0.5) / (df + 0.5))
            norm = K1 * (1 - B + B * doclen[docs] / avgdl)
            docs_parts.append(docs)
            score_parts.append(idf * tf * (K1 + 1) / (tf + norm))
        if not docs_parts:
            return []
        docs = np.concatenate(docs_parts)
        if len(docs) == 0:
            return []
        weights = np.concatenate(score_parts)
        if len(docs) > len(self.doclen) // 16:  # dense: add up over every text id
            scores = np.bincount(docs, weights=weights, minlength=len(self.doclen))
            hit = np.flatnonzero(scores)
            if len(hit) > k:
                hit = hit[np.argpartition(-scores[hit], k)[:k]]
            top = hit[np.lexsort((hit, -scores[hit]))]
            return [(int(t), float(scores[t])) for t in top]
        uniq, inv = np.unique(docs, return_inverse=True)
        summed = np.bincount(inv, weights=weights)
        order = np.argsort(-summed, kind="stable")[:k]
        return [(int(uniq[i]), float(summed[i])) for i in order]
