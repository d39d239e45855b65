"""A Hugging Face model from a local path, decoding constrained by xgrammar.

For models that have no GGUF, or for comparing llama.cpp against the reference implementation.
`model` is a local model folder, or a `.gguf` file: transformers dequantizes a GGUF on load,
which is slow, so the result is cached once as safetensors (under `cache_dir`, by default
`$STEVE_CACHE` or `~/.cache/steve-evolving`) and later loads read the cache. Nothing is fetched
from a hub. torch, transformers and xgrammar are imported only here (install torch first, then
`pip install transformers gguf` and `pip install --no-deps xgrammar`). `adapter` is a peft
LoRA adapter folder (what `steve train` writes, `agent/rl`), merged into the weights on load.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from agent.llm.base import Completion, JSONSchema, LLMError, Message, default_cache, with_defaults
from agent.llm.local import default_threads, resolve_model
from agent.llm.repair import parse_json

log = logging.getLogger(__name__)
HINT = "pip install torch==2.13.0 transformers gguf && pip install --no-deps xgrammar"


def dequantized_dir(gguf: Path, cache_dir: Path) -> Path:
    """Where a GGUF's dequantized safetensors copy lives (one per file content)."""
    st = gguf.stat()
    tag = hashlib.sha256(f"{gguf.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
    return cache_dir / "from-gguf" / f"{gguf.stem}-{tag[:10]}"


def common_prefix(prompts: Sequence[Any]) -> int:
    """How many first tokens all prompts (1-D id tensors) share, leaving each at least its
    last token (whose logits predict the reply's first)."""
    limit = min(int(p.shape[0]) for p in prompts) - 1
    first = prompts[0]
    for p in prompts[1:]:
        if limit <= 0:
            return 0
        limit = int((p[:limit] == first[:limit]).int().cumprod(0).sum())
    return max(0, limit)


def left_padded(rows: Sequence[Any], opening: int, torch: Any) -> tuple[Any, Any, Any]:
    """Token rows that follow a shared `opening` (already in the cache), as one batch:
    ids left-padded (every row's last token in the last column), the attention mask over
    opening and rows, and each token's position. Pads are masked out and never attended to,
    so a row computes what it would alone."""
    width = max(int(r.shape[0]) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), opening + width), dtype=torch.long)
    mask[:, :opening] = 1
    for i, r in enumerate(rows):
        ids[i, width - r.shape[0] :] = r
        mask[i, opening + width - r.shape[0] :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, opening:]
    return ids, mask, positions


