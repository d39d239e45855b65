"""Play single episodes by hand and read each attempt as the typed record the runner writes.

    python scenarios/examples/play_an_episode.py [--out DIR]

`agent.pool.Player` is the episode factory that the runner's pools, the live viewer and the
policy-gradient rollouts all use: a world, a planner, a method, a distiller and a store, built
from a `RunConfig`. Here it plays the Wooden suite's `craft_wooden_pickaxe` twice on seed 0
with the full method (`evolving`) and the symbolic planner, against one experience store
(`DIR/knowledge.sqlite`). Each subgoal attempt reaches the `record` callback as an
`agent.record.TrajectoryLine` (what a run directory's `trajectory/*.jsonl` lines hold, read
back with `agent.record.read_trajectory`): the subgoal, the diagnosis and what recall showed.
The second episode recalls the skills the first one left.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agent.pool import Player
from agent.record import TrajectoryLine
from agent.runspec import RunConfig
from knowledge.store import ExperienceStore
from scenarios.loader import load_suite, resolve_suite


def main(out: str = "runs") -> None:
    suite_path = resolve_suite("wooden")
    cfg = RunConfig(suite=str(suite_path), method="evolving", planner="symbolic")
    Path(out).mkdir(parents=True, exist_ok=True)
    store = ExperienceStore(Path(out) / "knowledge.sqlite")
    player = Player.build(cfg, world_id="craftworld/v1", store=store, run_id="by-hand")
    task = next(t for t, _ in load_suite(suite_path).to_tasks() if t.id == "craft_wooden_pickaxe")

    def show(line: TrajectoryLine) -> None:
        kinds = sorted({item.kind for item in line.recalled})
        print(
            f"  {line.step:>2} {line.subgoal.text():<32} {line.diagnosis.text():<48}"
            f" recalled: {', '.join(kinds) or 'nothing'}"
        )

    try:
        for attempt in (1, 2):
            print(f"episode {attempt}: {task.instruction}")
            result = player.play(task, seed=0, record=show)
            print(f"  -> {'ok' if result.success else 'failed'} in {result.steps} subgoals")
        print(f"the store now holds {len(store.skills())} skills")
    finally:
        player.close()
        store.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs")
    main(ap.parse_args().out)
