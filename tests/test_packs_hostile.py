"""Nothing a pack can send can break the store (issue 27): hostile knowledge packs are refused
before anything is written, with an error naming the file, the line and the record, and the
store is left as it was and readable."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from store_data import make_tuples
from typer.testing import CliRunner

from agent.cli import app
from knowledge import ExperienceStore, Guardrail, Skill, packs
from knowledge.packs import PackError, export_pack, import_pack, read_pack
from sim.schema import FailureCause, Subgoal

Record = dict[str, Any]


def _store(path: Path) -> ExperienceStore:
    store = ExperienceStore(path)
    ids = store.anchor_many(make_tuples(12))
    store.put_skill(
        Skill(name="obtain:stick", target="stick", steps=[Subgoal(verb="craft", target="stick")],
              evidence=ids[:3], confidence=0.9)
    )  # fmt: skip
    store.put_guardrail(
        Guardrail(root_cause=FailureCause.WRONG_TOOL, forbidden="mine:iron_ore",
                  unless=["pickaxe>=stone"], evidence=[ids[5]], confidence=0.4,
                  remedy=[Subgoal(verb="craft", target="stone_pickaxe")],
                  remedy_evidence=[ids[9]])
    )  # fmt: skip
    return store


def _snapshot(store: ExperienceStore) -> tuple:
    """Counts and every record, read back through the schema (so also: the store is readable)."""
    return (
        store.stats(),
        [t.model_dump() for t in store.tuples()],
        [s.model_dump() for s in store.skills(include_retired=True)],
        [g.model_dump() for g in store.guardrails(include_retired=True)],
    )


def _write(path: Path, header: Record, records: list[Any], *, raw: list[str] = ()) -> Path:
    """A pack with a correct end record (count and digest), so that only the planted fault can
    be what refuses it; `raw` lines go in verbatim after the records."""
    lines = [json.dumps(header) + "\n", *(json.dumps(r) + "\n" for r in records)]
    lines += [line + "\n" for line in raw]
    digest = hashlib.sha256("".join(lines).encode()).hexdigest()
    end = {"kind": "end", "records": len(records) + len(raw), "sha256": digest}
    data = "".join(lines) + json.dumps(end) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(data.encode()))
    else:
        path.write_text(data)
    return path


def _records(pack: Path) -> tuple[Record, list[Record]]:
    lines = [json.loads(line) for line in pack.read_text().splitlines()]
    return lines[0], lines[1:-1]


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    """A good pack: 5 cited tuples, one skill, one guardrail."""
    path = tmp_path / "k.jsonl"
    export_pack(_store(tmp_path / "src.sqlite"), path)
    return path


@pytest.fixture
def dst(tmp_path: Path) -> ExperienceStore:
    store = ExperienceStore(tmp_path / "dst.sqlite")
    store.anchor_many(make_tuples(3, seed=8, run="mine"))
    return store


def _edit(pack: Path, change: Callable[[Record, list[Record]], Any]) -> Path:
    header, records = _records(pack)
    change(header, records)
    return _write(pack, header, records)


def _first(records: list[Record], kind: str) -> Record:
    return next(r["data"] for r in records if r["kind"] == kind)


def _refused(store: ExperienceStore, pack: Path, match: str) -> PackError:
    """Import `pack`, expect a `PackError` matching `match`, and check the store is unchanged
    and still reads back whole."""
    before = _snapshot(store)
    with pytest.raises(PackError, match=match) as err:
        import_pack(store, pack)
    assert _snapshot(store) == before
    return err.value


def test_the_good_pack_imports(pack: Path, dst: ExperienceStore) -> None:
    report = import_pack(dst, pack)
    assert report["tuples_added"] == 5 and report["skills_added"] == 1
    assert report["guardrails_added"] == 1


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_confidence_is_refused(pack: Path, dst: ExperienceStore, value: float) -> None:
    """The probe: `confidence: NaN` imported, was stored as null, and no command could read the
    store after. json.dumps writes NaN and Infinity as the bare words a pack would carry."""
    _edit(pack, lambda h, rs: _first(rs, "skill").update(confidence=value))
    _refused(dst, pack, r"k\.jsonl:7: skills\[0\]\.confidence: not a finite number")


def test_a_number_too_big_for_a_float_is_refused(pack: Path, dst: ExperienceStore) -> None:
    text = pack.read_text().replace('"confidence": 0.4', '"confidence": 1e999')
    header, records = json.loads(text.splitlines()[0]), text.splitlines()[1:-1]
    _write(pack, header, [], raw=records)
    _refused(dst, pack, r"guardrails\[0\]\.confidence: not a finite number")


@pytest.mark.parametrize(("value", "says"), [(1.5, "less than or equal to 1"), (-0.1, "greater")])
def test_a_confidence_out_of_0_1_is_refused(
    pack: Path, dst: ExperienceStore, value: float, says: str
) -> None:
    _edit(pack, lambda h, rs: _first(rs, "guardrail").update(confidence=value))
    _refused(dst, pack, rf"k\.jsonl:8: guardrails\[0\]\.confidence: Input should be .*{says}")


def test_a_nan_anywhere_in_a_tuple_is_refused(pack: Path, dst: ExperienceStore) -> None:
    """The world's states are not this package's schema, so the check is on the JSON itself."""
    _edit(pack, lambda h, rs: _first(rs, "tuple")["pre_state"].update(health=math.nan))
    _refused(dst, pack, r"k\.jsonl:2: tuples\[0\]\.pre_state\.health: not a finite number")
    _edit(pack, lambda h, rs: _first(rs, "tuple")["pre_state"].update(health=20.0))
    _edit(pack, lambda h, rs: rs[2]["data"]["diagnosis"]["details"].update(x=-math.inf))
    _refused(dst, pack, r"tuples\[2\]\.diagnosis\.details\.x: not a finite number")


def test_an_integer_sqlite_cannot_hold_is_refused(pack: Path, dst: ExperienceStore) -> None:
    _edit(pack, lambda h, rs: _first(rs, "tuple").update(step=2**70))
    _refused(dst, pack, r"tuples\[0\]\.step: an integer out of the 64-bit range")
    text = pack.read_text()
    pack.write_text(text.replace('"step": 1180591620717411303424', '"step": 1' + "0" * 5000))
    _refused(dst, pack, r"k\.jsonl:2: corrupt pack \(bad JSON")


@pytest.mark.parametrize("record", [5, None, "skill", [1, 2], True])
def test_a_record_that_is_not_an_object_is_refused(
    pack: Path, dst: ExperienceStore, record: Any
) -> None:
    """The probe: a record `5` or `null` ended in a TypeError traceback."""
    _edit(pack, lambda h, rs: rs.insert(1, record))
    _refused(dst, pack, r"k\.jsonl:3: a record is an object, not (a|an|null)")


@pytest.mark.parametrize("data", [5, None, "x", [{}]])
def test_a_record_whose_data_is_not_an_object_is_refused(
    pack: Path, dst: ExperienceStore, data: Any
) -> None:
    _edit(pack, lambda h, rs: rs.insert(5, {"kind": "skill", "data": data}))
    _refused(dst, pack, r"k\.jsonl:7: skills\[0\]: not an object but")


def test_a_header_that_is_not_an_object_is_refused(pack: Path, dst: ExperienceStore) -> None:
    _, records = _records(pack)
    pack.write_text("5\n" + "".join(json.dumps(r) + "\n" for r in records))
    _refused(dst, pack, r"k\.jsonl:1: not a knowledge pack")


def test_an_unknown_kind_is_refused_and_quoted_short(pack: Path, dst: ExperienceStore) -> None:
    _edit(pack, lambda h, rs: rs.insert(0, {"kind": "x" * 10_000, "data": {}}))
    err = _refused(dst, pack, r"k\.jsonl:2: unknown record kind 'xxx")
    assert len(str(err)) < 200 + len(str(pack))


@pytest.mark.parametrize("where", ["record", "data", "header"])
def test_nesting_100k_deep_is_refused(pack: Path, dst: ExperienceStore, where: str) -> None:
    """The probe: a record nested 100,000 deep ended in a RecursionError traceback."""
    deep = "[" * 100_000 + "]" * 100_000
    header, records = _records(pack)
    if where == "header":
        lines = [json.dumps(header)[:-1] + f', "x": {deep}}}']
        pack.write_text("\n".join(lines + [json.dumps(r) for r in records]) + "\n")
        _refused(dst, pack, r"k\.jsonl:1: nested deeper than 32 levels")
        return
    line = deep if where == "record" else f'{{"kind": "skill", "data": {{"steps": {deep}}}}}'
    _write(pack, header, records, raw=[line])
    _refused(dst, pack, r"k\.jsonl:9: nested deeper than 32 levels")


def test_nesting_the_parser_reads_is_capped_too(pack: Path, dst: ExperienceStore) -> None:
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    _edit(pack, lambda h, rs: _first(rs, "tuple")["action"]["args"].update(x=deep))
    _refused(dst, pack, r"tuples\[0\]\.action\.args\.x(\[0\])+: nested deeper than 32 levels")


def test_long_strings_and_long_lists_are_refused(
    pack: Path, dst: ExperienceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _edit(pack, lambda h, rs: _first(rs, "skill").update(name="n" * (packs.MAX_STRING + 1)))
    _refused(dst, pack, r"skills\[0\]\.name: a string longer than 65536 characters")
    monkeypatch.setattr(packs, "MAX_ITEMS", 20)  # a tuple's largest object has 16 entries
    _edit(pack, lambda h, rs: _first(rs, "skill").update(name="ok", preconditions=["f"] * 21))
    _refused(dst, pack, r"skills\[0\]\.preconditions: more than 20 items")


def test_a_line_past_the_record_cap_is_refused_unread(
    pack: Path, dst: ExperienceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packs, "MAX_LINE_BYTES", 4 << 10)  # a tuple's line is about 1.5 KiB
    _edit(pack, lambda h, rs: _first(rs, "skill").update(name="n" * 5000))
    _refused(dst, pack, r"k\.jsonl:7: a record longer than 4096 bytes")


def _bomb(path: Path, mib: int, unit: bytes = b"\0") -> Path:
    """A gzip that inflates to `mib` MiB from about a KiB per MiB: one compressed MiB repeated
    as gzip members (a reader must inflate them all), so the test builds it in milliseconds."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    member = squeeze.compress(unit * ((1 << 20) // len(unit))) + squeeze.flush()
    path.write_bytes(member * mib)
    return path


