"""Recorded completions, replayed exactly: deterministic tests and re-runs without a model.

A cassette is a JSONL file, one line per request: `{"key", "request", "completion"}`, keyed by
a hash of messages + schema + sampling (`request_key`). Each line is flushed as it is written,
so a run that dies keeps every completion it got.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from agent.llm.base import (
    Completion,
    JSONSchema,
    LLMClient,
    LLMError,
    Message,
    request_key,
    with_defaults,
)

log = logging.getLogger(__name__)
Mode = Literal["record", "replay", "auto"]


class CassetteMiss(LLMError):
    """Replay was asked for a request the cassette never recorded."""


class CassetteClient:
    """Wraps a backend: `record` calls it and files every completion, `replay` answers only
    from the file (a miss is a `CassetteMiss` naming the key), `auto` replays what it has and
    records the rest."""

    backend = "cassette"

    def __init__(
        self,
        path: str | Path,
        inner: LLMClient | Callable[[], LLMClient] | None = None,
        mode: Mode = "replay",
    ) -> None:
        if mode not in ("record", "replay", "auto"):
            raise ValueError(f"cassette mode must be record, replay or auto, not {mode!r}")
        if mode != "replay" and inner is None:
            raise ValueError(f"cassette mode {mode!r} needs a backend to record from")
        self.path = Path(path)
        self.mode = mode
        self._inner = inner
        self._client: LLMClient | None = None
        self.entries: dict[str, Completion] = {}
        if self.path.exists():
            self._load()
        elif mode == "replay":
            raise LLMError(f"no cassette at {self.path}", backend="cassette")
        self.model = next(iter(self.entries.values())).model if self.entries else ""

    def __repr__(self) -> str:
        return f"CassetteClient(path={str(self.path)!r}, mode={self.mode!r})"

    def _load(self) -> None:
        for n, line in enumerate(self.path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                self.entries[entry["key"]] = Completion.from_dict(entry["completion"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise LLMError(
                    f"{self.path}:{n}: bad cassette line ({exc})", backend="cassette"
                ) from None

    def inner(self) -> LLMClient:
        if self._client is None:
            if self._inner is None:
                raise LLMError("replay-only cassette has no backend", backend="cassette")
            self._client = self._inner() if callable(self._inner) else self._inner
            self.model = self._client.model
        return self._client

    def room(self, messages: list[Message]) -> int | None:
        """The recording backend's `room` (None when replaying: prompts are replayed as they
        were recorded, fitted or not)."""
        if self.mode == "replay" or (self.mode == "auto" and self._client is None):
            return None
        fn = getattr(self.inner(), "room", None)
        return fn(messages) if callable(fn) else None

    def complete(
        self, messages: list[Message], schema: JSONSchema | None = None, **sampling: Any
    ) -> Completion:
        key = request_key(messages, schema, with_defaults(sampling))
        if self.mode != "record" and key in self.entries:
            return self.entries[key]
        if self.mode == "replay":
            raise CassetteMiss(
                f"no recorded completion for key {key} in {self.path} "
                f"({len(self.entries)} recorded); record it with cassette_mode='record'",
                backend="cassette",
            )
        done = self.inner().complete(messages, schema, **sampling)
        self.entries[key] = done
        request = {"messages": messages, "schema": schema, "sampling": with_defaults(sampling)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            line = {"key": key, "request": request, "completion": done.to_dict()}
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
            f.flush()
        log.debug("cassette %s: recorded %s", self.path, key)
        return done
