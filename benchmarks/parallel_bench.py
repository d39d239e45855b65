"""Episodes per hour on Ray: 2 workers against 1 (and the serial runner), side by side.

Plays the same experience stream (a suite, its tasks over the given seeds, the symbolic planner
by default) with the serial runner, on one Ray worker and on two, in alternating order over a
few rounds, and prints episodes per hour from the first episode handed out to the last one
recorded. Ray's start (the local instance, then the workers with their worlds and planners) is
measured apart: it is paid once per run, not per episode. The load average is printed beside
each figure (the machine may be shared). Results of the runs are checked equal to each other
for a method without memory (the same seeds give the same episodes).

    .venv/bin/python benchmarks/parallel_bench.py                          # wooden, seeds 0-5, none
    .venv/bin/python benchmarks/parallel_bench.py --method none,evolving --rounds 3
    .venv/bin/python benchmarks/parallel_bench.py --suite techtree --groups wooden,stone --seeds 0:2

Needs the `ray` extra (make install-ray).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agent.runner import RunConfig, run_suite
from scenarios.loader import resolve_suite


def _load() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


def _rows(run: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (run / "episodes.jsonl").read_text().splitlines()]
    for row in rows:
        row.pop("wall_s")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="wooden")
    parser.add_argument("--groups", default=None, help="comma-separated task groups")
    parser.add_argument("--seeds", default="0:6", help="a range start:stop")
    parser.add_argument("--method", default="none", help="comma-separated methods")
    parser.add_argument("--planner", default="symbolic")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    import ray

    start, stop = (int(v) for v in args.seeds.split(":"))
    command = "python benchmarks/parallel_bench.py " + shlex.join(sys.argv[1:])
    print(f"command: {command}")
    print(f"machine: {os.cpu_count()} CPUs; load average (1/5/15 min) at start {_load()}")
    t0 = time.perf_counter()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        runtime_env={"env_vars": {"PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")}},
    )
    print(f"ray start (local instance, 2 CPUs): {time.perf_counter() - t0:.1f} s")
    out = Path(tempfile.mkdtemp(prefix="parallel-bench-"))
    try:
        for method in args.method.split(","):
            base = RunConfig(
                suite=str(resolve_suite(args.suite)),
                planner=args.planner,
                method=method,
                seeds=list(range(start, stop)),
                groups=args.groups.split(",") if args.groups else None,
            )
            _compare(base, args.rounds, out / method)
    finally:
        ray.shutdown()
        shutil.rmtree(out, ignore_errors=True)
    print(f"load average at the end {_load()}")
    print(f"reproduce: {command}")


def _compare(base: RunConfig, rounds: int, out: Path) -> None:
    rate: dict[str, list[float]] = {"serial": [], "ray-1": [], "ray-2": []}
    starts: dict[str, list[float]] = {"ray-1": [], "ray-2": []}
    rows: dict[str, list[dict[str, Any]]] = {}
    n = 0
    for r in range(rounds):
        order = list(rate) if r % 2 == 0 else list(reversed(rate))
        for kind in order:
            cfg = RunConfig(**{**base.__dict__, "out": str(out / f"{kind}-{r}")})
            before = _load()
            if kind == "serial":
                t0 = time.perf_counter()
                result = run_suite(cfg)
                took = time.perf_counter() - t0
            else:
                cfg.workers = int(kind[-1])
                par = run_suite(cfg)
                took = par.timing["rollout_s"]
                starts[kind].append(par.timing["start_s"])
                result = par
            n = len(result.episodes)
            rate[kind].append(n / took * 3600)
            rows[kind] = _rows(result.run_dir)
            print(
                f"  {base.method:9} round {r} {kind:6} {n} episodes in {took:6.2f} s: "
                f"{n / took * 3600:8.0f} episodes/h   (load before {before}, after {_load()})"
            )
    med = {k: statistics.median(v) for k, v in rate.items()}
    print(
        f"{base.method}: {n} episodes, {base.planner} planner; median episodes/h: "
        + ", ".join(f"{k} {v:.0f}" for k, v in med.items())
    )
    print(
        f"{base.method}: worker start (worlds, planners) median "
        + ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in starts.items())
    )
    print(
        f"{base.method}: ratio 2 workers / 1 worker = {med['ray-2'] / med['ray-1']:.2f}x; "
        f"2 workers / serial = {med['ray-2'] / med['serial']:.2f}x"
    )
    if base.method == "none":
        same = rows["serial"] == rows["ray-1"] == rows["ray-2"]
        print(f"{base.method}: records equal across serial, 1 and 2 workers: {same}")


if __name__ == "__main__":
    main()
