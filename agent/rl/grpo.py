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
) -> dict[str, float]:
    """One optimizer step over the rollouts' turns; metrics of the step.

    Each turn is forwarded and back-propagated on its own (the graph of one ~400-token
    sequence at a time), with the loss already divided by the batch's token count, so the
    accumulated gradient is the batch loss's. Rollouts with zero advantage are skipped: they
    contribute no gradient when `beta` is 0."""
    torch = policy.torch
    turns = [(r, t) for r in rollouts if r.advantage != 0.0 or beta > 0 for t in r.turns]
    policy.optimizer.zero_grad(set_to_none=True)
    metrics = {"loss": 0.0, "kl": 0.0, "tokens": 0.0, "turns": float(len(turns))}
    if not turns:
        metrics["grad_norm"] = 0.0
        return metrics
    # the normalisation needs the batch's count of free tokens before any backward
    tokens = sum(policy.free_tokens(t) for _, t in turns)
    denom = max(1, tokens)
    model_was_training = policy.model.training
    policy.model.train()
    for r, turn in turns:
        logp, free = policy.token_logprobs(turn, temperature)
        per_token = -r.advantage * logp
        if beta > 0:
            ref, _ = policy.token_logprobs(turn, temperature, reference=True)
            delta = ref - logp
            kl = torch.exp(delta) - delta - 1.0
            per_token = per_token + beta * kl
            metrics["kl"] += float(torch.where(free, kl, 0.0).sum()) / denom
        # a forced token has log p = 0 exactly; anything off the grammar is left out
        loss = torch.where(free, per_token, 0.0).sum() / denom
        loss.backward()
        metrics["loss"] += float(loss.detach())
    norm = torch.nn.utils.clip_grad_norm_(policy.params, max_grad_norm)
    policy.optimizer.step()
    policy.optimizer.zero_grad(set_to_none=True)
    policy.model.train(model_was_training)
    metrics["grad_norm"] = float(norm)
    metrics["tokens"] = float(tokens)
    return metrics
