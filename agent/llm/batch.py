"""Several chat requests decoded side by side in one llama.cpp context (issue 31).

A 135M model on a CPU spends most of a decode step reading its weights; a batch of sequences
reads them once per step for all. `BatchDecoder` keeps one llama.cpp context with a sequence
(a slot) per request: each step it evaluates every active request's next tokens in one
`llama_decode` call and lets each request's jump-forward automaton pick its token from its own
logits (`_JumpDecoder.reply`, the same code a single request runs). A slot keeps its tokens
between calls, so the next request in the slot (the same episode's next plan call) reuses the
prompt opening it shares with the last, as the single-request path does.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.llm.jump import Automaton
from agent.llm.prefix_cache import PrefixCache, shared

log = logging.getLogger(__name__)


@dataclass
class _Slot:
    tokens: list[int] = field(default_factory=list)  # what the slot's sequence holds


class BatchDecoder:
    """One llama.cpp context of `slots` sequences of up to `n_ctx` tokens each, on the model
    of `llm` (a `llama_cpp.Llama`, whose vocabulary `decoder` read)."""

    def __init__(
        self,
        llm: Any,
        decoder: Any,
        slots: int,
        n_ctx: int,
        n_threads: int,
        cache: PrefixCache | None = None,
    ) -> None:
        import llama_cpp

        self.lib, self.llm, self.decoder, self.cache = llama_cpp, llm, decoder, cache
        self.slots, self.n_ctx = slots, n_ctx
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = slots * n_ctx
        params.n_batch = slots * n_ctx  # a call may evaluate every slot's whole prompt
        params.n_seq_max = slots
        # as the single-request context: `n_threads` for decode steps, and llama-cpp-python's
        # own choice (every core) for evaluating prompts
        params.n_threads = n_threads
        params.n_threads_batch = int(getattr(llm, "n_threads_batch", n_threads))
        params.kv_unified = True  # one cache: a slot may use what the others leave
        # the single-request context's attention, so that the prefix cache's files (its state
        # after a prompt's opening, V laid out as that attention keeps it) load in either
        params.flash_attn_type = llm.context_params.flash_attn_type
        from llama_cpp._utils import suppress_stdout_stderr

        with suppress_stdout_stderr(disable=bool(llm.verbose)):  # as llama-cpp-python's own
            self.ctx = llama_cpp.llama_init_from_model(llm._model.model, params)
        if not self.ctx:
            raise RuntimeError(f"llama.cpp could not make a context of {slots} sequences")
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.batch = llama_cpp.llama_batch_init(slots * n_ctx, 0, 1)
        self.state = [_Slot() for _ in range(slots)]
        self.loaded = 0  # tokens of the last run's opening the prefix cache's file gave
        self.n_vocab = decoder.n_vocab

    def close(self) -> None:
        if self.ctx:
            self.lib.llama_batch_free(self.batch)
            self.lib.llama_free(self.ctx)
            self.ctx = None

    def __del__(self) -> None:
        self.close()

    def run(
        self,
        requests: Sequence[tuple[list[int], Automaton, dict[str, Any]]],
        head: list[int] | None = None,
    ) -> list[tuple[str, int]]:
        """(reply text, completion tokens) for each (prompt tokens, automaton, sampling), each
        request in the slot whose cache shares most of its prompt (an episode's next call
        finds the slot its last one left). `head`: an opening of the prompts (the system
        message and the worked examples) whose state the prefix cache may hold."""
        if len(requests) > self.slots:
            raise ValueError(f"{len(requests)} requests for {self.slots} slots")
        order = self._slots_for([prompt for prompt, _, _ in requests])
        done = self._run([(order[i], *r) for i, r in enumerate(requests)], head or [])
        return [done[order[i]] for i in range(len(requests))]

    def _slots_for(self, prompts: list[list[int]]) -> list[int]:
        """A slot per prompt: the free one sharing the longest prefix with it, longest first."""
        pairs = sorted(
            (
                (shared(self.state[j].tokens, p), i, j)
                for i, p in enumerate(prompts)
                for j in range(self.slots)
            ),
            reverse=True,
        )
        slot: dict[int, int] = {}
        used: set[int] = set()
        for _, i, j in pairs:
            if i not in slot and j not in used:
                slot[i] = j
                used.add(j)
        return [slot[i] for i in range(len(prompts))]

    def _run(
        self,
        requests: Sequence[tuple[int, list[int], Automaton, dict[str, Any]]],
        head: list[int],
    ) -> dict[int, tuple[str, int]]:
        """Replies by slot for (slot, prompt tokens, automaton, sampling)."""
        replies: dict[int, Generator[list[int], Any, tuple[str, int]]] = {}
        wanted: dict[int, list[int]] = {}
        done: dict[int, tuple[str, int]] = {}
        for _, prompt, _, _ in requests:
            if len(prompt) >= self.n_ctx:
                raise ValueError(
                    f"Requested tokens ({len(prompt)}) exceed context window of {self.n_ctx}"
                )
        self._share_opening({i: prompt for i, prompt, _, _ in requests}, head)
        for i, prompt, automaton, params in requests:
            slot = self.state[i]
            keep = min(shared(slot.tokens, prompt), len(prompt) - 1)
            self.lib.llama_memory_seq_rm(self.memory, i, keep, -1)
            slot.tokens = slot.tokens[:keep]
            reply = self.decoder.reply(prompt[keep:], keep, self.n_ctx, automaton, params)
            try:
                wanted[i] = next(reply)
                replies[i] = reply
            except StopIteration as stop:
                done[i] = stop.value
        while replies:
            last = self._decode(wanted)
            for i in list(replies):
                logits = np.ctypeslib.as_array(
                    self.lib.llama_get_logits_ith(self.ctx, last[i]), shape=(self.n_vocab,)
                )
                try:
                    wanted[i] = replies[i].send(logits)
                except StopIteration as stop:
                    done[i] = stop.value
                    del replies[i], wanted[i]
        return done

    def _share_opening(self, prompts: dict[int, list[int]], head: list[int]) -> None:
        """The opening all prompts (by slot) share (the system message, the worked examples)
        evaluated once, in the slot that holds most of it already, and shared with every slot
        holding less (`llama_memory_seq_cp`: one cache, the cells are shared, not copied).
        Where `head` begins that opening, its state comes from the prefix cache's file (and
        goes to it where no file holds it yet), as a single request's opening does."""
        self.loaded = 0
        if len(prompts) < 2:
            return
        first = next(iter(prompts.values()))
        n = min(len(p) for p in prompts.values()) - 1  # each slot evaluates one token at least
        for p in prompts.values():
            n = min(n, shared(first, p))
        if n <= 0:
            return
        opening = first[:n]
        have = {i: min(shared(self.state[i].tokens, opening), n) for i in prompts}
        lead = max(have, key=lambda i: have[i])
        slot = self.state[lead]
        if have[lead] < n:
            self.lib.llama_memory_seq_rm(self.memory, lead, have[lead], -1)
            slot.tokens = slot.tokens[: have[lead]]
            if (
                self.cache is not None
                and have[lead] < len(head) <= n
                and shared(head, opening) == len(head)
            ):
                had_file = self.cache.path(head).exists()
                if self.cache.load(self.ctx, lead, head):
                    slot.tokens, self.loaded = list(head), len(head)
                else:  # read it here (on from what the slot holds), once, for later runs too
                    if had_file:
                        slot.tokens = []  # a file that would not load leaves the slot empty
                    for start in range(len(slot.tokens), len(head), self.n_ctx):
                        self._decode({lead: head[start : start + self.n_ctx]}, logits=False)
                    self.cache.save(self.ctx, lead, head)
                have[lead] = len(slot.tokens)
            for start in range(have[lead], n, self.n_ctx):  # (the batch holds n_ctx tokens)
                self._decode({lead: opening[start : min(n, start + self.n_ctx)]}, logits=False)
        for i in prompts:
            if i != lead and have[i] < n:
                self.lib.llama_memory_seq_rm(self.memory, i, 0, -1)
                self.lib.llama_memory_seq_cp(self.memory, lead, i, 0, n)
                self.state[i].tokens = list(opening)

    def _decode(self, wanted: dict[int, list[int]], logits: bool = True) -> dict[int, int]:
        """Evaluate each slot's tokens in one call; where each slot's last token stands (its
        logits are kept, unless `logits` is false)."""
        b, n, last = self.batch, 0, {}
        for i, tokens in wanted.items():
            slot = self.state[i]
            for j, token in enumerate(tokens):
                b.token[n] = token
                b.pos[n] = len(slot.tokens) + j
                b.n_seq_id[n] = 1
                b.seq_id[n][0] = i
                b.logits[n] = logits and j == len(tokens) - 1
                n += 1
            slot.tokens.extend(tokens)
            last[i] = n - 1
        b.n_tokens = n
        code = self.lib.llama_decode(self.ctx, b)
        if code != 0:
            raise RuntimeError(f"llama_decode failed ({code}) on {n} tokens")
        return last
