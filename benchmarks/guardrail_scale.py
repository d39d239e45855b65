"""Episode time as the store's guardrails grow: does enforcement stay flat?

A store is filled with N guardrails shaped like distilled ones (on operations over invented
items, so none of them blocks the episode: a rule lifted by a fact, one under a condition, one
that nothing lifts, a task-scope one), then the same `craft_stick` episode (symbolic planner,
`evolving`: recall before every subgoal, guardrails checked against the store at every subgoal,
online distillation) is played several times on it. Printed: the median episode time for each
N and its ratio to the smallest store's, measured side by side in one run (rounds interleaved
across the stores, so a busy machine slows them alike), and how long `knowledge show` takes
to print its first page.

    python benchmarks/guardrail_scale.py                       # 100, 10,000 and 100,000 rules
    python benchmarks/guardrail_scale.py --sizes 100,1000 --rounds 3

The goal (issue 27): 100,000 guardrails within 2x of 100.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sim
from agent.loop import Episode
from agent.methods import METHODS
from agent.planner.symbolic import SymbolicPlanner
from knowledge.schema import Guardrail
from knowledge.store import ExperienceStore
from sim.schema import FailureCause, Goal, Subgoal, Task


def rules(n: int) -> list[Guardrail]:
    """n guardrails as distillation makes them, over invented items (none touch the task)."""
    out = []
    for i in range(n):
        item, other = f"item{i % 5000}", f"part{i % 997}"
        op = f"{('craft', 'mine', 'smelt')[i % 3]}:{item}"
        kind = i % 10
        if kind < 6:
            rail = Guardrail(
                root_cause=FailureCause.MISSING_ITEM,
                forbidden=op,
                unless=[f"has:{other}{i}"],
                remedy=[Subgoal(verb="mine", target=other)],
                remedy_evidence=[1],
                evidence=[1],
            )
        elif kind < 8:
            rail = Guardrail(
                root_cause=FailureCause.WRONG_TOOL,
                forbidden=op,
                when=[f"hands:{other}{i}"],
                evidence=[1],
            )
        elif kind < 9:
            rail = Guardrail(
                root_cause=FailureCause.RECIPE_FAIL, forbidden=f"{op}{i}", evidence=[1]
            )
        else:
            rail = Guardrail(
                scope="task",
                task_goal=f"goal{i % 50}",
                root_cause=FailureCause.MOB_KILLED,
                forbidden=op,
                evidence=[1],
            )
        out.append(rail)
    return out


def fill(path: Path, n: int) -> None:
    store = ExperienceStore(path)
    with store.batch():
        for rail in rules(n):
            store.put_guardrail(rail)
    store.close()


def episode(path: Path) -> float:
    """Wall seconds of one craft_stick episode on the store at `path`."""
    world = sim.make("craftworld/v1")
    task = Task(id="craft_stick", instruction="craft a stick", goal=Goal(item="stick"))
    store = ExperienceStore(path)
    t0 = time.perf_counter()
    result = Episode(
        world=world,
        task=task,
        seed=0,
        planner=SymbolicPlanner(),
        method=METHODS["evolving"],
        store=store,
        run_id="bench",
    ).run()
    took = time.perf_counter() - t0
    store.close()
    if not result.success:
        raise SystemExit(f"the craft_stick episode failed on {path}: {result}")
    return took


def show(path: Path) -> float:
    """Seconds `steve knowledge show` takes to print its first page (a subprocess)."""
    steve = Path(sys.executable).with_name("steve")
    t0 = time.perf_counter()
    done = subprocess.run(
        [str(steve), "knowledge", "show", str(path)], capture_output=True, check=True
    )
    took = time.perf_counter() - t0
    print(f"#   knowledge show, {path.name}: {len(done.stdout):,} bytes in {took:.2f} s")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,10000,100000")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"# python benchmarks/guardrail_scale.py --sizes {args.sizes} --rounds {args.rounds}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for n in sizes:
            paths[n] = Path(tmp) / f"rules_{n}.sqlite"
            t0 = time.perf_counter()
            fill(paths[n], n)
            print(f"# filled {n:,} guardrails in {time.perf_counter() - t0:.1f} s")
        for n in sizes:
            episode(paths[n])  # warm: imports, the world's first terrain, SQLite pages
        times: dict[int, list[float]] = {n: [] for n in sizes}
        for _ in range(args.rounds):
            for n in sizes:
                times[n].append(episode(paths[n]))
        base = statistics.median(times[sizes[0]])
        print(f"\n{'guardrails':>10} {'episode s (median)':>19} {'min':>7} {'max':>7} {'ratio':>6}")
        for n in sizes:
            med = statistics.median(times[n])
            print(
                f"{n:>10,} {med:>19.3f} {min(times[n]):>7.3f} {max(times[n]):>7.3f}"
                f" {med / base:>6.2f}"
            )
        for n in sizes:
            show(paths[n])


if __name__ == "__main__":
    main()
