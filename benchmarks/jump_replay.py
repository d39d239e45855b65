"""Jump-forward decoding against llama.cpp's grammar sampler on the plan requests of a real run:
each request recorded in a cassette is sent, in order, to both decoders (a model instance
each, so each keeps its own prompt cache, as in a run). Prints the latencies side by side, how
many replies are the same, and for each reply that differs where it parts and why: the logits
of the two continuations there, with the prompt and the common part of the reply evaluated in
one batch (as jump-forward decoding evaluates forced text) and one token at a time (as the
grammar sampler does).

    .venv/bin/steve run wooden --planner local --seeds 2 --tasks craft_wooden_pickaxe \\
        --option llm.cassette=/tmp/plans.jsonl --option llm.cassette_mode=record
    .venv/bin/python benchmarks/jump_replay.py /tmp/plans.jsonl

Needs the `llm` extra (make install-llm).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from agent.llm.local import LlamaCppClient


def plan_requests(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        request = json.loads(line)["request"]
        if "plan" in (request.get("schema") or {}).get("properties", {}):
            out.append(request)
    return out


def logits_after(llm: Any, prompt: list[int], reply: list[int], batched: bool) -> np.ndarray:
    """The next-token logits after prompt + reply, the reply read in one batch or token by
    token (the prompt is read in one batch either way, as llama.cpp reads prompts)."""
    llm.n_tokens = 0
    if batched:
        llm.eval(prompt + reply)
    else:
        llm.eval(prompt)
        for t in reply:
            llm.eval([t])
    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).copy()


def parting(client: LlamaCppClient, request: dict[str, Any], a: str, b: str) -> str:
    """Where two replies part, and the logits of their next tokens evaluated both ways."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    llm, decoder = client._llm, client._decoder
    assert decoder is not None
    common = llm.tokenize(a[:n].encode(), add_bos=False, special=False)
    prompt = client.prompt_tokens(request["messages"])
    firsts = [llm.tokenize(x[n:].encode(), add_bos=False, special=False)[0] for x in (a, b)]
    lines = [f"  parts after ...{a[max(0, n - 40) : n]!r}: {a[n : n + 16]!r} vs {b[n : n + 16]!r}"]
    for batched in (True, False):
        one = logits_after(llm, prompt, common, batched)
        pair = " vs ".join(f"{decoder.pieces[t].decode()!r} {one[t]:.3f}" for t in firsts)
        lines.append(f"    {'batched' if batched else 'one token at a time'}: {pair}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("cassette", type=Path, help="a cassette recorded from a --planner local run")
    args = ap.parse_args()
    requests = plan_requests(args.cassette)
    if not requests:
        raise SystemExit(f"{args.cassette}: no plan requests")
    jump, grammar = LlamaCppClient(), LlamaCppClient(jump=False)
    times: dict[str, list[float]] = {"jump": [], "grammar": []}
    replies = []
    for request in requests:
        got = []
        for name, client in (("jump", jump), ("grammar", grammar)):
            done = client.complete(request["messages"], request["schema"], **request["sampling"])
            times[name].append(done.latency_s)
            got.append(done.text)
        replies.append(got)
    print(f"{len(requests)} plan requests from {args.cassette}")
    for name, ts in times.items():
        warm = ts[1:] or ts
        print(f"  {name:8s} first {ts[0]:.2f} s; the rest median {statistics.median(warm):.2f} s")
    ratio = statistics.median(times["grammar"][1:]) / statistics.median(times["jump"][1:])
    print(f"  grammar / jump, median of the rest: {ratio:.2f}x")
    differ = [(r, a, b) for r, (a, b) in zip(requests, replies, strict=True) if a != b]
    same_but_spaces = sum(a.replace(" ", "") == b.replace(" ", "") for _, a, b in differ)
    print(f"  same reply: {len(requests) - len(differ)} of {len(requests)}", end="")
    print(f" (and {same_but_spaces} more differing only in spaces)" if same_but_spaces else "")
    for request, a, b in differ:
        if a.replace(" ", "") != b.replace(" ", ""):
            print(parting(jump, request, a, b))
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
