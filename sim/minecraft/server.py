"""The bundled local server: flying-squid (Node) for tests and `start_server=True`.

flying-squid is a small Minecraft server in JavaScript. It speaks the real protocol, but it
lacks two things a survival agent needs, and the test server stands in for both honestly:

- crafting and furnace windows (the server never answers a window click): the test server
  carries a plugin with `/craft` and `/smelt` commands that it announces on join; the sidecar
  uses them only on a server that announced them, and clicks real windows everywhere else;
- harvest tools: flying-squid drops a block's item whatever the tool (stone dug by hand
  drops cobblestone). The world's trace still says whether the tool was the right one.

Its generator grows no trees, so `testserver.js` plants them with /setblock commands, at
places drawn from the seed, around a fixed spawn at (0, 5, 0) on a superflat world.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sim.minecraft.sidecar import spawn_node, stop_process, wait_line


def free_port() -> int:
    """A TCP port nobody listens on right now (for a private test server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalServer:
    """A flying-squid server on 127.0.0.1; `start()` returns once players may join."""

    port: int = 0
    version: str = "1.16.5"
    seed: int = 0
    trees: int = 8
    plugin: bool = True
    cook_ms: int = 10_000
    start_timeout: float = 30.0
    info: dict[str, Any] = field(default_factory=dict)
    _proc: subprocess.Popen[bytes] | None = None
    _log: deque[str] = field(default_factory=lambda: deque(maxlen=200))

    def start(self) -> LocalServer:
        if self._proc is not None and self._proc.poll() is None:
            return self
        self.port = self.port or free_port()
        args = ["--port", str(self.port), "--version", self.version, "--seed", str(self.seed)]
        args += ["--trees", str(self.trees), "--cook-ms", str(self.cook_ms)]
        if not self.plugin:
            args.append("--no-plugin")
        self._proc = spawn_node("testserver.js", args)
        # flying-squid logs a lot: drain it, or a full pipe would stall the server
        threading.Thread(target=self._drain, daemon=True).start()
        try:
            self.info = wait_line(self._proc, "ready", self.start_timeout)
        except (TimeoutError, RuntimeError) as exc:
            self.stop()
            raise RuntimeError(
                f"the local flying-squid server did not start on 127.0.0.1:{self.port}: {exc}; "
                f"log: {' | '.join(list(self._log)[-5:])}"
            ) from None
        return self

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None

    def _drain(self) -> None:
        proc = self._proc
        if proc is None or proc.stderr is None:
            return
        for raw in proc.stderr:
            self._log.append(raw.decode(errors="replace").rstrip())

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
