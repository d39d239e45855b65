"""The indices over tier 1 agree with a scan; tier-2 summaries; recall over the indices; the
upgrade of schema-1 stores."""

from __future__ import annotations

import json
import random
import sqlite3
import zlib
from pathlib import Path

import numpy as np
import pytest
from store_data import FACTS, make_tuples

from knowledge import ExperienceStore, RecallQuery, recall
from knowledge.codec import COLUMNS
from knowledge.conditions import Where
from knowledge.signature import cell_of, neighbourhood, signature
from knowledge.store import SCHEMA_VERSION
from sim.schema import WorldState


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[ExperienceStore, list]:
    store = ExperienceStore(tmp_path_factory.mktemp("idx") / "k.sqlite")
    tups = make_tuples(6400)
    store.anchor_many(tups[:1200])  # one batch on the store's connection
    for t in tups[1200:1300]:
        store.anchor(t)  # one at a time
    store.anchor_many(tups[1300:3850])  # the first bulk one (starts the writer process)
    store.anchor_many(tups[3850:])  # and one by the writer process
    assert store._anchorer._process is not None
    return store, store.tuples()


def _newest(tups: list, pred, k: int = 10) -> list[int]:
    return [t.id for t in reversed(tups) if pred(t)][:k]


@pytest.mark.parametrize("compress", [True, False, None])
def test_tuples_come_back_as_anchored(tmp_path: Path, compress: bool | None) -> None:
    store = ExperienceStore(tmp_path / "k.sqlite", compress=compress)
    tups = make_tuples(1500)
    ids = store.anchor_many(tups)
    assert ids == list(range(1, 1501))
    again = ExperienceStore(tmp_path / "k.sqlite").tuples()
    assert [t.model_dump() for t in again] == [t.model_dump() for t in tups]
    assert store.get_tuple(7) == tups[6]
    with pytest.raises(KeyError):
        store.get_tuple(9999)


def _changed_post(rng: random.Random, pre: WorldState) -> WorldState:
    """A post-state that differs from `pre` the ways attempts do, and some they rarely do."""
    inv = dict(pre.inventory)
    for _ in range(rng.randint(0, 3)):
        inv[rng.choice(["stick", "log", "stone", "coal"])] = rng.randint(0, 9)
    if inv and rng.random() < 0.3:
        inv.pop(rng.choice(sorted(inv)))
    update: dict = {"inventory": inv, "tick": pre.tick + rng.randint(0, 50)}
    if rng.random() < 0.3:
        update["inventory"] = {}
    if rng.random() < 0.3:
        update["equipped"] = rng.choice([None, "wooden_pickaxe"])
    if rng.random() < 0.3:
        update["health"] = rng.choice([20.0, 3.5, float("inf")])
    if rng.random() < 0.3:
        update["nearby_blocks"] = {"stone": rng.randint(1, 3)} if rng.random() < 0.5 else {}
    if rng.random() < 0.2:
        update["object_states"] = {"fridge": ["open"]}
    return pre.model_copy(update=update)


def test_bodies_round_trip_with_the_post_state_as_a_delta(tmp_path: Path) -> None:
    rng = random.Random(3)
    tups = make_tuples(400, seed=6)
    for t in tups:
        inv = {k: rng.randint(1, 5) for k in rng.sample(["stick", "log", "stone", "coal"], 3)}
        if rng.random() < 0.5:
            t.pre_state = t.pre_state.model_copy(
                update={"inventory": inv, "durability": {"wooden_pickaxe": 10}, "dead": True}
            )
        t.post_state = _changed_post(rng, t.pre_state)
    for compress in (True, False):
        store = ExperienceStore(tmp_path / f"k{compress}.sqlite", compress=compress)
        store.anchor_many(tups)
        assert [t.model_dump() for t in store.tuples()] == [t.model_dump() for t in tups]
        if compress:  # bodies written by earlier versions (the whole post-state) still read
            a, b = [t for t in tups if abs(t.post_state.health) < 100][:2]
            old = a.model_dump_json(exclude=COLUMNS, exclude_defaults=True).encode()
            rows = [(b"z" + zlib.compress(old, 1, -15), a.id)]
            rows.append((b.model_dump_json(exclude=COLUMNS), b.id))
            store.db.executemany("UPDATE tuples SET body = ? WHERE id = ?", rows)
            assert store.get_tuples([a.id, b.id]) == [a, b]


def test_bulk_batches_keep_bodies_plain_and_small_ones_deflate(tmp_path: Path) -> None:
    store = ExperienceStore(tmp_path / "k.sqlite")  # compress=None: by batch size
    tups = make_tuples(1200)
    store.anchor_many(tups[:1100])
    for t in tups[1100:]:
        store.anchor(t)
    kinds = [r[0][:1] for r in store.db.execute("SELECT body FROM tuples ORDER BY id")]
    assert kinds == [b"d"] * 1100 + [b"D"] * 100
    assert [t.model_dump() for t in store.tuples()] == [t.model_dump() for t in tups]


