"""The survival suite (issue 33): every task solved by the symbolic planner on its three seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.runner import RunConfig, run_suite
from scenarios.loader import load_suite, resolve_suite


@pytest.mark.slow
def test_the_symbolic_planner_solves_every_survival_task_on_three_seeds(tmp_path: Path) -> None:
    suite = resolve_suite("survival")
    assert len(load_suite(suite).tasks) >= 30
    result = run_suite(RunConfig(suite=str(suite), method="none", out=str(tmp_path)))
    failed = [(r.episode_id, r.causes) for r in result.episodes if not r.success]
    assert len(result.episodes) == 3 * len(load_suite(suite).tasks)
    assert not failed, failed
