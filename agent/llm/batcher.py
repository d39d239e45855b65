"""LLM requests from episodes played side by side, gathered into batches (issue 31).

Episodes played in threads (`agent.parallel.ThreadPool`) share one `Batcher`. Each episode's
planner calls `complete` as it would on any client and waits; one dispatcher thread gathers the
waiting requests and answers them together: through the client's `complete_many` where it has
one (the local backend decodes them side by side in one llama.cpp context); else concurrently,
at most `size` at a time, to a client marked `concurrent` (an OpenAI-compatible server such as
vLLM or Ollama batches concurrent requests itself); else one at a time. It dispatches as soon
as every episode in play is waiting, or `size` requests are, or the first of them has waited
`wait_s` (an episode busy in its world is not waited for longer than that).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from agent.llm.base import Completion, JSONSchema, LLMClient, Message


@dataclass
class _Request:
    messages: list[Message]
    schema: JSONSchema | None
    sampling: dict[str, Any]
    arrived: float = field(default_factory=time.perf_counter)
    done: threading.Event = field(default_factory=threading.Event)
    result: Completion | None = None
    error: BaseException | None = None


class Batcher:
    """A client for several threads at once over `client` (see the module's doc)."""

    def __init__(self, client: LLMClient, size: int, wait_s: float = 0.25) -> None:
        if size < 1:
            raise ValueError(f"batch size must be at least 1, got {size}")
        self.client, self.size, self.wait_s = client, size, wait_s
        self.backend, self.model = client.backend, client.model
        self._cond = threading.Condition()
        self._queue: list[_Request] = []
        self._members = 0  # threads playing an episode now (each may send one request)
        self._closed = False
        self.batches: list[int] = []  # the size of each batch sent, in order
        self._many = getattr(client, "complete_many", None)
        if callable(getattr(client, "reserve", None)):
            client.reserve(size)  # type: ignore[attr-defined]
        # concurrent requests only to a client that says it takes them (a served model);
        # one at a time to any other (a cassette, transformers in this process)
        lanes = size if getattr(client, "concurrent", False) else 1
        self._pool = None if callable(self._many) else ThreadPoolExecutor(lanes)
        self._thread = threading.Thread(target=self._dispatch, name="batcher", daemon=True)
        self._thread.start()

    def __getattr__(self, name: str) -> Any:  # room, prompt_tokens... of the client
        return getattr(self.client, name)

    def join(self, n: int = 1) -> None:
        """`n` more episodes will send requests (the dispatcher waits for members only):
        a pool joins its jobs before they start, so the first requests wait for each other."""
        with self._cond:
            self._members += n

    def leave(self) -> None:
        """An episode is over."""
        with self._cond:
            self._members -= 1
            self._cond.notify_all()

    @contextmanager
    def member(self) -> Iterator[None]:
        """Around one thread's episode: `join` and `leave`."""
        self.join()
        try:
            yield
        finally:
            self.leave()

    def complete(
        self, messages: list[Message], schema: JSONSchema | None = None, **sampling: Any
    ) -> Completion:
        request = _Request(messages, schema, sampling)
        with self._cond:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            self._queue.append(request)
            self._cond.notify_all()
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        if self._pool is not None:
            self._pool.shutdown()

    # ---- the dispatcher ---------------------------------------------------------------------
    def _dispatch(self) -> None:
        free = 0.0  # when the last batch was answered
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                # wait_s from the first request's arrival or, where it came while the last
                # batch was decoding, from that batch's end: the episodes it answered are
                # stepping their worlds and will ask again, to join this batch
                start = max(self._queue[0].arrived, free)
                while not self._closed and not self._full():
                    left = self.wait_s - (time.perf_counter() - start)
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch, self._queue = self._queue[: self.size], self._queue[self.size :]
            self.batches.append(len(batch))
            self._answer(batch)
            free = time.perf_counter()

    def _full(self) -> bool:
        return len(self._queue) >= min(self.size, max(1, self._members))

    def _answer(self, batch: list[_Request]) -> None:
        try:
            if callable(self._many):
                jobs = [(r.messages, r.schema, r.sampling) for r in batch]
                for r, done in zip(batch, self._many(jobs), strict=True):
                    r.result = done
            else:
                assert self._pool is not None
                futures = [
                    self._pool.submit(self.client.complete, r.messages, r.schema, **r.sampling)
                    for r in batch
                ]
                for r, future in zip(batch, futures, strict=True):
                    try:
                        r.result = future.result()
                    except BaseException as exc:  # the one request's error, to its thread
                        r.error = exc
        except BaseException as exc:  # the batch's error, to every thread in it
            for r in batch:
                r.error = r.error or exc
        for r in batch:
            r.done.set()
