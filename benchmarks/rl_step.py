"""What a GRPO step costs on this machine, the old way and the current way, side by side.

A step is rollouts (the planner's requests, sampled) and an update (forward and backward
over every turn). Both halves are timed on the same turns, in one run:

- sampling: the requests of a group's lockstep rounds decoded one at a time, as sequential
  rollouts did, against the same requests decoded as one batch per round
  (`TransformersClient.generate_batch`, what `agent.rl.rollout.play_many` does);
- update: every turn forwarded whole and back-propagated alone (`grpo_update` with
  `share_prefix=False, micro_batch=1`, the old update) against the shared opening run once
  and the rest in micro-batches (the default);

each in float32 weights and in bfloat16 base weights (float32 LoRA). Prints seconds, tokens
and the ratios, and the command.

    make install-rl
    .venv/bin/python benchmarks/rl_step.py --rounds 2
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from agent.llm.hf import Request
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
    args = ap.parse_args()
    cfg = load_config(args.config)
    world, tasks = suite_tasks(cfg)
    task = pick(tasks, [args.task], "--task")[0].model_copy(
        update={"max_subgoals": cfg.max_subgoals}
    )
    worlds = Worlds(world)
    opts = {"model": cfg.model, "seed": cfg.seed, "threads": cfg.threads, "device": cfg.device}
    rows = []
    batches: list[list[Request]] = []  # the requests of each lockstep round
    rollouts: list[Any] = []
    for dtype in ("float32", "bfloat16"):
        policy = Policy(cfg.lora, learning_rate=cfg.learning_rate, dtype=dtype, **opts)

        def sample(requests: list[Request], policy: Policy = policy) -> list[Any]:
            batches.append(list(requests))
            return policy.sample(requests, cfg.temperature)

        if not rollouts:  # one group, played once: both dtypes are timed on its turns
            games = [(task, args.seed)] * cfg.group_size
            lanes = worlds.take(len(games))
            rollouts = play_many(sample, "rl_step", lanes, games, cfg.planner, cfg.reward)
            for r, a in zip(rollouts, (1.0, -1.0, 0.5, -0.5) * len(rollouts), strict=False):
                r.advantage = a  # every turn takes part in the update
        turns = sum(len(r.turns) for r in rollouts)
        for _ in range(args.rounds):
            t0, one_tokens = time.perf_counter(), 0
            for batch in batches:
                for req in batch:
                    one_tokens += policy.sample([req], cfg.temperature)[0][0].completion_tokens
            one = one_tokens / (time.perf_counter() - t0)
            t0, batch_tokens = time.perf_counter(), 0
            for batch in batches:
                batch_tokens += sum(
                    d.completion_tokens for d, _, _ in policy.sample(batch, cfg.temperature)
                )
            batched = batch_tokens / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            grpo_update(policy, rollouts, temperature=1.0, share_prefix=False, micro_batch=1)
            whole = time.perf_counter() - t0
            t0 = time.perf_counter()
            grpo_update(policy, rollouts, temperature=1.0, micro_batch=cfg.micro_batch)
            shared = time.perf_counter() - t0
            rows.append((dtype, one, batched, whole, shared))
            print(
                f"{dtype}: sampling {len(batches)} rounds of {cfg.group_size}: one at a time"
                f" {one:.1f} tokens/s, batched {batched:.1f} tokens/s (x{batched / one:.2f});"
                f" update of {turns} turns: whole turns {whole:.1f}s, shared opening"
                f" {shared:.1f}s (x{whole / shared:.2f})",
                flush=True,
            )
        del policy
    worlds.close()
    med = {
        (d, k): statistics.median(r[k] for r in rows if r[0] == d)
        for d in ("float32", "bfloat16")
        for k in (1, 2, 3, 4)
    }
    print(
        f"\nmedians, old (float32, one at a time, whole turns) against new (bfloat16, batched,"
        f" shared opening): sampling {med['float32', 1]:.1f} vs {med['bfloat16', 2]:.1f}"
        f" tokens/s (x{med['bfloat16', 2] / med['float32', 1]:.2f}); update"
        f" {med['float32', 3]:.1f}s vs {med['bfloat16', 4]:.1f}s"
        f" (x{med['float32', 3] / med['bfloat16', 4]:.2f})"
    )
    print(f"group: {args.task} seed {args.seed} x {cfg.group_size}, config {args.config}")
    print("command: " + " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]))


if __name__ == "__main__":
    main()
