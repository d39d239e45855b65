"""What a GRPO step costs on this machine, the old way and the current way, side by side.

A step is rollouts (the planner's requests, sampled) and an update (forward and backward
over every turn). Both halves are timed on the same turns, in one run:

- sampling: the requests of a group's lockstep rounds decoded one at a time, as sequential
  rollouts did, against the same requests decoded as one batch per round
  (`TransformersClient.generate_batch`, what `agent.rl.rollout.play_many` does);
- update: every turn forwarded whole and back-propagated alone (`grpo_update` with
  `share_prefix=False, micro_batch=1`, the old update) against the shared opening run once
  and the rest in micro-batches (the default);

each in float32 weights and in bfloat16 base weights (float32 LoRA), and with each torch
thread count of `--threads` and each setting of `--jump` (jump-forward decoding), in one
process (`torch.set_num_threads` and `TransformersClient.jump` set between measurements).
Prints seconds, tokens and the ratios, and the command.

    make install-rl
    .venv/bin/python benchmarks/rl_step.py --rounds 2
    .venv/bin/python benchmarks/rl_step.py --rounds 2 --dtypes bfloat16 --threads 1,2
    .venv/bin/python benchmarks/rl_step.py --rounds 2 --dtypes bfloat16 --jump off,on
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from agent.llm.hf import Generation, Request
from agent.rl.config import load_config
from agent.rl.grpo import grpo_update
from agent.rl.policy import Policy
from agent.rl.rollout import play_many
from agent.rl.trainer import Worlds, pick, suite_tasks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="agent/rl/configs/wooden_grpo.yaml")
    ap.add_argument("--task", default="craft_wooden_sword")
    ap.add_argument("--seed", type=int, default=0, help="world seed of the group")
    ap.add_argument("--rounds", type=int, default=2, help="repeats of each measurement")
    ap.add_argument("--dtypes", default="float32,bfloat16", help="base weight types to time")
    ap.add_argument(
        "--current-only",
        action="store_true",
        help="time only the current way (batched sampling, shared-opening update)",
    )
    ap.add_argument("--jump", default="on", help="jump-forward decoding: on, off or on,off")
    ap.add_argument("--threads", default="", help="torch thread counts (default: the config's)")
    args = ap.parse_args()
    cfg = load_config(args.config)
    dtypes = args.dtypes.split(",")
    counts = [int(n) for n in args.threads.split(",")] if args.threads else [cfg.torch_threads]
    jumps = [j == "on" for j in args.jump.split(",")]
    world, tasks = suite_tasks(cfg)
    task = pick(tasks, [args.task], "--task")[0].model_copy(
        update={"max_subgoals": cfg.max_subgoals}
    )
    worlds = Worlds(world)
    opts = {"model": cfg.model, "seed": cfg.seed, "threads": counts[-1], "device": cfg.device}
    rows = []
    batches: list[list[Request]] = []  # the requests of each lockstep round
    rollouts: list[Any] = []
    for dtype in dtypes:
        policy = Policy(cfg.lora, learning_rate=cfg.learning_rate, dtype=dtype, **opts)

        def sample(requests: list[Request], policy: Policy = policy) -> list[Generation]:
            batches.append(list(requests))
            return policy.sample(requests, cfg.temperature)

        if not rollouts:  # one group, played once: both dtypes are timed on its turns
            games = [(task, args.seed)] * cfg.group_size
            lanes = worlds.take(len(games))
            rollouts = play_many(sample, "rl_step", lanes, games, cfg.planner, cfg.reward)
            for r, a in zip(rollouts, (1.0, -1.0, 0.5, -0.5) * len(rollouts), strict=False):
                r.advantage = a  # every turn takes part in the update
                for t in r.turns:  # the masks, once and before the timings (not timed)
                    policy.grammar_mask(t)
        turns = sum(len(r.turns) for r in rollouts)
        for threads, jump, _ in itertools.product(counts, jumps, range(args.rounds)):
            policy.torch.set_num_threads(threads)
            policy.client.jump = jump
            t0, one_tokens = time.perf_counter(), 0
            for batch in [] if args.current_only else batches:
                for req in batch:
                    alone = policy.sample([req], cfg.temperature)[0]
                    one_tokens += alone.completion.completion_tokens
            one = one_tokens / (time.perf_counter() - t0) if one_tokens else float("nan")
            t0, batch_tokens = time.perf_counter(), 0
            forwards_before = policy.client.forwards
            for batch in batches:
                batch_tokens += sum(
                    g.completion.completion_tokens for g in policy.sample(batch, cfg.temperature)
                )
            batched = batch_tokens / (time.perf_counter() - t0)
            forwards = policy.client.forwards - forwards_before
            t0 = time.perf_counter()
            if not args.current_only:
                grpo_update(policy, rollouts, temperature=1.0, share_prefix=False, micro_batch=1)
            whole = float("nan") if args.current_only else time.perf_counter() - t0
            t0 = time.perf_counter()
            grpo_update(policy, rollouts, temperature=1.0, micro_batch=cfg.micro_batch)
            shared = time.perf_counter() - t0
            rows.append((dtype, (threads, jump), one, batched, whole, shared))
            print(
                f"{dtype}, {threads} threads, jump-forward {'on' if jump else 'off'}"
                f" ({forwards} decoding passes for {batch_tokens} tokens): sampling"
                f" {len(batches)} rounds of {cfg.group_size}: one at a time"
                f" {one:.1f} tokens/s, batched {batched:.1f} tokens/s (x{batched / one:.2f});"
                f" update of {turns} turns: whole turns {whole:.1f}s, shared opening"
                f" {shared:.1f}s (x{whole / shared:.2f})",
                flush=True,
            )
        del policy
    worlds.close()
    med = {
        (d, n, k): statistics.median(r[k] for r in rows if r[:2] == (d, n))
        for d, n in {r[:2] for r in rows}
        for k in (2, 3, 4, 5)
    }
    variants = list(itertools.product(counts, jumps))

    def named(v: tuple[int, bool]) -> str:
        return f"{v[0]} threads, jump-forward {'on' if v[1] else 'off'}"

    if "float32" in dtypes and "bfloat16" in dtypes:
        v = variants[-1]
        old, new = ("float32", v), ("bfloat16", v)
        print(
            f"\nmedians, {named(v)}, old (float32, one at a time, whole turns) against new"
            f" (bfloat16, batched, shared opening): sampling {med[*old, 2]:.1f} vs"
            f" {med[*new, 3]:.1f} tokens/s (x{med[*new, 3] / med[*old, 2]:.2f}); update"
            f" {med[*old, 4]:.1f}s vs {med[*new, 5]:.1f}s (x{med[*old, 4] / med[*new, 5]:.2f})"
        )
    for d, a, b in ((d, variants[0], variants[-1]) for d in dtypes if len(variants) > 1):
        print(
            f"{d}, batched sampling and shared-opening update, {named(a)} against {named(b)}:"
            f" sampling {med[d, a, 3]:.1f} vs {med[d, b, 3]:.1f} tokens/s"
            f" (x{med[d, b, 3] / med[d, a, 3]:.2f}); update {med[d, a, 5]:.1f}s vs"
            f" {med[d, b, 5]:.1f}s (x{med[d, a, 5] / med[d, b, 5]:.2f})"
        )
    print(f"group: {args.task} seed {args.seed} x {cfg.group_size}, config {args.config}")
    print("command: " + " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]))


if __name__ == "__main__":
    main()
