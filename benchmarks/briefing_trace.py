"""Did the planner use its briefing? Each recalled item shown with a plan request, summed.

Reads the trajectory lines of run directories (or `steve eval` report folders): for every plan
the planner wrote, the items it was shown (skills, guardrails, learned recipes) and whether the
plan followed each (`agent/followed.py`), and whether the plan's first attempt then worked.

    python benchmarks/briefing_trace.py reports/experience/learned__*/runs/evolving
    python benchmarks/briefing_trace.py RUN_DIR --by-task

Printed per kind: plans that were shown at least one, items shown, followed / not followed /
not applicable, and the success of the attempt after a plan that followed versus one that did
not.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from agent.record import read_trajectory


def runs(paths: list[str]) -> list[Path]:
    """Run directories under the given paths (a run directory, or a report folder)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if (p / "trajectory").is_dir():
            out.append(p)
        elif p.is_dir():
            out += sorted(d.parent for d in p.rglob("trajectory") if d.is_dir())
        else:
            raise SystemExit(f"{p}: not a run directory or report folder")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--by-task", action="store_true", help="one table per task")
    args = ap.parse_args()
    tables: dict[str, dict[str, dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(int))
    )
    for run in runs(args.paths):
        for path in sorted((run / "trajectory").glob("*.jsonl")):
            key = path.stem.rpartition("__")[0] if args.by_task else "all"
            for row in read_trajectory(path, strict=False):
                worked = row.diagnosis.success
                for item in row.plan.followed if row.plan is not None else []:
                    counts = tables[key][item["kind"]]
                    counts["shown"] += 1
                    verdict = {True: "followed", False: "not", None: "n/a"}[item["followed"]]
                    counts[verdict] += 1
                    counts[f"{verdict} ok"] += worked
    if not tables:
        raise SystemExit("no plan with a briefing in these runs")
    for key, kinds in sorted(tables.items()):
        print(f"\n## {key}")
        head = f"{'kind':<10} {'shown':>6} {'followed':>9} {'not':>5} {'n/a':>5}"
        print(head + f" {'ok|followed':>12} {'ok|not':>7}")
        for kind, c in sorted(kinds.items()):
            print(
                f"{kind:<10} {c['shown']:>6} {c['followed']:>9} {c['not']:>5} {c['n/a']:>5}"
                f" {_rate(c['followed ok'], c['followed']):>12} {_rate(c['not ok'], c['not']):>7}"
            )


def _rate(k: int, n: int) -> str:
    return f"{100 * k / n:.0f}%" if n else "-"


if __name__ == "__main__":
    main()
