"""CraftWorld speed and memory, side by side with Crafter in one run.

Prints: low-level env steps per second for CraftWorld and for Crafter (`crafter.Env.step`
with its rendering off: the observation is not drawn), and their ratio per round, the steps
timed apart from the resets between episodes (world generation: Crafter's takes ~1 s with its
pure-Python noise, and a random agent there dies often, so timing resets with the steps
measured mostly Crafter's world generation); the resets, timed apart; the CPU time the
symbolic planner takes to plan 'obtain a diamond' from an empty inventory; the time to generate
the start area; and the memory a world holds after reset and after an episode.

    .venv/bin/pip install crafter    # the reference; not a dependency of the project
    .venv/bin/python benchmarks/craftworld_bench.py --steps 20000 --seeds 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np

from agent.planner.symbolic import SymbolicPlanner
from knowledge.schema import Briefing
from sim.craftworld.envs import CraftWorldEnv
from sim.craftworld.terrain import Terrain
from sim.craftworld.world import CraftWorld
from sim.schema import Goal, Task

DIAMOND = Task(id="diamond", instruction="Obtain a diamond.", goal=Goal(item="diamond"),
               max_ticks=10**9)  # fmt: skip


@dataclass
class Timed:
    """Steps per second (steps timed alone) and the resets an episode's end needed."""

    steps_per_s: float
    resets: list[float]


def craftworld_steps(n: int, seed: int) -> Timed:
    env = CraftWorldEnv(task=DIAMOND)
    env.reset(seed=seed)
    actions = np.random.default_rng(seed).integers(env.action_space.n, size=n)
    stepping, resets = 0.0, []
    for a in actions:
        t0 = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(a)
        stepping += time.perf_counter() - t0
        if terminated or truncated:
            t0 = time.perf_counter()
            env.reset()
            resets.append(time.perf_counter() - t0)
    return Timed(n / stepping, resets)


def crafter_steps(n: int, seed: int) -> Timed | None:
    try:
        import crafter
    except ImportError:
        return None
    env = crafter.Env(seed=seed)
    env._obs = lambda: None  # rendering off: Crafter draws its observation in _obs
    env.reset()
    actions = np.random.default_rng(seed).integers(env.action_space.n, size=n)
    stepping, resets = 0.0, []
    for a in actions:
        t0 = time.perf_counter()
        _, _, done, _ = env.step(int(a))
        stepping += time.perf_counter() - t0
        if done:
            t0 = time.perf_counter()
            env.reset()
            resets.append(time.perf_counter() - t0)
    return Timed(n / stepping, resets)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    print(f"# python benchmarks/craftworld_bench.py {' '.join(sys.argv[1:])}")
    print(f"# load average {os.getloadavg()[0]:.2f} at start")
    print("== low-level steps per second, steps timed apart from resets (alternating rounds) ==")
    head = f"{'round':>5} {'CraftWorld':>11} {'Crafter':>9} {'ratio':>6}"
    print(head + f" {'our resets':>12} {'theirs':>10}")
    ratios, crafter_resets = [], []
    for r in range(args.rounds):
        ours = craftworld_steps(args.steps, r)
        theirs = crafter_steps(args.steps, r)
        ratio = ours.steps_per_s / theirs.steps_per_s if theirs else None
        if ratio is not None and theirs is not None:
            ratios.append(ratio)
            crafter_resets += theirs.resets
        print(
            f"{r:>5} {ours.steps_per_s:11.0f} {theirs.steps_per_s if theirs else 0:9.0f}"
            f" {f'{ratio:5.2f}x' if ratio else '   -  ':>6}"
            f" {len(ours.resets):>12} {len(theirs.resets) if theirs else 0:>10}"
        )
    if ratios:
        print(f"median ratio CraftWorld / Crafter per step: {statistics.median(ratios):.2f}x")
        if crafter_resets:
            print(
                f"Crafter's resets (world generation): median"
                f" {statistics.median(crafter_resets):.2f} s over {len(crafter_resets)}"
            )
    else:
        print("Crafter not installed: `.venv/bin/pip install crafter` for the side-by-side ratio")

    print("\n== symbolic planner: 'obtain a diamond' from an empty inventory ==")
    world, planner = CraftWorld(), SymbolicPlanner()
    cpu = []
    for seed in range(args.seeds):
        state = world.reset(DIAMOND, seed)
        t0 = time.process_time()
        plan = planner.plan(DIAMOND, state, Briefing())
        cpu.append(time.process_time() - t0)
    print(f"plan CPU time over {args.seeds} seeds: median {statistics.median(cpu) * 1e3:.1f} ms, "
          f"max {max(cpu) * 1e3:.1f} ms ({len(plan.subgoals)} subgoals)")  # fmt: skip

    print("\n== start area and memory ==")
    gen = []
    for seed in range(args.seeds):
        terrain = Terrain(seed)
        t0 = time.perf_counter()
        terrain.ensure_area(0, 0, 40)
        gen.append(time.perf_counter() - t0)
    print(f"start area (81x81 columns, {terrain.loaded_chunks()} chunks): median "
          f"{statistics.median(gen) * 1e3:.1f} ms, max {max(gen) * 1e3:.1f} ms")  # fmt: skip
    tracemalloc.start()
    world = CraftWorld()
    world.reset(DIAMOND, 0)
    after_reset = tracemalloc.get_traced_memory()[0]
    for sg in planner.plan(DIAMOND, world.state(), Briefing()).subgoals:
        world.execute(sg)
    after_episode = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(f"memory per world: {after_reset / 2**20:.1f} MiB after reset, "
          f"{after_episode / 2**20:.1f} MiB after a diamond episode "
          f"({world.terrain.loaded_chunks()} chunks loaded)")  # fmt: skip


if __name__ == "__main__":
    main()
