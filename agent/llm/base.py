"""The one LLM interface: `complete(messages, schema=None, **sampling) -> Completion`.

Every backend (a bundled GGUF through llama.cpp, any OpenAI-compatible endpoint, a Hugging Face
model, a cassette of recorded completions) implements `LLMClient`; planners see only this.
Backends are looked up by name in `BACKENDS` and built by `make_client`, never by if/elif.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

Message = dict[str, str]
JSONSchema = dict[str, Any]

# sampling options every backend understands; anything else is passed through as is
DEFAULT_SAMPLING: dict[str, Any] = {"max_tokens": 128, "temperature": 0.0}


class LLMError(RuntimeError):
    """A backend could not produce a completion (endpoint down, retries spent, model missing,
    a server whose replies are not completions at all, the call's timeout passed).

    The loop catches this to mark an episode errored; malformed model *output* inside a
    well-formed completion is not an LLMError (it comes back as a Completion with
    `parsed=None`, or fails the schema, and planners report PLAN_PARSE_FAIL).
    """

    def __init__(self, message: str, *, backend: str = "", endpoint: str = "") -> None:
        where = " ".join(p for p in (backend, endpoint) if p)
        super().__init__(f"[{where}] {message}" if where else message)
        self.backend = backend
        self.endpoint = endpoint


@dataclass(frozen=True)
class Completion:
    """What one request returned, with what it cost.

    `parsed` is the JSON value of `text` when a schema was asked for and the text could be
    read as JSON (repaired where trivial), else None.
    """

    text: str
    parsed: Any = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    backend: str = ""
    model: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Completion:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class LLMClient(Protocol):
    """Anything that completes chat messages, optionally constrained to a JSON schema."""

    backend: str
    model: str

    def complete(
        self, messages: list[Message], schema: JSONSchema | None = None, **sampling: Any
    ) -> Completion: ...


def request_key(
    messages: list[Message], schema: JSONSchema | None, sampling: dict[str, Any]
) -> str:
    """A stable hash of one request (what a cassette files a completion under)."""
    blob = json.dumps(
        {"messages": messages, "schema": schema, "sampling": sampling},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def default_cache() -> Path:
    """Where backends keep what they derive from a model (`$STEVE_CACHE`, else
    ~/.cache/steve-evolving)."""
    return Path(os.environ.get("STEVE_CACHE", "~/.cache/steve-evolving")).expanduser()


def with_defaults(sampling: dict[str, Any]) -> dict[str, Any]:
    return {**DEFAULT_SAMPLING, **sampling}


ClientFactory = Callable[..., LLMClient]
BACKENDS: dict[str, ClientFactory] = {}


def register_backend(name: str) -> Callable[[ClientFactory], ClientFactory]:
    """Register a backend factory under a name (`local`, `openai`, ...)."""

    def deco(factory: ClientFactory) -> ClientFactory:
        BACKENDS[name] = factory
        return factory

    return deco


def make_client(
    backend: str, *, model: str | None = None, base_url: str | None = None, **opts: Any
) -> LLMClient:
    """Build a client by backend name. `cassette=PATH` (with `cassette_mode` record | replay |
    auto) wraps any backend in a cassette; backend `cassette` alone replays one."""
    from agent.llm import backends  # noqa: F401 - registers the built-in backends

    cassette = opts.pop("cassette", None)
    mode = opts.pop("cassette_mode", "auto")
    if backend not in BACKENDS:
        raise ValueError(f"unknown LLM backend {backend!r}; available: {', '.join(BACKENDS)}")
    if backend == "cassette":
        return BACKENDS[backend](model=model, base_url=base_url, path=cassette, **opts)
    if cassette is not None:
        from agent.llm.cassette import CassetteClient

        # in replay mode the inner backend is never called, so it is never built
        def inner() -> LLMClient:
            return BACKENDS[backend](model=model, base_url=base_url, **opts)

        return CassetteClient(cassette, inner=inner, mode=mode)
    return BACKENDS[backend](model=model, base_url=base_url, **opts)
