"""Any OpenAI-compatible chat endpoint: vLLM, Ollama, llama.cpp's server, OpenAI itself.

Through the `openai` client (the `llm` extra), with our own retry loop so that a failure is
one clear `LLMError` naming the endpoint: 429, 5xx, timeouts, connection errors and replies
that are not a well-formed completion (a body that is not JSON, an HTML page, JSON without
`choices[0].message.content`, a body over `MAX_REPLY_BYTES`) are retried with exponential
backoff; other errors are not. `timeout` bounds the whole call, retries and backoff included:
each attempt gets what is left, and one that is still reading at the deadline (a server that
trickles its reply) is cut there.

Structured output is asked for the way the server offers it (`structured`): `json_schema`
(OpenAI, vLLM, Ollama, llama.cpp's server), `guided_json` (vLLM's extra body), `grammar`
(llama.cpp servers: our prefix-tree GBNF, fast with large enums), `json_object` (with the
schema alongside, as llama-cpp-python's server reads it) or `none`. A server that refuses
the request format gets `none` from then on, and whatever comes back is parsed and, where
trivial, repaired.

The API key comes from the `api_key` option or the environment (`STEVE_API_KEY`, then
`OPENAI_API_KEY`); it is never logged, never part of `repr`, never written to a run directory.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any, Literal, cast

from agent.llm.base import Completion, JSONSchema, LLMError, Message, with_defaults
from agent.llm.gbnf import Unsupported, schema_to_gbnf
from agent.llm.repair import parse_json

log = logging.getLogger(__name__)
Structured = Literal["json_schema", "guided_json", "grammar", "json_object", "none"]
DEFAULT_BASE_URL = "https://api.openai.com/v1"
KEY_ENV = ("STEVE_API_KEY", "OPENAI_API_KEY")
MAX_REPLY_BYTES = 2**21  # a completion body past this is refused (a plan reply is a few KB)


class Malformed(ValueError):
    """A 200 reply that is not a well-formed chat completion (retried like a 5xx)."""


class _Deadline(Exception):
    """The call's deadline passed while an attempt was still waiting or reading."""


class OpenAIClient:
    """A chat-completions client for one endpoint and model."""

    concurrent = True  # safe to call from several threads: the server batches what it gets

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
        text, usage = self._with_retries(messages, schema, params)
        return Completion(
            text=text,
            parsed=parse_json(text) if schema is not None else None,
            prompt_tokens=_tokens(usage, "prompt_tokens"),
            completion_tokens=_tokens(usage, "completion_tokens"),
            latency_s=round(time.perf_counter() - t0, 4),
            backend=self.backend,
            model=self.model,
        )

    def _with_retries(
        self, messages: list[Message], schema: JSONSchema | None, params: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        oa = self._openai
        deadline = time.monotonic() + self.timeout
        attempt = 0
        while True:
            request = {"model": self.model, "messages": messages, **self._request(schema), **params}
            try:
                return self._attempt(request, deadline)
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
            except _Deadline:
                raise self._error(
                    f"no complete reply within {self.timeout:g} s (the timeout bounds the whole"
                    f" call) after {attempt + 1} attempt(s)"
                ) from None
            except (oa.APITimeoutError, oa.APIConnectionError, oa.RateLimitError) as exc:
                why = self._short(exc)
            except oa.APIStatusError as exc:
                if exc.status_code < 500:
                    raise self._error(f"HTTP {exc.status_code}: {self._short(exc)}") from exc
                why = f"HTTP {exc.status_code}"
            except Malformed as exc:
                why = self._redact(f"malformed reply: {exc}")
            if attempt >= self.max_retries:
                raise self._error(f"gave up after {attempt + 1} attempts; last error: {why}")
            delay = min(self.backoff_s * 2**attempt, self.max_backoff_s)
            if time.monotonic() + delay >= deadline:
                raise self._error(
                    f"gave up after {attempt + 1} attempts, at the {self.timeout:g} s timeout"
                    f" of the call; last error: {why}"
                )
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

    def _attempt(self, request: dict[str, Any], deadline: float) -> tuple[str, dict[str, Any]]:
        """One request, in a worker thread so that the deadline holds however the server
        stalls (a socket timeout bounds each read, not the call); the worker stops reading at
        the next chunk once the deadline has passed."""
        box: list[Any] = []
        finished, stop = threading.Event(), threading.Event()

        def work() -> None:
            try:
                box.append(self._post(request, deadline, stop))
            except BaseException as exc:  # handed to the caller, which sorts it
                box.append(exc)
            finally:
                finished.set()

        threading.Thread(target=work, name="openai-request", daemon=True).start()
        if not finished.wait(max(0.0, deadline - time.monotonic())):
            stop.set()
            raise _Deadline
        if isinstance(box[0], BaseException):
            raise box[0]
        return cast(tuple[str, dict[str, Any]], box[0])

    def _post(
        self, request: dict[str, Any], deadline: float, stop: threading.Event
    ) -> tuple[str, dict[str, Any]]:
        left = max(deadline - time.monotonic(), 0.001)
        create = self._client.chat.completions.with_streaming_response.create
        with create(**request, timeout=left) as resp:
            body = bytearray()
            for chunk in resp.iter_bytes():
                if stop.is_set() or time.monotonic() > deadline:
                    raise _Deadline
                body += chunk
                if len(body) > MAX_REPLY_BYTES:
                    raise Malformed(f"the body is over {MAX_REPLY_BYTES:,} bytes")
            kind = resp.headers.get("content-type", "")
        return read_completion(bytes(body), kind)

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def _short(self, exc: Exception) -> str:
        """An error's text, cut short, with the key blanked should a server echo it."""
        text = self._redact(f"{type(exc).__name__}: {exc}")
        return text if len(text) < 300 else text[:297] + "..."


def read_completion(body: bytes, content_type: str = "") -> tuple[str, dict[str, Any]]:
    """The reply text and usage of a chat-completion body; `Malformed` says what is wrong."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        kind = f" ({content_type.split(';')[0]})" if content_type else ""
        raise Malformed(f"the body is not JSON{kind}: {_snippet(body)}") from None
    if not isinstance(data, dict):
        raise Malformed(f"the body is JSON but not an object: {_snippet(body)}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise Malformed(f"no choices[0] in the body: {_snippet(body)}")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise Malformed(f"no choices[0].message in the body: {_snippet(body)}")
    content = message.get("content")
    if not isinstance(content, str):
        got = "missing" if content is None else f"{type(content).__name__}, not a string"
        raise Malformed(f"choices[0].message.content is {got}: {_snippet(body)}")
    usage = data.get("usage")
    return content, usage if isinstance(usage, dict) else {}


def _tokens(usage: dict[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _snippet(body: bytes, n: int = 120) -> str:
    text = body[:n].decode("utf-8", "replace")
    return repr(text) + ("..." if len(body) > n else "")
