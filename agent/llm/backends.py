"""The built-in backends, registered by name; each module is imported only when used."""

from __future__ import annotations

from typing import Any

from agent.llm.base import LLMClient, register_backend

# the client class each backend's options (`--option llm.KEY=VALUE`) are passed to: its
# parameters are the backend's option keys (`agent.options` reads them before a run starts)
CLIENT_CLASSES: dict[str, str] = {
    "local": "agent.llm.local:LlamaCppClient",
    "openai": "agent.llm.openai_compat:OpenAIClient",
    "transformers": "agent.llm.hf:TransformersClient",
}


@register_backend("local")
def _local(**opts: Any) -> LLMClient:
    from agent.llm.local import LlamaCppClient

    return LlamaCppClient(**opts)


@register_backend("openai")
def _openai(**opts: Any) -> LLMClient:
    from agent.llm.openai_compat import OpenAIClient

    return OpenAIClient(**opts)


@register_backend("transformers")
def _transformers(**opts: Any) -> LLMClient:
    from agent.llm.hf import TransformersClient

    return TransformersClient(**opts)


@register_backend("cassette")
def _cassette(
    model: str | None = None, base_url: str | None = None, path: str | None = None, **_: Any
) -> LLMClient:
    """Replay only: `path` (or `model`) names the cassette file."""
    from agent.llm.cassette import CassetteClient

    file = path or model
    if not file:
        raise ValueError("the cassette backend needs a cassette file (cassette=PATH or --model)")
    return CassetteClient(file, mode="replay")