def test_a_gzip_bomb_is_refused_while_streaming(tmp_path: Path, dst: ExperienceStore) -> None:
    """The probe: a 1 MB gzip inflating to 1 GB was refused only after 15.7 s at 2.1 GB RSS.
    Here 300 MiB from ~300 KiB: refused at the default 256 MiB cap holding one chunk."""
    bomb = _bomb(tmp_path / "bomb.jsonl.gz", 300)
    assert bomb.stat().st_size < 1 << 20
    before = _snapshot(dst)
    tracemalloc.start()
    try:
        with pytest.raises(PackError, match=r"bomb\.jsonl\.gz: larger than 256 MiB"):
            import_pack(dst, bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20
    assert _snapshot(dst) == before


def test_a_bomb_of_lines_is_refused_at_the_record_cap(
    tmp_path: Path, dst: ExperienceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packs, "MAX_RECORDS", 1000)
    bomb = _bomb(tmp_path / "lines.gz", 2, unit=b"{}\n")
    _refused(dst, bomb, r"lines\.gz: more than 1000 records")


def test_a_bomb_of_good_records_never_reaches_the_parser(
    pack: Path, tmp_path: Path, dst: ExperienceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Valid records repeated compress as well as zeros; the size is refused before any line is
    parsed (or held), so a bomb costs one pass of inflating, not memory for its records."""
    header, records = _records(pack)
    gz = _write(tmp_path / "big.jsonl.gz", header, records * 200)
    monkeypatch.setattr(packs, "MAX_PACK_BYTES", gzip.decompress(gz.read_bytes()).__len__() - 1)

    def parse(*_: Any) -> None:
        raise AssertionError("parsed a line of a pack past the cap")

    monkeypatch.setattr(packs, "_parse", parse)
    _refused(dst, gz, r"big\.jsonl\.gz: larger than")


def test_a_gzip_pack_under_the_caps_imports(pack: Path, tmp_path: Path) -> None:
    header, records = _records(pack)
    gz = _write(tmp_path / "k.jsonl.gz", header, records)
    assert import_pack(ExperienceStore(tmp_path / "d.sqlite"), gz)["skills_added"] == 1


def test_a_broken_gzip_is_refused(pack: Path, tmp_path: Path, dst: ExperienceStore) -> None:
    data = gzip.compress(pack.read_bytes())
    broken = tmp_path / "broken.gz"
    broken.write_bytes(data[: len(data) // 2])
    _refused(dst, broken, r"broken\.gz: not a readable knowledge pack")
    broken.write_bytes(data[:20] + b"\xff" * 40 + data[60:])
    _refused(dst, broken, r"broken\.gz: not a readable knowledge pack")


@pytest.mark.parametrize("version", [-1, 0, True, "1", 1.0, None])
def test_an_unknown_pack_version_is_refused(pack: Path, dst: ExperienceStore, version: Any) -> None:
    """The probe: pack version -1 was accepted."""
    _edit(pack, lambda h, rs: h.update(version=version))
    _refused(dst, pack, r"k\.jsonl:1: header\.version: unknown pack version")


def test_a_newer_pack_version_says_upgrade(pack: Path, dst: ExperienceStore) -> None:
    _edit(pack, lambda h, rs: h.update(version=packs.PACK_VERSION + 1))
    _refused(dst, pack, r"k\.jsonl: pack version 2 is newer .* upgrade")


@pytest.mark.parametrize("kind", ["skill", "guardrail"])
def test_knowledge_with_no_evidence_is_refused(pack: Path, dst: ExperienceStore, kind: str) -> None:
    """The probe: guardrails (and skills) with no evidence were accepted; knowledge comes from
    experience, so a pack's knowledge names the tuples it rests on."""
    _edit(pack, lambda h, rs: _first(rs, kind).update(evidence=[]))
    _refused(dst, pack, rf"k\.jsonl:\d: {kind}s\[0\]\.evidence: none")


@pytest.mark.parametrize(
    ("kind", "field", "value", "says"),
    [
        ("skill", "version", 0, r"version: 0 \(versions count from 1\)"),
        ("skill", "uses", -3, "uses: below zero"),
        ("guardrail", "violations", -1, "violations: below zero"),
        ("guardrail", "forbidden", " ", "forbidden: empty"),
        ("tuple", "id", None, "id: a packed tuple has a positive id"),
        ("tuple", "step", -1, "step: below zero"),
        ("skill", "steps", [{"verb": "craft"}], r"steps\[0\]\.target: Field required"),
    ],
)
def test_a_record_out_of_range_is_refused(
    pack: Path, dst: ExperienceStore, kind: str, field: str, value: Any, says: str
) -> None:
    _edit(pack, lambda h, rs: _first(rs, kind).update({field: value}))
    _refused(dst, pack, rf"k\.jsonl:\d: {kind}s\[0\]\.{says}")


def test_two_tuples_with_one_id_are_refused(pack: Path, dst: ExperienceStore) -> None:
    def dup(h: Record, rs: list[Record]) -> None:
        rs[1]["data"]["id"] = rs[0]["data"]["id"]

    _edit(pack, dup)
    _refused(dst, pack, r"k\.jsonl:3: tuples\[1\]\.id: \d+ is also tuples\[0\]'s id")


def test_the_schema_never_holds_what_it_cannot_read_back() -> None:
    """A NaN written as JSON is null, which no float field reads: so knowledge refuses it when
    made and when assigned, and confidence stays in [0, 1]."""
    skill = Skill(name="s", target="t", steps=[], evidence=[1])
    for bad in (math.nan, math.inf, 1.01, -0.5):
        with pytest.raises(ValidationError):
            Skill(name="s", target="t", steps=[], confidence=bad)
        with pytest.raises(ValidationError):
            skill.confidence = bad
        with pytest.raises(ValidationError):
            Guardrail(root_cause=FailureCause.WRONG_TOOL, forbidden="a:b", confidence=bad)
    assert skill.confidence == 0.5
    (tup,) = make_tuples(1)
    with pytest.raises(ValidationError):
        type(tup).model_validate({**tup.model_dump(), "created_at": math.inf})
    with pytest.raises(ValidationError):
        type(tup.diagnosis).model_validate({**tup.diagnosis.model_dump(), "moved": math.nan})


def test_export_leaves_knowledge_without_evidence_out(tmp_path: Path) -> None:
    """Import refuses knowledge with no evidence, so export does not write it: a pack a store
    exports always imports."""
    src = _store(tmp_path / "src.sqlite")
    src.put_skill(Skill(name="hearsay", target="x", steps=[]))
    pack = tmp_path / "k.jsonl"
    assert export_pack(src, pack)["skills"] == 1
    assert [s.name for s in read_pack(pack)[2]] == ["obtain:stick"]
    assert import_pack(ExperienceStore(tmp_path / "d.sqlite"), pack)["skills_added"] == 1


@pytest.mark.parametrize(
    ("record", "says"),
    [
        ({"kind": "skill", "data": None}, r"skills[0]: not an object but null"),
        ({"kind": "[/bold]", "data": {}}, r"unknown record kind '[/bold]'"),
    ],
)
def test_the_cli_prints_the_error_not_a_traceback(
    pack: Path, tmp_path: Path, record: Record, says: str
) -> None:
    """The message quotes the pack, so it must not be read as rich markup either."""
    store = tmp_path / "dst.sqlite"
    _store(store)
    runner = CliRunner()
    before = runner.invoke(app, ["knowledge", "stats", str(store)]).output
    _edit(pack, lambda h, rs: rs.insert(0, record))
    result = runner.invoke(app, ["knowledge", "import", str(store), str(pack)])
    assert result.exit_code == 2, result.output
    assert f"k.jsonl:2: {says}" in " ".join(result.output.split())
    assert runner.invoke(app, ["knowledge", "show", str(store)]).exit_code == 0
    assert runner.invoke(app, ["knowledge", "stats", str(store)]).output == before
