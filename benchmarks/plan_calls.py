"""What a run's LLM plan calls cost, read from its trajectories: latency of the first call and
of the rest (whose prompt prefix llama.cpp had cached), prompt and completion tokens, the
share of reply tokens that the plan grammar forces (everything outside the values of `verb`,
`target` and `count`), and how much of each prompt was new after the call before it (tokens
past the common prefix: what llama.cpp's cache cannot serve), with a least-squares fit of
latency on it. Tokens are counted with the bundled model's tokenizer on the prompt text the
trajectory keeps.

    .venv/bin/steve run wooden --planner local --seeds 0 --tasks craft_wooden_pickaxe
    .venv/bin/python benchmarks/plan_calls.py runs/wooden__evolving__0__<stamp>

Needs the `llm` extra (make install-llm) for the token count; without it, that line is left out.
"""

from __future__ import annotations

import argparse
import re
import statistics
from pathlib import Path
from typing import Any

from agent.record import read_trajectory

_FREE = re.compile(r'"(?:verb|target)":\s*"([^"]*)"|"count":\s*(\d+)')


def tokenizer() -> Any | None:
    """The bundled model's llama.cpp object (for its tokenizer), or None without the extra."""
    try:
        from agent.llm.local import LlamaCppClient
    except ImportError:
        return None
    return LlamaCppClient()._llm


def calls(run: Path) -> list[dict[str, Any]]:
    """Every plan call of the run, in episode order, with its reply."""
    out = []
    for path in sorted((run / "trajectory").glob("*.jsonl")):
        for line in read_trajectory(path, strict=False):
            plan = line.plan
            if plan is not None and plan.llm is not None:
                out.append(
                    {
                        **plan.llm.model_dump(),
                        "reply": plan.reply or "",
                        "prompt": plan.prompt or "",
                        "episode": path.stem,
                    }
                )
    return out


def forced_share(llm: Any, replies: list[str]) -> tuple[int, int]:
    """(reply tokens, tokens outside the free values and the closing braces)."""
    total = free = 0
    for reply in replies:
        total += len(llm.tokenize(reply.encode(), add_bos=False, special=False))
        for verb_or_target, count in _FREE.findall(reply):
            value = verb_or_target or count
            free += len(llm.tokenize(value.encode(), add_bos=False, special=False))
        free += reply.count("}")  # ending an item or the list is a choice too
    return total, total - free


def uncached(llm: Any, prompts: list[str]) -> list[int]:
    """For each prompt after the first, its tokens past the prefix it shares with the one before."""
    from agent.llm.prefix_cache import shared

    out, before = [], []
    for text in prompts:
        tokens = llm.tokenize(text.encode(), add_bos=False, special=False)
        out.append(len(tokens) - shared(before, tokens))
        before = tokens
    return out[1:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a run directory (runs/...)")
    args = ap.parse_args()
    got = calls(args.run)
    if not got:
        raise SystemExit(f"{args.run}: no plan call with LLM accounting in its trajectories")
    first = [c for i, c in enumerate(got) if i == 0 or c["episode"] != got[i - 1]["episode"]]
    warm = [c["latency_s"] for c in got if c not in first]
    print(f"{len(got)} plan calls in {len({c['episode'] for c in got})} episodes")
    for c in first:
        print(
            f"  first call of {c['episode']}: {c['latency_s']:.2f} s, "
            f"{c['prompt_tokens']} prompt + {c['completion_tokens']} completion tokens"
        )
    if warm:
        print(
            f"  the other {len(warm)}: median {statistics.median(warm):.2f} s, "
            f"range {min(warm):.2f}-{max(warm):.2f} s"
        )
    prompt = [c["prompt_tokens"] for c in got]
    completion = [c["completion_tokens"] for c in got]
    print(
        f"  prompt tokens {min(prompt)}-{max(prompt)}, "
        f"completion {min(completion)}-{max(completion)}"
    )
    llm = tokenizer()
    if llm is None:
        return
    total, forced = forced_share(llm, [c["reply"] for c in got])
    print(f"  reply tokens forced by the grammar: {forced} of {total} ({forced / total:.0%})")
    new = uncached(llm, [c["prompt"] for c in got])
    if len(new) >= 4:
        q1, q2, q3 = statistics.quantiles(new, n=4)
        print(f"  uncached prompt tokens per call: median {q2:.0f} (quartiles {q1:.0f}, {q3:.0f})")
        slope, base = statistics.linear_regression(new, [c["latency_s"] for c in got[1:]])
        print(f"  latency ~ {base:.2f} s + {slope * 1000:.1f} ms per uncached prompt token")


if __name__ == "__main__":
    main()
