"""Hash -> row id for the two tables whose rows are found by a hash: `signatures` and `texts`.

SQLite keeps no index on those hashes. A hash is a random key: a batch of new keys lands on
most leaf pages of a B-tree index on it, so at a million tuples every batch of 5,000 rewrote
(into the WAL at commit, then into the database at the checkpoint) most pages of both indexes,
more of them the larger the store. Both tables are append-only (rows are never updated or
deleted; a rolled-back transaction's rows are forgotten with `reset`), so a map caught up by
id (`sync`: the primary key's range scan) is exact. A writer syncs inside its write
transaction, so no other writer can add a row between the sync and its inserts.

The map is two sorted arrays (16 bytes an entry) and a dict of the newest entries, merged
into the arrays as the dict grows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

import numpy as np

_MERGE_FROM = 1 << 16  # newest entries kept in the dict before a merge into the arrays


class HashIds:
    """`hash -> id` over one append-only table with `id INTEGER PRIMARY KEY` and `hash`."""

    def __init__(self, table: str) -> None:
        if table not in ("signatures", "texts"):
            raise ValueError(f"no hash map for table {table!r}")
        self.table = table
        self.reset()

    def reset(self) -> None:
        """Forget everything (after a rollback); the next `sync` reads the table again."""
        self.upto = 0  # the largest id seen: the table holds no id above it once synced
        self._keys = np.empty(0, np.int64)
        self._ids = np.empty(0, np.int64)
        self._new: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._keys) + len(self._new)

    def sync(self, db: sqlite3.Connection) -> None:
        """Catch up with rows added since the last sync (by anyone)."""
        rows = db.execute(
            f"SELECT hash, id FROM {self.table} WHERE id > ? ORDER BY id", (self.upto,)
        ).fetchall()
        if rows:
            self.add(rows)

    def add(self, pairs: Sequence[tuple[int, int]]) -> None:
        """`(hash, id)` of rows just inserted, in ascending id order."""
        if not pairs:
            return
        self._new.update(pairs)
        self.upto = max(self.upto, pairs[-1][1])
        if len(self._new) >= max(_MERGE_FROM, len(self._keys) >> 3):
            self._merge()

    def get(self, h: int) -> int | None:
        """The id of one hash, or None."""
        return self.get_many((h,))[0] or None

    def get_many(self, hashes: Iterable[int]) -> list[int]:
        """The id of each hash, 0 where the table has none (ids start at 1)."""
        new = self._new
        hashes = list(hashes)
        keys = self._keys
        if not len(keys):
            return [new.get(h, 0) for h in hashes]
        want = np.array(hashes, dtype=np.int64)
        at = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
        ids = np.where(keys[at] == want, self._ids[at], 0).tolist()
        for k, i in enumerate(ids):
            if not i:
                ids[k] = new.get(hashes[k], 0)
        return ids

    def _merge(self) -> None:
        """The dict's entries into the arrays: sorted on their own, then inserted where they
        go (a copy of the arrays, not a sort of them: a hash is in the arrays or the dict)."""
        n = len(self._new)
        keys = np.fromiter(self._new, np.int64, n)
        ids = np.fromiter(self._new.values(), np.int64, n)
        order = np.argsort(keys)
        keys, ids = keys[order], ids[order]
        at = np.searchsorted(self._keys, keys)
        self._keys = np.insert(self._keys, at, keys)
        self._ids = np.insert(self._ids, at, ids)
        self._new = {}
