"""Resuming a killed run (issue 27): an unfinished episode's attempts are rolled back, episodes
are counted per run, and a damaged run folder is a clear error, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from store_data import make_tuples
from typer.testing import CliRunner

from agent.cli import app
from knowledge.schema import Guardrail, Skill
from knowledge.store import ExperienceStore
from sim.schema import FailureCause, Subgoal

runner = CliRunner()


def test_forget_unfinished_rolls_back_an_episode_and_what_rests_on_it() -> None:
    store = ExperienceStore(":memory:")
    ids = store.anchor_many(make_tuples(30, run="r"))  # episodes r-e0, r-e1, r-e2
    other = store.anchor_many(make_tuples(10, seed=3, run="q"))  # another run's q-e0
    e0, e2 = ids[:10], ids[20:]
    store.put_skill(Skill(name="only:e2", target="stick", steps=[], evidence=e2[:3]))
    store.put_skill(Skill(name="both", target="stick", steps=[], evidence=[e0[0], e2[0]]))
    rail = Guardrail(
        root_cause=FailureCause.MISSING_ITEM,
        forbidden="craft:stick",
        unless=["has:planks"],
        remedy=[Subgoal(verb="craft", target="planks")],
        remedy_evidence=[e2[1]],
        evidence=[e0[1]],
    )
    store.put_guardrail(rail)
    store.record_episode("r-e2", "r", "t", {"success": False})

    assert store.forget_unfinished("r", {"r-e0", "r-e1"}) == 10
    left = {t.id for t in store.tuples()}
    assert left == set(ids[:20]) | set(other), "the other run and finished episodes stay"
    assert not set(store.lookup.by_tags(["stick", "planks", "iron_ore", "stone"])) & set(e2)
    assert [s.name for s in store.skills()] == ["both"]
    assert store.skills()[0].evidence == [e0[0]]
    (kept,) = store.guardrails()
    assert kept.evidence == [e0[1]] and kept.remedy == [] and kept.remedy_evidence == []
    assert store.stats()["episodes"] == 0
    assert store.forget_unfinished("r", {"r-e0", "r-e1"}) == 0
    kept = ExperienceStore(":memory:")  # the store had the episode never been played
    kept.anchor_many([*make_tuples(30, run="r")[:20], *make_tuples(10, seed=3, run="q")])
    for kind in ("op", "verb", "goal", "family", "signature", "episode"):
        assert _counts(store.summaries(kind)) == _counts(kept.summaries(kind)), kind


def _counts(summaries: list[dict[str, object]]) -> dict[object, tuple[object, ...]]:
    fields = ("attempts", "successes", "mean_ticks", "mean_steps", "causes")
    return {s["key"]: tuple(s[f] for f in fields) for s in summaries}


def _run(tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "runs"
    args = ["run", "wooden", "--tasks", "craft_stick,craft_crafting_table", "--seeds", "0"]
    result = runner.invoke(app, [*args, "--planner", "fallible", "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return max(out.iterdir(), key=lambda p: p.stat().st_mtime)


def test_a_resumed_run_holds_each_attempt_once(tmp_path: Path) -> None:
    whole = _run(tmp_path / "whole")
    want = ExperienceStore(whole / "knowledge.sqlite").stats()["tuples"]
    killed = _run(tmp_path / "killed")
    lines = (killed / "episodes.jsonl").read_text().splitlines()
    # killed while its last episode ran: the line never written, its tuples in the store
    (killed / "episodes.jsonl").write_text(lines[0] + "\n")
    assert ExperienceStore(killed / "knowledge.sqlite").stats()["tuples"] == want
    result = runner.invoke(app, ["run", "--resume", str(killed)])
    assert result.exit_code == 0, result.output
    assert len((killed / "episodes.jsonl").read_text().splitlines()) == 2
    stats = ExperienceStore(killed / "knowledge.sqlite").stats()
    assert stats["tuples"] == want, "the killed episode's attempts are not kept twice"
    assert stats["episodes"] == 2


def test_two_runs_of_the_same_seeds_count_as_two_runs(tmp_path: Path) -> None:
    store = tmp_path / "k.sqlite"
    _run(tmp_path / "a", "--knowledge", str(store))
    _run(tmp_path / "b", "--knowledge", str(store))
    assert ExperienceStore(store).stats()["episodes"] == 4


@pytest.mark.parametrize(
    ("name", "body", "says"),
    [
        ("config.yaml", b"\x89PNG\x00\xff", "not a readable run config"),
        ("config.yaml", b"- a\n- list\n", "a mapping of settings"),
        ("config.yaml", b"method: evolving\n", "'suite' must name"),
        ("config.yaml", b"suite: s.yaml\nbogus: 1\n" + b"[" * 5000, "not a readable run config"),
        ("episodes.jsonl", b'{"episode_id": "a"}\nnot json\n{"episode_id": "b"}\n', ":2:"),
        ("episodes.jsonl", b'{"episode_id": "a"}\n[1, 2]\n{"episode_id": "b"}\n', "episode_id"),
        ("episodes.jsonl", b"\xff\xfe\x00", "cannot be read"),
    ],
)
def test_a_damaged_run_folder_is_a_clear_error(
    tmp_path: Path, name: str, body: bytes, says: str
) -> None:
    run = _run(tmp_path)
    (run / name).write_bytes(body)
    result = runner.invoke(app, ["run", "--resume", str(run)])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert name in result.output and says in " ".join(result.output.split()), result.output


def test_a_cut_last_line_is_not_damage(tmp_path: Path) -> None:
    run = _run(tmp_path)
    lines = (run / "episodes.jsonl").read_text().splitlines()
    (run / "episodes.jsonl").write_text(lines[0] + "\n" + lines[1][:20])
    result = runner.invoke(app, ["run", "--resume", str(run)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in (run / "episodes.jsonl").read_text().splitlines()]
    assert [r["success"] for r in rows] == [True, True]
