"""Episodes per hour with the bundled model at --batch 1, 4 and 8, side by side (issue 31).

    python benchmarks/batch_eval.py [--suite wooden] [--seeds 0] [--batches 1,4,8]
        [--method none] [--tasks ...] [--server]

Plays the same tasks and seeds once per batch size (`steve run --batch N`, a fresh store each;
`none` by default, which has no store, so every batch size plays the same stream and success
can be compared episode by episode) and prints per batch size: episodes per hour, plan calls
per second, the median and p95 time a plan call took (with batching, the time of its batch),
success, and how many episodes ended otherwise than at batch 1. With `--server` it then plays
the same batch sizes against the same model behind llama-cpp-python's OpenAI-compatible server
(started here on 127.0.0.1 with the threads the local client uses; `--batch N` sends N requests
at once), in the same run: `pip install -e '.[llm-server]'` first. The server decodes under
llama.cpp's grammar (`structured: grammar`), not our jump-forward decoder, so its plans may
differ; `differ` counts against the local batch 1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agent.record import read_trajectory
from agent.runner import RunConfig, run_suite
from scenarios.loader import resolve_suite


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--suite", default="wooden")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--tasks", default=None)
    ap.add_argument("--method", default="none")
    ap.add_argument("--batches", default="1,4,8")
    ap.add_argument("--planner", default="local")
    ap.add_argument("--server", action="store_true", help="also against llama_cpp.server")
    args = ap.parse_args()
    print(f"# python benchmarks/batch_eval.py {' '.join(sys.argv[1:])}")
    print(f"# load average {os.getloadavg()[0]:.2f} at start; {os.cpu_count()} cores")
    head = (
        f"{'client':>6} {'batch':>5} {'episodes':>8} {'ep/hour':>8} {'speed-up':>9} {'calls/s':>8}"
    )
    print(head + f" {'median s':>9} {'p95 s':>7} {'success':>8} {'differ':>7}")
    out = Path(tempfile.mkdtemp(prefix="batch_eval_"))
    sizes = [int(b) for b in args.batches.split(",")]
    base: dict[str, bool] | None = None
    base_rate = 0.0
    for size in sizes:
        base, base_rate = play(args, args.planner, size, {}, out, base, base_rate)
    if args.server:  # started now, so that it holds no memory while the local rows run
        from llm_bench import start_server  # benchmarks/llm_bench.py

        from agent.llm.local import default_threads, resolve_model

        server, url = start_server(resolve_model(None), default_threads())
        extra = {"base_url": url, "extra": {"llm": {"structured": "grammar"}}}
        try:
            for size in sizes:
                base, base_rate = play(args, "openai", size, extra, out, base, base_rate)
        finally:
            server.kill()


def play(
    args: argparse.Namespace,
    planner: str,
    size: int,
    extra: dict[str, Any],
    out: Path,
    base: dict[str, bool] | None,
    base_rate: float,
) -> tuple[dict[str, bool], float]:
    """One row: the suite played at one batch size; the baseline's success and rate, kept."""
    cfg = RunConfig(
        suite=str(resolve_suite(args.suite)),
        planner=planner,
        method=args.method,
        seeds=[int(s) for s in args.seeds.split(",")],
        tasks=args.tasks.split(",") if args.tasks else None,
        batch=size,
        out=str(out / f"{planner}{size}"),
        **extra,
    )
    t0 = time.perf_counter()
    result = run_suite(cfg)
    wall = time.perf_counter() - t0
    rollout = result.timing.get("rollout_s", wall)
    ok = {r.episode_id: r.success for r in result.episodes}
    calls = sum(r.llm_calls for r in result.episodes)
    waits = [
        line.plan.llm.latency_s / line.plan.llm.calls
        for path in sorted((result.run_dir / "trajectory").glob("*.jsonl"))
        for line in read_trajectory(path)
        if line.plan is not None and line.plan.llm is not None and line.plan.llm.calls
    ]
    rate = 3600 * len(ok) / rollout
    base = base or ok
    base_rate = base_rate or rate
    differ = sum(ok.get(k) != v for k, v in base.items())
    p95 = sorted(waits)[max(0, int(0.95 * len(waits)) - 1)] if waits else float("nan")
    median = statistics.median(waits) if waits else float("nan")
    client = "server" if planner == "openai" else planner
    print(
        f"{client:>6} {size:>5} {len(ok):>8} {rate:8.0f} {rate / base_rate:8.2f}x"
        f" {calls / rollout:8.2f}"
        f" {median:9.2f} {p95:7.2f} {sum(ok.values()):>4}/{len(ok):<3} {differ:>7}",
        flush=True,
    )
    return base, base_rate


if __name__ == "__main__":
    main()
