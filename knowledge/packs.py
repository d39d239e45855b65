"""Knowledge packs: skills and guardrails (and the tuples they rest on) as versioned JSON lines.

A pack is plain JSONL (gzip-compressed when the name ends in `.gz`), never pickle:

    {"format": "steve-knowledge-pack", "version": 1, ...}       the header
    {"kind": "tuple", "data": {...ExperienceTuple...}}          tier 1 (ids as in the source)
    {"kind": "skill", "data": {...Skill...}}                    tier 3
    {"kind": "guardrail", "data": {...Guardrail...}}
    {"kind": "end", "records": N, "sha256": "..."}              count and digest of the lines

A pack always carries the tuples its knowledge cites, so evidence stays auditable after an
import; `include_tuples=True` carries every tuple. Import validates the whole file first — the
format, the version, every record against the schema, the count and digest (a truncated file
fails them), and that every evidence id is in the pack — and only then writes, in one
transaction: a refused pack leaves the store untouched. Tuples already in the store (same run,
episode, step and time) are not duplicated; knowledge merges with what the store has by name
(skills) or rule (guardrails), keeping the more confident version and the union of evidence.

`prune` retires low-confidence knowledge, deletes retired knowledge and old uncited tuples on
request, and compacts the file; it never deletes a tuple that stored knowledge cites.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from knowledge.schema import ExperienceTuple, Guardrail, Skill
from knowledge.store import ExperienceStore, StoreError

FORMAT = "steve-knowledge-pack"
PACK_VERSION = 1
_BATCH = 2000


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
    skills = store.skills(include_retired=True)
    rails = store.guardrails(include_retired=True)
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
    """Parse and validate a whole pack; raises `PackError` naming the file and line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        text = raw.decode()
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise PackError(f"{path}: not a readable knowledge pack ({exc})") from exc
    lines = text.splitlines(keepends=True)
    if not lines:
        raise PackError(f"{path}: empty file, not a knowledge pack")
    try:
        first = json.loads(lines[0])
    except json.JSONDecodeError as exc:
        raise PackError(f"{path}:1: not a knowledge pack (bad JSON: {exc})") from exc
    if not isinstance(first, dict) or first.get("format") != FORMAT:
        raise PackError(f"{path}:1: not a knowledge pack (no '{FORMAT}' header)")
    version = first.get("version")
    if not isinstance(version, int) or version > PACK_VERSION:
        raise PackError(
            f"{path}: pack version {version} is newer than this version reads ({PACK_VERSION}); "
            "upgrade steve-evolving"
        )
    try:
        header = PackHeader.model_validate(first)
    except ValidationError as exc:
        raise PackError(f"{path}:1: bad pack header: {exc}") from exc
    tuples, skills, rails = [], [], []
    end: _End | None = None
    for no, line in enumerate(lines[1:], start=2):
        if end is not None:
            raise PackError(f"{path}:{no}: data after the end record")
        try:
            rec = json.loads(line)
            kind = rec.get("kind") if isinstance(rec, dict) else None
            if kind == "end":
                end = _End.model_validate(rec)
                continue
            if set(rec) != {"kind", "data"}:
                raise PackError(f"{path}:{no}: a record has exactly 'kind' and 'data'")
            if kind == "tuple":
                tuples.append(ExperienceTuple.model_validate(rec["data"]))
            elif kind == "skill":
                skills.append(Skill.model_validate(rec["data"]))
            elif kind == "guardrail":
                rails.append(Guardrail.model_validate(rec["data"]))
            else:
                raise PackError(f"{path}:{no}: unknown record kind {kind!r}")
        except json.JSONDecodeError as exc:
            raise PackError(f"{path}:{no}: corrupt pack (bad JSON: {exc})") from exc
        except ValidationError as exc:
            raise PackError(f"{path}:{no}: corrupt pack record: {exc}") from exc
    if end is None:
        raise PackError(f"{path}: truncated pack (no end record)")
    records = len(tuples) + len(skills) + len(rails)
    if end.records != records or end.sha256 != _digest_before_end(lines):
        raise PackError(
            f"{path}: corrupt or truncated pack (end record says {end.records} records, "
            f"found {records}, or the digest does not match)"
        )
    have = {t.id for t in tuples}
    knowledge: list[Skill | Guardrail] = [*skills, *rails]
    for k in knowledge:
        if missing := [e for e in _cites(k) if e not in have]:
            raise PackError(f"{path}: {_name(k)} cites tuples {missing[:5]} the pack lacks")
    for rail in rails:
        if rail.remedy and not rail.remedy_evidence:
            raise PackError(
                f"{path}: {_name(rail)} has a remedy that names no tuple it was induced from "
                "(a pack written before remedies were learned from experience)"
            )
    return header, tuples, skills, rails


def _cites(k: Skill | Guardrail) -> list[int]:
    """The tuples a piece of knowledge rests on (a guardrail's remedy's too)."""
    return [*k.evidence, *(k.remedy_evidence if isinstance(k, Guardrail) else [])]


def _digest_before_end(lines: list[str]) -> str:
    digest = hashlib.sha256()
    for line in lines[:-1]:
        digest.update(line.encode())
    return digest.hexdigest()


def _name(k: Skill | Guardrail) -> str:
    return f"skill {k.name}" if isinstance(k, Skill) else f"guardrail {k.forbidden}"


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
        store.bump_generation()  # the in-memory and file indices rebuild
        for f in (path.with_name(path.name + ".faiss"), path.with_name(path.name + ".faiss.npz")):
            f.unlink(missing_ok=True)
        store._lookup = None
    if compact and store.path != ":memory:":
        store.db.execute("VACUUM")
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    report["bytes_before"], report["bytes_after"] = before, _size(path)
    return report


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.parent.glob(path.name + "*") if f.is_file())
