"""A trainable policy: the `transformers` backend's model with a LoRA adapter (peft).

The same object samples (its `recorder` is an `LLMClient` the planner and the extractor call
through the ordinary loop, and it keeps every reply's token ids) and learns (`token_logprobs`
gives the log-probabilities of a recorded reply with gradients into the LoRA weights only).

The policy is the grammar-constrained distribution the loop actually samples from: replies
are decoded under xgrammar's mask, so the log-probability of a token is taken over the tokens
the grammar allowed at that point (the mask is replayed from the recorded schema). Tokens the
grammar forces (one allowed token, most of the JSON punctuation) then have probability 1 and
no gradient, and are not counted in the loss's normalisation.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.llm.base import Completion, JSONSchema, Message

if TYPE_CHECKING:
    from agent.rl.config import LoraOptions

HINT = "the rl extra is missing: make install-rl (torch==2.13.0 first, then .[dev,rl])"


def require_rl() -> tuple[Any, Any]:
    """torch and peft, or an ImportError that says how to install them."""
    try:
        torch: Any = importlib.import_module("torch")
        peft: Any = importlib.import_module("peft")
        importlib.import_module("trl")
    except ImportError as exc:
        raise ImportError(f"{exc.name}: {HINT}") from exc
    return torch, peft


@dataclass
class Turn:
    """One reply of a rollout: what the model read and wrote (1-D token id tensors), and the
    schema its decoding was constrained by (None: free text)."""

    prompt_ids: Any
    completion_ids: Any
    schema: JSONSchema | None


class Recorder:
    """An `LLMClient` that samples from a policy and keeps each reply as a `Turn`.

    Every call gets its own sampling seed: the backend seeds torch per call, so a fixed seed
    would give every rollout of a group the same reply and the group no variance."""

    backend = "transformers"

    def __init__(self, policy: Policy, temperature: float, seeds: Iterator[int]) -> None:
        self.policy, self.temperature, self.seeds = policy, temperature, seeds
        self.model = policy.client.model
        self.turns: list[Turn] = []

    def complete(
        self, messages: list[Message], schema: JSONSchema | None = None, **sampling: Any
    ) -> Completion:
        sampling = {**sampling, "temperature": self.temperature, "seed": next(self.seeds)}
        done, prompt, reply = self.policy.client.generate(messages, schema, **sampling)
        self.turns.append(Turn(prompt, reply, schema))
        return done


class Policy:
    """The base model, frozen, plus a trainable LoRA adapter and its optimizer."""

    def __init__(
        self,
        lora: LoraOptions,
        *,
        model: str | None = None,
        learning_rate: float = 1e-4,
        seed: int = 0,
        threads: int | None = None,
        device: str = "cpu",
    ) -> None:
        torch, peft = require_rl()
        from agent.llm.hf import TransformersClient

        # denormal floats make CPU matmuls many times slower once weights are tiny updates
        torch.set_flush_denormal(True)
        self.torch = torch
        self.client = TransformersClient(model, seed=seed, n_threads=threads, device=device)
        torch.manual_seed(seed)  # the adapter's initialisation
        config = peft.LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=lora.target_modules,
            task_type="CAUSAL_LM",
        )
        self.model = peft.get_peft_model(self.client._lm, config)
        self.model.eval()  # sampling; grpo_update switches to train mode (LoRA dropout, if set)
        self.client._lm = self.model  # rollouts sample through the adapter
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=learning_rate, weight_decay=0.0)
        self._seeds = count(seed * 1_000_003)

    def recorder(self, temperature: float) -> Recorder:
        return Recorder(self, temperature, self._seeds)

    def lora_state(self) -> dict[str, Any]:
        """A copy of the adapter's weights (tests compare them before and after a step)."""
        return {n: p.detach().clone() for n, p in self.model.named_parameters() if p.requires_grad}

    def _grammar_bias(self, turn: Turn, n: int, vocab: int) -> Any:
        """0 where the grammar allowed a token at each reply position, -inf elsewhere."""
        torch = self.torch
        bias = torch.zeros(n, vocab)
        if turn.schema is None:
            return bias
        xgr = self.client._xgr
        matcher = xgr.GrammarMatcher(self.client._grammar(turn.schema))
        words = xgr.allocate_token_bitmask(n, vocab)
        for i, tok in enumerate(turn.completion_ids.tolist()):
            matcher.fill_next_token_bitmask(words, i)
            if not matcher.accept_token(int(tok)):
                words[i:].fill_(-1)  # off the grammar (cut off): the rest unconstrained
                break
        xgr.apply_token_bitmask_inplace(bias, words)
        return bias

    def free_tokens(self, turn: Turn) -> int:
        """How many of a reply's tokens the grammar left a choice for."""
        n = int(turn.completion_ids.shape[0])
        vocab = int(self.model.get_output_embeddings().weight.shape[0])
        bias = self._grammar_bias(turn, n, vocab)
        return int((self.torch.isfinite(bias).sum(-1) > 1).sum())

    def token_logprobs(
        self, turn: Turn, temperature: float, reference: bool = False
    ) -> tuple[Any, Any]:
        """Log-probabilities of the reply's tokens under the constrained policy (with grad,
        or from the base model without the adapter when `reference`), and a mask of the
        positions where the grammar left a choice."""
        from trl.trainer.utils import selective_log_softmax

        torch = self.torch
        reply = turn.completion_ids
        n = int(reply.shape[0])
        ids = torch.cat([turn.prompt_ids, reply])[None]
        if reference:
            with torch.no_grad(), self.model.disable_adapter():
                logits = self.model(input_ids=ids, logits_to_keep=n + 1).logits
        else:
            logits = self.model(input_ids=ids, logits_to_keep=n + 1).logits
        logits = logits[0, :-1].float()  # position t predicts reply token t
        bias = self._grammar_bias(turn, n, int(logits.shape[-1]))
        bias = bias.to(logits.device)  # the mask is built on the CPU (xgrammar's kernel)
        free = torch.isfinite(bias).sum(-1) > 1
        return selective_log_softmax(logits + bias, reply, temperature), free

    def save(self, path: str | Path) -> Path:
        """The adapter as a peft folder (`adapter_config.json`, `adapter_model.safetensors`);
        `--option llm.adapter=PATH` loads it into the transformers backend."""
        out = Path(path)
        self.model.save_pretrained(str(out))
        return out


def completion_text(turn: Turn, policy: Policy) -> str:
    """A recorded reply as text (for logs)."""
    return str(policy.client._tok.decode(turn.completion_ids, skip_special_tokens=True))
