"""A call with a time and memory limit, in a forked child process.

The engine's planner (fast-downward's optimal search, in C) can run away on a large scene:
minutes and gigabytes for two objects to place among thirty receptacles. A forked child
inherits the engine's state, plans, and sends the plan back; past the limit it is killed.
Where there is no `fork`, the call runs in-process, unbounded.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class Exceeded(Exception):
    """The call ran past its time or memory limit."""


def bounded(fn: Callable[[], T], seconds: float, memory_mb: int = 3000) -> T:
    """`fn()` in a forked child: its result, or `Exceeded` past `seconds`, or when it maps
    more than `memory_mb` beyond what the process already had mapped when it forked.

    The limit is on the child's address space (`RLIMIT_AS`), counted from the fork: a parent
    that already maps gigabytes (torch and a loaded model map several, mostly never touched)
    must not leave the child unable to load the planner's shared library."""
    if not hasattr(os, "fork"):
        return fn()
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(fn, memory_mb, send), daemon=True)
    child.start()
    send.close()
    try:
        if not recv.poll(seconds):
            raise Exceeded(f"ran past {seconds:g} s")
        ok, value = recv.recv()
    except EOFError:
        raise Exceeded(f"ran out of its {memory_mb} MiB") from None
    finally:
        child.kill()
        child.join()
        recv.close()
    if not ok:
        raise value
    result: T = value
    return result


def mapped_bytes() -> int:
    """This process's virtual address space now, in bytes (0 where /proc is absent)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[0])
    except OSError:
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def _child(fn: Callable[[], Any], memory_mb: int, send: Any) -> None:
    import resource

    limit = mapped_bytes() + memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        send.send((True, fn()))
    except MemoryError:
        send.close()
    except Exception as exc:  # the caller re-raises it
        send.send((False, exc))
