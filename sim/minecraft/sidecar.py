"""The Node sidecar process and its JSON-lines RPC, from the Python side.

One request a line on the sidecar's stdin (`{"id", "method", "params"}`), one reply a line on
its stdout (`{"id", "result"}` or `{"id", "error"}`), and unsolicited event lines (`{"event"}`)
in between. No JavaScript bridge package: a bridge costs a round trip per attribute and can
leave Node running; a line protocol is one round trip per verb and dies with its pipe.

The Node process never outlives this one: it exits when its stdin closes and polls our pid
(`lifeline.js`), and on Linux the kernel also sends it SIGTERM when we die (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SIDECAR_DIR = Path(__file__).with_name("sidecar")
_PR_SET_PDEATHSIG = 1


class SidecarError(RuntimeError):
    """A failed RPC: `kind` is the sidecar's low-level fact (no_path, gui, not_found, timeout,
    not_connected, connect, ...), `trace` what the verb did before it failed."""

    def __init__(
        self,
        kind: str,
        message: str,
        data: dict[str, Any] | None = None,
        trace: list[dict[str, Any]] | None = None,
        ms: float = 0.0,
    ) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message
        self.data = data or {}
        self.trace = trace or []
        self.ms = ms


class SidecarDied(SidecarError):
    """The Node process exited or stopped answering; the world restarts it."""


def node_binary() -> str | None:
    """The `node` executable ($STEVE_NODE, else the one on PATH), or None."""
    return os.environ.get("STEVE_NODE") or shutil.which("node")


def missing_reason() -> str | None:
    """Why the sidecar cannot run here (no node, no node_modules), or None when it can."""
    if node_binary() is None:
        return "node is not installed (Node 18+; the sidecar is tested on Node 20)"
    if not (SIDECAR_DIR / "node_modules" / "mineflayer").is_dir():
        return "the sidecar's Node packages are missing: run `make install-minecraft`"
    return None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """In the child, before exec: a new process group (a terminal's ^C is ours to forward),
    and SIGTERM from the kernel when the parent dies (Linux)."""
    os.setpgid(0, 0)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn_node(script: str, args: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    """Start `node <script> <args>` in the sidecar folder, tied to this process's life."""
    node = node_binary()
    if node is None:
        raise FileNotFoundError("node is not installed")
    env = {**os.environ, "STEVE_PARENT_PID": str(os.getpid())}
    return subprocess.Popen(
        [node, str(SIDECAR_DIR / script), *args],
        cwd=SIDECAR_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=_die_with_parent if os.name == "posix" else None,
    )


def stop_process(proc: subprocess.Popen[bytes], grace: float = 2.0) -> None:
    """Close stdin (the polite way: the script exits), then SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(OSError):
        if proc.stdin is not None:
            proc.stdin.close()
    try:
        proc.wait(grace)
        return
    except subprocess.TimeoutExpired:
        pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(OSError):
            proc.send_signal(sig)
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


class Sidecar:
    """A running `sidecar.js`: `call(method, params, timeout)` and a buffer of events."""

    def __init__(self, start_timeout: float = 20.0) -> None:
        self.proc = spawn_node("sidecar.js")
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._next = 0
        self.events: deque[dict[str, Any]] = deque(maxlen=1000)
        self._stderr: deque[str] = deque(maxlen=50)
        self._ready = threading.Event()
        self.on_event: Callable[[dict[str, Any]], None] | None = None
        threading.Thread(target=self._read, name="sidecar-stdout", daemon=True).start()
        threading.Thread(target=self._drain, name="sidecar-stderr", daemon=True).start()
        if not self._ready.wait(start_timeout):
            self.close()
            raise SidecarDied("start", f"the sidecar did not start in {start_timeout:g} s")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
        """One round trip. Raises SidecarError with the sidecar's error, SidecarDied when the
        process is gone or silent past `timeout` (then it is killed: its state is unknown)."""
        if not self.alive():
            raise SidecarDied("died", f"the sidecar exited ({self._tail()})")
        with self._lock:
            self._next += 1
            rid = self._next
            box: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=1)
            self._replies[rid] = box
        line = json.dumps({"id": rid, "method": method, "params": params or {}}) + "\n"
        try:
            stdin = self.proc.stdin
            if stdin is None:
                raise ValueError("no stdin pipe")
            stdin.write(line.encode())
            stdin.flush()
            reply = box.get(timeout=timeout)
        except (OSError, ValueError) as exc:
            raise SidecarDied("died", f"the sidecar's pipe broke: {exc} ({self._tail()})") from exc
        except queue.Empty:
            self.close()
            raise SidecarDied(
                "timeout", f"the sidecar did not answer {method} within {timeout:g} s"
            ) from None
        finally:
            with self._lock:
                self._replies.pop(rid, None)
        if reply.get("died"):
            raise SidecarDied("died", f"the sidecar exited during {method} ({self._tail()})")
        if "error" in reply:
            err = reply["error"]
            raise SidecarError(
                str(err.get("kind", "internal")),
                str(err.get("message", "")),
                err.get("data") or {},
                err.get("trace") or [],
                float(err.get("ms", 0.0)),
            )
        return reply.get("result")

    def take_events(self) -> list[dict[str, Any]]:
        """The unsolicited events since the last call of this, oldest first."""
        out = []
        while self.events:
            out.append(self.events.popleft())
        return out

    def close(self) -> None:
        stop_process(self.proc)

    # ---- reader threads ---------------------------------------------------------------------
    def _read(self) -> None:
        for raw in self.proc.stdout or ():
            try:
                msg = json.loads(raw)
            except json.JSONDecodeError:
                log.debug("sidecar stdout (not RPC): %r", raw[:200])
                continue
            if "event" in msg and "id" not in msg:
                if msg["event"] == "ready":
                    self._ready.set()
                    continue
                self.events.append(msg)
                if self.on_event is not None:
                    self.on_event(msg)
                continue
            with self._lock:
                box = self._replies.get(msg.get("id"))
            if box is not None:
                box.put(msg)
        with self._lock:  # the process is gone: wake every waiting caller
            for box in self._replies.values():
                with contextlib.suppress(queue.Full):
                    box.put({"died": True})

    def _drain(self) -> None:
        for raw in self.proc.stderr or ():
            text = raw.decode(errors="replace").rstrip()
            if text:
                self._stderr.append(text)
                log.debug("sidecar: %s", text)

    def _tail(self) -> str:
        return " | ".join(list(self._stderr)[-3:]) or f"exit code {self.proc.poll()}"


def wait_line(
    proc: subprocess.Popen[bytes], key: str, timeout: float
) -> dict[str, Any]:  # pragma: no cover - exercised by the integration tests
    """Read `proc`'s stdout until a JSON line with `"event": key`; raise on exit or timeout."""
    box: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def read() -> None:
        for raw in proc.stdout or ():
            try:
                msg = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if msg.get("event") == key:
                box.put(msg)
                return
        box.put(None)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    try:
        msg = box.get(timeout=max(0.1, deadline - time.monotonic()))
    except queue.Empty:
        raise TimeoutError(f"no {key!r} line within {timeout:g} s") from None
    if msg is None:
        raise RuntimeError(f"the process exited (code {proc.wait()}) before {key!r}")
    return msg
