"""`steve train`: the GRPO loop, its checkpoints, metrics and held-out evaluation.

runs/rl/<name>/
    config.yaml                 the validated TrainConfig (everything needed to repeat it)
    metrics.jsonl               one line per step (rewards, success, grad norm, s/step)
    tb/                         the same metrics as TensorBoard events (wandb on request)
    checkpoints/step-NNNNN/     planner/ (and extractor/ when co-evolving): peft adapters
    adapter/                    the last planner adapter: --option llm.adapter=<this>
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import sim
from agent.llm.base import LLMClient
from agent.rl.coevolve import coevolve_step
from agent.rl.config import TrainConfig
from agent.rl.grpo import assign_advantages, grpo_update
from agent.rl.policy import Policy, require_rl
from agent.rl.reward import Rollout
from agent.rl.rollout import play
from scenarios.loader import load_suite, resolve_suite
from sim.base import World
from sim.schema import Task

log = logging.getLogger(__name__)
Metrics = dict[str, float]


@dataclass
class TrainResult:
    run_dir: Path
    adapter: Path
    history: list[Metrics] = field(default_factory=list)


class MetricsLog:
    """metrics.jsonl always; TensorBoard (torch.utils.tensorboard) or wandb beside it."""

    def __init__(self, run_dir: Path, sink: str, config: dict[str, Any]) -> None:
        self.file = (run_dir / "metrics.jsonl").open("a")
        self.tb: Any = None
        self.wandb: Any = None
        if sink == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir / "tb"))
        elif sink == "wandb":
            import wandb

            self.wandb = wandb.init(project="steve-evolving", name=run_dir.name, config=config)

    def log(self, metrics: Metrics, step: int) -> None:
        self.file.write(json.dumps({"step": step, **metrics}) + "\n")
        self.file.flush()
        if self.tb is not None:
            for k, v in metrics.items():
                self.tb.add_scalar(k, v, step)
            self.tb.flush()
        if self.wandb is not None:
            self.wandb.log(metrics, step=step)

    def close(self) -> None:
        self.file.close()
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()


def suite_tasks(cfg: TrainConfig) -> tuple[World, dict[str, Task]]:
    """The suite's world and its tasks by id."""
    from agent.runner import _world_id

    path = resolve_suite(cfg.suite)
    world = sim.make(_world_id(path))
    suite = load_suite(path, known_items=world.item_names())
    return world, {t.id: t for t, _ in suite.to_tasks()}


def pick(tasks: dict[str, Task], ids: Sequence[str], what: str) -> list[Task]:
    unknown = [i for i in ids if i not in tasks]
    if unknown:
        raise ValueError(f"{what}: unknown task ids {unknown}; the suite has {sorted(tasks)}")
    return [tasks[i] for i in ids]


def evaluate(
    client: LLMClient,
    world: World,
    tasks: Sequence[Task],
    seeds: Sequence[int],
    cfg: TrainConfig,
) -> list[Rollout]:
    """Greedy episodes (the client's own sampling) of every task and seed, in order."""
    out = []
    for task in tasks:
        budget = task.model_copy(update={"max_subgoals": cfg.eval_max_subgoals})
        for seed in seeds:
            out.append(play(client, world, budget, seed, cfg.planner, cfg.reward))
    return out


def summary(rollouts: Sequence[Rollout], prefix: str) -> Metrics:
    if not rollouts:
        return {}
    rewards = [r.reward for r in rollouts]
    return {
        f"{prefix}/reward": statistics.fmean(rewards),
        f"{prefix}/success": statistics.fmean(float(r.success) for r in rollouts),
        f"{prefix}/progress": statistics.fmean(r.progress for r in rollouts),
        f"{prefix}/steps": statistics.fmean(r.steps for r in rollouts),
        f"{prefix}/llm_calls": statistics.fmean(len(r.turns) for r in rollouts),
    }


