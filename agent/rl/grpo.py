"""GRPO on multi-turn episodes, written on top of peft (TRL's loss as the reference).

Advantages are group-relative (TRL's `GRPOTrainer`): each rollout's reward minus its group's
mean, divided by the group's standard deviation (`scale_rewards`). A multi-turn episode is
several independent chat requests (each turn's prompt is built afresh from the state, not a
growing transcript), so every token of every turn of an episode carries that episode's
advantage. The loss is TRL's with one policy update per batch of rollouts (`num_iterations=1`):
the importance ratio is then exactly 1, the clipping never binds, and the gradient is the
plain policy gradient `-A * grad log p`; tokens are averaged over the whole batch (TRL's
`dapo`/`bnpo` normalisation), counting only the tokens the grammar left a choice for. An
optional KL term to the base model (`beta`, the adapter disabled) uses TRL's k3 estimator.

Why not `trl.GRPOTrainer` itself: it samples one completion per dataset prompt (or one
sequence per `rollout_func` call) and trains on that sequence; an episode here is a variable
number of separate requests made by the loop as the world answers, decoded under a grammar
whose mask the loss must replay. What TRL contributes is its log-softmax kernel
(`selective_log_softmax`), its loss and advantage definitions, and peft's LoRA.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from agent.llm.hf import common_prefix
from agent.rl.policy import Policy
from agent.rl.reward import Rollout


def group_advantages(rewards: Sequence[float], scale: bool = True) -> list[float]:
    """Reward minus the group mean (over the std when `scale`); all zero with no variance."""
    mean = statistics.fmean(rewards)
    std = statistics.pstdev(rewards) if len(rewards) > 1 else 0.0
    if std < 1e-6:
        return [0.0] * len(rewards)
    return [(r - mean) / (std + 1e-4 if scale else 1.0) for r in rewards]


def assign_advantages(groups: Sequence[Sequence[Rollout]], scale: bool = True) -> None:
    for group in groups:
        for rollout, adv in zip(
            group, group_advantages([r.reward for r in group], scale), strict=True
        ):
            rollout.advantage = adv


def grpo_update(
    policy: Policy,
    rollouts: Sequence[Rollout],
    *,
    temperature: float,
    beta: float = 0.0,
    max_grad_norm: float = 1.0,
    micro_batch: int = 4,
    share_prefix: bool = True,
) -> dict[str, float]:
    """One optimizer step over the rollouts' turns; metrics of the step.

    The turns of a step share the opening of their prompts (the system prompt, and within a
    group the task, goal and recipes): that opening is run through the model once, with
    grad, and every turn attends to its keys and values (`Policy.prefix`); the rest of each
    prompt and the reply go through in batches of `micro_batch` turns, each batch
    back-propagated on its own with the loss already divided by the step's token count, and
    the opening's gradient is carried back once at the end. The gradient is the batch loss's,
    exactly as if each turn had been forwarded whole (`share_prefix=False` and `micro_batch=1`
    do that, for comparison). Rollouts with zero advantage are skipped: they contribute no
    gradient when `beta` is 0."""
    turns = [(r, t) for r in rollouts if r.advantage != 0.0 or beta > 0 for t in r.turns]
    policy.optimizer.zero_grad(set_to_none=True)
    metrics = {"loss": 0.0, "kl": 0.0, "tokens": 0.0, "turns": float(len(turns))}
    if not turns:
        metrics["grad_norm"] = 0.0
        return metrics
    torch = policy.torch
    # the normalisation needs the batch's count of free tokens before any backward
    tokens = sum(policy.free_tokens(t) for _, t in turns)
    denom = max(1, tokens)
    shared_len = common_prefix([t.prompt_ids for _, t in turns]) if share_prefix else 0
    opening = turns[0][1].prompt_ids[:shared_len]
    model_was_training = policy.model.training
    policy.model.train()
    shared = policy.prefix(opening) if opening.numel() else None
    ref_shared = policy.prefix(opening, reference=True) if beta > 0 and shared is not None else None
    for at in range(0, len(turns), micro_batch):
        chunk = turns[at : at + micro_batch]
        batch = [t for _, t in chunk]
        logps = policy.batch_logprobs(batch, temperature, prefix=shared)
        refs = (
            policy.batch_logprobs(batch, temperature, reference=True, prefix=ref_shared)
            if beta > 0
            else [None] * len(batch)
        )
        loss = torch.zeros(())
        for (r, _), (logp, free), ref in zip(chunk, logps, refs, strict=True):
            per_token = -r.advantage * logp
            if ref is not None:
                delta = ref[0] - logp
                kl = torch.exp(delta) - delta - 1.0
                per_token = per_token + beta * kl
                metrics["kl"] += float(torch.where(free, kl.detach(), 0.0).sum()) / denom
            # a forced token has log p = 0 exactly; anything off the grammar is left out
            loss = loss + torch.where(free, per_token, 0.0).sum() / denom
        loss.backward()
        metrics["loss"] += float(loss.detach())
    if shared is not None:
        shared.backward()
    norm = torch.nn.utils.clip_grad_norm_(policy.params, max_grad_norm)
    policy.optimizer.step()
    policy.optimizer.zero_grad(set_to_none=True)
    policy.model.train(model_was_training)
    metrics["grad_norm"] = float(norm)
    metrics["tokens"] = float(tokens)
    metrics["shared_prefix"] = float(opening.numel())
    return metrics
