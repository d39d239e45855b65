"""The knowledge-driven closed loop against its baselines, on one experience stream.

The issue-7 experiment: the wooden, stone and iron groups of the tech tree, played once per
seed (74 episodes for seeds 0 and 1), by a deliberately fallible planner (the symbolic planner
with seeded misbeliefs: `agent.planner.fallible`), for each method. Every method starts with an
empty store and sees the same episodes in the same order. Printed: success over the last 20
episodes and on the iron group, the differences, the failure modes the baselines kept
repeating, and where the report (Markdown, CSV, PNG) went. Several misbelief seeds show that
the ordering is not one lucky draw.

    python benchmarks/closed_loop.py                         # fallible planner, 3 misbelief seeds
    python benchmarks/closed_loop.py --misbelief-seeds 1 --methods none,static,evolving,\
no-guardrails,no-skills,no-injection,binary-diagnosis,no-explore    # the ablations

The real model's comparison is `benchmarks/experience.py`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from agent.evaluate import EvalConfig, evaluate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--suite", default="scenarios/suites/techtree.yaml")
    ap.add_argument("--groups", default="wooden,stone,iron")
    ap.add_argument("--tasks", default=None, help="comma-separated task ids (default: all)")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--methods", default="none,static,evolving")
    ap.add_argument("--planner", default="fallible")
    ap.add_argument("--model", default=None)
    ap.add_argument("--misbelief-seeds", default="0,1,2", help="fallible planner only")
    ap.add_argument("--tail", type=int, default=20)
    ap.add_argument("--out", default="reports/closed_loop")
    args = ap.parse_args()

    fallible = args.planner == "fallible"
    draws = [int(s) for s in args.misbelief_seeds.split(",")] if fallible else [0]
    print(f"# python benchmarks/closed_loop.py {' '.join(_argv())}")
    header = f"{'draw':>5} {'method':<17} {'episodes':>8} {'all':>6} {'last':>6} {'iron':>6}"
    print(header + f" {'wall s':>7}")
    tails: dict[str, list[float]] = {}
    for draw in draws:
        cfg = EvalConfig(
            suite=args.suite,
            methods=args.methods.split(","),
            planner=args.planner,
            seeds=[int(s) for s in args.seeds.split(",")],
            groups=args.groups.split(","),
            tasks=args.tasks.split(",") if args.tasks else None,
            out=args.out,
            name=f"{args.planner}__draw{draw}__{time.strftime('%Y%m%d-%H%M%S')}",
            model=args.model,
            extra={"misbeliefs": {"seed": draw}} if fallible else {},
            tail=args.tail,
        )
        t0 = time.perf_counter()
        result = evaluate(cfg)
        wall = time.perf_counter() - t0
        for m, rows in result.rows.items():
            tails.setdefault(m, []).append(result.tail[m])
            iron = [r.success for r in rows if r.group == "iron"]
            iron_rate = f"{100 * sum(iron) / len(iron):5.0f}%" if iron else "    -"
            wins = sum(r.success for r in rows)
            print(
                f"{draw:>5} {m:<17} {len(rows):>8} {100 * wins / max(1, len(rows)):5.0f}%"
                f" {100 * result.tail[m]:5.0f}% {iron_rate} {wall / len(result.rows):7.0f}"
            )
        if "evolving" in result.tail:
            for base in ("static", "none"):
                if base in result.tail:
                    gap = 100 * (result.tail["evolving"] - result.tail[base])
                    print(f"{draw:>5} evolving - {base}: {gap:+.0f} points, last {cfg.tail}")
            ev = result.modes.get("evolving")
            for base in ("static", "none"):
                if base not in result.modes or ev is None:
                    continue
                kept = [
                    (mode, n)
                    for mode, n in result.modes[base].most_common()
                    if n >= 3 and not mode.startswith("BLOCKED") and ev[mode] == 0
                ]
                shown = ", ".join(f"{mode} x{n}" for mode, n in kept[:3])
                print(f"{draw:>5} {base} kept repeating, evolving never (2nd half): {shown}")
        print(f"{draw:>5} report: {Path(result.report_dir) / 'report.md'}")
    if len(draws) > 1:
        mean = {m: 100 * sum(v) / len(v) for m, v in tails.items()}
        print(f"mean over {len(draws)} draws, last {args.tail}: ", end="")
        print(", ".join(f"{m} {v:.0f}%" for m, v in mean.items()))
        if "evolving" in mean:
            gaps = [f"{m} {mean['evolving'] - v:+.0f}" for m, v in mean.items() if m != "evolving"]
            print("evolving minus: " + ", ".join(gaps) + " points")


def _argv() -> list[str]:
    import sys

    return sys.argv[1:]


if __name__ == "__main__":
    main()
