"""The training config: one pydantic model, loaded from YAML with errors that name the file,
the field and the line (the suite loader's positions, `scenarios.loader`).

Every field has a default and a description; `extra="forbid"` everywhere, so a typo in a
config is an error instead of a silent default.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scenarios.loader import SuiteError, format_loc, line_of, parse_yaml


class ConfigError(SuiteError):
    """A training config that cannot be used (`path:line: field: message`)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraOptions(_Strict):
    """The LoRA adapter peft puts on the model (`peft.LoraConfig`)."""

    r: int = Field(16, ge=1, description="Rank of the low-rank update.")
    alpha: int = Field(32, ge=1, description="Scaling numerator (the update is x alpha/r).")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="LoRA dropout.")
    target_modules: list[str] | str = Field(
        "all-linear", description="Modules that get an adapter (peft's names)."
    )


class RewardOptions(_Strict):
    """Shaping from the diagnosis's continuous indicators (`agent.rl.reward`). With sparse
    success and small groups most groups would have zero variance and give no gradient."""

    success: float = Field(1.0, description="Reward for reaching the goal.")
    progress: float = Field(
        0.5, description="Times the best task progress (0..1) reached: partial credit."
    )
    pace: float = Field(
        0.5, description="Times the mean progress over the budget: sooner scores higher."
    )
    steps: float = Field(0.1, description="Penalty times the fraction of the subgoal budget used.")
    invalid: float = Field(0.1, description="Penalty per unusable reply (PLAN_PARSE_FAIL).")


class PlannerOptions(_Strict):
    """The LLM planner's prompt and grammar (`agent.planner.llm.LLMPlanner` arguments); the
    same options must be given to `steve run` with the trained adapter (`--option planner.*`)."""

    max_steps: int = Field(2, ge=1, description="Subgoals per reply (fewer: fewer tokens).")
    max_tokens: int = Field(56, ge=8, description="Token cap of one reply.")
    examples: bool = Field(False, description="Put the worked examples before the request.")
    recipes: Literal["oracle", "learned", "off"] | bool = Field(
        "oracle",
        description="Where the prompt's recipe facts come from (`planner.recipes`): the "
        "world's recipe book (oracle, the setting every run in docs/rl.md trained with), "
        "the agent's own store (learned), or none (off; false reads as off, true as oracle).",
    )
    narrow: bool = Field(True, description="The grammar narrowed to the goal's tree.")


class CoevolveOptions(_Strict):
    """Co-evolution of the experience extractor (`agent.rl.coevolve`)."""

    enabled: bool = Field(False, description="Train the extractor beside the planner.")
    every: int = Field(1, ge=1, description="A co-evolution step every N training steps.")
    group_size: int = Field(
        2, ge=2, description="Extractor samples per failure (each is judged by a solver run)."
    )
    baseline_runs: int = Field(
        1, ge=1, description="Solver runs without the experience (the improvement's baseline)."
    )
    max_tokens: int = Field(96, ge=16, description="Token cap of one extractor reply.")
    max_failures: int = Field(2, ge=1, description="Failed attempts the extractor writes up.")
    learning_rate: float = Field(1e-4, gt=0, description="The extractor adapter's rate.")


class TrainConfig(_Strict):
    """Everything `steve train` depends on; saved beside the checkpoints."""

    suite: str = Field("wooden", description="A suite file or the name of a shipped suite.")
    train_tasks: list[str] = Field(default_factory=list, description="Task ids to train on.")
    train_seeds: list[int] = Field(default_factory=lambda: [0, 1], description="World seeds.")
    eval_tasks: list[str] = Field(default_factory=list, description="Held-out task ids.")
    eval_seeds: list[int] = Field(default_factory=lambda: [0], description="Held-out seeds.")
    max_subgoals: int = Field(8, ge=1, description="Subgoal budget of a training episode.")
    eval_max_subgoals: int = Field(12, ge=1, description="Subgoal budget of an eval episode.")
    model: str | None = Field(None, description="A model folder or GGUF (default: bundled).")
    steps: int = Field(100, ge=0, description="GRPO updates (one task group each).")
    group_size: int = Field(4, ge=2, description="Rollouts per group (same task and seed).")
    tasks_per_step: int = Field(1, ge=1, description="Groups per update.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of rollouts.")
    learning_rate: float = Field(1e-4, gt=0, description="AdamW learning rate (LoRA weights).")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping.")
    beta: float = Field(0.0, ge=0, description="KL penalty to the base model (0: none).")
    scale_rewards: bool = Field(True, description="Divide advantages by the group's std.")
    seed: int = Field(0, description="Seeds sampling, task order and LoRA initialisation.")
    threads: int | None = Field(
        None, ge=1, description="torch threads (default: every core; see torch_threads)."
    )
    device: str = Field("cpu", description="torch device of the models (cpu, cuda, cuda:1).")
    dtype: Literal["float32", "bfloat16"] = Field(
        "bfloat16",
        description="The frozen base weights' type (LoRA weights and optimizer stay float32).",
    )
    micro_batch: int = Field(4, ge=1, description="Turns per forward pass of an update.")
    lora: LoraOptions = Field(default_factory=LoraOptions)
    reward: RewardOptions = Field(default_factory=RewardOptions)
    planner: PlannerOptions = Field(default_factory=PlannerOptions)
    coevolve: CoevolveOptions = Field(default_factory=CoevolveOptions)
    out: str = Field("runs/rl", description="Where the training directory goes.")
    name: str | None = Field(None, description="The training directory's name.")
    save_every: int = Field(25, ge=1, description="Checkpoint every N steps (and at the end).")
    eval_every: int = Field(0, ge=0, description="Held-out eval every N steps (0: never).")
    logger: Literal["tensorboard", "wandb", "none"] = Field(
        "tensorboard", description="Metrics sink (wandb only on request)."
    )

    @property
    def torch_threads(self) -> int:
        """`threads`, or every core. Training owns the machine, unlike `steve run`, whose
        llama.cpp threads spin-wait against the world's (`agent.llm.local.default_threads`,
        half the cores): torch's don't, and on this 2-core machine two threads against one
        sample x1.18 and update x1.75 faster (`benchmarks/rl_step.py --threads 1,2`)."""
        return self.threads or os.cpu_count() or 1


def load_config(path: str | Path, **overrides: Any) -> TrainConfig:
    """Read and validate a training config; `overrides` replace top-level fields."""
    shown = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(shown, "", None, f"cannot read config: {exc}") from None
    root, data = parse_yaml(text, shown)
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(shown, "", 1, "the top level must be a mapping of fields")
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        line = line_of(root, loc) if root is not None else None
        raise ConfigError(shown, format_loc(loc), line, first["msg"]) from None
