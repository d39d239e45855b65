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
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

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
    ) -> None:
        if base_url:
            raise LLMError("the transformers backend takes no base_url", backend="transformers")
        try:  # typed as Any: these are optional, and their stubs differ between versions
            torch: Any = importlib.import_module("torch")
            transformers: Any = importlib.import_module("transformers")
            xgrammar: Any = importlib.import_module("xgrammar")
            importlib.import_module("xgrammar.contrib.hf")
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
        t0 = time.perf_counter()
        folder = self._materialize(source, Path(cache_dir) if cache_dir else default_cache())
        auto_tok, auto_lm = transformers.AutoTokenizer, transformers.AutoModelForCausalLM
        self._tok = auto_tok.from_pretrained(folder, local_files_only=True)
        self._lm = auto_lm.from_pretrained(folder, local_files_only=True).to(device).eval()
        if adapter:
            self._lm = self._merge_adapter(Path(adapter).expanduser())
            self.model = f"{self.model}+{Path(adapter).name}"
        vocab = getattr(self._lm.config, "vocab_size", None) or len(self._tok)
        info = xgrammar.TokenizerInfo.from_huggingface(self._tok, vocab_size=vocab)
        self._compiler = xgrammar.GrammarCompiler(info)
        self._grammars: dict[str, Any] = {}
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

    def generate(
        self, messages: list[Message], schema: JSONSchema | None = None, **sampling: Any
    ) -> tuple[Completion, Any, Any]:
        """`complete`, with the prompt's and the reply's token ids (1-D tensors): what a
        policy-gradient step trains on (`agent.rl.policy`)."""
        params = with_defaults(sampling)
        torch = self._torch
        t0 = time.perf_counter()
        ids = self._tok.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self.device)
        temperature = float(params.get("temperature", 0.0))
        gen: dict[str, Any] = {"max_new_tokens": int(params.get("max_tokens", 128))}
        if temperature > 0:
            torch.manual_seed(int(params.get("seed", self.seed)))
            gen.update(do_sample=True, temperature=temperature, top_p=params.get("top_p", 1.0))
        else:
            gen.update(do_sample=False)
        if schema is not None:
            gen["logits_processor"] = [self._xgr.contrib.hf.LogitsProcessor(self._grammar(schema))]
        with torch.no_grad():
            out = self._lm.generate(
                **ids, pad_token_id=self._tok.pad_token_id or self._tok.eos_token_id, **gen
            )
        n_in = int(ids["input_ids"].shape[1])
        new = out[0, n_in:]
        text = self._tok.decode(new, skip_special_tokens=True)
        done = Completion(
            text=text,
            parsed=parse_json(text) if schema is not None else None,
            prompt_tokens=n_in,
            completion_tokens=int(new.shape[0]),
            latency_s=round(time.perf_counter() - t0, 4),
            backend=self.backend,
            model=self.model,
        )
        return done, ids["input_ids"][0], new
