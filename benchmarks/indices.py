"""Does each index of the experience space earn its place? The evolving method against each
index turned off in recall, on the same stream, and what recall costs at scale.

    python benchmarks/indices.py                                   # fallible: techtree
    python benchmarks/indices.py --planner local --suite wooden,stone --seeds 0   # the model
    python benchmarks/indices.py --suite alfworld_seen --groups all --planner fallible
    python benchmarks/indices.py --runs none --sizes 100000,1000000  # recall time only

For each method (`evolving`, `no-signature`, `no-spatial`, `no-summaries`, `no-episodic`) it
plays the same stream (every method from an empty store) and prints success, subgoals per
success and ticks per success, and how many recalled items each index supplied (the
`source` of each item on every trajectory line). Then, on synthetic stores of CraftWorld-like
tuples (`benchmarks/synthetic_tuples.py`) of each `--sizes`, the time one loop-like recall
takes (the query the loop makes before each subgoal: facts, cell and map, tags, the next
step's text, the operations ahead), against the median time of one subgoal in the runs above.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from agent.evaluate import EvalConfig, evaluate
from agent.options import parse_options
from agent.record import read_trajectory
from knowledge.recall import RecallQuery, recall
from knowledge.signature import cell_of
from knowledge.store import ExperienceStore

sys.path.insert(0, str(Path(__file__).parent))
from synthetic_tuples import Generator

METHODS = "evolving,no-signature,no-spatial,no-summaries,no-episodic"
SUITES = {
    "techtree": "scenarios/suites/techtree.yaml",
    "wooden": "scenarios/suites/wooden.yaml",
    "stone": "scenarios/suites/stone.yaml",
    "alfworld_seen": "scenarios/suites/alfworld/alfworld_seen.yaml",
    "alfworld_unseen": "scenarios/suites/alfworld/alfworld_unseen.yaml",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--suite", default="techtree", help=f"one or more of {', '.join(SUITES)}")
    ap.add_argument("--groups", default="wooden,stone,iron", help="'all': every group")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--tasks", default=None, help="comma-separated task ids (default: all)")
    ap.add_argument("--methods", default=METHODS)
    ap.add_argument("--planner", default="fallible")
    ap.add_argument("--model", default=None)
    ap.add_argument("--misbelief-seed", type=int, default=0, help="fallible planner only")
    ap.add_argument("--runs", default="yes", choices=["yes", "none"], help="none: timing only")
    ap.add_argument("--sizes", default="100000,1000000", help="store sizes for recall time")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out", default="reports/indices")
    ap.add_argument("--option", action="append", help="SECTION.KEY=VALUE, as for steve run")
    ap.add_argument(
        "--resume", default=None, help="a report folder of one suite: finish it, print it again"
    )
    args = ap.parse_args()
    print(f"# python benchmarks/indices.py {' '.join(sys.argv[1:])}")
    print(f"# load average {os.getloadavg()[0]:.2f} at start")
    per_subgoal: list[float] = []
    if args.runs == "yes":
        for suite in args.suite.split(",") if args.resume is None else [args.suite]:
            per_subgoal += _compare(suite, args)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if sizes:
        _recall_time(sizes, args.queries, per_subgoal)


def _compare(suite: str, args: argparse.Namespace) -> list[float]:
    path = SUITES.get(suite, suite)
    cfg = EvalConfig(
        suite=path,
        methods=args.methods.split(","),
        planner=args.planner,
        seeds=[int(s) for s in args.seeds.split(",")],
        groups=None if args.groups == "all" else args.groups.split(","),
        tasks=args.tasks.split(",") if args.tasks else None,
        out=args.out,
        name=f"{Path(path).stem}__{args.planner}__{time.strftime('%Y%m%d-%H%M%S')}",
        model=args.model,
        extra=_extra(args),
    )
    t0 = time.perf_counter()
    result = evaluate(cfg, resume=args.resume)
    wall = time.perf_counter() - t0
    ran = yaml.safe_load((Path(result.report_dir) / "eval.yaml").read_text())  # (or resumed)
    seeds = ",".join(str(s) for s in ran["seeds"] or [])
    print(f"\n## {Path(ran['suite']).stem}, planner {ran['planner']}, seeds {seeds} ({wall:.0f} s)")
    head = f"{'method':<14} {'episodes':>8} {'success':>8} {'subgoals/ok':>12} {'ticks/ok':>9}"
    print(head + "  recalled items by source (all lines)")
    per_subgoal: list[float] = []
    for method, rows in result.rows.items():
        ok = [r for r in rows if r.success]
        steps = statistics.mean(r.steps for r in ok) if ok else float("nan")
        ticks = statistics.mean(r.ticks for r in ok) if ok else float("nan")
        sources, verdicts = _sources(Path(result.report_dir), method)
        per_subgoal += [r.wall_s / r.steps for r in rows if r.steps]
        shown = ", ".join(f"{k} {n}" for k, n in sorted(sources.items()))
        probes = ", ".join(f"{k} {n}" for k, n in sorted(verdicts.items())) or "none"
        print(
            f"{method:<14} {len(rows):>8} {100 * len(ok) / max(1, len(rows)):7.0f}%"
            f" {steps:12.1f} {ticks:9.0f}  {shown or '-'}; probes and checks: {probes}"
        )
    print(f"report: {Path(result.report_dir) / 'report.md'}")
    return per_subgoal


def _extra(args: argparse.Namespace) -> dict[str, Any]:
    extra = parse_options(args.option)
    if args.planner == "fallible":
        extra.setdefault("misbeliefs", {}).setdefault("seed", args.misbelief_seed)
    return extra


def _sources(report_dir: Path, method: str) -> tuple[Counter[str], Counter[str]]:
    """Recalled items by the index that found them, over every trajectory line of a method;
    and what memory's probes and skill checks concluded (`TrajectoryLine.memory`: "guardrail
    8 probed: confirmed" counts as "probe confirmed")."""
    run_dir = report_dir / "runs" / method  # where `evaluate` plays each method
    out: Counter[str] = Counter()
    verdicts: Counter[str] = Counter()
    for path in sorted((run_dir / "trajectory").glob("*.jsonl")):
        for line in read_trajectory(path):
            out.update(item.source or "?" for item in line.recalled)
            for verdict in line.memory:
                kind, _, said = verdict.partition(": ")
                what = "probe" if "probed" in kind else kind.split(" ")[0] + " check"
                verdicts[f"{what} {said.split(' ')[0].rstrip(',;')}"] += 1
    return out, verdicts