def _recount(tups: list) -> dict[tuple[str, str], dict]:
    """Every summary, counted again from the tuples."""
    out: dict[tuple[str, str], dict] = {}
    for t in tups:
        op = f"{t.action.verb}:{t.action.target}"
        keys = [("op", op), ("verb", t.action.verb), ("goal", t.task_goal)]
        keys += [("episode", t.episode_id), ("signature", f"{t.signature}|{op}")]
        keys += [("family", t.task_family)] if t.task_family else []
        d = t.diagnosis
        for key in keys:
            s = out.setdefault(key, {"attempts": 0, "successes": 0, "ticks": 0, "steps": 0})
            s["attempts"] += 1
            s["successes"] += int(d.success)
            s["ticks"] += d.diff.ticks
            s["steps"] += d.steps
            s["last_tuple"] = t.id
            s.setdefault("causes", {}).setdefault(d.cause.value, 0)
            s["causes"][d.cause.value] += 1
    return out


def test_summaries_agree_with_a_recount(filled) -> None:
    store, tups = filled
    want = _recount(tups)
    got = {}
    for kind in ("op", "verb", "goal", "family", "episode", "signature"):
        for s in store.summaries(kind):
            got[(kind, s["key"])] = {
                "attempts": s["attempts"],
                "successes": s["successes"],
                "ticks": round(s["mean_ticks"] * s["attempts"]),
                "steps": round(s["mean_steps"] * s["attempts"]),
                "last_tuple": s["last_tuple"],
                "causes": s["causes"],
            }
    assert got == want
    assert len({k for k in got if k[0] == "signature"}) > 1000


def _agree(look, tups: list, t0, few: frozenset[str], many: frozenset[str]) -> None:
    same = set(t0.facts)
    assert look.by_signature(t0.facts) == _newest(tups, lambda t: set(t.facts) == same)
    assert look.by_signature(sig=signature(t0.facts)) == look.by_signature(t0.facts)
    assert look.by_signature(few, mode="superset") == _newest(tups, lambda t: few <= set(t.facts))
    assert look.by_signature(many, mode="subset") == _newest(tups, lambda t: set(t.facts) <= many)
    cell = cell_of(t0.pre_state.position)
    near = set(neighbourhood(cell, 1))
    assert look.by_cell(cell) == _newest(tups, lambda t: cell_of(t.pre_state.position) in near)
    tags = set(t0.tags[:2])
    assert look.by_tags(tags) == _newest(tups, lambda t: tags <= set(t.tags))
    assert look.by_tags(tags, match_all=False) == _newest(tups, lambda t: tags & set(t.tags))


def test_lookups_agree_with_a_scan(filled) -> None:
    store, tups = filled
    look, rng = store.lookup, random.Random(1)
    for _ in range(40):
        few = frozenset(rng.sample(FACTS, rng.randint(0, 2)))
        many = frozenset(rng.sample(FACTS, rng.randint(5, 40)))
        _agree(look, tups, rng.choice(tups), few, many)
    assert look.by_signature(["no-such-fact"], mode="superset") == []
    assert look.by_tags(["no-such-tag"]) == []


def test_subset_matching_by_id_ranges_agrees_with_a_scan(filled, monkeypatch) -> None:
    from knowledge import conditions

    monkeypatch.setattr(conditions, "_ONE_PASS", 0)  # always the newest-ranges-first path
    monkeypatch.setattr(conditions, "_SCAN_IDS", 64)
    store, tups = filled
    look, rng = store.lookup, random.Random(4)
    for _ in range(40):
        many = frozenset(rng.sample(FACTS, rng.randint(3, 40)))
        for k in (1, 10, 200):
            want = _newest(tups, lambda t, m=many: set(t.facts) <= m, k)
            assert look.by_signature(many, mode="subset", limit=k) == want


def test_subset_matching_after_new_facts_widen_the_fact_bits(tmp_path: Path) -> None:
    store = ExperienceStore(tmp_path / "k.sqlite")
    tups = make_tuples(300)
    store.anchor_many(tups[:150])
    look = store.lookup
    assert look.by_signature(set(FACTS), mode="subset", limit=5)  # the index exists, narrow
    rng = random.Random(8)
    wide = [f"new:{i}" for i in range(150)]  # past 64 and 128 fact ids
    for t in tups[150:]:
        t.facts = sorted(set(t.facts) | set(rng.sample(wide, rng.randint(0, 3))))
        t.signature = ""
    store.anchor_many(tups[150:])
    every = store.tuples()
    for _ in range(30):
        many = frozenset(rng.sample(FACTS, rng.randint(5, 40)) + rng.sample(wide, 100))
        want = _newest(every, lambda t, m=many: set(t.facts) <= m, 20)
        assert look.by_signature(many, mode="subset", limit=20) == want


