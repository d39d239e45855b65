"""RPC latency of the minecraft/v1 world: the Python <-> Node sidecar round trip, and what each
verb costs end to end on the bundled flying-squid server, measured in one run.

    python benchmarks/minecraft_rpc.py --pings 2000 --rounds 3

Needs Node and `make install-minecraft`. It measures:

- `ping` round trips (JSON line out, JSON line back, no Minecraft work): p50 / p99 / mean, on
  an idle sidecar and on one connected to a server (whose packets the same event loop serves);
- `state` (the inventory, position and a scan of the blocks within 16 that matter);
- per verb, over `--rounds` fresh worlds (one episode each: the wooden pickaxe chain): the
  wall time of `world.execute` (a state read before, the verb, a state read after) beside
  the time the verb itself took inside Node, so the difference is the bridge's overhead.
"""

from __future__ import annotations

import argparse
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from typing import Any

from sim.minecraft.server import LocalServer
from sim.minecraft.sidecar import Sidecar, missing_reason, node_binary
from sim.minecraft.world import MinecraftWorld
from sim.schema import Goal, Subgoal, Task

CHAIN = [
    ("mine", "oak_log", 3),
    ("craft", "oak_planks", 12),
    ("craft", "stick", 4),
    ("craft", "crafting_table", 1),
    ("place", "crafting_table", 1),
    ("move_to", "crafting_table", 1),
    ("craft", "wooden_pickaxe", 1),
    ("equip", "wooden_pickaxe", 1),
    ("wait", "seconds", 1),
]


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def pings(
    sc: Sidecar, n: int, method: str = "ping", params: dict[str, Any] | None = None
) -> list[float]:
    for _ in range(min(50, n)):  # warm the JIT and the pipes
        sc.call(method, params)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        sc.call(method, params)
        out.append((time.perf_counter() - t) * 1000)
    return out


def row(name: str, ms: list[float]) -> str:
    return (
        f"| {name} | {len(ms)} | {pct(ms, 0.5):.3f} | {pct(ms, 0.99):.3f} | "
        f"{statistics.fmean(ms):.3f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pings", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    reason = missing_reason()
    if reason is not None:
        sys.exit(f"cannot run: {reason}")
    node = subprocess.run([node_binary() or "node", "--version"], capture_output=True, text=True)
    print(f"command: python {shlex.join(sys.argv)}")
    print(f"python {platform.python_version()}, node {node.stdout.strip()}, {platform.machine()}")

    print("\n| call | n | p50 ms | p99 ms | mean ms |\n|---|---|---|---|---|")
    idle = Sidecar()
    print(row("ping, idle sidecar", pings(idle, args.pings)))
    idle.close()
    with LocalServer(trees=8) as srv:
        sc = Sidecar()
        sc.call("connect", {"port": srv.port}, timeout=30)
        print(row("ping, connected", pings(sc, args.pings)))
        world = MinecraftWorld()
        names = {"names": world._watch}
        print(row("state (scan within 16)", pings(sc, max(50, args.pings // 10), "state", names)))
        sc.close()

    wall: dict[str, list[float]] = defaultdict(list)
    inside: dict[str, list[float]] = defaultdict(list)
    resets: list[float] = []
    task = Task(id="bench", instruction="x", goal=Goal(item="wooden_pickaxe"), max_ticks=10**6)
    world = MinecraftWorld(start_server=True, cook_ms=100)
    try:
        for seed in range(args.rounds):
            t = time.perf_counter()
            world.reset(task, seed)
            resets.append((time.perf_counter() - t) * 1000)
            for verb, target, count in CHAIN:
                calls = world.rpc_calls
                t = time.perf_counter()
                out = world.execute(Subgoal(verb=verb, target=target, count=count))
                ms = (time.perf_counter() - t) * 1000
                if not out.success:
                    print(f"  seed {seed}: {verb} {target} failed: {out.message}")
                    continue
                wall[verb].append(ms)
                inside[verb].append(world.verb_ms)
                wall[f"rpc calls/{verb}"].append(world.rpc_calls - calls)
    finally:
        world.close()
    print(
        f"\nreset (fresh flying-squid, connect, spawn): median {statistics.median(resets):.0f} ms"
        f" over {len(resets)}"
    )
    print(
        "\n| verb | n | execute wall ms (median) | inside Node ms (median) | overhead ms |"
        " RPCs |\n|---|---|---|---|---|---|"
    )
    for verb in dict.fromkeys(v for v, _, _ in CHAIN):
        if not wall[verb]:
            continue
        w, i = statistics.median(wall[verb]), statistics.median(inside[verb])
        n_rpc = statistics.median(wall[f"rpc calls/{verb}"])
        print(f"| {verb} | {len(wall[verb])} | {w:.0f} | {i:.0f} | {w - i:.0f} | {n_rpc:g} |")


if __name__ == "__main__":
    main()
