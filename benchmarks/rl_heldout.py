"""Trained against untrained planner on held-out CraftWorld tasks, side by side in one run.

Evaluates the bundled SmolLM2 planner (transformers backend, greedy, the config's prompt and
grammar options) on the config's held-out tasks and seeds, trains a LoRA adapter with GRPO on
the config's training tasks (`agent.rl.trainer.train`), loads the adapter back through the
backend's `adapter` option (what `steve run --option llm.adapter=PATH` does) and evaluates
again on the same tasks and seeds. Prints per-episode rows, success rates, mean shaped reward
and progress, success within each budget from the training budget to the evaluation budget
(read off the same episodes: the planner is not told its budget), s/step, the seeds and the
command.

    make install-rl
    nice -n 10 .venv/bin/python benchmarks/rl_heldout.py \
        --config agent/rl/configs/wooden_grpo.yaml --steps 25
    # adapters already trained (checkpoints of one run side by side), on the held-out tasks:
    nice -n 10 .venv/bin/python benchmarks/rl_heldout.py \
        --config agent/rl/configs/wooden_grpo_wide.yaml \
        --adapter runs/rl/NAME/checkpoints/step-00060/planner,runs/rl/NAME/adapter
    # an adapter already trained, on held-out seeds of the training tasks:
    nice -n 10 .venv/bin/python benchmarks/rl_heldout.py --adapter runs/rl/NAME/adapter \
        --eval-tasks craft_oak_planks,craft_stick,craft_crafting_table --eval-seeds 4,5
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

from agent.llm import make_client
from agent.rl.config import load_config
from agent.rl.reward import Rollout
from agent.rl.trainer import Worlds, evaluate, pick, suite_tasks, train


def rate(rows: list[Rollout], budget: int | None = None) -> str:
    """Successes among `rows`, within `budget` subgoals when given."""
    wins = sum(r.success and (budget is None or r.steps <= budget) for r in rows)
    return f"{wins}/{len(rows)} ({100 * wins / max(1, len(rows)):.0f}%)"


def outcome(r: Rollout) -> str:
    """An episode in one cell: success, best progress, subgoals used."""
    return f"{'yes' if r.success else 'no'} p={r.progress:.2f} n={r.steps}"


def label(adapter: str) -> str:
    """A short name for an adapter folder: a checkpoint's step (`.../step-00060/planner`)."""
    path = Path(adapter)
    return path.parent.name if path.name in ("planner", "extractor") else path.name


