"""Plan calls decoded side by side in one llama.cpp context against one at a time (issue 31).

    python benchmarks/batch_decode.py --cassette REQUESTS.jsonl [--batches 1,4,8] [--calls 24]
    python benchmarks/batch_decode.py --roofline [--threads N]

The requests are a recorded cassette's (record one with `steve run ... --option
llm.cassette=PATH --option llm.cassette_mode=record`): real plan prompts with their schemas.
For each batch size the same calls are answered in groups of that size by the bundled model
(`LlamaCppClient.complete_many`; batch 1 is `complete`, today's path), on a fresh client each,
and it prints calls per second, the speed-up over batch 1, median and p95 time a call waits
for its reply, and how many replies differ from batch 1's (greedy decoding; a difference is a
floating-point tie broken the other way in a batched matrix product).

`--roofline` shows why batching gains little on a CPU: the time of one llama.cpp evaluation
of n new tokens after an 850-token prompt (a plan call's size), n from 1 to 256. Where the
time per token stops falling, the machine is compute-bound: a batch of sequences then costs
what its tokens cost one request at a time, and only the steps that evaluate a single token
(the reply's own choices) get cheaper when batched.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from agent.llm.local import LlamaCppClient


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cassette", help="a recorded cassette (JSON lines)")
    ap.add_argument("--roofline", action="store_true", help="time per token against tokens")
    ap.add_argument("--batches", default="1,4,8")
    ap.add_argument("--calls", type=int, default=24, help="requests used (from the start)")
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads")
    args = ap.parse_args()
    if args.roofline:
        return roofline(args.threads)
    if not args.cassette:
        sys.exit("error: name --cassette REQUESTS.jsonl (or ask for --roofline)")
    path = Path(args.cassette)
    if not path.is_file():
        sys.exit(f"error: no cassette at {path}")
    requests = _requests(path)[: args.calls]
    if not requests:
        sys.exit(f"error: {path} holds no requests")
    print(f"# python benchmarks/batch_decode.py {' '.join(sys.argv[1:])}")
    print(f"# {len(requests)} calls; load average {os.getloadavg()[0]:.2f} at start")
    print(f"{'batch':>5} {'calls/s':>8} {'speed-up':>9} {'median s':>9} {'p95 s':>7} {'differ':>7}")
    base: list[str] | None = None
    base_rate = 0.0
    for size in [int(b) for b in args.batches.split(",")]:
        client = LlamaCppClient(n_threads=args.threads)
        client.complete(*requests[0][:2], **requests[0][2])  # load and warm, untimed
        texts, waits = [], []
        t0 = time.perf_counter()
        for i in range(0, len(requests), size):
            group = requests[i : i + size]
            s0 = time.perf_counter()
            if size == 1:
                done = [client.complete(m, s, **kw) for m, s, kw in group]
            else:
                done = client.complete_many(group)
            waits += [time.perf_counter() - s0] * len(group)
            texts += [d.text for d in done]
        rate = len(requests) / (time.perf_counter() - t0)
        base = base or texts
        base_rate = base_rate or rate
        differ = sum(a != b for a, b in zip(base, texts, strict=True))
        p95 = sorted(waits)[max(0, int(0.95 * len(waits)) - 1)]
        print(
            f"{size:>5} {rate:8.2f} {rate / base_rate:8.2f}x {statistics.median(waits):9.2f}"
            f" {p95:7.2f} {differ:>7}"
        )


def roofline(threads: int | None) -> None:
    """Milliseconds for one evaluation of n tokens after an 850-token prompt (median of 5)."""
    client = LlamaCppClient(n_threads=threads, prefix_cache=False)
    llm = client._llm
    print(f"# python benchmarks/batch_decode.py {' '.join(sys.argv[1:])}")
    print(
        f"# {client.model}; threads {llm.n_threads} for one token, {llm.n_threads_batch} for"
        f" more; load average {os.getloadavg()[0]:.2f} at start"
    )
    prompt = [llm.token_bos(), *range(1000, 1850)]
    llm.reset()
    llm.eval(prompt)
    print(f"{'tokens':>6} {'ms':>8} {'ms/token':>9}")
    for n in (1, 2, 4, 8, 16, 32, 64, 128, 256):
        times = []
        for _ in range(5):
            llm.n_tokens = len(prompt)  # the n new tokens evaluated again in the same cells
            t0 = time.perf_counter()
            llm.eval(list(range(2000, 2000 + n)))
            times.append(time.perf_counter() - t0)
        ms = 1000 * statistics.median(times)
        print(f"{n:>6} {ms:8.1f} {ms / n:9.2f}")


def _requests(path: Path) -> list[tuple[list[Any], Any, dict[str, Any]]]:
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            req = json.loads(line)["request"]
            out.append((req["messages"], req["schema"], req["sampling"]))
    return out


if __name__ == "__main__":
    main()