def train(cfg: TrainConfig, on_step: Callable[[int, Metrics], None] | None = None) -> TrainResult:
    """Run `cfg.steps` GRPO updates; checkpoints and metrics go to the training directory."""
    require_rl()  # fail before loading anything when the extra is missing
    world, tasks = suite_tasks(cfg)
    chosen = pick(tasks, cfg.train_tasks or list(tasks), "train_tasks")
    held_out = pick(tasks, cfg.eval_tasks, "eval_tasks")
    name = cfg.name or f"{Path(cfg.suite).stem}__grpo__{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(cfg.out) / name
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(), sort_keys=False))
    rng = random.Random(cfg.seed)
    opts: dict[str, Any] = {
        "model": cfg.model,
        "seed": cfg.seed,
        "threads": cfg.threads,
        "device": cfg.device,
    }
    planner = Policy(cfg.lora, learning_rate=cfg.learning_rate, **opts)
    extractor = (
        Policy(cfg.lora, learning_rate=cfg.coevolve.learning_rate, **opts)
        if cfg.coevolve.enabled
        else None
    )
    sink = MetricsLog(run_dir, cfg.logger, cfg.model_dump())
    history: list[Metrics] = []
    adapter = run_dir / "adapter"
    try:
        for step in range(1, cfg.steps + 1):
            t0 = time.perf_counter()
            metrics = _step(step, cfg, planner, extractor, world, chosen, rng)
            if cfg.eval_every and step % cfg.eval_every == 0 and held_out:
                evals = evaluate(planner.client, world, held_out, cfg.eval_seeds, cfg)
                metrics.update(summary(evals, "eval"))
            if step % cfg.save_every == 0 or step == cfg.steps:
                _checkpoint(run_dir, step, planner, extractor, adapter)
            metrics["time/step_s"] = time.perf_counter() - t0
            sink.log(metrics, step)
            history.append(metrics)
            if on_step is not None:
                on_step(step, metrics)
        if cfg.steps == 0:
            _checkpoint(run_dir, 0, planner, extractor, adapter)
    finally:
        sink.close()
        world.close()
    return TrainResult(run_dir, adapter, history)


def _step(
    step: int,
    cfg: TrainConfig,
    planner: Policy,
    extractor: Policy | None,
    world: World,
    chosen: Sequence[Task],
    rng: random.Random,
) -> Metrics:
    """Roll out `tasks_per_step` groups (co-evolving on the steps that do), then update."""
    groups: list[list[Rollout]] = []
    extracted: list[Rollout] = []
    metrics: Metrics = {}
    for _ in range(cfg.tasks_per_step):
        task = rng.choice(chosen).model_copy(update={"max_subgoals": cfg.max_subgoals})
        seed = rng.choice(cfg.train_seeds)
        if extractor is not None and step % cfg.coevolve.every == 0:
            co = coevolve_step(planner, extractor, world, task, seed, cfg)
            groups.append(co.solver)
            extracted.extend(co.extractor)
            metrics.update(co.metrics)
            continue
        rec = planner.recorder(cfg.temperature)
        game = (rec, world, task, seed, cfg.planner, cfg.reward)
        groups.append([play(*game) for _ in range(cfg.group_size)])
    assign_advantages(groups, cfg.scale_rewards)
    rollouts = [r for g in groups for r in g]
    metrics.update(summary(rollouts, "train"))
    metrics["train/reward_std"] = statistics.pstdev(r.reward for r in rollouts)
    metrics["train/zero_variance_groups"] = statistics.fmean(
        float(len({round(r.reward, 6) for r in g}) == 1) for g in groups
    )
    update = grpo_update(
        planner,
        rollouts,
        temperature=cfg.temperature,
        beta=cfg.beta,
        max_grad_norm=cfg.max_grad_norm,
    )
    metrics.update({f"planner/{k}": v for k, v in update.items()})
    if extractor is not None and extracted:
        assign_advantages([extracted], cfg.scale_rewards)
        ex = grpo_update(
            extractor,
            extracted,
            temperature=cfg.temperature,
            beta=cfg.beta,
            max_grad_norm=cfg.max_grad_norm,
        )
        metrics.update({f"extractor/{k}": v for k, v in ex.items()})
    return metrics


def _checkpoint(
    run_dir: Path, step: int, planner: Policy, extractor: Policy | None, adapter: Path
) -> None:
    """The adapters of this step, and the planner's again as the run's `adapter/`."""
    folder = run_dir / "checkpoints" / f"step-{step:05d}"
    planner.save(folder / "planner")
    if extractor is not None:
        extractor.save(folder / "extractor")
    tmp = adapter.with_name(adapter.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(folder / "planner", tmp)
    if adapter.exists():
        shutil.rmtree(adapter)
    tmp.rename(adapter)  # never a half-copied adapter under the name a user loads
    log.info("step %d: checkpoint %s", step, folder)
