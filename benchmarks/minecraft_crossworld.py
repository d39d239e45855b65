"""Knowledge that crosses worlds: a pack distilled in CraftWorld, used as-is on a Minecraft server.

    python benchmarks/minecraft_crossworld.py --misbeliefs-seed 3 --seeds 0,1,2

Needs Node and `make install-minecraft` (the bundled flying-squid server is started per
episode). The planner is `fallible` (the symbolic planner with seeded misbeliefs that only a
briefing corrects; a test fixture, not an LLM), the method `evolving` in both arms:

1. the CraftWorld Wooden suite (every task and seed) from an empty store;
2. `steve knowledge export` of that store to a pack, `steve knowledge import` into a fresh one;
3. the Minecraft task (`scenarios/suites/minecraft/wooden.yaml`, craft_wooden_pickaxe) once
   per seed, each from its own copy of the store: with the pack, and from an empty store.

It prints, per arm, successes, subgoal attempts, failed attempts (by cause), replans, ticks and
wall time, and which of the pack's skills and guardrails the Minecraft runs recalled (their
ids and evidence tuple ids): the items existed only in CraftWorld before the run.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from agent.record import read_trajectory
from knowledge.store import ExperienceStore

ROOT = Path(__file__).resolve().parents[1]
STEVE = str(Path(sys.executable).with_name("steve"))
MC_SUITE = ROOT / "scenarios/suites/minecraft/wooden.yaml"


def steve(*args: str) -> None:
    subprocess.run([STEVE, *args], check=True, stdout=subprocess.DEVNULL, cwd=ROOT)


def run_dir(out: Path) -> Path:
    (found,) = [p for p in out.iterdir() if (p / "episodes.jsonl").exists()]
    return found


def pack_items(store: Path) -> dict[tuple[str, int], str]:
    s = ExperienceStore(store)
    try:
        items = {("skill", k.id): k.name for k in s.skills() if k.id is not None}
        items |= {("guardrail", g.id): g.forbidden for g in s.guardrails() if g.id is not None}
        return items
    finally:
        s.close()


def minecraft_arm(store: Path | None, seed: int, opts: list[str], work: Path) -> dict[str, Any]:
    out = work / f"mc_{'with' if store else 'without'}_{seed}"
    knowledge = out.with_suffix(".sqlite")
    if store is not None:
        shutil.copy(store, knowledge)
    args = [
        "run", str(MC_SUITE), "--tasks", "craft_wooden_pickaxe", "--seeds", str(seed),
        "--planner", "fallible", "--method", "evolving", "--knowledge", str(knowledge),
        "--out", str(out), *opts,
    ]  # fmt: skip
    steve(*args)
    run = run_dir(out)
    (episode,) = [json.loads(line) for line in (run / "episodes.jsonl").read_text().splitlines()]
    recalled: dict[tuple[str, int], list[int]] = {}
    for path in (run / "trajectory").glob("*.jsonl"):
        for line in read_trajectory(path, strict=False):
            for item in line.recalled:
                recalled[(item.kind, item.id)] = list(item.evidence)
    episode["recalled_items"] = recalled
    return dict(episode)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--misbeliefs-seed", type=int, default=3)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--work", type=Path, default=None, help="keep the runs here")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    work = args.work or Path(tempfile.mkdtemp(prefix="crossworld_"))
    work.mkdir(parents=True, exist_ok=True)
    opts = ["--option", f"misbeliefs.seed={args.misbeliefs_seed}"]
    print(f"command: python {shlex.join(sys.argv)}\nruns in {work}")

    steve("run", "wooden", "--planner", "fallible", "--method", "evolving",
          "--out", str(work / "craftworld"), *opts)  # fmt: skip
    cw = run_dir(work / "craftworld")
    pack, store = work / "wooden_pack.jsonl", work / "pack_store.sqlite"
    steve("knowledge", "export", str(cw / "knowledge.sqlite"), str(pack))
    steve("knowledge", "import", str(store), str(pack))
    items = pack_items(store)
    kinds = Counter(k for k, _ in items)
    print(f"CraftWorld pack: {kinds['skill']} skills, {kinds['guardrail']} guardrails ({pack})")

    arms: dict[str, list[dict[str, Any]]] = {"with pack": [], "without": []}
    for seed in seeds:
        arms["with pack"].append(minecraft_arm(store, seed, opts, work))
        arms["without"].append(minecraft_arm(None, seed, opts, work))

    print(
        "\n| arm | episodes | success | attempts | failed attempts | replans | ticks | wall s |"
        "\n|---|---|---|---|---|---|---|---|"
    )
    for name, eps in arms.items():
        fails: Counter[str] = Counter()
        wall = [e["wall_s"] for e in eps]
        for e in eps:
            fails.update({c: n for c, n in e["causes"].items() if c != "NONE"})
        failed = ", ".join(f"{c} {n}" for c, n in fails.most_common()) or "0"
        print(
            f"| {name} | {len(eps)} | {sum(e['success'] for e in eps)}/{len(eps)} | "
            f"{sum(e['steps'] for e in eps)} | {sum(fails.values())} ({failed}) | "
            f"{sum(e['replans'] for e in eps)} | {sum(e['ticks'] for e in eps)} | "
            f"{sum(wall):.1f} (median {statistics.median(wall):.1f}) |"
        )
    print("\nPack items recalled in the Minecraft runs (id: name <- evidence tuple ids):")
    used: dict[tuple[str, int], list[int]] = {}
    for e in arms["with pack"]:
        used |= {k: v for k, v in e["recalled_items"].items() if k in items}
    for (kind, i), evidence in sorted(used.items()):
        print(f"  {kind} {i}: {items[(kind, i)]} <- {evidence[:8]}")
    print(f"{len(used)} of the pack's {len(items)} items recalled")


if __name__ == "__main__":
    main()
