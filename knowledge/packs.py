"""Knowledge packs: skills and guardrails (and the tuples they rest on) as versioned JSON lines.

A pack is plain JSONL (gzip-compressed when the name ends in `.gz`), never pickle:

    {"format": "steve-knowledge-pack", "version": 1, ...}       the header
    {"kind": "tuple", "data": {...ExperienceTuple...}}          tier 1 (ids as in the source)
    {"kind": "skill", "data": {...Skill...}}                    tier 3
    {"kind": "guardrail", "data": {...Guardrail...}}
    {"kind": "end", "records": N, "sha256": "..."}              count and digest of the lines

A pack always carries the tuples its knowledge cites, so evidence stays auditable after an
import; `include_tuples=True` carries every tuple (knowledge with no evidence is left out).

A pack is untrusted input, so import validates the whole file before it writes anything: the
sizes first, while streaming (decompressed bytes, records, one record's bytes: a gzip bomb stops
at the cap), then each line — a JSON object, nesting, list and string lengths capped, every
number finite and a 64-bit integer where it is one — then the format, a known version, every
record against the schema and as the kind it claims (tuples with unique ids, knowledge with
evidence, counters not below zero), the count and digest (a truncated file fails them), and
that every evidence id is in the pack. Only then does it write, in one transaction: a refused
pack leaves the store untouched, and the error names the file, the line and the record, as in
`k.jsonl:4: skills[0].confidence: not a finite number`. Tuples already in the store (same run,
episode, step and time) are not duplicated; knowledge merges with what the store has by name
(skills) or rule (guardrails), keeping the more confident version and the union of evidence.

`prune` retires low-confidence knowledge, deletes retired knowledge and old uncited tuples on
request, and compacts the file; it never deletes a tuple that stored knowledge cites.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import logging
import math
import time
import zlib
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from knowledge.schema import ExperienceTuple, Guardrail, Skill
from knowledge.store import ExperienceStore, StoreError

FORMAT = "steve-knowledge-pack"
PACK_VERSION = 1
_BATCH = 2000

# What a pack may be, checked before anything is parsed or written (a pack is untrusted input:
# anyone can send one). Each cap is far above what a real store exports (a record is a few KiB,
# five levels deep) and low enough that refusing costs seconds and one chunk of memory.
MAX_PACK_BYTES = 256 << 20  # decompressed; a pack is validated whole in memory before import
MAX_LINE_BYTES = 16 << 20  # one record
MAX_RECORDS = 1_000_000
MAX_DEPTH = 32  # nesting of lists and objects in one record
MAX_ITEMS = 100_000  # entries in one list or object
MAX_STRING = 64 << 10  # characters in one string or key
_INT_LIMIT = 1 << 63  # SQLite's integers are signed 64-bit
_CHUNK = 1 << 20

_M = TypeVar("_M", bound=BaseModel)
log = logging.getLogger(__name__)


class PackError(StoreError):
    """A pack that cannot be read or imported; the message names the file and the line."""


class PackHeader(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["steve-knowledge-pack"]
    version: int
    created_at: float
    source: str = ""
    include_tuples: bool = False
    counts: dict[str, int] = {}


class _End(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["end"]
    records: int
    sha256: str


def _open_write(path: Path) -> Any:
    return gzip.open(path, "wb") if path.suffix == ".gz" else path.open("wb")


def export_pack(store: ExperienceStore, path: str | Path, *, include_tuples: bool = False) -> dict:
    """Write the store's skills and guardrails (retired ones too) and the tuples they cite
    (every tuple with `include_tuples`) to `path`; returns the counts written."""
    path = Path(path)
    every: list[Skill | Guardrail] = [
        *store.skills(include_retired=True),
        *store.guardrails(include_retired=True),
    ]
    if unbacked := [_name(k) for k in every if not k.evidence]:  # import refuses them
        log.warning("%s: left out %d with no evidence: %s", path, len(unbacked), unbacked[:5])
    skills = [k for k in every if isinstance(k, Skill) and k.evidence]
    rails = [k for k in every if isinstance(k, Guardrail) and k.evidence]
    knowledge: list[Skill | Guardrail] = [*skills, *rails]
    cited = sorted({e for k in knowledge for e in _cites(k)})
    counts = {"skills": len(skills), "guardrails": len(rails), "tuples": 0}
    header = PackHeader(
        format=FORMAT,
        version=PACK_VERSION,
        created_at=time.time(),
        source=Path(store.path).name,
        include_tuples=include_tuples,
    )
    digest, records = hashlib.sha256(), 0
    tmp = path.with_name(path.name + ".partial")
    with _open_write(tmp) as out:

        def emit(line: str) -> None:
            data = (line + "\n").encode()
            digest.update(data)
            out.write(data)

        emit(header.model_dump_json())
        for tup in _tuples(store, None if include_tuples else cited):
            emit(json.dumps({"kind": "tuple", "data": tup.model_dump(mode="json")}))
            records += 1
            counts["tuples"] += 1
        for skill in skills:
            emit(json.dumps({"kind": "skill", "data": skill.model_dump(mode="json")}))
            records += 1
        for rail in rails:
            emit(json.dumps({"kind": "guardrail", "data": rail.model_dump(mode="json")}))
            records += 1
        end = _End(kind="end", records=records, sha256=digest.hexdigest())
        out.write((end.model_dump_json() + "\n").encode())
    tmp.replace(path)  # a pack is either whole or absent
    return counts


def _tuples(store: ExperienceStore, ids: list[int] | None) -> Iterator[ExperienceTuple]:
    if ids is not None:
        for i in range(0, len(ids), _BATCH):
            yield from store.get_tuples(ids[i : i + _BATCH])
        return
    last = 0
    while True:
        rows = store.db.execute(
            "SELECT id FROM tuples WHERE id > ? ORDER BY id LIMIT ?", (last, _BATCH)
        ).fetchall()
        if not rows:
            return
        yield from store.get_tuples([r[0] for r in rows])
        last = rows[-1][0]


def read_pack(
    path: str | Path,
) -> tuple[PackHeader, list[ExperienceTuple], list[Skill], list[Guardrail]]:
    """Parse and validate a whole pack; raises `PackError` naming the file, the line and the
    record. Nothing here writes: `import_pack` writes only what this returned."""
    path = Path(path)
    _scan(path)  # the caps first, in constant memory, so a bomb never reaches the parser
    digest = hashlib.sha256()
    header: PackHeader | None = None
    end: _End | None = None
    found: dict[str, list[Any]] = {kind: [] for kind in _MODELS}
    ids: dict[int, int] = {}  # tuple id -> its index, for duplicates
    with contextlib.closing(_lines(path)) as lines:
        for no, raw in enumerate(lines, start=1):
            if end is not None:
                raise PackError(f"{path}:{no}: data after the end record")
            rec = _parse(path, no, raw)
            if header is None:
                header = _header(path, rec)
                digest.update(raw)
                continue
            kind = rec.get("kind")
            if kind == "end":
                _walk(rec, 0, f"{path}:{no}: end record")
                end = _validated(_End, rec, f"{path}:{no}: end record")
                continue
            digest.update(raw)
            if not isinstance(kind, str) or kind not in _MODELS:
                raise PackError(f"{path}:{no}: unknown record kind {_short(kind)}")
            if set(rec) != {"kind", "data"}:
                raise PackError(f"{path}:{no}: a record has exactly 'kind' and 'data'")
            where = f"{path}:{no}: {kind}s[{len(found[kind])}]"
            data = rec["data"]
            if not isinstance(data, dict):
                raise PackError(f"{where}: not an object but {_json_type(data)}")
            _walk(data, 1, where)
            item = _validated(_MODELS[kind], data, where)
            _check_item(item, where, ids, len(found[kind]))
            found[kind].append(item)
    if header is None:
        raise PackError(f"{path}: empty file, not a knowledge pack")
    if end is None:
        raise PackError(f"{path}: truncated pack (no end record)")
    tuples, skills, rails = found["tuple"], found["skill"], found["guardrail"]
    records = len(tuples) + len(skills) + len(rails)
    if end.records != records or end.sha256 != digest.hexdigest():
        raise PackError(
            f"{path}: corrupt or truncated pack (end record says {end.records} records, "
            f"found {records}, or the digest does not match)"
        )
    knowledge: list[Skill | Guardrail] = [*skills, *rails]
    for k in knowledge:
        if missing := [e for e in _cites(k) if e not in ids]:
            raise PackError(f"{path}: {_name(k)} cites tuples {missing[:5]} the pack lacks")
    for rail in rails:
        if rail.remedy and not rail.remedy_evidence:
            raise PackError(
                f"{path}: {_name(rail)} has a remedy that names no tuple it was induced from "
                "(a pack written before remedies were learned from experience)"
            )
    return header, tuples, skills, rails


_MODELS: dict[str, type[BaseModel]] = {
    "tuple": ExperienceTuple,
    "skill": Skill,
    "guardrail": Guardrail,
}


def _open_read(path: Path) -> Any:
    """The pack's bytes, inflated while read when it is gzip (by its magic, not its name)."""
    with path.open("rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else path.open("rb")


def _scan(path: Path) -> None:
    """Refuse a pack past the size caps by counting its inflated bytes and lines in chunks:
    a gzip bomb stops at `MAX_PACK_BYTES` with one chunk in memory, before any parsing."""
    total = lines = 0
    try:
        with _open_read(path) as f:
            while chunk := f.read(_CHUNK):
                total += len(chunk)
                lines += chunk.count(b"\n")
                if total > MAX_PACK_BYTES:
                    raise PackError(
                        f"{path}: larger than {_amount(MAX_PACK_BYTES)} when decompressed "
                        "(the cap on a knowledge pack)"
                    )
                if lines > MAX_RECORDS + 2:
                    raise PackError(
                        f"{path}: more than {MAX_RECORDS} records (the cap on a knowledge pack)"
                    )
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise PackError(f"{path}: not a readable knowledge pack ({exc})") from exc


def _lines(path: Path) -> Generator[bytes, None, None]:
    """The pack's lines, each at most `MAX_LINE_BYTES` (a longer one is refused unread)."""
    try:
        with _open_read(path) as f:
            no = 0
            while line := f.readline(MAX_LINE_BYTES + 1):
                no += 1
                if len(line) > MAX_LINE_BYTES:
                    raise PackError(
                        f"{path}:{no}: a record longer than {_amount(MAX_LINE_BYTES)} "
                        "(the cap on one record)"
                    )
                yield line
    except (OSError, EOFError, zlib.error) as exc:
        raise PackError(f"{path}: not a readable knowledge pack ({exc})") from exc


def _parse(path: Path, no: int, raw: bytes) -> dict[str, Any]:
    """One line as a JSON object; nesting past the parser's recursion limit is refused here,
    and `_walk` caps it further."""
    try:
        rec = json.loads(raw.decode())
    except UnicodeDecodeError as exc:
        raise PackError(f"{path}:{no}: not a knowledge pack (not UTF-8: {exc})") from exc
    except RecursionError as exc:
        raise PackError(f"{path}:{no}: nested deeper than {MAX_DEPTH} levels") from exc
    except ValueError as exc:  # bad JSON, or an integer of more digits than Python reads
        what = "not a knowledge pack" if no == 1 else "corrupt pack"
        raise PackError(f"{path}:{no}: {what} (bad JSON: {exc})") from exc
    if not isinstance(rec, dict):
        if no == 1:
            raise PackError(f"{path}:1: not a knowledge pack (no '{FORMAT}' header)")
        raise PackError(f"{path}:{no}: a record is an object, not {_json_type(rec)}")
    return rec


def _header(path: Path, rec: dict[str, Any]) -> PackHeader:
    if rec.get("format") != FORMAT:
        raise PackError(f"{path}:1: not a knowledge pack (no '{FORMAT}' header)")
    _walk(rec, 0, f"{path}:1: header")
    version = rec.get("version")
    if type(version) is not int or version < 1:
        raise PackError(
            f"{path}:1: header.version: unknown pack version {_short(version)} "
            f"(this version reads 1 to {PACK_VERSION})"
        )
    if version > PACK_VERSION:
        raise PackError(
            f"{path}: pack version {version} is newer than this version reads ({PACK_VERSION}); "
            "upgrade steve-evolving"
        )
    return _validated(PackHeader, rec, f"{path}:1: header")


class _Bad(Exception):
    """A value `_walk` refuses; `path` is filled in on the way out, so a good pack (the common
    case) never pays for building field paths."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []


def _walk(value: Any, depth: int, where: str) -> None:
    """Refuse what no schema field should hold and a store cannot keep: a number that is not
    finite or not a 64-bit integer, a string, list or object past its cap, nesting past
    `MAX_DEPTH`. Pydantic checks types; this checks what types do not say, for every model,
    the world's states included."""
    try:
        _check(value, depth)
    except _Bad as bad:
        at = "".join(bad.path)
        raise PackError(f"{where}{at}: {bad.problem}") from None


def _check(value: Any, depth: int) -> None:
    kind = type(value)
    if kind is str:
        if len(value) > MAX_STRING:
            raise _Bad(f"a string longer than {MAX_STRING} characters")
    elif kind is float:
        if not math.isfinite(value):
            raise _Bad("not a finite number")
    elif kind is int:
        if not -_INT_LIMIT <= value < _INT_LIMIT:
            raise _Bad("an integer out of the 64-bit range")
    elif kind is dict or kind is list:
        if depth >= MAX_DEPTH:
            raise _Bad(f"nested deeper than {MAX_DEPTH} levels")
        if len(value) > MAX_ITEMS:
            raise _Bad(f"more than {MAX_ITEMS} items")
        if kind is list:
            for index, item in enumerate(value):
                try:
                    _check(item, depth + 1)
                except _Bad as bad:
                    bad.path.insert(0, f"[{index}]")
                    raise
            return
        for key, item in value.items():
            if len(key) > MAX_STRING:
                raise _Bad(f"a key longer than {MAX_STRING} characters")
            try:
                _check(item, depth + 1)
            except _Bad as bad:
                bad.path.insert(0, f".{key}" if len(key) <= 60 else f".{key[:57]}...")
                raise


def _validated(model: type[_M], data: Any, where: str) -> _M:
    """`data` as `model`, or a `PackError` naming the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        first = errors[0]
        at = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise PackError(f"{where}{at}: {first['msg']}{more}") from None


def _check_item(item: BaseModel, where: str, ids: dict[int, int], index: int) -> None:
    """What a record's schema allows but an imported one must not be: a tuple without an id
    or with another's, knowledge resting on no evidence, counters below zero, version 0."""
    if isinstance(item, ExperienceTuple):
        if item.id is None or item.id < 1:
            raise PackError(f"{where}.id: a packed tuple has a positive id (evidence cites it)")
        if item.id in ids:
            raise PackError(f"{where}.id: {item.id} is also tuples[{ids[item.id]}]'s id")
        if item.step < 0:
            raise PackError(f"{where}.step: below zero")
        ids[item.id] = index
        return
    if not isinstance(item, Skill | Guardrail):
        return
    if not item.evidence:
        raise PackError(f"{where}.evidence: none (knowledge rests on the tuples it came from)")
    if item.version < 1:
        raise PackError(f"{where}.version: {item.version} (versions count from 1)")
    counters = ("uses", "successes") if isinstance(item, Skill) else ("blocks", "violations")
    for name in counters:
        if getattr(item, name) < 0:
            raise PackError(f"{where}.{name}: below zero")
    key = item.name if isinstance(item, Skill) else item.forbidden
    if not key.strip():
        field = "name" if isinstance(item, Skill) else "forbidden"
        raise PackError(f"{where}.{field}: empty (knowledge merges by it)")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    return names.get(type(value), "an array" if isinstance(value, list) else "an object")


def _amount(size: int) -> str:
    return f"{size >> 20} MiB" if size % (1 << 20) == 0 else f"{size} bytes"


def _short(value: Any) -> str:
    """A value for an error message: a pack's values can be megabytes long."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _cites(k: Skill | Guardrail) -> list[int]:
    """The tuples a piece of knowledge rests on (a guardrail's remedy's too)."""
    return [*k.evidence, *(k.remedy_evidence if isinstance(k, Guardrail) else [])]


def _name(k: Skill | Guardrail) -> str:
    key = k.name if isinstance(k, Skill) else k.forbidden
    key = key if len(key) <= 60 else key[:57] + "..."
    return f"skill {key}" if isinstance(k, Skill) else f"guardrail {key}"


def import_pack(store: ExperienceStore, path: str | Path) -> dict[str, Any]:
    """Validate `path` whole, then merge it into `store` in one transaction; returns a report
    of what was added and merged."""
    _, tuples, skills, rails = read_pack(path)
    report: dict[str, Any] = {"file": str(path), "tuples_added": 0, "tuples_present": 0}
    report.update(skills_added=0, skills_merged=0, guardrails_added=0, guardrails_merged=0)
    with store._tx() as db:
        mapping: dict[int, int] = {}
        fresh: list[ExperienceTuple] = []
        for tup in tuples:
            row = db.execute(
                "SELECT id FROM tuples WHERE episode_id=? AND run_id=? AND step=? "
                "AND created_at=? AND verb=? AND target=?",
                (
                    tup.episode_id,
                    tup.run_id,
                    tup.step,
                    tup.created_at,
                    tup.action.verb,
                    tup.action.target,
                ),
            ).fetchone()
            if row is not None:
                mapping[int(tup.id or 0)] = row[0]
                report["tuples_present"] += 1
            else:
                fresh.append(tup)
        old_ids = [int(t.id or 0) for t in fresh]
        for t in fresh:
            t.id = None
        new_ids = store.anchor_many(fresh)
        mapping.update(zip(old_ids, new_ids, strict=True))
        report["tuples_added"] = len(new_ids)
        for skill in skills:
            skill.evidence = sorted({mapping[e] for e in skill.evidence})
            old = store.find_skill(skill.name)
            report["skills_merged" if old else "skills_added"] += 1
            store.put_skill(_merge(skill, old) if old else skill.model_copy(update={"id": None}))
        for rail in rails:
            rail.evidence = sorted({mapping[e] for e in rail.evidence})
            rail.remedy_evidence = sorted({mapping[e] for e in rail.remedy_evidence})
            found = store.find_guardrail(rail)
            report["guardrails_merged" if found else "guardrails_added"] += 1
            store.put_guardrail(
                _merge(rail, found) if found else rail.model_copy(update={"id": None})
            )
    return report


def _merge(new: Any, old: Any) -> Any:
    """The more confident of two versions of one piece of knowledge, with both evidence sets."""
    keep = new if new.confidence > old.confidence else old
    keep = keep.model_copy(update={"id": old.id})
    keep.evidence = sorted(set(old.evidence) | set(new.evidence))
    return keep


def prune(
    store: ExperienceStore,
    *,
    min_confidence: float = 0.2,
    delete_retired: bool = False,
    drop_uncited_before: float | None = None,
    compact: bool = True,
) -> dict[str, Any]:
    """Retire live knowledge below `min_confidence`; with `delete_retired`, delete retired
    knowledge; with `drop_uncited_before` (a Unix time), delete older tuples that no stored
    knowledge cites (their summaries keep counting them); then compact the file."""
    report: dict[str, Any] = {"retired": [], "deleted_knowledge": 0, "deleted_tuples": 0}
    path = Path(store.path)
    before = _size(path)
    with store._tx() as db:
        for skill in store.skills():
            if skill.confidence < min_confidence:
                skill.retired = True
                store.put_skill(skill)
                report["retired"].append(f"skill {skill.id}: {skill.name}")
        for rail in store.guardrails():
            if rail.confidence < min_confidence:
                rail.retired = True
                store.put_guardrail(rail)
                report["retired"].append(f"guardrail {rail.id}: {rail.forbidden}")
        if delete_retired:
            n = db.execute("DELETE FROM skills WHERE retired=1").rowcount
            report["deleted_knowledge"] = (
                n + db.execute("DELETE FROM guardrails WHERE retired=1").rowcount
            )
        if drop_uncited_before is not None:
            stored: list[Skill | Guardrail] = [
                *store.skills(include_retired=True),
                *store.guardrails(include_retired=True),
            ]
            cited = {e for k in stored for e in _cites(k)}
            db.execute("CREATE TEMP TABLE IF NOT EXISTS doomed (id INTEGER PRIMARY KEY)")
            db.execute("DELETE FROM doomed")
            db.execute(
                "INSERT INTO doomed SELECT id FROM tuples WHERE created_at < ?",
                (drop_uncited_before,),
            )
            db.executemany("DELETE FROM doomed WHERE id = ?", [(e,) for e in cited])
            db.execute("DELETE FROM tags WHERE tuple_id IN (SELECT id FROM doomed)")
            report["deleted_tuples"] = db.execute(
                "DELETE FROM tuples WHERE id IN (SELECT id FROM doomed)"
            ).rowcount
            db.execute("DROP TABLE doomed")
            report["kept_cited"] = len(cited)
    if report["deleted_tuples"]:
        store.tuples_deleted()  # the in-memory and file indices rebuild
    if compact and store.path != ":memory:":
        store.db.execute("VACUUM")
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    report["bytes_before"], report["bytes_after"] = before, _size(path)
    return report


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.parent.glob(path.name + "*") if f.is_file())
