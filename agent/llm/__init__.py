"""LLM backends behind one interface: `complete(messages, schema=None, **sampling)`.

`make_client("local" | "openai" | "transformers" | "cassette", model=..., base_url=...)` builds
one; `LLMError` is what a backend raises when it cannot answer at all.
"""

from __future__ import annotations

from agent.llm.base import BACKENDS, Completion, LLMClient, LLMError, make_client, request_key

__all__ = ["BACKENDS", "Completion", "LLMClient", "LLMError", "make_client", "request_key"]
