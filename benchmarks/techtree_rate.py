"""How often the symbolic planner climbs CraftWorld's tech tree from an empty inventory.

Plays one closed-loop episode per (goal, seed) with the symbolic planner and no memory (method
`none`), on the generous tech-tree budget (200 000 ticks, 120 subgoals), and prints per goal the
success rate, the median ticks and subgoals of the successes, and for each failure the seed,
the last subgoal and the world's message, so that a regression points at its cause.

    .venv/bin/python benchmarks/techtree_rate.py                       # diamond_pickaxe, 100 seeds
    .venv/bin/python benchmarks/techtree_rate.py --goal iron_pickaxe --seeds 0:100
    .venv/bin/python benchmarks/techtree_rate.py --start-time 12000    # start at dusk

Any world helper given (`--helper key=value`, e.g. hostile_mobs=false) is printed with the table.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter

from rich.console import Console
from rich.table import Table

import sim
from agent.loop import play_oracle
from sim.schema import ArgValue, Goal, Task


def _value(text: str) -> ArgValue:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--goal", action="append", help="item to obtain (repeatable)")
    parser.add_argument("--seeds", default="0:100", help="a range start:stop")
    parser.add_argument("--start-time", type=int, default=None, help="time of day at reset")
    parser.add_argument("--helper", action="append", default=[], help="world helper key=value")
    parser.add_argument("--max-ticks", type=int, default=200_000)
    parser.add_argument("--max-subgoals", type=int, default=120)
    args = parser.parse_args()
    start, stop = (int(v) for v in args.seeds.split(":"))
    helpers: dict[str, ArgValue] = dict(
        (k, _value(v)) for k, v in (h.split("=", 1) for h in args.helper)
    )
    if args.start_time is not None:
        helpers["start_time"] = args.start_time
    console = Console(width=max(Console().width, 120))
    world = sim.make("craftworld/v1")
    table = Table(title=f"symbolic planner, seeds {start}-{stop - 1}, helpers {helpers or 'none'}")
    for col in ("goal", "success", "median ticks", "median subgoals", "wall s", "failed causes"):
        table.add_column(col, no_wrap=True)
    for goal in args.goal or ["diamond_pickaxe"]:
        task = Task(
            id=f"get_{goal}",
            instruction=f"obtain a {goal}",
            goal=Goal(item=goal),
            max_ticks=args.max_ticks,
            max_subgoals=args.max_subgoals,
            helpers=helpers,
        )
        ok, ticks, steps, causes = 0, [], [], Counter[str]()
        t0 = time.perf_counter()
        for seed in range(start, stop):
            result, lines = play_oracle(world, task, seed, run_id="techtree_rate")
            if result.success:
                ok += 1
                ticks.append(result.ticks)
                steps.append(result.steps)
                continue
            last = lines[-1] if lines else {}
            sub, out = last.get("subgoal", {}), last.get("outcome", {})
            causes[str(out.get("cause"))] += 1
            console.print(
                f"[red]{goal} seed {seed}[/]: {sub.get('verb')} {sub.get('target')} -> "
                f"{out.get('cause')}: {out.get('message')} ({result.steps} subgoals, "
                f"{result.ticks} ticks)"
            )
        n = stop - start
        table.add_row(
            goal,
            f"{ok}/{n}",
            f"{statistics.median(ticks):.0f}" if ticks else "-",
            f"{statistics.median(steps):.0f}" if steps else "-",
            f"{time.perf_counter() - t0:.0f}",
            ", ".join(f"{k} x{v}" for k, v in causes.most_common()) or "-",
        )
    console.print(table)


if __name__ == "__main__":
    main()
