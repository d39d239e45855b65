"""The in-memory condition index: partial signature matching and filter masks over tuples.

Exact signature, cell and tag lookups are SQLite index range scans (`knowledge.lookup`). What
SQLite cannot answer quickly is partial matching of fact sets, so this index mirrors, per tuple
id, the signature, text and operation, and keeps bitmaps over tuple ids:

- one bitmap per fact: the tuples whose pre-state had it. *Superset* matching (the stored
  conditions include every fact asked for) is an AND of a few bitmaps, scanned from the newest
  tuple down.
- one id list per *pivot pair*: each signature's two rarest facts. A stored condition is a
  *subset* of the facts asked for only if both its pivots are among them, so the candidates are
  the lists of the pairs the facts asked for make (short: rare facts are pivots), verified
  against the fact bits kept beside each id. When the lists are short they are checked whole;
  when they are long, the newest id ranges are checked first, through each tuple's pivot pair
  (`pair_of`), until `k` match.
- one id list per operation, so a filter that names the operation (the usual filter of a text
  search) starts from its tuples instead of scanning every tuple (`select`).

It is a cache of SQLite: caught up by id on every query, rebuilt when the store's generation
changes (tuples deleted). Memory is about (facts / 4 + 42) bytes per tuple, plus facts / 8
bytes per distinct signature.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np

_CHUNK = 1 << 16  # tuples per bulk step
_PAGE = 200_000  # rows read from SQLite at a time
_SCAN_IDS = 4096  # candidates in the first, newest id range a subset query checks
_ONE_PASS = 1 << 15  # up to this many candidates are checked in one pass


@dataclass(frozen=True)
class Where:
    """A condition filter over tuples; every field given must hold."""

    op: str | None = None  # `verb:target`
    verb: str | None = None
    success: bool | None = None
    cause: str | None = None
    has_facts: frozenset[str] = frozenset()  # the stored pre-state had all of these
    within_facts: frozenset[str] | None = None  # the stored pre-state had nothing else


def _grow(arr: np.ndarray, n: int, fill: int = 0) -> np.ndarray:
    if len(arr) >= n:
        return arr
    out = np.full(max(n, 2 * len(arr), 1024), fill, dtype=arr.dtype)
    out[: len(arr)] = arr
    return out


class ConditionIndex:
    def __init__(self) -> None:
        self.generation = -1
        self._reset()

    def _reset(self) -> None:
        self.last_id = 0
        self.last_sig = 0
        self.facts: dict[str, int] = {}
        self.ops: dict[str, int] = {}
        self.verbs: dict[str, int] = {}
        self.causes: dict[str, int] = {}
        # per tuple id
        self.sig = np.zeros(0, dtype=np.int32)  # 0: no tuple with this id
        self.text = np.zeros(0, dtype=np.int32)
        self.text_last = np.zeros(0, dtype=np.int64)  # per text id: its newest tuple
        self.op = np.zeros(0, dtype=np.int32)
        self.verb = np.zeros(0, dtype=np.int16)
        self.cause = np.zeros(0, dtype=np.int16)
        self.ok = np.zeros(0, dtype=np.int8)
        # per signature id: fact bits (bit f of row s: fact id f holds) and pivot fact
        self.sig_bits = np.zeros((0, 8), dtype=np.uint8)
        self.sig_pivot = np.zeros(0, dtype=np.int32)
        self.sig_pivot2 = np.zeros(0, dtype=np.int32)
        self.fact_freq = np.zeros(1, dtype=np.int64)
        # per fact id (row 0: the empty fact set as pivot): bitmaps over tuple ids
        self.fact_bm = np.zeros((1, 8), dtype=np.uint8)
        # per pivot pair (rarest fact, next rarest; 0 for none): a slot in `pivots`, whose
        # lists hold tuple ids, ascending
        self.pair_slot = np.zeros((0, 0), dtype=np.int32)
        self.pivots: list[_Postings] = []
        self.pair_of = np.zeros(0, dtype=np.int32)  # per tuple id: its pivot pair's slot
        # per operation code: its tuple ids, ascending (filters start from these, not a scan)
        self.op_ids: list[_Postings] = [_Postings()]

    # ---- catching up with SQLite --------------------------------------------------------------
    def sync(self, db: sqlite3.Connection, generation: int) -> None:
        """Take in what was committed since the last sync (call inside one read snapshot)."""
        if generation != self.generation:
            self._reset()
            self.generation = generation
        top_fact = max(self.facts.values(), default=0)
        self.facts.update(db.execute("SELECT fact, id FROM facts WHERE id > ?", (top_fact,)))
        while sigs := db.execute(
            "SELECT id, facts FROM signatures WHERE id > ? ORDER BY id LIMIT ?",
            (self.last_sig, _PAGE),
        ).fetchall():
            self._add_signatures(sigs)
        while rows := db.execute(
            "SELECT id, sig_id, text_id, verb, target, success, cause FROM tuples "
            "WHERE id > ? ORDER BY id LIMIT ?",
            (self.last_id, _PAGE),
        ).fetchall():
            self._add_tuples(rows)

    def _width(self) -> int:
        """Bytes per fact-bit row, for every fact id known."""
        return (max(self.facts.values(), default=0) + 1 + 63) // 64 * 8

    def _add_signatures(self, sigs: list[tuple[int, bytes]]) -> None:
        width, nfacts = self._width(), self._width() * 8
        if self.sig_bits.shape[1] < width:
            bits = np.zeros((len(self.sig_bits), width), dtype=np.uint8)
            bits[:, : self.sig_bits.shape[1]] = self.sig_bits
            self.sig_bits = bits
            for postings in self.pivots:
                postings.widen(width // 8)
        top = sigs[-1][0] + 1
        if len(self.sig_bits) < top:
            bits = np.zeros((max(top, 2 * len(self.sig_bits)), width), dtype=np.uint8)
            bits[: len(self.sig_bits)] = self.sig_bits
            self.sig_bits = bits
        self.sig_pivot = _grow(self.sig_pivot, top)
        self.sig_pivot2 = _grow(self.sig_pivot2, top)
        ids = np.fromiter((s[0] for s in sigs), dtype=np.int64, count=len(sigs))
        lens = np.fromiter((len(s[1]) // 4 for s in sigs), dtype=np.int64, count=len(sigs))
        flat = np.frombuffer(b"".join(s[1] for s in sigs), dtype=np.uint32).astype(np.int64)
        self.fact_freq = _grow(self.fact_freq, nfacts)
        self.fact_freq[:nfacts] += np.bincount(flat, minlength=nfacts)[:nfacts]
        rows = np.repeat(ids, lens)
        # bits are distinct within a byte, so adding them is OR-ing them
        cell = rows * width + (flat >> 3)
        np.add.at(self.sig_bits.reshape(-1), cell, (1 << (flat & 7)).astype(np.uint8))
        # pivot: the fact of the signature held by the fewest signatures
        pivots = np.zeros(len(sigs), dtype=np.int64)
        nonempty = lens > 0
        if nonempty.any():
            key = self.fact_freq[flat] * nfacts + flat
            starts = np.concatenate([[0], np.cumsum(lens)[:-1]])[nonempty]
            pivots[nonempty] = np.minimum.reduceat(key, starts) % nfacts
        self.sig_pivot[ids] = pivots
        # a second pivot (the next rarest fact) prunes most candidates before the full check
        second = np.zeros(len(sigs), dtype=np.int64)
        two = lens > 1
        if two.any():
            key = key.copy()
            first_at = np.flatnonzero(np.repeat(pivots, lens) == flat)
            _, first = np.unique(np.repeat(np.arange(len(sigs)), lens)[first_at], return_index=True)
            key[first_at[first]] = np.iinfo(np.int64).max
            starts = np.concatenate([[0], np.cumsum(lens)[:-1]])[two]
            second[two] = np.minimum.reduceat(key, starts)[: int(two.sum())] % nfacts
        self.sig_pivot2[ids] = second
        self.last_sig = int(ids[-1])

    def _intern(self, table: dict[str, int], names: list[str]) -> np.ndarray:
        out = np.empty(len(names), dtype=np.int32)
        for i, name in enumerate(names):
            code = table.get(name)
            if code is None:
                code = table[name] = len(table) + 1
            out[i] = code
        return out

    def _add_tuples(self, rows: list[tuple[int, int, int, str, str, int, str]]) -> None:
        n = len(rows)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
        top = int(ids[-1]) + 1
        for name in ("sig", "text", "op", "verb", "cause", "ok", "pair_of"):
            setattr(self, name, _grow(getattr(self, name), top))
        self.sig[ids] = np.fromiter((r[1] for r in rows), dtype=np.int32, count=n)
        texts = np.fromiter((r[2] for r in rows), dtype=np.int32, count=n)
        self.text[ids] = texts
        self.text_last = _grow(self.text_last, int(texts.max()) + 1)
        np.maximum.at(self.text_last, texts, ids)
        ops = self._intern(self.ops, [f"{r[3]}:{r[4]}" for r in rows])
        self.op[ids] = ops
        while len(self.op_ids) <= len(self.ops):
            self.op_ids.append(_Postings())
        order = np.argsort(ops, kind="stable")  # ids stay ascending within each operation
        cuts = np.flatnonzero(np.diff(ops[order])) + 1
        for part in np.split(order, cuts):
            self.op_ids[int(ops[part[0]])].extend(ids[part])
        self.verb[ids] = self._intern(self.verbs, [r[3] for r in rows])
        self.cause[ids] = self._intern(self.causes, [r[6] for r in rows])
        self.ok[ids] = np.fromiter((r[5] for r in rows), dtype=np.int8, count=n)
        self._grow_bitmaps(top)
        for start in range(0, n, _CHUNK):
            self._set_bits(ids[start : start + _CHUNK])
        self.last_id = int(ids[-1])

    def _grow_bitmaps(self, top: int) -> None:
        nbytes = (top + 63) // 64 * 8
        nfacts = self._width() * 8
        have_f, have_b = self.fact_bm.shape
        if have_f < nfacts or have_b < nbytes:
            shape = (max(nfacts, have_f), max(nbytes, 2 * have_b) // 8 * 8)
            new = np.zeros(shape, dtype=np.uint8)
            new[:have_f, :have_b] = self.fact_bm
            self.fact_bm = new

    def _set_bits(self, ids: np.ndarray) -> None:
        base = int(ids[0]) & ~7
        span = (int(ids[-1]) - base) // 8 * 8 + 8
        nfacts = self._width() * 8
        rows = np.unpackbits(self.sig_bits[self.sig[ids]], axis=1, bitorder="little")
        present = np.zeros((span, nfacts), dtype=bool)
        present[ids - base, : rows.shape[1]] = rows[:, :nfacts]
        packed = np.packbits(present, axis=0, bitorder="little")  # (span / 8, nfacts)
        b0 = base // 8
        used = np.flatnonzero(packed.any(axis=0))
        self.fact_bm[used, b0 : b0 + len(packed)] |= packed[:, used].T
        sigs = self.sig[ids]
        first, second = self.sig_pivot[sigs], self.sig_pivot2[sigs]
        if len(self.pair_slot) < nfacts:
            slots = np.full((nfacts, nfacts), -1, dtype=np.int32)
            have = len(self.pair_slot)
            slots[:have, :have] = self.pair_slot
            self.pair_slot = slots
        pairs = first.astype(np.int64) * nfacts + second
        order = np.argsort(pairs, kind="stable")  # ids stay ascending within each pair
        grouped, keys = ids[order], pairs[order]
        words = self.sig_bits.shape[1] // 8
        fact_words = self.sig_bits.view(np.uint64)[sigs[order]]
        cuts = np.flatnonzero(np.diff(keys)) + 1
        for part in np.split(np.arange(len(keys)), cuts):
            a, b = divmod(int(keys[part[0]]), nfacts)
            slot = int(self.pair_slot[a, b])
            if slot < 0:
                slot = self.pair_slot[a, b] = len(self.pivots)
                self.pivots.append(_Postings(words))
            self.pivots[slot].extend(grouped[part], fact_words[part])
            self.pair_of[grouped[part]] = slot

    # ---- queries ------------------------------------------------------------------------------
    def _fact_ids(self, facts: frozenset[str] | set[str]) -> list[int] | None:
        ids = [self.facts.get(f) for f in facts]
        return None if any(i is None for i in ids) else [int(i) for i in ids if i is not None]

    def superset(self, facts: frozenset[str], k: int) -> list[int]:
        """The `k` newest tuples whose pre-state held every fact in `facts`."""
        fids = self._fact_ids(facts)
        if fids is None:
            return []
        if not fids:
            return [int(i) for i in np.flatnonzero(self.sig)[::-1][:k]]
        acc = self.fact_bm[fids[0]]
        for f in fids[1:]:
            acc = acc & self.fact_bm[f]
        return _newest(acc, k)

    def _query_bits(self, facts: frozenset[str]) -> tuple[list[int], np.ndarray]:
        fids = [i for f in facts if (i := self.facts.get(f)) is not None]
        q = np.zeros(self.sig_bits.shape[1], dtype=np.uint8)
        for f in fids:
            q[f >> 3] |= 1 << (f & 7)
        return fids, q

    def subset(self, facts: frozenset[str], k: int) -> list[int]:
        """The `k` newest tuples whose pre-state held no fact outside `facts`."""
        fids, q = self._query_bits(facts)
        slots = self._pairs_within(fids)
        postings = [self.pivots[int(p)] for p in slots]
        total = sum(x.n for x in postings)
        if not total:
            return []
        outside = (~q).view(np.uint64)  # a signature row is a few 64-bit words
        rows = self.sig_bits.view(np.uint64)
        if total <= _ONE_PASS:  # few candidates: check them all at once, against the fact
            # bits kept beside them (scattered lookups in `sig_bits` cost about a microsecond
            # each on a small virtual machine when the cache is cold)
            cand = np.concatenate([x.view() for x in postings])
            bits = np.concatenate([x.bits_view() for x in postings])
            return _top(cand[~(bits & outside[: bits.shape[1]]).any(axis=1)], k)
        # many: id ranges, newest first, each a vectorised lookup of every id's pivot pair; every
        # match in a range is newer than those further down
        allowed = np.zeros(len(self.pivots), dtype=bool)
        allowed[slots] = True
        parts: list[np.ndarray] = []
        nfound, hi = 0, self.last_id + 1
        step = max(_SCAN_IDS, hi * _SCAN_IDS // total)
        while hi > 0 and nfound < k:
            lo = max(0, hi - step)
            cand = lo + np.flatnonzero(allowed[self.pair_of[lo:hi]] & (self.sig[lo:hi] > 0))
            part = cand[~(rows[self.sig[cand]] & outside).any(axis=1)]
            parts.append(part)
            nfound += len(part)
            hi, step = lo, 4 * step
        return _top(np.concatenate(parts), k)

    def _pairs_within(self, fids: list[int]) -> np.ndarray:
        """The slots of the pivot pairs (rarest, next rarest fact; 0 for none) that are made
        of these facts only."""
        if not len(self.pair_slot):
            return np.zeros(0, dtype=np.int32)
        fids = [f for f in fids if f < len(self.pair_slot)]
        slots = self.pair_slot[np.ix_(fids, [0, *fids])].ravel()
        return _nonneg(np.append(slots, self.pair_slot[0, 0]))

    def mask(self, where: Where) -> np.ndarray:
        """A boolean mask over tuple ids (index = id) of the tuples that pass `where`."""
        n = self.last_id + 1
        m = self.sig[:n] > 0
        if where.op is not None:
            m &= self.op[:n] == self.ops.get(where.op, -1)
        if where.verb is not None:
            m &= self.verb[:n] == self.verbs.get(where.verb, -1)
        if where.cause is not None:
            m &= self.cause[:n] == self.causes.get(where.cause, -1)
        if where.success is not None:
            m &= self.ok[:n] == int(where.success)
        if where.has_facts:
            fids = self._fact_ids(where.has_facts)
            if fids is None:
                return np.zeros(n, dtype=bool)
            acc = self.fact_bm[fids[0]]
            for f in fids[1:]:
                acc = acc & self.fact_bm[f]
            m &= np.unpackbits(acc, bitorder="little")[:n].view(bool)
        if where.within_facts is not None:
            fids, q = self._query_bits(where.within_facts)
            cand = np.zeros(n, dtype=bool)
            for p in self._pairs_within(fids):
                cand[self.pivots[int(p)].view()] = True
            m &= cand
            ids = np.flatnonzero(m)
            bad = (self.sig_bits[self.sig[ids]] & ~q).any(axis=1)
            m[ids[bad]] = False
        return m

    def ops_by_code(self) -> list[str]:
        """Operation names, indexed by their codes here (code 0, no tuple: "")."""
        names = [""] * (len(self.ops) + 1)
        for name, code in self.ops.items():
            names[code] = name
        return names

    def select(self, where: Where) -> np.ndarray:
        """The ids of the tuples that pass `where`, ascending: `mask` without its scan of every
        tuple when `where` names an operation (the filters then run over its tuples only)."""
        if where.op is None:
            return np.flatnonzero(self.mask(where))
        code = self.ops.get(where.op)
        if code is None:
            return np.zeros(0, dtype=np.int64)
        ids = self.op_ids[code].view()
        ids.setflags(write=False)  # the index's own list, unless a filter below copies it
        if where.verb is not None:
            ids = ids[self.verb[ids] == self.verbs.get(where.verb, -1)]
        if where.cause is not None:
            ids = ids[self.cause[ids] == self.causes.get(where.cause, -1)]
        if where.success is not None:
            ids = ids[self.ok[ids] == int(where.success)]
        if where.has_facts:
            fids = self._fact_ids(where.has_facts)
            if fids is None:
                return np.zeros(0, dtype=np.int64)
            for f in fids:
                bitmap = self.fact_bm[f]
                ids = ids[(bitmap[ids >> 3] >> (ids & 7).astype(np.uint8)) & 1 == 1]
        if where.within_facts is not None:
            _, q = self._query_bits(where.within_facts)
            ids = ids[~(self.sig_bits[self.sig[ids]] & ~q).any(axis=1)]
        return ids

    def nbytes(self) -> int:
        arrays: list[np.ndarray] = [self.sig, self.text, self.text_last, self.op, self.verb]
        arrays += [
            self.cause,
            self.ok,
            self.sig_bits,
            self.sig_pivot,
            self.sig_pivot2,
            self.pair_of,
        ]
        arrays.append(self.fact_bm)
        arrays.append(self.pair_slot)
        postings = [*self.pivots, *self.op_ids]
        return sum(a.nbytes for a in arrays) + sum(p.nbytes for p in postings)


class _Postings:
    """A growable ascending array of tuple ids; with `words`, each id's fact bits beside it
    (the signature row, as 64-bit words), so checking the list reads it front to back."""

    def __init__(self, words: int = 0) -> None:
        self.buf = np.zeros(16, dtype=np.int64)
        self.bits = np.zeros((16, words), dtype=np.uint64) if words else None
        self.n = 0

    def extend(self, ids: np.ndarray, bits: np.ndarray | None = None) -> None:
        if self.n + len(ids) > len(self.buf):
            size = max(2 * len(self.buf), self.n + len(ids))
            buf = np.zeros(size, dtype=np.int64)
            buf[: self.n] = self.buf[: self.n]
            self.buf = buf
            if self.bits is not None:
                wide = np.zeros((size, self.bits.shape[1]), dtype=np.uint64)
                wide[: self.n] = self.bits[: self.n]
                self.bits = wide
        self.buf[self.n : self.n + len(ids)] = ids
        if self.bits is not None and bits is not None:
            self.bits[self.n : self.n + len(ids), : bits.shape[1]] = bits
        self.n += len(ids)

    def widen(self, words: int) -> None:
        """Room for more fact bits (new facts: the tuples listed so far hold none of them)."""
        if self.bits is not None and self.bits.shape[1] < words:
            wide = np.zeros((len(self.bits), words), dtype=np.uint64)
            wide[:, : self.bits.shape[1]] = self.bits
            self.bits = wide

    def view(self) -> np.ndarray:
        return self.buf[: self.n]

    def bits_view(self) -> np.ndarray:
        assert self.bits is not None
        return self.bits[: self.n]

    @property
    def nbytes(self) -> int:
        return int(self.buf.nbytes) + (0 if self.bits is None else int(self.bits.nbytes))


def _top(ids: np.ndarray, k: int) -> list[int]:
    """The `k` largest ids, largest first."""
    if len(ids) > k:
        ids = ids[np.argpartition(ids, len(ids) - k)[len(ids) - k :]]
    return [int(i) for i in np.sort(ids)[::-1]]


def _nonneg(slots: np.ndarray) -> np.ndarray:
    return np.unique(slots[slots >= 0])


def _newest(bitmap: np.ndarray, k: int) -> list[int]:
    words = bitmap.view(np.uint64)
    nz = np.flatnonzero(words)
    if len(nz) == 0:
        return []
    last = nz[-k:]  # each non-zero word holds at least one id
    bits = np.unpackbits(words[last].view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    r, c = np.nonzero(bits.reshape(len(last), 64))
    ids = np.sort(last[r] * 64 + c)[::-1][:k]
    return [int(i) for i in ids]