def _recall_time(sizes: list[int], queries: int, per_subgoal: list[float]) -> None:
    print("\n## recall time per subgoal (the loop's query before each subgoal)")
    print(f"{'tuples':>10} {'build s':>8} {'first ms':>9} {'median ms':>10} {'p95 ms':>8}  share")
    work = Path(tempfile.mkdtemp(prefix="indices_"))
    median_subgoal = statistics.median(per_subgoal) if per_subgoal else None
    for size in sizes:
        store = ExperienceStore(work / f"k{size}.sqlite")
        gen, t0, done = Generator(seed=0), time.perf_counter(), 0
        probes = []
        while done < size:
            batch = gen.batch(min(20_000, size - done))
            for t in batch.tuples:
                t.tags.append(f"map:craftworld/v1#{gen.episode % 4}")
            store.anchor_many(batch.tuples)
            probes += batch.tuples[:: max(1, len(batch.tuples) // 20)]
            done += len(batch.tuples)
        build = time.perf_counter() - t0
        times = []
        for n, tup in enumerate(probes[-queries:] * (1 + queries // max(1, len(probes)))):
            if n >= queries:
                break
            q = RecallQuery(
                goal=tup.task_goal or tup.action.target,
                facts=frozenset(tup.facts),
                relevant=frozenset({tup.action.target}),
                cell=cell_of(tup.pre_state.position),
                place=next((t for t in tup.tags if t.startswith("map:")), None),
                tags=frozenset({tup.task_goal, tup.task_family, tup.action.target} - {""}),
                text=tup.action.text(),
                ops=(tup.action.key(),),
            )
            t1 = time.perf_counter()
            recall(store, q)
            times.append(1000 * (time.perf_counter() - t1))
        first, rest = times[0], sorted(times[1:]) or times
        med, p95 = statistics.median(rest), rest[int(0.95 * (len(rest) - 1))]
        share = f"{med / 1000 / median_subgoal:.1%} of a subgoal's median" if median_subgoal else ""
        print(f"{size:>10,} {build:8.0f} {first:9.1f} {med:10.2f} {p95:8.2f}  {share}")
        store.close()
    if median_subgoal:
        print(f"(median subgoal in the runs above: {1000 * median_subgoal:.0f} ms of wall time)")


if __name__ == "__main__":
    main()
