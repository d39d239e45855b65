"""The closed loop end to end: run directories, knowledge that carries across runs, and a
run killed mid-way that keeps every finished episode."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from agent.runner import RunConfig, run_suite
from knowledge.store import ExperienceStore

SUITE = """
name: tiny
world: craftworld/v1
defaults: {max_ticks: 12000, max_subgoals: 30, seeds: [0]}
tasks:
  - {id: pickaxe, instruction: Craft a wooden pickaxe., goal: {item: wooden_pickaxe}}
  - {id: sword, instruction: Craft a wooden sword., goal: {item: wooden_sword}}
  - {id: planks, instruction: Craft oak planks., goal: {item: oak_planks, count: 4}}
"""


def _suite(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(SUITE)
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_run_writes_the_run_directory(tmp_path: Path) -> None:
    cfg = RunConfig(suite=str(_suite(tmp_path)), out=str(tmp_path / "runs"), tasks=["pickaxe"])
    result = run_suite(cfg)
    assert [r.success for r in result.episodes] == [True]
    run = result.run_dir
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["planner"] == "symbolic" and config["method"] == "evolving"
    episodes = _lines(run / "episodes.jsonl")
    assert len(episodes) == 1 and episodes[0]["task_id"] == "pickaxe"
    assert {"success", "steps", "llm_calls", "prompt_tokens", "wall_s"} <= set(episodes[0])
    traj = _lines(run / "trajectory" / "pickaxe__s0.jsonl")
    assert len(traj) == episodes[0]["steps"]
    first = traj[0]
    assert {"subgoal", "pre_state", "recalled", "guardrail", "diagnosis", "post_state"} <= set(
        first
    )
    assert first["plan"]["subgoals"], "the first line records the plan"
    store = ExperienceStore(run / "knowledge.sqlite")
    assert store.stats()["tuples"] == len(traj)
    assert store.stats()["skills"] >= 1


def test_second_run_recalls_what_the_first_stored(tmp_path: Path) -> None:
    suite, store_path = _suite(tmp_path), tmp_path / "shared.sqlite"
    first = run_suite(
        RunConfig(
            suite=str(suite), out=str(tmp_path / "a"), knowledge=str(store_path), tasks=["pickaxe"]
        )
    )
    assert first.episodes[0].success
    second = run_suite(
        RunConfig(
            suite=str(suite), out=str(tmp_path / "b"), knowledge=str(store_path), tasks=["pickaxe"]
        )
    )
    traj = _lines(second.run_dir / "trajectory" / "pickaxe__s0.jsonl")
    recalled = traj[0]["recalled"]
    assert recalled, "the second run recalls knowledge at task start"
    store = ExperienceStore(store_path)
    first_ids = {t.id for t in store.tuples() if t.run_id == first.run_dir.name}
    evidence = {e for item in recalled for e in item["evidence"]}
    assert evidence and evidence <= first_ids, "every recalled item names tuples of the first run"
    skill = next(i for i in recalled if i["kind"] == "skill")
    assert "wooden_pickaxe" in skill["text"]


def test_method_none_keeps_no_store(tmp_path: Path) -> None:
    cfg = RunConfig(
        suite=str(_suite(tmp_path)), out=str(tmp_path / "runs"), method="none", tasks=["planks"]
    )
    result = run_suite(cfg)
    assert result.episodes[0].success
    assert not (result.run_dir / "knowledge.sqlite").exists()
    assert _lines(result.run_dir / "trajectory" / "planks__s0.jsonl")[0]["recalled"] == []


def test_killed_run_keeps_finished_episodes(tmp_path: Path) -> None:
    suite = _suite(tmp_path)
    out = tmp_path / "runs"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent.cli",
            "run",
            str(suite),
            "--out",
            str(out),
            "--seeds",
            "0,1,2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 120
    episodes: Path | None = None
    while time.monotonic() < deadline:
        found = list(out.glob("*/episodes.jsonl"))
        if found and found[0].read_text().count("\n") >= 2:
            episodes = found[0]
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert episodes is not None, "the run wrote no episode in time"
    lines = _lines(episodes)  # every line that is there parses: nothing half-written
    assert 2 <= len(lines) < 9
    store = ExperienceStore(episodes.parent / "knowledge.sqlite")
    assert store.stats()["episodes"] >= len(lines)


def test_errored_episode_is_retried_by_resume(tmp_path: Path, monkeypatch) -> None:
    from agent import runner
    from agent.llm.base import LLMError
    from agent.planner.symbolic import SymbolicPlanner

    class Flaky(SymbolicPlanner):
        """Fails like an endpoint that is down, for the sword task only."""

        def plan(self, task, state, briefing):  # type: ignore[no-untyped-def]
            if task.id == "sword" and down:
                raise LLMError("openai backend at http://127.0.0.1:9: connection refused")
            return super().plan(task, state, briefing)

    down = True
    monkeypatch.setitem(runner.PLANNERS, "flaky", lambda cfg, world: Flaky())
    cfg = RunConfig(
        suite=str(_suite(tmp_path)),
        out=str(tmp_path / "runs"),
        planner="flaky",
        tasks=["pickaxe", "sword"],
    )
    first = run_suite(cfg)
    by_task = {r.task_id: r for r in first.episodes}
    assert by_task["pickaxe"].success and not by_task["pickaxe"].error
    assert "connection refused" in (by_task["sword"].error or "")
    down = False
    second = run_suite(runner.load_run_config(first.run_dir), resume=first.run_dir)
    assert [r.task_id for r in second.episodes] == ["sword"] and second.episodes[0].success
    assert runner.finished_episodes(first.run_dir) == {"pickaxe__s0", "sword__s0"}


def test_a_plan_that_runs_out_is_continued(tmp_path: Path, monkeypatch) -> None:
    """A planner that returns short plans (as LLM planners do) is asked for the rest."""
    from agent import runner
    from agent.planner.base import PlanResult
    from agent.planner.symbolic import SymbolicPlanner

    class Short(SymbolicPlanner):
        def plan(self, task, state, briefing):  # type: ignore[no-untyped-def]
            full = super().plan(task, state, briefing)
            return PlanResult(full.subgoals[:2], llm_calls=1, latency_s=0.25)

    monkeypatch.setitem(runner.PLANNERS, "short", lambda cfg, world: Short())
    cfg = RunConfig(
        suite=str(_suite(tmp_path)),
        out=str(tmp_path / "runs"),
        planner="short",
        tasks=["pickaxe"],
        method="none",
    )
    run = run_suite(cfg)
    (result,) = run.episodes
    assert result.success and result.llm_calls >= 3
    # every call's latency is accounted, in the result and in episodes.jsonl
    assert result.llm_latency_s == pytest.approx(0.25 * result.llm_calls)
    row = json.loads((run.run_dir / "episodes.jsonl").read_text().splitlines()[0])
    assert row["llm_latency_s"] == pytest.approx(0.25 * result.llm_calls)
