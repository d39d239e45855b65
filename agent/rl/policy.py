"""A trainable policy: the `transformers` backend's model with a LoRA adapter (peft).

The same object samples (`sample` decodes a batch of requests; its `recorder` is an
`LLMClient` the planner and the extractor call through the ordinary loop, and it keeps every
reply's token ids) and learns (`batch_logprobs` gives the log-probabilities of recorded
replies with gradients into the LoRA weights only).

The policy is the grammar-constrained distribution the loop actually samples from: replies
are decoded under xgrammar's mask, so the log-probability of a token is taken over the tokens
the grammar allowed at that point (the mask is replayed from the recorded schema). Tokens the
grammar forces (one allowed token, most of the JSON punctuation) and the tokens jump-forward
decoding wrote (recorded with the turn) then have probability 1 and no gradient, and are not
counted in the loss's normalisation.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from agent.llm.base import Completion, JSONSchema, Message, with_defaults
from agent.llm.hf import Generation, Request, left_padded

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
    """One reply of a rollout: what the model read and wrote (1-D token id tensors), the
    schema its decoding was constrained by (None: free text), and which reply tokens
    jump-forward wrote rather than the model sampled (`Generation.written`; None: every
    token was sampled). `mask` caches the allowed tokens at each reply position
    (`Policy.grammar_mask`)."""

    prompt_ids: Any
    completion_ids: Any
    schema: JSONSchema | None
    written: Any = None
    mask: Any = None


class Recorder:
    """An `LLMClient` that asks `sample` for each reply and keeps it as a `Turn`: a policy's
    (`Policy.recorder`, one request at a time with a fresh seed each, so the rollouts of a
    group differ) or a lockstep lane's (`agent.rl.rollout.play_many`, batched)."""

    backend = "transformers"

    def __init__(self, sample: Callable[[Request], Generation], model: str) -> None:
        self.sample, self.model = sample, model
        self.turns: list[Turn] = []

    def complete(
        self, messages: list[Message], schema: JSONSchema | None = None, **sampling: Any
    ) -> Completion:
        params = with_defaults(sampling)
        request = Request(messages, schema, int(params.get("max_tokens", 128)))
        out = self.sample(request)
        self.turns.append(Turn(out.prompt_ids, out.reply_ids, schema, out.written))
        return cast(Completion, out.completion)


