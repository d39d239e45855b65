"""The in-memory hash -> id maps that stand in for SQLite indexes on random keys."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from knowledge import hashids
from knowledge.hashids import HashIds


def _table(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE texts (id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, text TEXT)")
    return db


def test_the_map_agrees_with_the_table_across_merges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hashids, "_MERGE_FROM", 8)  # merge often
    rng = random.Random(3)
    hashes = list({rng.getrandbits(64) - 2**63 for _ in range(300)})
    assert len(hashes) == 300
    writer = _table(tmp_path / "t.sqlite")
    reader = sqlite3.connect(tmp_path / "t.sqlite")
    seen = HashIds("texts")
    mine = HashIds("texts")  # the writer's own map, fed by `add`
    for start in range(0, 300, 37):  # rows arrive in batches; `seen` catches up by id
        part = [(start + k + 1, h, "x") for k, h in enumerate(hashes[start : start + 37])]
        writer.executemany("INSERT INTO texts VALUES (?, ?, ?)", part)
        mine.add([(h, i) for i, h, _ in part])
        seen.sync(reader)
        assert seen.upto == mine.upto == part[-1][0]
    for m in (seen, mine):
        assert len(m) == 300 and len(m._keys) > 0  # merged at least once
        assert m.get_many(hashes) == list(range(1, 301))
        assert [m.get(h) for h in hashes[::17]] == list(range(1, 301, 17))
        absent = [h + 1 for h in hashes if h + 1 not in set(hashes)][:20]
        assert m.get_many(absent) == [0] * len(absent)
        assert m.get(absent[0]) is None
    seen.reset()
    assert len(seen) == 0 and seen.upto == 0 and seen.get(hashes[0]) is None
    seen.sync(reader)
    assert seen.get_many(hashes) == list(range(1, 301))


def test_only_the_two_hashed_tables() -> None:
    with pytest.raises(ValueError, match="tuples"):
        HashIds("tuples")
