"""What seeing costs (issue 32), side by side in one run.

    .venv/bin/pip install crafter    # the reference; not a dependency of the project
    taskset -c 0 .venv/bin/python benchmarks/views_bench.py [--steps 5000] [--rounds 3]

Prints, per round:
- the per-tick env's steps per second with the first-person observation on (`pixels=64`,
  random actions, the observation drawn whenever something in view may have changed), and
  Crafter's steps per second with its own 64x64 observation drawn (`crafter.Env.step`, as
  shipped); both time the steps only, not the resets between episodes (world generation);
- the first-person camera drawing every time (no reuse: a turn or a step on every frame);
- the viewer's frames per second with the 3D view: the isometric view drawn (as a live run
  does for every attempt), the viewer's whole picture around it, and both together.
`taskset -c 0` holds it to one core (the goal: 20 viewer frames a second on one).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

from sim.craftworld.envs import CraftWorldEnv
from sim.craftworld.firstperson import Camera
from sim.craftworld.world import CraftWorld
from sim.schema import Goal, Task

LONG = Task(id="diamond", instruction="Obtain a diamond.", goal=Goal(item="diamond"),
            max_ticks=10**9)  # fmt: skip


def pixel_steps(n: int, seed: int) -> tuple[float, float]:
    """(steps per second, share of steps whose view was drawn again)."""
    env = CraftWorldEnv(task=LONG, pixels=64)
    env.reset(seed=seed)
    actions = np.random.default_rng(seed).integers(env.action_space.n, size=n)
    drawn, timed, last = 0, 0.0, None
    for a in actions:
        t0 = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(a)
        timed += time.perf_counter() - t0
        drawn += env._view_key is not last
        last = env._view_key
        if terminated or truncated:
            env.reset()
    return n / timed, drawn / n


def crafter_steps(n: int, seed: int) -> float | None:
    try:
        import crafter
    except ImportError:
        return None
    env = crafter.Env(seed=seed)  # its observation (64x64 pixels) drawn every step
    env.reset()
    actions = np.random.default_rng(seed).integers(env.action_space.n, size=n)
    timed = 0.0
    for a in actions:
        t0 = time.perf_counter()
        _, _, done, _ = env.step(int(a))
        timed += time.perf_counter() - t0
        if done:
            env.reset()
    return n / timed


def camera_draws(n: int, seed: int) -> float:
    """First-person images per second, every one drawn (the agent turning each frame)."""
    world = CraftWorld()
    world.reset(LONG, seed)
    camera = Camera(64)
    mobs = [(m.kind, m.block_pos()) for m in world.body.mobs]
    t0 = time.perf_counter()
    for i in range(n):
        camera.render(world.terrain, world.pos, i % 4, mobs=mobs, time_of_day=6000)
    return n / (time.perf_counter() - t0)


def viewer_frames(n: int, seed: int) -> tuple[float, float, float]:
    """(3D views, viewer pictures, both) per second at the viewer's size."""
    from viz.frame import frames_of
    from viz.render import Chrome, render_frame

    world = CraftWorld()
    state = world.reset(LONG, seed)
    t0 = time.perf_counter()
    for _ in range(n):
        image = world.render()
    iso = n / (time.perf_counter() - t0)
    line = _line(state)
    frame = frames_of([line], [image], episode_id="diamond__s0", task_id="diamond", seed=seed)[0]
    t0 = time.perf_counter()
    for i in range(n):
        render_frame(frame, Chrome(cursor=i % 2, total=2))
    chrome = n / (time.perf_counter() - t0)
    return iso, chrome, 1 / (1 / iso + 1 / chrome)


def _line(state: object) -> object:
    """A trajectory line for a frame to show (an attempt that changed nothing)."""
    from agent.record import TrajectoryLine

    return TrajectoryLine.model_validate(
        {
            "step": 0,
            "pre_state": state,
            "post_state": state,
            "subgoal": {"verb": "mine", "target": "oak_log", "count": 1},
            "diagnosis": {"success": True},
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(f"# python benchmarks/views_bench.py {' '.join(sys.argv[1:])}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# {cores} core(s) usable; load average {os.getloadavg()[0]:.2f} at start")
    head = f"{'round':>5} {'pixels env/s':>12} {'redrawn':>8} {'Crafter/s':>10} {'ratio':>6}"
    print(head + f" {'camera/s':>9} {'3D view/s':>10} {'viewer/s':>9} {'3D+viewer/s':>12}")
    ratios = []
    for r in range(args.rounds):
        ours, redrawn = pixel_steps(args.steps, r)
        theirs = crafter_steps(args.steps, r)
        cam = camera_draws(args.steps // 5, r)
        iso, chrome, both = viewer_frames(args.frames, r)
        ratio = f"{ours / theirs:5.2f}x" if theirs else "   -  "
        if theirs:
            ratios.append(ours / theirs)
        print(
            f"{r:>5} {ours:12.0f} {redrawn:8.0%} {theirs or 0:10.0f} {ratio:>6} {cam:9.0f}"
            f" {iso:10.1f} {chrome:9.1f} {both:12.1f}",
            flush=True,
        )
    if ratios:
        print(f"median ratio {statistics.median(ratios):.2f}x")
    else:
        print("Crafter not installed: `.venv/bin/pip install crafter` for the side-by-side ratio")


if __name__ == "__main__":
    main()