class Policy:
    """The base model, frozen, plus a trainable LoRA adapter and its optimizer.

    The base weights may be bfloat16 (`dtype`, the training config's default): on a CPU with
    bf16 instructions that halves the memory read per decoded token and the time of a
    forward and backward pass; the LoRA weights, their gradients and AdamW's moments stay
    float32 (peft keeps adapters in float32), so small updates are not rounded away."""

    def __init__(
        self,
        lora: LoraOptions,
        *,
        model: str | None = None,
        learning_rate: float = 1e-4,
        seed: int = 0,
        threads: int | None = None,
        device: str = "cpu",
        dtype: str = "float32",
    ) -> None:
        torch, peft = require_rl()
        from agent.llm.hf import TransformersClient

        # denormal floats make CPU matmuls many times slower once weights are tiny updates
        torch.set_flush_denormal(True)
        self.torch = torch
        self.client = TransformersClient(
            model, seed=seed, n_threads=threads, device=device, dtype=dtype
        )
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
        self.vocab = int(self.model.get_output_embeddings().weight.shape[0])
        self.next_seed = seed * 1_000_003  # sampling seeds, one per batch; saved by `state`

    def recorder(self, temperature: float) -> Recorder:
        return Recorder(lambda r: self.sample([r], temperature)[0], self.client.model)

    def sample(self, requests: list[Request], temperature: float) -> list[Generation]:
        """One batched generation (`TransformersClient.generate_batch`) with a fresh seed."""
        seed, self.next_seed = self.next_seed, self.next_seed + 1
        return self.client.generate_batch(requests, temperature, seed)

    def lora_state(self) -> dict[str, Any]:
        """A copy of the adapter's weights (tests compare them before and after a step)."""
        return {n: p.detach().clone() for n, p in self.model.named_parameters() if p.requires_grad}

    def grammar_mask(self, turn: Turn) -> tuple[Any, Any]:
        """The allowed tokens at each reply position (a boolean [n, vocab] mask, cached on
        the turn), and which positions had a choice. The grammar's mask is replayed from the
        recorded schema; a token jump-forward wrote (`Turn.written`) is allowed alone
        (probability 1, no gradient), as generation gave the model no choice there."""
        if turn.mask is None:
            xgr, torch = self.client._xgr, self.torch
            ids = turn.completion_ids
            n = int(ids.shape[0])
            written = (
                turn.written.bool()
                if turn.written is not None
                else torch.zeros(n, dtype=torch.bool)
            )
            words = xgr.allocate_token_bitmask(max(1, n), self.vocab)
            words.fill_(-1)
            if turn.schema is not None:
                matcher = xgr.GrammarMatcher(self.client._grammar(turn.schema))
                for i, (tok, wrote) in enumerate(zip(ids.tolist(), written.tolist(), strict=True)):
                    if not wrote:
                        matcher.fill_next_token_bitmask(words, i)
                    if not matcher.accept_token(int(tok)):
                        words[i:].fill_(-1)  # off the grammar (cut off): the rest unconstrained
                        break
            bias = torch.zeros(n, self.vocab)
            xgr.apply_token_bitmask_inplace(bias, words[:n])
            allowed = torch.isfinite(bias)
            at = written.nonzero()[:, 0]
            allowed[at] = False
            allowed[at, ids[at]] = True
            turn.mask = (allowed, allowed.sum(-1) > 1)
        return turn.mask

    def free_tokens(self, turn: Turn) -> int:
        """How many of a reply's tokens the grammar left a choice for."""
        return int(self.grammar_mask(turn)[1].sum())

    def batch_logprobs(
        self,
        turns: list[Turn],
        temperature: float,
        reference: bool = False,
        prefix: Prefix | None = None,
    ) -> list[tuple[Any, Any]]:
        """Per turn, the log-probabilities of its reply's tokens under the constrained
        policy (with grad, or from the base model without the adapter when `reference`) and
        a mask of the positions where the grammar left a choice; all turns in one forward
        pass. `prefix`: the turns' common first prompt tokens, already run through the
        model, whose keys and values every row attends to instead of computing them again.

        Rows are laid out as generation lays them out, left-padded after the prefix
        (`[prefix][pad...][rest of prompt][reply]`), so every reply ends at the last column
        and only the last columns' logits are computed."""
        from trl.trainer.utils import selective_log_softmax

        torch = self.torch
        start = prefix.length if prefix is not None else 0
        rows = [torch.cat([t.prompt_ids[start:], t.completion_ids]) for t in turns]
        ids, mask, positions = left_padded(rows, start, torch)
        keep = max(int(t.completion_ids.shape[0]) for t in turns) + 1
        args: dict[str, Any] = {
            "input_ids": ids.to(self.client.device),
            "attention_mask": mask.to(self.client.device),
            "position_ids": positions.to(self.client.device),
            "logits_to_keep": keep,
        }
        if prefix is not None:
            args[self.client.cache_arg] = self.client.shared_cache(prefix.leaves, len(rows))
        if reference:
            with torch.no_grad(), self.model.disable_adapter():
                logits = self.model(**args).logits
        else:
            logits = self.model(**args).logits
        out = []
        for i, turn in enumerate(turns):
            n = int(turn.completion_ids.shape[0])
            allowed, free = self.grammar_mask(turn)
            row = logits[i, keep - 1 - n : keep - 1].float()  # position t predicts token t
            row = row.masked_fill(~allowed.to(row.device), float("-inf"))
            reply = turn.completion_ids.to(row.device)
            out.append((selective_log_softmax(row, reply, temperature), free.to(row.device)))
        return out

    def prefix(self, ids: Any, reference: bool = False) -> Prefix:
        """The keys and values of `ids` (a shared prompt opening), with grad unless
        `reference` (`Prefix`)."""
        torch = self.torch
        inputs = ids[None].to(self.client.device)
        if reference:
            with torch.no_grad(), self.model.disable_adapter():
                cache = self.model(input_ids=inputs, use_cache=True).past_key_values
        else:
            cache = self.model(input_ids=inputs, use_cache=True).past_key_values
        kv = [(layer.keys, layer.values) for layer in cache.layers]
        return Prefix(int(ids.shape[0]), kv, torch)

    def state(self) -> dict[str, Any]:
        """What resuming needs beside the adapter: AdamW's moments and the next seed."""
        return {"optimizer": self.optimizer.state_dict(), "next_seed": self.next_seed}

    def restore(self, adapter: str | Path, state: dict[str, Any]) -> None:
        """Load a checkpoint's adapter weights into this adapter (the same parameters, so
        the optimizer keeps them) and its `state`."""
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        weights = load_file(str(Path(adapter) / "adapter_model.safetensors"))
        result: Any = set_peft_model_state_dict(self.model, weights)
        missing = [k for k in result.missing_keys if "lora_" in k]
        if missing or result.unexpected_keys:
            raise ValueError(f"{adapter}: does not fit this adapter ({missing[:3]})")
        self.optimizer.load_state_dict(state["optimizer"])
        self.next_seed = int(state["next_seed"])

    def save(self, path: str | Path) -> Path:
        """The adapter as a peft folder (`adapter_config.json`, `adapter_model.safetensors`);
        `--option llm.adapter=PATH` loads it into the transformers backend."""
        out = Path(path)
        self.model.save_pretrained(str(out))
        return out


class Prefix:
    """A prompt opening's keys and values, run through the model once and attended to by
    every row of later batches. Rows see detached leaf copies (`leaves`): their backward
    passes accumulate the gradient at the leaves, and `backward` carries it through the
    opening's own graph once, however many batches used it."""

    def __init__(self, length: int, kv: list[tuple[Any, Any]], torch: Any) -> None:
        self.length, self.kv, self.torch = length, kv, torch
        self.leaves = [
            (k.detach().requires_grad_(k.requires_grad), v.detach().requires_grad_(v.requires_grad))
            for k, v in kv
        ]

    def backward(self) -> None:
        pairs = [
            (out, leaf.grad)
            for (k, v), (lk, lv) in zip(self.kv, self.leaves, strict=True)
            for out, leaf in ((k, lk), (v, lv))
            if leaf.grad is not None
        ]
        if pairs:
            outs, grads = zip(*pairs, strict=True)
            self.torch.autograd.backward(list(outs), grad_tensors=list(grads))


def completion_text(turn: Turn, policy: Policy) -> str:
    """A recorded reply as text (for logs)."""
    return str(policy.client._tok.decode(turn.completion_ids, skip_special_tokens=True))
