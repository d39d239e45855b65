"""Continue from a knowledge pack: learn in some worlds, share the knowledge, use it in new ones.

    python scenarios/examples/continue_from_a_pack.py [--out DIR]

1. Run the Wooden suite (world seed 0) with a deliberately fallible planner (`fallible`: the
   symbolic planner with seeded misbeliefs) and the full method; its store fills with
   guardrails and skills.
2. Export them as a knowledge pack: versioned JSON, validated on import, never pickle.
3. Start a fresh store from the pack and run the suite in new worlds (seed 1) with the same
   planner: the agent avoids from the start the mistakes it learned to avoid in the first
   worlds. For comparison, the same episodes also run from an empty store.

The same from the shell:

    steve run wooden --planner fallible --seeds 0 --knowledge a.sqlite
    steve knowledge export a.sqlite wooden.pack.json
    steve knowledge import b.sqlite wooden.pack.json
    steve run wooden --planner fallible --seeds 1 --knowledge b.sqlite
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agent.runner import RunConfig, run_suite
from knowledge.packs import export_pack, import_pack
from knowledge.store import ExperienceStore
from scenarios.loader import resolve_suite


def _run(seed: int, store: Path, out: Path) -> str:
    cfg = RunConfig(
        suite=str(resolve_suite("wooden")),
        planner="fallible",
        seeds=[seed],
        knowledge=str(store),
        out=str(out),
    )
    episodes = run_suite(cfg).episodes
    wins = sum(r.success for r in episodes)
    failed = sum(n for r in episodes for c, n in r.causes.items() if c != "NONE")
    return f"{wins}/{len(episodes)} tasks, {failed} failed attempts on the way"


def main(out: str = "runs/pack_example") -> None:
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    first, second, pack = root / "a.sqlite", root / "b.sqlite", root / "wooden.pack.json"
    print("worlds of seed 0, learning from scratch:", _run(0, first, root))

    store = ExperienceStore(first)
    try:
        print("exported:", export_pack(store, pack))
    finally:
        store.close()
    fresh = ExperienceStore(second)
    try:
        report = import_pack(fresh, pack)
        print(f"imported {report['skills_added']} skills, {report['guardrails_added']} guardrails")
    finally:
        fresh.close()

    print("worlds of seed 1, from the pack:", _run(1, second, root))
    print("worlds of seed 1, from an empty store:", _run(1, root / "empty.sqlite", root))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/pack_example")
    main(ap.parse_args().out)