def within_budgets(rows: dict[str, list[Rollout]], budgets: list[int]) -> list[str]:
    """Success within each budget, read off the same episodes: the planner is not told its
    budget, so a greedy episode's first B subgoals do not depend on it (up to the rounding of
    batched decoding); and the mean subgoals used, a failure counted as its budget + 1."""
    lines = ["success within B subgoals: " + "".join(f"{f'B={b}':>12}" for b in budgets)]
    for name, rs in rows.items():
        used = statistics.fmean(r.steps if r.success else r.max_subgoals + 1 for r in rs)
        cells = "".join(f"{rate(rs, b):>12}" for b in budgets)
        lines.append(f"{name:>25}: {cells}   subgoals used {used:.2f}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="agent/rl/configs/wooden_grpo.yaml")
    ap.add_argument("--steps", type=int, default=None, help="override the config's steps")
    ap.add_argument("--out", default="runs/rl")
    ap.add_argument("--name", default=None)
    ap.add_argument(
        "--adapter",
        default=None,
        help="evaluate this adapter, or these (comma-separated, e.g. checkpoints of one run), "
        "beside the untrained planner; do not train",
    )
    ap.add_argument("--eval-tasks", default=None, help="comma-separated: override eval_tasks")
    ap.add_argument("--eval-seeds", default=None, help="comma-separated: override eval_seeds")
    ap.add_argument("--eval-max-subgoals", type=int, default=None, help="override the budget")
    ap.add_argument(
        "--budgets",
        default=None,
        help="comma-separated budgets to read success within (default: every budget from "
        "the training budget to the evaluation budget)",
    )
    ap.add_argument(
        "--trace", action="store_true", help="print every episode's attempts (subgoal, cause)"
    )
    args = ap.parse_args()
    cfg = load_config(
        args.config,
        steps=args.steps,
        out=args.out,
        name=args.name,
        eval_tasks=args.eval_tasks.split(",") if args.eval_tasks else None,
        eval_seeds=[int(s) for s in args.eval_seeds.split(",")] if args.eval_seeds else None,
        eval_max_subgoals=args.eval_max_subgoals,
    )
    top = cfg.eval_max_subgoals
    budgets = list(range(min(cfg.max_subgoals, top), top + 1))
    if args.budgets:  # checked before minutes of evaluation, not after
        try:
            budgets = [int(b) for b in args.budgets.split(",")]
        except ValueError:
            ap.error(f"--budgets {args.budgets!r}: expected comma-separated integers")
        if not all(0 < b <= top for b in budgets):
            ap.error(f"--budgets {args.budgets}: each must be 1..{top}, the evaluation budget")
    given = args.adapter.split(",") if args.adapter else []
    for path in given:
        if not (Path(path) / "adapter_config.json").exists():
            ap.error(f"--adapter {path}: not a peft adapter folder (no adapter_config.json)")
    world, tasks = suite_tasks(cfg)
    worlds = Worlds(world)
    held_out = pick(tasks, cfg.eval_tasks, "eval_tasks")
    opts = {
        "model": cfg.model,
        "n_threads": cfg.torch_threads,
        "seed": cfg.seed,
        "device": cfg.device,
    }

    t0 = time.perf_counter()
    before = evaluate(make_client("transformers", **opts), worlds, held_out, cfg.eval_seeds, cfg)
    eval_s = time.perf_counter() - t0
    print(f"untrained: {rate(before)} in {eval_s:.0f}s", flush=True)
    step_s, run_dir = float("nan"), None
    if not given:
        t0 = time.perf_counter()
        result = train(cfg, on_step=lambda s, m: print(
            f"step {s}: reward {m['train/reward']:+.3f} success {m['train/success']:.2f} "
            f"grad {m['planner/grad_norm']:.3f} {m['time/step_s']:.0f}s", flush=True))  # fmt: skip
        step_s = (time.perf_counter() - t0) / max(1, cfg.steps)
        given, run_dir = [str(result.adapter)], result.run_dir
    results = {"untrained": before}
    for path in given:
        client = make_client("transformers", adapter=path, **opts)
        results[label(path) if args.adapter else "trained"] = evaluate(
            client, worlds, held_out, cfg.eval_seeds, cfg
        )
    width = max(22, *(len(k) for k in results))
    print(f"\n{'task':<24}{'seed':>5}" + "".join(f"  {k:>{width}}" for k in results))
    for i, r in enumerate(before):
        cells = "".join(f"  {outcome(rows[i]):>{width}}" for rows in results.values())
        print(f"{r.task_id:<24}{r.seed:>5}{cells}")
    if args.trace:
        for name, rows in results.items():
            for r in rows:
                print(f"\n{name} {r.task_id} seed {r.seed}:")
                print("\n".join(f"  {i + 1:>2}. {a}" for i, a in enumerate(r.info["trace"])))
        print()
    for name, rows in results.items():
        reward = statistics.fmean(r.reward for r in rows)
        progress = statistics.fmean(r.progress for r in rows)
        print(
            f"{name:>{width}}: success {rate(rows)}, reward {reward:+.3f}, progress {progress:.2f}"
        )
    print("\n".join(within_budgets(results, budgets)))
    trained = (
        f"{cfg.steps} steps x {cfg.group_size} rollouts, {step_s:.1f} s/step"
        if run_dir is not None
        else "not here (adapters given)"
    )
    print(f"training: {trained}; train tasks {cfg.train_tasks} seeds {cfg.train_seeds}; "
          f"evaluated on {cfg.eval_tasks} seeds {cfg.eval_seeds}; seed {cfg.seed}; "
          f"adapters {given}")  # fmt: skip
    print("command: " + " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]))
    if run_dir is not None:
        report = {
            "untrained": [vars(r) | {"turns": len(r.turns)} for r in before],
            "trained": [vars(r) | {"turns": len(r.turns)} for r in results["trained"]],
            "steps": cfg.steps,
            "s_per_step": step_s,
        }
        (run_dir / "heldout.json").write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
