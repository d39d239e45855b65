"""Where anchoring's time goes: the store benchmark's synthetic tuples anchored in batches of
5,000, side by side with the store writing every batch on its own connection
(`writer="inline"`) and with a writer process beside it (`"process"`, what a bulk batch gets
by default), timed (wall, and this process's CPU); then once more inline under cProfile
(slower, for the split of all the work in one process). The data is generated before any
timing.

    .venv/bin/python benchmarks/anchor_profile.py --size 100000 [--top 18]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from synthetic_tuples import Generator, LookupEmbedder

from knowledge.codec import tuple_text
from knowledge.store import ExperienceStore

BATCH = 5000


def anchor_all(size: int, profile: cProfile.Profile | None, writer: str) -> tuple[float, float]:
    """(wall s, this process's CPU s) to anchor `size` tuples into a fresh store."""
    gen, emb = Generator(seed=0), LookupEmbedder()
    batches = []
    for _ in range(max(1, size // BATCH)):
        batch = gen.batch(BATCH)
        batches.append((batch.tuples, gen.vectors(batch.tuples)))
    with tempfile.TemporaryDirectory(prefix="anchor_profile_") as work:
        path = os.path.join(work, "knowledge.sqlite")
        store = ExperienceStore(path, embedder=emb, writer=writer)  # type: ignore[arg-type]
        wall = cpu = 0.0
        for tuples, vecs in batches:
            emb.table.clear()
            emb.remember([tuple_text(t) for t in tuples], vecs)
            t0, c0 = time.perf_counter(), time.process_time()
            if profile is not None:
                profile.enable()
            store.anchor_many(tuples)
            if profile is not None:
                profile.disable()
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
        store.close()
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--top", type=int, default=18, help="rows of the profile to print")
    args = ap.parse_args()
    n = max(1, args.size // BATCH) * BATCH
    print(f"{n:,} tuples in batches of {BATCH:,}; load average {os.getloadavg()}")
    rates = {}
    for writer in ("inline", "process"):
        wall, cpu = anchor_all(n, None, writer)
        rates[writer] = n / wall
        print(f"  writer={writer}: {n / wall:,.0f}/s wall, {cpu / n * 1e6:.1f} us CPU a tuple here")
    print(f"  process / inline: x{rates['process'] / rates['inline']:.2f}")
    print(f"load average {os.getloadavg()}; cProfile of writer=inline:")
    profile = cProfile.Profile()
    anchor_all(n, profile, "inline")
    pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
