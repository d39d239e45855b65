"""Plan-call latency and tokens/s of the LLM planner: the in-process llama.cpp backend and the
same model behind an OpenAI-compatible server (llama-cpp-python's, started here on 127.0.0.1),
side by side in one run, interleaved call by call so that machine noise hits all alike. Each
configuration has a model instance (a server) of its own, so that each reuses the cached prompt
prefix (system prompt and worked examples) only of its own previous call, as the planner does.

Every call is a real `LLMPlanner.plan` on a CraftWorld state (five tasks, seeds 0-4), with the
same prompt (worked examples, recipe facts) and plan schema for every configuration. The
grammar admits the names of each goal's requirement tree (as the planner runs by default);
`--wide` makes it span every name of the world (1,077), the prompt unchanged:

  local/none         no grammar (the reply is usually not JSON): raw decoding speed
  local/jump         the default: jump-forward decoding (agent.llm.jump): text the schema
                     forces is evaluated in one batch, the model asked only at real choices
  local/prefix-tree  jump off (llm.jump=false): llama.cpp's grammar sampler on our
                     prefix-tree GBNF (agent.llm.gbnf), one forward pass per token
  local/llama.cpp    jump off, llama.cpp's own JSON-schema converter (flat enums),
                     `--stock-rounds`
  local/jump/2t      the default with 2 llama.cpp threads instead of 1 (`--alt-threads`)
  server/prefix-tree openai backend, structured="grammar" (our GBNF in the request body)
  transformers       the transformers backend on the same GGUF (dequantized, xgrammar), with
                     `--transformers` (needs `make install-hf`): jump-forward decoding
                     (xgrammar's forced tokens read in one pass), and with
                     `transformers/no-jump` one forward pass per token
  server/json_object openai backend, structured="json_object" with the schema alongside (the
                     server converts it, or falls back to any JSON), `--stock-rounds`

Reproduce (from the repository root; the server extra is only needed here):

    make install-llm && .venv/bin/pip install -e '.[llm-server]'
    .venv/bin/python benchmarks/llm_bench.py --rounds 3 --stock-rounds 1 [--transformers]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import sim
from agent.llm import Completion, LLMClient, make_client
from agent.llm.base import JSONSchema, Message
from agent.llm.local import resolve_model
from agent.planner.llm import LLMPlanner
from knowledge.schema import Briefing
from sim.schema import Goal, Task, WorldState

console = Console(width=160)
TASKS = [
    ("wooden_pickaxe", {}),
    ("crafting_table", {}),
    ("stick", {"oak_planks": 4}),
    ("wooden_pickaxe", {"oak_planks": 3, "stick": 2, "crafting_table": 1}),
    ("stone_pickaxe", {"wooden_pickaxe": 1, "stick": 2}),
]


@dataclass
class Stats:
    latency: list[float] = field(default_factory=list)
    prompt: list[int] = field(default_factory=list)
    completion: list[int] = field(default_factory=list)
    valid: int = 0


class NoSchema:
    """Wraps a client so that the planner's schema is dropped (the unconstrained baseline)."""

    def __init__(self, inner: LLMClient) -> None:
        self.inner, self.backend, self.model = inner, inner.backend, inner.model

    def complete(
        self, messages: list[Message], schema: JSONSchema | None = None, **sampling: Any
    ) -> Completion:
        return self.inner.complete(messages, None, **sampling)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(model: Path, threads: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--n_ctx", "2048", "--n_threads", str(threads)]
    cmd += ["--verbose", "False"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            raise SystemExit(f"llama_cpp.server exited ({proc.returncode}):\n{err}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("llama_cpp.server did not come up within 120 s")


def states(world: sim.World) -> list[tuple[Task, WorldState]]:
    out = []
    for n, (item, inventory) in enumerate(TASKS):
        task = Task(
            id=f"t{n}",
            instruction=f"Obtain a {item.replace('_', ' ')}.",
            goal=Goal(item=item),
            initial_inventory=inventory,
        )
        out.append((task, world.reset(task, n)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default=None, help="GGUF file (default: the bundled SmolLM2)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds over the 5 prompts")
    ap.add_argument("--stock-rounds", type=int, default=1, help="rounds for llama.cpp's converter")
    ap.add_argument("--threads", type=int, default=1, help="llama.cpp threads (all configs)")
    ap.add_argument("--alt-threads", type=int, default=2, help="one more local config; 0: none")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--no-server", action="store_true", help="skip the server configurations")
    ap.add_argument("--transformers", action="store_true", help="add the transformers backend")
    ap.add_argument(
        "--wide",
        action="store_true",
        help="every name of the world in the grammar, not only the goal's requirement tree",
    )
    args = ap.parse_args()

    model = resolve_model(args.model)
    world = sim.make("craftworld/v1")
    cases = states(world)
    # one model instance per configuration (and one server per server configuration): llama.cpp
    # reuses the cached prefix of the previous prompt, and the worked examples make the shared
    # prefix most of each prompt, so two configurations on one instance would measure each
    # other's cache
    t0 = time.perf_counter()
    local = make_client("local", model=args.model, n_threads=args.threads)
    load_s = time.perf_counter() - t0
    no_jump = {"model": args.model, "n_threads": args.threads, "jump": False}
    clients: dict[str, tuple[LLMClient, int]] = {
        "local/none": (NoSchema(make_client("local", **no_jump)), args.rounds),
        "local/jump": (local, args.rounds),
        "local/prefix-tree": (make_client("local", **no_jump), args.rounds),
        "local/llama.cpp": (
            make_client("local", **no_jump, converter="llama_cpp"),
            args.stock_rounds,
        ),
    }
    if args.alt_threads:
        alt = make_client("local", model=args.model, n_threads=args.alt_threads)
        clients[f"local/jump/{args.alt_threads}t"] = (alt, args.rounds)
    if args.transformers:
        hf = make_client("transformers", model=args.model, n_threads=args.threads)
        clients["transformers"] = (hf, args.rounds)
        clients["transformers/no-jump"] = (make_client("transformers", **no_jump), args.rounds)
    procs: list[subprocess.Popen[bytes]] = []
    stats: dict[str, Stats] = defaultdict(Stats)
    try:
        if not args.no_server:
            for name, mode, rounds in (
                ("prefix-tree", "grammar", args.rounds),
                ("json_object", "json_object", args.stock_rounds),
            ):
                proc, url = start_server(model, args.threads)
                procs.append(proc)
                client = make_client(
                    "openai", model=model.name, base_url=url, structured=mode, timeout=300
                )
                clients[f"server/{name}"] = (client, rounds)
        planners = {
            name: (
                LLMPlanner(c, world, max_tokens=args.max_tokens, narrow=not args.wide),
                rounds,
            )
            for name, (c, rounds) in clients.items()
        }
        for task, state in cases[:1]:  # warm-up: page the weights in, cache the examples
            for planner, _ in planners.values():
                planner.plan(task, state, Briefing())
        for r in range(max(args.rounds, args.stock_rounds)):
            for task, state in cases:
                for name, (planner, rounds) in planners.items():
                    if r >= rounds:
                        continue
                    res = planner.plan(task, state, Briefing())
                    s = stats[name]
                    s.latency.append(res.latency_s)
                    s.prompt.append(res.prompt_tokens)
                    s.completion.append(res.completion_tokens)
                    s.valid += res.error is None
            console.log(f"round {r + 1} done")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
    report(stats, load_s, model, args)


def report(stats: dict[str, Stats], load_s: float, model: Path, args: argparse.Namespace) -> None:
    base = stats["local/jump"]
    base_mean = statistics.mean(base.latency)
    grammar = "every name" if args.wide else "the goal's requirement tree"
    title = f"plan calls: {model.name}, {args.threads} threads, greedy, grammar over {grammar}"
    table = Table(title=title)
    cols = ["config", "calls", "valid", "mean s", "median s", "max s", "prompt tok"]
    cols += ["compl tok", "compl tok/s", "vs local/jump"]
    for col in cols:
        table.add_column(col, justify="left" if col == "config" else "right")
    for name, s in stats.items():
        mean = statistics.mean(s.latency)
        table.add_row(
            name,
            str(len(s.latency)),
            f"{s.valid}/{len(s.latency)}",
            f"{mean:.3f}",
            f"{statistics.median(s.latency):.3f}",
            f"{max(s.latency):.3f}",
            f"{statistics.mean(s.prompt):.0f}",
            f"{statistics.mean(s.completion):.0f}",
            f"{sum(s.completion) / sum(s.latency):.1f}",
            f"{mean / base_mean:.2f}x",
        )
    console.print(table)
    console.print(f"model load (in-process): {load_s:.2f} s; max_tokens {args.max_tokens}")
    console.print(f"load average at the end: {os.getloadavg()}")
    console.print("command: .venv/bin/python benchmarks/llm_bench.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
