"""The run record (`agent.record`): one writer for serial and parallel runs, a version on every
episode line, and run directories written before the record was typed still load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from agent.cli import app
from agent.record import RECORD_VERSION, EpisodeRecord, read_episodes
from agent.runner import RunConfig, recorded_episodes, run_suite
from scenarios.loader import resolve_suite

OLD = Path(__file__).parent / "data" / "recorded" / "before_record"
runner = CliRunner()


def test_a_run_writes_versioned_episode_lines(tmp_path: Path) -> None:
    wooden = str(resolve_suite("wooden"))
    cfg = RunConfig(suite=wooden, tasks=["craft_stick"], seeds=[0], out=str(tmp_path))
    run = run_suite(cfg)
    (row,) = [json.loads(x) for x in (run.run_dir / "episodes.jsonl").read_text().splitlines()]
    assert row["version"] == RECORD_VERSION and row["ended"] == "goal"
    assert row["milestones"] == row["milestones_of"] == 1
    assert read_episodes(run.run_dir) == run.episodes


def test_a_run_directory_from_before_the_record_still_loads(tmp_path: Path) -> None:
    """Written by commit 26e1c2c (no version, milestones or ended): read as version 1, with a
    success counted as its one milestone reached; the viewer and a resume read it too."""
    records = read_episodes(OLD)
    assert [r.episode_id for r in records] == ["craft_stick__s0", "craft_wooden_pickaxe__s0"]
    assert all(r.version == 1 and r.success and r.milestones == 1 for r in records)
    assert all(r.ended == "" for r in records)  # not recorded then
    assert recorded_episodes(OLD) == records
    shot = tmp_path / "old.png"
    result = runner.invoke(app, ["replay", str(OLD), "--screenshot", str(shot), "--at", "1:2"])
    assert result.exit_code == 0, result.output
    assert shot.stat().st_size > 0


def test_a_damaged_or_foreign_line_is_skipped_not_fatal(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(OLD, run)
    with (run / "episodes.jsonl").open("a") as f:
        f.write('{"episode_id": "x__s0", "task_id": "x", "group": "g", "seed": "not a seed"}\n')
        f.write('{"episode_id": "cut')
    assert [r.episode_id for r in read_episodes(run)] == [
        "craft_stick__s0",
        "craft_wooden_pickaxe__s0",
    ]


def test_a_newer_writers_extra_fields_are_ignored() -> None:
    row = {"episode_id": "a__s0", "task_id": "a", "group": "g", "seed": 0, "from_the_future": 1}
    assert EpisodeRecord.model_validate(row).episode_id == "a__s0"
