"""`steve train`: the GRPO loop, its checkpoints, metrics and held-out evaluation.

runs/rl/<name>/
    config.yaml                 the validated TrainConfig (everything needed to repeat it)
    metrics.jsonl               one line per step (rewards, success, grad norm, s/step)
    tb/                         the same metrics as TensorBoard events (wandb on request)
    checkpoints/step-NNNNN/     planner/ (and extractor/ when co-evolving): peft adapters;
                                state.pt: optimizer moments, sampling seeds, random states
                                (what `steve train --resume` goes on from)
    adapter/                    the last planner adapter: --option llm.adapter=<this>

A step's groups are played side by side (`agent.rl.rollout.play_many`: one thread and one
world per rollout, their requests decoded in one batch), then one GRPO update.
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
from agent.llm.hf import Generation, Request, TransformersClient
from agent.rl.coevolve import coevolve_step
from agent.rl.config import TrainConfig
from agent.rl.grpo import assign_advantages, grpo_update
from agent.rl.policy import Policy, require_rl
from agent.rl.reward import Rollout
from agent.rl.rollout import play_many
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
    """metrics.jsonl always; TensorBoard (torch.utils.tensorboard) or wandb beside it.

    `after`: the step a resumed run goes on from; lines and events of later steps (written
    after that checkpoint by the run that stopped) are dropped, so no step is logged twice."""

    def __init__(self, run_dir: Path, sink: str, config: dict[str, Any], after: int = 0) -> None:
        path = run_dir / "metrics.jsonl"
        if after and path.exists():
            kept = [ln for ln in path.read_text().splitlines() if json.loads(ln)["step"] <= after]
            path.write_text("".join(ln + "\n" for ln in kept))
        self.file = path.open("a")
        self.tb: Any = None
        self.wandb: Any = None
        if sink == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir / "tb"), purge_step=after + 1 if after else None)
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
    from agent.runner import suite_world_id

    path = resolve_suite(cfg.suite)
    world = sim.make(suite_world_id(path))
    suite = load_suite(path, known_items=world.item_names())
    return world, {t.id: t for t, _ in suite.to_tasks()}


class Worlds:
    """One world per episode played side by side, made as needed and kept between steps."""

    def __init__(self, first: World) -> None:
        self.worlds = [first]

    def take(self, n: int) -> list[World]:
        while len(self.worlds) < n:
            self.worlds.append(sim.make(self.worlds[0].id))
        return self.worlds[:n]

    def close(self) -> None:
        for w in self.worlds:
            w.close()


def pick(tasks: dict[str, Task], ids: Sequence[str], what: str) -> list[Task]:
    unknown = [i for i in ids if i not in tasks]
    if unknown:
        raise ValueError(f"{what}: unknown task ids {unknown}; the suite has {sorted(tasks)}")
    return [tasks[i] for i in ids]


def evaluate(
    client: TransformersClient,
    worlds: Worlds,
    tasks: Sequence[Task],
    seeds: Sequence[int],
    cfg: TrainConfig,
) -> list[Rollout]:
    """Greedy episodes of every task and seed, played side by side; in order."""
    games = [
        (task.model_copy(update={"max_subgoals": cfg.eval_max_subgoals}), seed)
        for task in tasks
        for seed in seeds
    ]

    def greedy(requests: list[Request]) -> list[Generation]:
        return client.generate_batch(requests, 0.0, client.seed)

    lanes = worlds.take(len(games))
    return play_many(greedy, client.model, lanes, games, cfg.planner, cfg.reward)


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


def by_task(rollouts: Sequence[Rollout]) -> Metrics:
    """Per task drawn this step, its rollouts' success rate and subgoals used
    (`task/<id>/success`, `task/<id>/steps`): which tasks the policy learns, and which never
    succeed at the training budget (no success in a group, no success to learn from)."""
    tasks: dict[str, list[Rollout]] = {}
    for r in rollouts:
        tasks.setdefault(r.task_id, []).append(r)
    out: Metrics = {}
    for task_id, rs in tasks.items():
        out[f"task/{task_id}/success"] = statistics.fmean(float(r.success) for r in rs)
        out[f"task/{task_id}/steps"] = statistics.fmean(r.steps for r in rs)
    return out


def train(
    cfg: TrainConfig,
    on_step: Callable[[int, Metrics], None] | None = None,
    *,
    resume: bool = False,
) -> TrainResult:
    """Run GRPO updates up to `cfg.steps`; checkpoints and metrics go to the training
    directory. `resume`: go on from that directory's last checkpoint (its config must be
    this one but for `steps`), as if the run had never stopped."""
    name = cfg.name or f"{Path(cfg.suite).stem}__grpo__{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(cfg.out) / name
    last = _last_checkpoint(run_dir, cfg) if resume else None
    if not resume and (run_dir / "metrics.jsonl").exists():
        raise ValueError(f"{run_dir} already holds a training run: resume it or pick a new name")
    require_rl()  # fail before loading anything when the extra is missing
    world, tasks = suite_tasks(cfg)
    chosen = pick(tasks, cfg.train_tasks or list(tasks), "train_tasks")
    held_out = pick(tasks, cfg.eval_tasks, "eval_tasks")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(), sort_keys=False))
    rng = random.Random(cfg.seed)
    opts: dict[str, Any] = {
        "model": cfg.model,
        "seed": cfg.seed,
        "threads": cfg.torch_threads,
        "device": cfg.device,
        "dtype": cfg.dtype,
    }
    planner = Policy(cfg.lora, learning_rate=cfg.learning_rate, **opts)
    extractor = (
        Policy(cfg.lora, learning_rate=cfg.coevolve.learning_rate, **opts)
        if cfg.coevolve.enabled
        else None
    )
    start = _restore(last, planner, extractor, rng) if last is not None else 0
    sink = MetricsLog(run_dir, cfg.logger, cfg.model_dump(), after=start)
    history: list[Metrics] = []
    adapter = run_dir / "adapter"
    worlds = Worlds(world)
    try:
        for step in range(start + 1, cfg.steps + 1):
            t0 = time.perf_counter()
            metrics = _step(step, cfg, planner, extractor, worlds, chosen, rng)
            if cfg.eval_every and step % cfg.eval_every == 0 and held_out:
                evals = evaluate(planner.client, worlds, held_out, cfg.eval_seeds, cfg)
                metrics.update(summary(evals, "eval"))
            metrics["time/step_s"] = time.perf_counter() - t0
            sink.log(metrics, step)  # before the checkpoint: a resume never lacks a line
            history.append(metrics)
            if step % cfg.save_every == 0 or step == cfg.steps:
                _checkpoint(run_dir, step, planner, extractor, adapter, rng)
            if on_step is not None:
                on_step(step, metrics)
        if cfg.steps == 0:
            _checkpoint(run_dir, 0, planner, extractor, adapter, rng)
    finally:
        sink.close()
        worlds.close()
    return TrainResult(run_dir, adapter, history)


def _step(
    step: int,
    cfg: TrainConfig,
    planner: Policy,
    extractor: Policy | None,
    worlds: Worlds,
    chosen: Sequence[Task],
    rng: random.Random,
) -> Metrics:
    """Roll out `tasks_per_step` groups (co-evolving on the steps that do), then update.
    The plain groups' rollouts are all played side by side, their requests batched."""
    t0 = time.perf_counter()
    groups: list[list[Rollout]] = []
    extracted: list[Rollout] = []
    games: list[tuple[Task, int]] = []
    metrics: Metrics = {}
    for _ in range(cfg.tasks_per_step):
        task = rng.choice(chosen).model_copy(update={"max_subgoals": cfg.max_subgoals})
        seed = rng.choice(cfg.train_seeds)
        if extractor is not None and step % cfg.coevolve.every == 0:
            co = coevolve_step(planner, extractor, worlds.take(1)[0], task, seed, cfg)
            groups.append(co.solver)
            extracted.extend(co.extractor)
            metrics.update(co.metrics)
            continue
        games.extend([(task, seed)] * cfg.group_size)
    if games:

        def sampled(requests: list[Request]) -> list[Generation]:
            return planner.sample(requests, cfg.temperature)

        lanes = worlds.take(len(games))
        played = play_many(sampled, planner.client.model, lanes, games, cfg.planner, cfg.reward)
        n = cfg.group_size
        groups.extend(played[i : i + n] for i in range(0, len(played), n))
    assign_advantages(groups, cfg.scale_rewards)
    metrics["time/rollouts_s"] = time.perf_counter() - t0
    rollouts = [r for g in groups for r in g]
    metrics.update(summary(rollouts, "train"))
    metrics["train/reward_std"] = statistics.pstdev(r.reward for r in rollouts)
    metrics["train/zero_variance_groups"] = statistics.fmean(
        float(len({round(r.reward, 6) for r in g}) == 1) for g in groups
    )
    metrics.update(by_task(rollouts))
    update = grpo_update(
        planner,
        rollouts,
        temperature=cfg.temperature,
        beta=cfg.beta,
        max_grad_norm=cfg.max_grad_norm,
        micro_batch=cfg.micro_batch,
    )
    metrics.update({f"planner/{k}": v for k, v in update.items()})
    metrics["time/update_s"] = time.perf_counter() - t0 - metrics["time/rollouts_s"]
    if extractor is not None and extracted:
        assign_advantages([extracted], cfg.scale_rewards)
        ex = grpo_update(
            extractor,
            extracted,
            temperature=cfg.temperature,
            beta=cfg.beta,
            max_grad_norm=cfg.max_grad_norm,
            micro_batch=cfg.micro_batch,
        )
        metrics.update({f"extractor/{k}": v for k, v in ex.items()})
    return metrics


