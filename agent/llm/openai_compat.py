"""Any OpenAI-compatible chat endpoint: vLLM, Ollama, llama.cpp's server, OpenAI itself.

Through the `openai` client (the `llm` extra), with our own retry loop so that a failure is
one clear `LLMError` naming the endpoint: 429, 5xx, timeouts and connection errors are
retried with exponential backoff; other errors are not. Structured output is asked for the
way the server offers it (`structured`): `json_schema` (OpenAI, vLLM, Ollama, llama.cpp's
server), `guided_json` (vLLM's extra body), `grammar` (llama.cpp servers: our prefix-tree GBNF,
fast with large enums), `json_object` (with the schema alongside, as llama-cpp-python's server
reads it) or `none`. A server that refuses the request format gets `none` from then on, and
whatever comes back is parsed and, where trivial, repaired.

The API key comes from the `api_key` option or the environment (`STEVE_API_KEY`, then
`OPENAI_API_KEY`); it is never logged, never part of `repr`, never written to a run directory.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Literal, cast

from agent.llm.base import Completion, JSONSchema, LLMError, Message, with_defaults
from agent.llm.gbnf import Unsupported, schema_to_gbnf
from agent.llm.repair import parse_json

log = logging.getLogger(__name__)
Structured = Literal["json_schema", "guided_json", "grammar", "json_object", "none"]
DEFAULT_BASE_URL = "https://api.openai.com/v1"
KEY_ENV = ("STEVE_API_KEY", "OPENAI_API_KEY")


class OpenAIClient:
    """A chat-completions client for one endpoint and model."""

    backend = "openai"

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        structured: Structured = "json_schema",
    ) -> None:
        try:
            import openai
        except ImportError as exc:
            raise LLMError(
                "the openai package is missing: pip install 'steve-evolving[llm]'",
                backend="openai",
            ) from exc
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        self.model = model or os.environ.get("STEVE_MODEL") or "gpt-4o-mini"
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.structured: Structured = structured
        key = api_key or next((os.environ[k] for k in KEY_ENV if os.environ.get(k)), None)
        self._secret = key or ""
        # local servers ignore the key, but the client insists on one
        self._client = openai.OpenAI(
            api_key=key or "not-needed", base_url=self.base_url, timeout=timeout, max_retries=0
        )
        self._openai = openai

    def __repr__(self) -> str:
        return (
            f"OpenAIClient(model={self.model!r}, base_url={self.base_url!r}, "
            f"timeout={self.timeout}, max_retries={self.max_retries})"
        )

    def _error(self, message: str) -> LLMError:
        return LLMError(message, backend="openai", endpoint=self.base_url)

    def _request(self, schema: JSONSchema | None) -> dict[str, Any]:
        if schema is None or self.structured == "none":
            return {}
        if self.structured == "json_schema":
            spec = {"name": "reply", "schema": schema, "strict": True}
            return {"response_format": {"type": "json_schema", "json_schema": spec}}
        if self.structured == "guided_json":
            return {"extra_body": {"guided_json": schema}}
        if self.structured == "grammar":
            try:
                return {"extra_body": {"grammar": schema_to_gbnf(schema)}}
            except Unsupported:  # the server converts what our converter does not write
                pass
        return {"response_format": {"type": "json_object", "schema": schema}}

    def complete(
        self, messages: list[Message], schema: JSONSchema | None = None, **sampling: Any
    ) -> Completion:
        params = with_defaults(sampling)
        t0 = time.perf_counter()
        resp = self._with_retries(messages, schema, params)
        choice = resp.choices[0] if resp.choices else None
        text = (choice.message.content if choice is not None else None) or ""
        usage = getattr(resp, "usage", None)
        return Completion(
            text=text,
            parsed=parse_json(text) if schema is not None else None,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            latency_s=round(time.perf_counter() - t0, 4),
            backend=self.backend,
            model=self.model,
        )

    def _with_retries(
        self, messages: list[Message], schema: JSONSchema | None, params: dict[str, Any]
    ) -> Any:
        oa = self._openai
        attempt = 0
        while True:
            try:
                return self._client.chat.completions.create(
                    model=self.model,
                    messages=cast(Any, messages),
                    **self._request(schema),
                    **params,
                )
            except oa.BadRequestError as exc:
                if schema is not None and self.structured != "none":
                    # the server does not take this way of constraining output: read and repair
                    log.warning(
                        "%s rejected structured output (%s); falling back to parse-and-repair",
                        self.base_url,
                        self.structured,
                    )
                    self.structured = "none"
                    continue
                raise self._error(f"bad request: {self._short(exc)}") from exc
            except (oa.APITimeoutError, oa.APIConnectionError, oa.RateLimitError) as exc:
                why = self._short(exc)
            except oa.APIStatusError as exc:
                if exc.status_code < 500:
                    raise self._error(f"HTTP {exc.status_code}: {self._short(exc)}") from exc
                why = f"HTTP {exc.status_code}"
            if attempt >= self.max_retries:
                raise self._error(f"gave up after {attempt + 1} attempts; last error: {why}")
            delay = min(self.backoff_s * 2**attempt, self.max_backoff_s)
            log.warning(
                "%s: %s; retry %d/%d in %.2fs",
                self.base_url,
                why,
                attempt + 1,
                self.max_retries,
                delay,
            )
            time.sleep(delay)
            attempt += 1

    def _short(self, exc: Exception) -> str:
        """An error's text, cut short, with the key blanked should a server echo it."""
        text = f"{type(exc).__name__}: {exc}"
        if self._secret:
            text = text.replace(self._secret, "***")
        return text if len(text) < 300 else text[:297] + "..."
