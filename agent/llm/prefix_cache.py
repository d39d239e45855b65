"""llama.cpp's state after a prompt's fixed opening, kept on disk from run to run.

Every plan prompt of a world opens the same way: the system prompt and the worked examples,
about 1,000 tokens that take this machine 4 s to read. Within a run llama.cpp keeps them in its
cache; a new run (or a new Ray worker) would read them again. `PrefixCache` saves the model's
state after that opening (`llama_state_seq_save_file`: the KV cache and the tokens, about 23 MB
for 1,000 tokens of SmolLM2) and loads it in a few milliseconds when a later process meets the
same opening.

A file is named by a hash of the model file (path, size, mtime), the context size,
llama-cpp-python's version and the opening's tokens, and is used only if the tokens it holds
are those tokens; one that cannot be read is ignored and written again. Files are written
under a temporary name and renamed, so processes that share the folder never read half a
file; the folder keeps the `KEEP` most recently used.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

KEEP = 8  # files kept in the folder (the most recently used)
MIN_TOKENS = 256  # openings shorter than this are quick to read again: not worth a file


def shared(a: Sequence[int], b: Sequence[int]) -> int:
    """How many tokens two token lists share from the start."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class PrefixCache:
    """Loads and saves one model's state after a prompt's opening tokens."""

    def __init__(self, llm: Any, model: Path, folder: Path) -> None:
        import llama_cpp

        self.llm, self.folder, self._lib = llm, folder, llama_cpp
        st = model.stat()
        self._tag = (
            f"{model.resolve()}|{st.st_size}|{st.st_mtime_ns}|{llm.n_ctx()}|"
            f"{getattr(llama_cpp, '__version__', '?')}"
        )
        self.loaded = 0  # tokens the last `warm` took from a file (0: none)

    def path(self, opening: list[int]) -> Path:
        digest = hashlib.sha256(self._tag.encode())
        digest.update(b"".join(t.to_bytes(4, "little") for t in opening))
        return self.folder / f"{digest.hexdigest()[:24]}.kv"

    def warm(self, prompt: list[int], opening: int) -> None:
        """Before `prompt` is decoded: make sure its first `opening` tokens are in llama.cpp's
        cache, from a file if one holds them, else by reading them and saving the file."""
        llm = self.llm
        self.loaded = 0
        if opening < MIN_TOKENS or opening >= len(prompt):
            return
        head = prompt[:opening]
        cached = shared(llm.input_ids[: min(llm.n_tokens, opening)].tolist(), head)
        if cached == opening:
            return  # already cached in this process
        if self.path(head).exists():
            if self.load(llm._ctx.ctx, 0, head):
                llm.input_ids[: len(head)] = head
                llm.n_tokens = len(head)
                self.loaded = opening
                return
            cached = 0  # the failed load left the sequence empty
        llm.n_tokens = cached
        llm.eval(head[cached:])
        self.save(llm._ctx.ctx, 0, head)

    def load(self, ctx: Any, seq: int, head: list[int]) -> bool:
        """Put the state after `head` in sequence `seq` of a llama.cpp context (emptied first)
        from its file; false (the sequence left empty) where no file holds it."""
        lib = self._lib
        path = self.path(head)
        if len(head) < MIN_TOKENS or not path.exists():
            return False
        memory = lib.llama_get_memory(ctx)
        lib.llama_memory_seq_rm(memory, seq, 0, -1)
        out = (lib.llama_token * len(head))()
        count = ctypes.c_size_t(0)
        try:
            read = lib.llama_state_seq_load_file(
                ctx, str(path).encode(), seq, out, len(head), ctypes.byref(count)
            )
        except OSError as exc:
            log.warning("%s: cannot read the cached prompt state (%s)", path, exc)
            return False
        if not read or count.value != len(head) or list(out) != head:
            log.warning("%s: not a state of this prompt opening; reading the prompt again", path)
            lib.llama_memory_seq_rm(memory, seq, 0, -1)
            return False
        os.utime(path)  # most recently used
        return True

    def save(self, ctx: Any, seq: int, head: list[int]) -> None:
        """Keep the state of sequence `seq` of a context, which holds `head`, in its file."""
        lib = self._lib
        path = self.path(head)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tokens = (lib.llama_token * len(head))(*head)
            done = lib.llama_state_seq_save_file(ctx, str(tmp).encode(), seq, tokens, len(head))
            if not done:
                raise OSError("llama_state_seq_save_file failed")
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("%s: cannot save the prompt state (%s); going on without", path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()
            return
        with contextlib.suppress(OSError):  # another process may be pruning too
            kept = sorted(self.folder.glob("*.kv"), key=lambda p: p.stat().st_mtime, reverse=True)
            for old in kept[KEEP:]:
                old.unlink(missing_ok=True)