def test_where_filters_and_bm25(filled) -> None:
    store, tups = filled
    look = store.lookup
    assert not look.vector_ready  # no embedder: text search is BM25
    where = Where(op="mine:iron_ore", success=False)
    want = {t.id for t in tups if t.action.key() == "mine:iron_ore" and not t.diagnosis.success}
    assert set(look.where(where).tolist()) == want
    found = look.search("mine iron ore failed", k=5, where=where)
    assert found and {tid for tid, _ in found} <= want
    scores = [s for _, s in found]
    assert scores == sorted(scores, reverse=True)
    assert look.search("craft stick", k=3)[0][0] in {
        t.id for t in tups if t.action.key() == "craft:stick"
    }


def test_select_by_operation_agrees_with_the_mask(filled) -> None:
    store, tups = filled
    cond, rng = store.lookup._synced_conditions(), random.Random(2)
    for _ in range(60):
        t = rng.choice(tups)
        where = Where(
            op=rng.choice([t.action.key(), "craft:stick", "no:such"]),
            verb=rng.choice([None, t.action.verb, "mine"]),
            success=rng.choice([None, True, False]),
            cause=rng.choice([None, t.diagnosis.cause.value]),
            has_facts=frozenset(rng.sample(t.facts, min(len(t.facts), rng.randint(0, 2)))),
            within_facts=rng.choice([None, frozenset(rng.sample(FACTS, 30))]),
        )
        assert cond.select(where).tolist() == np.flatnonzero(cond.mask(where)).tolist()


def test_index_catches_up_with_another_writer(tmp_path: Path) -> None:
    path = tmp_path / "k.sqlite"
    reader, writer = ExperienceStore(path), ExperienceStore(path)
    writer.anchor_many(make_tuples(50))
    assert len(reader.lookup.by_signature([], mode="superset", limit=100)) == 50
    writer.anchor_many(make_tuples(30, seed=5, run="r2"))
    assert len(reader.lookup.by_signature([], mode="superset", limit=100)) == 80


def test_summaries_by_family_verb_signature_and_episode(filled) -> None:
    store, tups = filled
    ops = [t for t in tups if t.action.key() == "mine:stone"]
    s = store.summary("op", "mine:stone")
    assert s is not None and s["attempts"] == len(ops)
    assert s["successes"] == sum(t.diagnosis.success for t in ops)
    assert s["mean_ticks"] == pytest.approx(sum(t.diagnosis.diff.ticks for t in ops) / len(ops))
    assert sum(s["causes"].values()) == s["attempts"] and s["common_causes"]
    fam = store.summary("family", "wooden")
    assert fam is not None and fam["attempts"] == sum(t.task_family == "wooden" for t in tups)
    assert sum(x["attempts"] for x in store.summaries("verb")) == len(tups)
    t0 = tups[17]
    key = f"{t0.signature}|{t0.action.key()}"
    same = [t for t in tups if t.signature == t0.signature and t.action.key() == t0.action.key()]
    sig = store.summary("signature", key)
    assert sig is not None and sig["attempts"] == len(same) and sig["key"] == key
    assert key in {x["key"] for x in store.summaries("signature", prefix=f"{t0.signature}|")}
    assert store.summary("signature", "nonsense|x") is None
    ep = store.summary("episode", t0.episode_id)
    assert ep is not None and ep["attempts"] == sum(t.episode_id == t0.episode_id for t in tups)