STATE = "state.pt"  # what a resumed run needs beside the adapters


def _checkpoint(
    run_dir: Path,
    step: int,
    planner: Policy,
    extractor: Policy | None,
    adapter: Path,
    rng: random.Random,
) -> None:
    """The adapters of this step and the state to resume from (written whole, then renamed
    into place), and the planner's adapter again as the run's `adapter/`."""
    folder = run_dir / "checkpoints" / f"step-{step:05d}"
    partial = folder.with_name(folder.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    planner.save(partial / "planner")
    state: dict[str, Any] = {
        "step": step,
        "planner": planner.state(),
        "tasks_rng": rng.getstate(),
        "torch_rng": planner.torch.get_rng_state(),
    }
    if extractor is not None:
        extractor.save(partial / "extractor")
        state["extractor"] = extractor.state()
    planner.torch.save(state, partial / STATE)
    if folder.exists():
        shutil.rmtree(folder)
    partial.rename(folder)  # a checkpoint folder is never half-written
    tmp = adapter.with_name(adapter.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(folder / "planner", tmp)
    if adapter.exists():
        shutil.rmtree(adapter)
    tmp.rename(adapter)  # never a half-copied adapter under the name a user loads
    log.info("step %d: checkpoint %s", step, folder)


def _last_checkpoint(run_dir: Path, cfg: TrainConfig) -> Path:
    """The newest whole checkpoint of a run to resume, after checking that `cfg` is the
    run's own config but for `steps` (anything else would not be the same run)."""
    saved = run_dir / "config.yaml"
    if not saved.exists():
        raise ValueError(f"{run_dir}: no training run to resume (no config.yaml)")
    before = TrainConfig.model_validate(yaml.safe_load(saved.read_text())).model_dump()
    now = cfg.model_dump()
    changed = sorted(k for k in now if k != "steps" and now[k] != before.get(k))
    if changed:
        raise ValueError(
            f"{saved}: resuming with a different config ({', '.join(changed)}); "
            "only steps may change"
        )
    found = sorted((run_dir / "checkpoints").glob(f"step-[0-9][0-9][0-9][0-9][0-9]/{STATE}"))
    if not found:
        raise ValueError(f"{run_dir}: no checkpoint to resume from")
    return found[-1].parent


def _restore(folder: Path, planner: Policy, extractor: Policy | None, rng: random.Random) -> int:
    """Load a checkpoint's adapters and state; the step it was taken after."""
    state = planner.torch.load(folder / STATE, weights_only=False)
    planner.restore(folder / "planner", state["planner"])
    if extractor is not None:
        if "extractor" not in state:
            raise ValueError(f"{folder}: the checkpoint has no extractor to co-evolve")
        extractor.restore(folder / "extractor", state["extractor"])
    rng.setstate(state["tasks_rng"])
    planner.torch.set_rng_state(state["torch_rng"])
    log.info("resuming after step %d from %s", state["step"], folder)
    return int(state["step"])
