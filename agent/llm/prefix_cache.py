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
        path = self.path(head)
        if path.exists() and self._load(path, head):
            self.loaded = opening
            return
        llm.n_tokens = cached
        llm.eval(head[cached:])
        self._save(path, head)

    def _load(self, path: Path, head: list[int]) -> bool:
        lib, llm = self._lib, self.llm
        out = (lib.llama_token * len(head))()
        count = ctypes.c_size_t(0)
        try:
            read = lib.llama_state_seq_load_file(
                llm._ctx.ctx, str(path).encode(), 0, out, len(head), ctypes.byref(count)
            )
        except OSError as exc:
            log.warning("%s: cannot read the cached prompt state (%s)", path, exc)
            return False
        if not read or count.value != len(head) or list(out) != head:
            log.warning("%s: not a state of this prompt opening; reading the prompt again", path)
            llm.n_tokens = 0
            llm._ctx.kv_cache_seq_rm(-1, 0, -1)
            return False
        llm.input_ids[: len(head)] = head
        llm.n_tokens = len(head)
        os.utime(path)  # most recently used
        return True

    def _save(self, path: Path, head: list[int]) -> None:
        lib, llm = self._lib, self.llm
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tokens = (lib.llama_token * len(head))(*head)
            done = lib.llama_state_seq_save_file(
                llm._ctx.ctx, str(tmp).encode(), 0, tokens, len(head)
            )
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
