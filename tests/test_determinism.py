"""Same suite, seed, planner and method: the same trajectory, whatever Python's hash seed
(issue 27). Sets iterate in hash order, which changes between processes; nothing a run
decides may follow that order. The fixture planner is included: its figures must reproduce."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

STEVE = Path(sys.executable).with_name("steve")


def _run(out: Path, hash_seed: str, planner: str) -> dict[str, list[str]]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    args = ["run", "wooden", "--seeds", "0,1", "--planner", planner, "--out", str(out)]
    subprocess.run([str(STEVE), *args], env=env, check=True, capture_output=True, timeout=600)
    (run,) = out.iterdir()
    lines = {p.name: p.read_text().splitlines() for p in (run / "trajectory").glob("*.jsonl")}
    episodes = [json.loads(line) for line in (run / "episodes.jsonl").read_text().splitlines()]
    for e in episodes:
        e.pop("wall_s")
        e.pop("llm_latency_s")
    lines["episodes"] = [json.dumps(e, sort_keys=True) for e in episodes]
    return lines


@pytest.mark.parametrize("planner", ["fallible", "symbolic"])
def test_a_run_does_not_depend_on_the_hash_seed(tmp_path: Path, planner: str) -> None:
    one = _run(tmp_path / "a", "1", planner)
    other = _run(tmp_path / "b", "4242", planner)
    assert one.keys() == other.keys() and len(one) > 20
    differ = [name for name in one if one[name] != other[name]]
    assert not differ, f"trajectories differ between hash seeds: {differ}"


PLAN_ALL = """
import json
from agent.planner.symbolic import SymbolicPlanner
from knowledge.schema import Briefing
from sim.schema import Goal, Task, WorldState

planner, state = SymbolicPlanner(), WorldState(world="craftworld/v1", time_of_day=13_000)
plans = {}
for item in sorted(planner.graph(state).methods):
    task = Task(id=item, instruction=item, goal=Goal(item=item))
    plans[item] = [s.text() for s in planner.plan(task, state, Briefing()).subgoals]
print(json.dumps(plans))
"""


def test_every_plan_from_nothing_is_the_same_whatever_the_hash_seed() -> None:
    # a subgraph's topological order followed a set's iteration: seed 1's magenta bed
    # gathered in another order under another hash seed, and failed in CI
    def plans(hash_seed: str) -> dict[str, list[str]]:
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", PLAN_ALL], env=env, check=True, capture_output=True, text=True
        )
        return dict(json.loads(done.stdout))

    one, other = plans("1"), plans("4242")
    assert len(one) > 300
    differ = [item for item in one if one[item] != other[item]]
    assert not differ, f"plans differ between hash seeds: {differ[:10]}"
