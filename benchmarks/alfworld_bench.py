"""Reset and step costs of the ALFWorld engine on kitchen-sized scenes, stock against the
world's engine (`sim/alfworld/fast.py`), measured side by side in one run, with a check that
every variant says exactly the same thing.

    python benchmarks/alfworld_bench.py --games 6 --steps 40 --rounds 2

Needs the `alfworld` extra. For each generated kitchen (heat, cool and clean tasks of the
seen split) it times:

- reset, stock: ALFWorld's TextWorld stack as ALFWorld plays it (`PddlEnv` behind
  `AlfredDemangler` and `AlfredInfos`; every episode loads the game file and resets);
- reset, world: `AlfWorld.reset` on a game never seen before (scene generated, game file
  written, translated, loaded), on a game whose translation is on disk (a fresh process), and
  on a game played before in this process;
- step: the same seeded walk of admissible commands with no speedup, with the parse cache
  only, and with the parse cache and shallow contexts; transcripts (feedback and admissible
  commands after every step) must be identical;
- the engine's planner (fast-downward) from the initial state.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sim.alfworld import fast
from sim.alfworld.generate import pools
from sim.schema import Goal, Task

KINDS = (
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_clean_then_place_in_recep",
)


def kitchen_tasks(n: int) -> list[Task]:
    specs = [s for k in KINDS for s in pools(k)["seen"][: (n + len(KINDS) - 1) // len(KINDS)]]
    return [
        Task(id=f"t{i}", instruction="", goal=Goal(predicate=s.predicate()), max_ticks=10_000)
        for i, s in enumerate(specs[:n])
    ]


def stock_env() -> Any:
    import textworld
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos
    from textworld.envs import PddlEnv

    infos = textworld.EnvInfos(won=True, admissible_commands=True)
    return AlfredInfos(AlfredDemangler(PddlEnv(infos)))


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def walk(
    env: Any, game: Path, steps: int, seed: int, plan: list[str] | None
) -> tuple[list[str], list[str], float]:
    """Load, reset, then `steps` commands (chosen by a seeded RNG, or replayed from `plan`);
    returns the commands, the transcript and the mean seconds per step."""
    with fast.argv_kept():
        env.load(str(game))
        state = env.reset()
    rng = random.Random(seed)
    transcript = [str(state.feedback), *state["admissible_commands"]]
    commands: list[str] = []
    spent = 0.0
    for i in range(steps):
        options = [c for c in state["admissible_commands"] if c not in ("help", "look")]
        command = plan[i] if plan is not None else rng.choice(options)
        dt, (state, _, _) = timed(lambda c=command: env.step(c))
        spent += dt
        commands.append(command)
        transcript += [str(state.feedback), *state["admissible_commands"]]
    return commands, transcript, spent / max(1, steps)


def main() -> None:
    p = argparse.ArgumentParser(description="ALFWorld engine: reset and step costs")
    p.add_argument("--games", type=int, default=6, help="kitchen tasks")
    p.add_argument("--steps", type=int, default=40, help="commands per walk")
    p.add_argument("--rounds", type=int, default=2, help="repeats of each measurement")
    args = p.parse_args()
    import textworld
    from alfworld.info import __version__ as alfworld_version

    from sim.alfworld.world import CACHE_ENV, AlfWorld

    tmp = Path(tempfile.mkdtemp(prefix="alfworld_bench_"))
    os.environ[CACHE_ENV] = str(tmp)
    print(
        f"alfworld {alfworld_version}, textworld {textworld.__version__}, "
        f"python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f}"
    )
    tasks = kitchen_tasks(args.games)
    world = AlfWorld(games=tmp)
    rows: dict[str, list[float]] = {k: [] for k in ("new", "disk", "again", "stock")}
    sizes = []
    games = []
    for task in tasks:
        dt, _ = timed(lambda t=task: world.reset(t, 0))
        rows["new"].append(dt)
        games.append(world.game_for(task, 0))
        sizes.append((len(world.engine.receptacles), len(world.engine.types)))
    for _ in range(args.rounds):
        fast.clear_caches()
        for task in tasks:  # a fresh process: translations on disk, nothing in memory
            rows["disk"].append(timed(lambda t=task: world.reset(t, 0))[0])
        for task in tasks:
            rows["again"].append(timed(lambda t=task: world.reset(t, 0))[0])
    fast.speedups(parse=False, context=False)
    stock = stock_env()
    for _ in range(args.rounds):
        for game in games:

            def load_reset(g: Path = game) -> None:
                with fast.argv_kept():
                    stock.load(str(g))
                    stock.reset()

            rows["stock"].append(timed(load_reset)[0])
    rec = [r for r, _ in sizes]
    print(
        f"{len(tasks)} kitchens: {min(rec)}-{max(rec)} receptacles, "
        f"{min(n - r for r, n in sizes)}-{max(n - r for r, n in sizes)} objects"
    )
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(
        "reset (median s)   stock load+reset {stock:.3f} | world: new game {new:.3f}, "
        "translation on disk {disk:.3f}, played before {again:.3f}".format(**med)
    )
    print(
        f"  stock / new game {med['stock'] / med['new']:.1f}x, "
        f"stock / on disk {med['stock'] / med['disk']:.1f}x"
    )

    variants = {
        "stock": (stock_env, dict(parse=False, context=False)),
        "parse cache": (lambda: world.engine.env, dict(parse=True, context=False)),
        "parse cache + shallow contexts": (
            lambda: world.engine.env,
            dict(parse=True, context=True),
        ),
    }
    per_step: dict[str, list[float]] = {k: [] for k in variants}
    identical = True
    for i, game in enumerate(games):
        plan: list[str] | None = None
        reference: list[str] | None = None
        for _ in range(args.rounds):
            for name, (make, switches) in variants.items():
                fast.speedups(**switches)
                commands, transcript, spent = walk(make(), game, args.steps, i, plan)
                plan = plan or commands
                reference = reference or transcript
                identical &= transcript == reference
                per_step[name].append(spent)
    fast.speedups(parse=True, context=True)
    base = statistics.median(per_step["stock"])
    print(
        f"step (median ms over {len(games)} games x {args.rounds} rounds x {args.steps} "
        f"commands), transcripts identical: {identical}"
    )
    for name, values in per_step.items():
        m = statistics.median(values)
        print(f"  {name:32s} {1000 * m:7.1f} ms  {base / m:4.1f}x")

    plans = []
    for task in tasks:
        world.reset(task, 0)
        world.engine.walkthrough = None
        plans.append(timed(world.expert_plan)[0])
    print(
        f"engine planner from the start (s): median {statistics.median(plans):.2f}, "
        f"max {max(plans):.2f}"
    )
    shutil.rmtree(tmp, ignore_errors=True)
    if not identical:
        raise SystemExit("transcripts differ between variants")


if __name__ == "__main__":
    main()
