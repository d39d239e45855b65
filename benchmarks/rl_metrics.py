"""Summarise a `steve train` run's metrics.jsonl by ranges of steps.

For each range: mean seconds a step (and of rollouts and of the update, over the steps that
had one), training success and reward, the share of groups with zero variance (no gradient),
and the KL to the base model; with `--by-task`, each training task's success and subgoals
used. The figures of docs/rl.md about a run come from this script.

    python benchmarks/rl_metrics.py runs/rl/wooden_grpo_wide --every 20
    python benchmarks/rl_metrics.py runs/rl/wooden_grpo_bf16 --ranges 1-55,56-110,21-110
    python benchmarks/rl_metrics.py runs/rl/wooden_grpo_long --every 20 --by-task
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from pathlib import Path
from typing import Any


def ranges(spec: str | None, every: int, last: int) -> list[tuple[int, int]]:
    if spec:
        out = []
        for part in spec.split(","):
            lo, _, hi = part.partition("-")
            out.append((int(lo), int(hi or lo)))
        return out
    return [(lo, min(lo + every - 1, last)) for lo in range(1, last + 1, every)]


def mean(rows: list[dict[str, Any]], key: str) -> float:
    values = [float(r[key]) for r in rows if key in r]
    return statistics.fmean(values) if values else float("nan")


def by_task(steps: list[dict[str, Any]], spans: list[tuple[int, int]]) -> None:
    """Per task and range: `success (subgoals) xN` over the steps that drew the task."""
    tasks = sorted({k[5 : k.rindex("/")] for r in steps for k in r if k.startswith("task/")})
    if not tasks:
        print("no per-task metrics in this run (logged since the trainer's `task/<id>/...`)")
        return
    width = max(len(t) for t in tasks)
    print(f"\n{'task':<{width}}" + "".join(f"{f'{lo}-{hi}':>20}" for lo, hi in spans))
    for task in tasks:
        cells = []
        for lo, hi in spans:
            seg = [r for r in steps if lo <= r["step"] <= hi and f"task/{task}/success" in r]
            cell = (
                f"{mean(seg, f'task/{task}/success'):.2f} ({mean(seg, f'task/{task}/steps'):.1f})"
                f" x{len(seg)}"
                if seg
                else "-"
            )
            cells.append(f"{cell:>20}")
        print(f"{task:<{width}}" + "".join(cells))
    print("success of the task's rollouts (mean subgoals used) xN: N steps drew the task")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a training directory (holds metrics.jsonl)")
    ap.add_argument("--every", type=int, default=20, help="steps per range")
    ap.add_argument("--ranges", default=None, help="explicit ranges, e.g. 1-55,56-110")
    ap.add_argument(
        "--by-task",
        action="store_true",
        help="per training task and range: success rate of its rollouts, subgoals used, "
        "and how many steps drew it",
    )
    args = ap.parse_args()
    path = args.run / "metrics.jsonl"
    if not path.is_file():
        sys.exit(f"{path}: no metrics.jsonl (is {args.run} a `steve train` directory?)")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    steps = [r for r in rows if "train/reward" in r]
    if not steps:
        sys.exit(f"{path}: no training steps logged yet")
    last = max(r["step"] for r in steps)
    spans = ranges(args.ranges, args.every, last)
    head = f"{'steps':>9} {'n':>3} {'s/step':>7} {'rollouts':>8} {'update*':>8} {'success':>7} "
    print(head + f"{'reward':>7} {'zero-var':>8} {'kl':>7}")
    for lo, hi in spans:
        seg = [r for r in steps if lo <= r["step"] <= hi]
        if not seg:
            continue
        updated = [r for r in seg if r.get("planner/turns", 0) > 0]
        print(
            f"{f'{lo}-{hi}':>9} {len(seg):>3} {mean(seg, 'time/step_s'):>7.1f} "
            f"{mean(seg, 'time/rollouts_s'):>8.1f} {mean(updated, 'time/update_s'):>8.1f} "
            f"{mean(seg, 'train/success'):>7.2f} {mean(seg, 'train/reward'):>+7.3f} "
            f"{mean(seg, 'train/zero_variance_groups'):>8.0%} {mean(seg, 'planner/kl'):>7.4f}"
        )
    print("update*: mean over the steps that had an update (a zero-variance group has none)")
    if args.by_task:
        by_task(steps, spans)
    print("command: " + " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]))


if __name__ == "__main__":
    main()