def test_recall_combines_the_indices(filled) -> None:
    store, tups = filled
    t0 = next(t for t in reversed(tups) if not t.diagnosis.success)
    plain = recall(store, RecallQuery(goal="iron_pickaxe", facts=frozenset(t0.facts)))
    assert all(i.kind != "experience" for i in plain.items)  # unchanged unless asked
    q = RecallQuery(
        goal="iron_pickaxe",
        facts=frozenset(t0.facts),
        cell=cell_of(t0.pre_state.position),
        tags=frozenset(t0.tags),
        text=f"{t0.action.verb} {t0.action.target} failed",
    )
    brief = recall(store, q, budget_tokens=400)
    exp = [i for i in brief.items if i.kind == "experience"]
    assert exp and t0.id in {i.id for i in exp}
    assert all(i.evidence == [i.id] for i in exp)
    assert sum(len(i.text) // 4 + 1 for i in brief.items) <= 400
    scores = [i.score for i in brief.items]
    assert scores == sorted(scores, reverse=True)


def test_schema_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    tups = make_tuples(5)
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('schema', '1');"
        "CREATE TABLE tuples (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, episode_id TEXT,"
        " task_id TEXT, task_goal TEXT, step INTEGER, verb TEXT, target TEXT, success INTEGER,"
        " cause TEXT, signature TEXT, created_at REAL, body TEXT);"
        "CREATE INDEX tuples_op ON tuples (verb, target);"
        "CREATE TABLE tags (tag TEXT NOT NULL, tuple_id INTEGER NOT NULL);"
        "CREATE TABLE summaries (kind TEXT, key TEXT, attempts INTEGER, successes INTEGER,"
        " ticks INTEGER, causes TEXT, last_tuple INTEGER, PRIMARY KEY (kind, key));"
        "CREATE TABLE episodes (episode_id TEXT PRIMARY KEY, run_id TEXT, task_id TEXT,"
        " success INTEGER, body TEXT);"
        "CREATE TABLE skills (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE,"
        " target TEXT, retired INTEGER, body TEXT);"
        "CREATE TABLE guardrails (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE,"
        " forbidden TEXT, retired INTEGER, body TEXT);"
    )
    for i, t in enumerate(tups):
        body = json.loads(t.model_dump_json(exclude={"id", "task_family"}))
        body["created_at"] = 1000.0 + i
        db.execute(
            "INSERT INTO tuples VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (i * 2 + 1, t.run_id, t.episode_id, t.task_id, t.task_goal, t.step, t.action.verb,
             t.action.target, int(t.diagnosis.success), t.diagnosis.cause.value,
             signature(t.facts), 1000.0 + i, json.dumps(body)),
        )  # fmt: skip
    db.commit()
    db.close()
    store = ExperienceStore(path)
    got = store.tuples()
    assert [t.id for t in got] == [1, 3, 5, 7, 9]  # ids (and so evidence) survive
    assert [t.action for t in got] == [t.action for t in tups]
    assert store.summary("op", tups[0].action.key()) is not None
    assert store.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0] == str(
        SCHEMA_VERSION
    )
    assert store.anchor(make_tuples(1, seed=9)[0]) == 10


def _hash_indexes(db: sqlite3.Connection) -> list[str]:
    return [
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_master "
            "WHERE type='index' AND tbl_name IN ('signatures', 'texts')"
        )
    ]


def test_schema_2_store_is_upgraded_in_place(tmp_path: Path) -> None:
    """Schema 2 kept unique indexes on the hashes of signatures and texts; 3 drops them."""
    path = tmp_path / "v2.sqlite"
    tups = make_tuples(40)
    store = ExperienceStore(path, embedder="hashing")
    store.anchor_many(tups)
    texts = store.db.execute("SELECT id, hash, text FROM texts ORDER BY id").fetchall()
    sigs = store.db.execute("SELECT id, hash, facts FROM signatures ORDER BY id").fetchall()
    store.close()
    db = sqlite3.connect(path)  # the same rows, laid out as schema 2 laid them out
    db.executescript(
        "DROP TABLE texts; DROP TABLE signatures;"
        "CREATE TABLE signatures (id INTEGER PRIMARY KEY, hash INTEGER NOT NULL UNIQUE,"
        " facts BLOB NOT NULL);"
        "CREATE TABLE texts (id INTEGER PRIMARY KEY, hash INTEGER NOT NULL UNIQUE,"
        " text TEXT NOT NULL);"
        "UPDATE meta SET value='2' WHERE key='schema';"
    )
    db.executemany("INSERT INTO texts VALUES (?,?,?)", texts)
    db.executemany("INSERT INTO signatures VALUES (?,?,?)", sigs)
    db.commit()
    assert len(_hash_indexes(db)) == 2
    db.close()

    store = ExperienceStore(path, embedder="hashing")
    assert _hash_indexes(store.db) == []
    assert store.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0] == str(
        SCHEMA_VERSION
    )
    assert store.db.execute("SELECT id, hash, text FROM texts ORDER BY id").fetchall() == texts
    assert store.db.execute("SELECT id, hash, facts FROM signatures ORDER BY id").fetchall() == sigs
    t0 = tups[0]
    assert t0.id in store.lookup.by_signature(sig=t0.signature, limit=100)
    assert store.summary("signature", f"{t0.signature}|{t0.action.key()}") is not None
    again = t0.model_copy(update={"id": None})  # same text and signature as a stored tuple
    store.anchor(again)
    assert store.db.execute("SELECT COUNT(*) FROM texts").fetchone()[0] == len(texts)
    assert store.db.execute("SELECT COUNT(*) FROM signatures").fetchone()[0] == len(sigs)
    assert store.lookup.by_signature(sig=t0.signature, limit=1) == [again.id]