def contiguous_input(module: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """A forward pre-hook: the module's first input made contiguous (a copy only if strided)."""
    return (args[0].contiguous(), *args[1:])


@dataclass
class Request:
    """One chat request of a batch (`TransformersClient.generate_batch`)."""

    messages: list[Message]
    schema: JSONSchema | None = None
    max_tokens: int = 128


class Generation(NamedTuple):
    """One request's result from `TransformersClient.generate_batch`."""

    completion: Completion
    prompt_ids: Any  # 1-D token ids
    reply_ids: Any  # 1-D token ids, ending with the stop token when one was generated
    written: Any  # 1-D bool, per reply token: written by jump-forward (no choice), not sampled


class TransformersClient:
    """A causal LM through transformers; `complete` is one greedy (or sampled) generation."""

    backend = "transformers"

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        *,
        cache_dir: str | None = None,
        device: str = "cpu",
        seed: int = 0,
        n_threads: int | None = None,
        adapter: str | None = None,
        dtype: str = "float32",
        jump: bool = True,
    ) -> None:
        if base_url:
            raise LLMError("the transformers backend takes no base_url", backend="transformers")
        try:  # typed as Any: these are optional, and their stubs differ between versions
            torch: Any = importlib.import_module("torch")
            transformers: Any = importlib.import_module("transformers")
            xgrammar: Any = importlib.import_module("xgrammar")
        except ImportError as exc:
            raise LLMError(f"{exc.name} is missing: {HINT}", backend="transformers") from exc
        self._torch, self._xgr, self._transformers = torch, xgrammar, transformers
        torch.set_num_threads(n_threads or default_threads())
        source = Path(model).expanduser() if model else resolve_model(None)
        if not source.exists():
            raise LLMError(f"no model at {source}", backend="transformers")
        self.model = source.name
        self.device = device
        self.seed = seed
        self.jump = bool(jump)
        self.forwards = 0  # decoding forward passes so far (prompts not counted)
        t0 = time.perf_counter()
        folder = self._materialize(source, Path(cache_dir) if cache_dir else default_cache())
        auto_tok, auto_lm = transformers.AutoTokenizer, transformers.AutoModelForCausalLM
        self._tok = auto_tok.from_pretrained(folder, local_files_only=True)
        weights = getattr(torch, dtype, None)
        if not isinstance(weights, torch.dtype):
            raise LLMError(f"dtype {dtype!r} is not a torch dtype", backend="transformers")
        lm = auto_lm.from_pretrained(folder, local_files_only=True, dtype=weights)
        self._lm = lm.to(device).eval()
        if adapter:
            self._lm = self._merge_adapter(Path(adapter).expanduser())
            self.model = f"{self.model}+{Path(adapter).name}"
        # the output layer reads the last positions of the hidden states (`logits_to_keep`), a
        # strided view whenever more than one token was fed; torch's matmul then cannot fold
        # the batch into one matrix product and multiplies by a per-row copy of the 49k x 576
        # weight (bf16, 2 threads: 220 ms for a [4, 1, 576] view, 4.9 ms contiguous): copy it
        self._lm.get_output_embeddings().register_forward_pre_hook(contiguous_input)
        vocab = getattr(self._lm.config, "vocab_size", None) or len(self._tok)
        info = xgrammar.TokenizerInfo.from_huggingface(self._tok, vocab_size=vocab)
        self._compiler = xgrammar.GrammarCompiler(info)
        self._grammars: dict[str, Any] = {}
        # transformers 5 renamed forward's past_key_values to cache (the old name warns)
        forward = inspect.signature(type(self._lm).forward).parameters
        self.cache_arg = "cache" if "cache" in forward else "past_key_values"
        stops = self._lm.generation_config.eos_token_id
        stops = stops if isinstance(stops, list) else [stops]
        self._stop = [t for t in (*stops, self._tok.eos_token_id) if t is not None]
        log.info("loaded %s in %.2fs", folder, time.perf_counter() - t0)

    def __repr__(self) -> str:
        return f"TransformersClient(model={self.model!r}, device={self.device!r})"

    def _merge_adapter(self, adapter: Path) -> Any:
        """The base model with a trained LoRA adapter merged in: generation then costs what
        the base model's does (an unmerged adapter adds a matmul per layer and token)."""
        if not (adapter / "adapter_config.json").exists():
            raise LLMError(f"{adapter}: not a peft adapter folder", backend="transformers")
        try:
            peft: Any = importlib.import_module("peft")
        except ImportError as exc:
            raise LLMError(
                "an adapter needs peft: pip install peft", backend="transformers"
            ) from exc
        tuned = peft.PeftModel.from_pretrained(self._lm, str(adapter), is_trainable=False)
        return tuned.merge_and_unload().eval()

    def _materialize(self, source: Path, cache_dir: Path) -> Path:
        """A folder transformers loads fast: the model folder itself, or a GGUF's cached copy."""
        if source.is_dir():
            return source
        if source.suffix != ".gguf":
            raise LLMError(
                f"{source}: expected a model folder or a .gguf file", backend="transformers"
            )
        out = dequantized_dir(source, cache_dir)
        if (out / "config.json").exists():
            return out
        transformers = self._transformers

        log.warning("dequantizing %s once into %s (later loads read the cache)", source, out)
        kw = {"gguf_file": source.name}
        tok = transformers.AutoTokenizer.from_pretrained(source.parent, **kw)
        lm = transformers.AutoModelForCausalLM.from_pretrained(source.parent, **kw)
        # the weights are plain tensors once loaded; only the marker says "gguf", and
        # transformers refuses to save a model so marked
        lm.hf_quantizer = None
        if hasattr(lm.config, "quantization_config"):
            del lm.config.quantization_config
        tmp = out.with_name(out.name + ".partial")
        if tmp.exists():
            shutil.rmtree(tmp)
        lm.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        tmp.rename(out)  # a half-written cache is never mistaken for a whole one
        return out

    def _grammar(self, schema: JSONSchema) -> Any:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            if len(self._grammars) > 64:
                self._grammars.clear()
            # properties in the schema's order, compact JSON (fewer tokens to generate)
            self._grammars[key] = self._compiler.compile_json_schema(
                json.dumps(schema), any_whitespace=False
            )
        return self._grammars[key]

    def complete(
        self, messages: list[Message], schema: JSONSchema | None = None, **sampling: Any
    ) -> Completion:
        return self.generate(messages, schema, **sampling)[0]

    def complete_many(
        self, requests: list[tuple[list[Message], JSONSchema | None, dict[str, Any]]]
    ) -> list[Completion]:
        """Several requests in one batch (`generate_batch`) where they sample alike (the same
        temperature and seed), else one after another (the `Batcher`'s entry point)."""
        params = [with_defaults(kw) for _, _, kw in requests]
        alike = {(float(p.get("temperature", 0.0)), int(p.get("seed", self.seed))) for p in params}
        if len(alike) != 1:
            return [self.complete(m, s, **kw) for m, s, kw in requests]
        temperature, seed = alike.pop()
        batch = [
            Request(m, s, int(p.get("max_tokens", 128)))
            for (m, s, _), p in zip(requests, params, strict=True)
        ]
        return [g.completion for g in self.generate_batch(batch, temperature, seed)]

    def generate(
        self, messages: list[Message], schema: JSONSchema | None = None, **sampling: Any
    ) -> Generation:
        """`complete`, with the prompt's and the reply's token ids: what a policy-gradient
        step trains on (`agent.rl.policy`)."""
        params = with_defaults(sampling)
        request = Request(messages, schema, int(params.get("max_tokens", 128)))
        temperature = float(params.get("temperature", 0.0))
        return self.generate_batch([request], temperature, int(params.get("seed", self.seed)))[0]

    def generate_batch(
        self, requests: Sequence[Request], temperature: float = 0.0, seed: int = 0
    ) -> list[Generation]:
        """Several requests decoded side by side in one batch: per request a `Generation`
        (the `Completion`, the prompt's and the reply's token ids, which reply tokens were
        written rather than sampled).

        Decoding a token costs about as much for four rows as for one on a CPU (the weights
        are read once per step), so episodes played side by side (`agent.rl.rollout`) ask
        their next requests together. Each row has its own grammar matcher; a row stops at
        the end of sequence, when its grammar is complete, or at its token cap. Sampling is
        from the whole grammar-masked distribution at `temperature` (no top-k or top-p: the
        policy-gradient loss takes log-probabilities over exactly that distribution), and
        greedy at 0. The reply ids end with the stop token when one was generated.

        With `jump` (the default), what the grammar forces between choices (`", "target":
        "`, the rest of `oak_planks` once `oak_p` is chosen) is not sampled: xgrammar tokenizes
        it (`find_jump_forward_tokens`) and it is read in the same forward pass as the token
        sampled before it, so a forward pass costs one choice, not one token. The policy is
        then "sample the choices, write the structure": `Generation.written` says which
        tokens were written, and the policy gives each probability 1
        (`agent.rl.policy.Policy.grammar_mask`)."""
        torch, xgr = self._torch, self._xgr
        t0 = time.perf_counter()
        prompts = [self._prompt_ids(r.messages) for r in requests]
        rows = len(prompts)
        matchers = [
            xgr.GrammarMatcher(self._grammar(r.schema)) if r.schema is not None else None
            for r in requests
        ]
        replies: list[list[int]] = [[] for _ in requests]
        written: list[list[int]] = [[] for _ in requests]  # the positions jump-forward wrote
        # what the grammar forces before the first choice (`{"plan": [{"verb": "`) is written
        # now and read with the prompt
        live = [
            self._jump(m, reply, w, r.max_tokens)
            for m, reply, w, r in zip(matchers, replies, written, requests, strict=True)
        ]
        # the rows' common opening (system prompt, task, recipes) is read once, not per row
        opening = common_prefix(prompts) if rows > 1 else 0
        cache = self._transformers.DynamicCache()
        if opening:
            with torch.no_grad():
                first = prompts[0][:opening][None].to(self.device)
                self._lm(input_ids=first, **{self.cache_arg: cache}, use_cache=True)
            kv = [(x.keys, x.values) for x in cache.layers]
            cache = self.shared_cache(kv, rows)
        starts = [
            torch.cat([p[opening:], torch.tensor(r, dtype=torch.long)])
            for p, r in zip(prompts, replies, strict=True)
        ]
        ids, mask, positions = left_padded(starts, opening, torch)
        following = positions[:, -1] + 1  # each row's next position
        vocab = int(self._lm.get_output_embeddings().weight.shape[0])
        bitmask = xgr.allocate_token_bitmask(rows, vocab)
        rng = torch.Generator().manual_seed(seed)
        step = {"input_ids": ids, "attention_mask": mask, "position_ids": positions}
        with torch.no_grad():
            for _ in range(max(r.max_tokens for r in requests)):
                if not any(live):
                    break
                out = self._lm(
                    **{k: v.to(self.device) for k, v in step.items()},
                    **{self.cache_arg: cache},
                    use_cache=True,
                    logits_to_keep=1,
                )
                self.forwards += 1
                logits = out.logits[:, -1].float().cpu()
                bitmask.fill_(-1)
                for i, m in enumerate(matchers):
                    if live[i] and m is not None:
                        m.fill_next_token_bitmask(bitmask, i)
                xgr.apply_token_bitmask_inplace(logits, bitmask)
                if temperature > 0:
                    probs = torch.softmax(logits / temperature, dim=-1)
                    chosen = torch.multinomial(probs, 1, generator=rng)[:, 0]
                else:
                    chosen = logits.argmax(-1)
                chunks: list[list[int]] = [[] for _ in requests]
                for i, tok in enumerate(chosen.tolist()):
                    if not live[i]:
                        continue
                    before = len(replies[i])
                    replies[i].append(tok)
                    m = matchers[i]
                    # (a token the matcher refuses cannot come out of the mask: stop anyway);
                    # `_jump` stops a row that its grammar finished or its cap filled
                    refused = m is not None and not m.accept_token(tok)
                    live[i] = not (refused or tok in self._stop) and self._jump(
                        m, replies[i], written[i], requests[i].max_tokens
                    )
                    chunks[i] = replies[i][before:]  # the sampled token and what was written
                # next, every live row's new tokens at once (a sampled one and what the grammar
                # forces after it), left-padded in a block of new columns: pads are masked out
                width = max((len(c) for c, on in zip(chunks, live, strict=True) if on), default=0)
                new = torch.zeros((rows, width), dtype=torch.long)
                seen = torch.zeros((rows, width), dtype=torch.long)
                where = following[:, None].repeat(1, width)
                for i, c in enumerate(chunks):
                    if live[i]:
                        new[i, width - len(c) :] = torch.tensor(c, dtype=torch.long)
                        seen[i, width - len(c) :] = 1
                        where[i, width - len(c) :] = following[i] + torch.arange(len(c))
                        following[i] += len(c)
                mask = torch.cat([mask, seen], dim=1)
                step = {"input_ids": new, "attention_mask": mask, "position_ids": where}
        # the batch's time shared among its rows: summed over episodes, it is the time spent
        latency = round((time.perf_counter() - t0) / rows, 4)
        results = []
        for req, prompt, reply, wrote in zip(requests, prompts, replies, written, strict=True):
            new = torch.tensor(reply, dtype=torch.long)
            forced = torch.zeros(len(reply), dtype=torch.bool)
            forced[wrote] = True
            text = self._tok.decode(new, skip_special_tokens=True)
            done = Completion(
                text=text,
                parsed=parse_json(text) if req.schema is not None else None,
                prompt_tokens=int(prompt.shape[0]),
                completion_tokens=len(reply),
                latency_s=latency,
                backend=self.backend,
                model=self.model,
            )
            results.append(Generation(done, prompt, new, forced))
        return results

    def _jump(self, matcher: Any, reply: list[int], written: list[int], cap: int) -> bool:
        """Jump-forward: append to `reply` the tokens the grammar forces next (xgrammar's
        tokenization of the forced text, accepted by the matcher), up to `cap` tokens in all,
        and their positions to `written`; whether the row still needs the model (not
        finished, not full)."""
        if matcher is not None and self.jump:
            for tok in matcher.find_jump_forward_tokens()[: max(0, cap - len(reply))]:
                matcher.accept_token(tok)
                written.append(len(reply))
                reply.append(tok)
        done = matcher is not None and matcher.is_terminated()
        return not done and len(reply) < cap

    def shared_cache(self, kv: Sequence[tuple[Any, Any]], rows: int) -> Any:
        """A cache holding one opening's keys and values for `rows` rows (views, no copies)."""
        data = [(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1)) for k, v in kv]
        return self._transformers.DynamicCache(ddp_cache_data=data)

    def _prompt_ids(self, messages: list[Message]) -> Any:
        out = self._tok.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        return out["input_ids"][0]
