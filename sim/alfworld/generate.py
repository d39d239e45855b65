"""Generate household tasks of the six ALFWorld types, check each with the engine's own planner,
and write the game folders and a suite.

    python -m sim.alfworld.generate --split seen --per-type 10 \
        --suite scenarios/suites/alfworld/alfworld_seen.yaml
    python -m sim.alfworld.generate --split unseen --per-type 10 \
        --suite scenarios/suites/alfworld/alfworld_unseen.yaml

Each task type's valid (object, receptacle) combinations are dealt into two disjoint pools,
so `unseen` tasks pair objects and receptacles no `seen` task pairs, and play in the unseen
floor plans (`scenes.SPLITS`). A task is kept only if ALFWorld's `AlfredExpert` (the planner
type: fast-downward on the game's PDDL) finds a plan and that plan, replayed, wins; the plan is
stored in the game file as its `walkthrough`, as `alfworld-generate` does; a game the planner
cannot solve within a minute (its optimal search can run away on large scenes) is replaced by
the next seed's. Games are written to
the world's game folder (`--games`, default `$STEVE_ALFWORLD_GAMES`), laid out as ALFWorld's
data is, so `AlfWorld` finds them and ALFWorld's own loaders can read them.

    python -m sim.alfworld.generate --from-games $ALFWORLD_DATA/json_2.1.1/valid_seen \
        --suite alfworld_valid_seen.yaml

writes a suite of real ALFWorld game folders instead (`game:<path>` goals).
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sim.alfworld import gamefiles, scenes
from sim.alfworld.bounded import Exceeded, bounded
from sim.alfworld.rules import Rules
from sim.alfworld.tasks import GAME_PREFIX, LOOK, PROPERTY, TASK_TYPES, TaskSpec

log = logging.getLogger(__name__)
SHORT = {
    "pick_and_place_simple": "pick",
    "look_at_obj_in_light": "look",
    "pick_clean_then_place_in_recep": "clean",
    "pick_heat_then_place_in_recep": "heat",
    "pick_cool_then_place_in_recep": "cool",
    "pick_two_obj_and_place": "two",
}
POOL_SEED = 2024  # fixes which combinations are seen and which unseen


@functools.cache
def combinations(kind: str) -> tuple[TaskSpec, ...]:
    """Every (object, receptacle) pairing of a task type that some floor plan of each split
    can host, in a fixed order."""
    rules = Rules.load()
    out = []
    for obj in rules.object_types:
        if not rules.pickupable(obj):
            continue
        if kind in PROPERTY and not rules.has(obj, PROPERTY[kind]):
            continue
        targets = (
            [t for t in rules.object_types if rules.has(t, "toggleable")]
            if kind == LOOK
            else [r for r in rules.receptacle_types if rules.can_hold(r, obj)]
        )
        for recep in targets:
            spec = TaskSpec(kind, obj, recep)
            if spec.appliance == recep:
                continue  # "cool some apple and put it in the fridge" cools it on the way
            if all(scenes.plans_for(spec, split, rules) for split in scenes.SPLITS):
                out.append(spec)
    return tuple(out)


def pools(kind: str) -> dict[str, list[TaskSpec]]:
    """The combinations of a task type dealt into disjoint `seen` and `unseen` pools."""
    combos = combinations(kind)
    rng = np.random.default_rng([POOL_SEED, TASK_TYPES.index(kind)])
    order = [combos[i] for i in rng.permutation(len(combos))]
    half = (len(order) + 1) // 2
    return {"seen": order[:half], "unseen": order[half:]}


def solve(game: Path, sas_store: Path | None = None) -> list[str] | None:
    """The engine's own solution of a game, or None: ALFWorld's `AlfredExpert` of type
    `planner` plans at reset, and the plan is replayed on a fresh engine until it wins.
    `sas_store` keeps the game's translation for the world to reuse."""
    import textworld
    from alfworld.agents.environment.alfred_tw_env import (
        AlfredDemangler,
        AlfredExpert,
        AlfredExpertType,
        AlfredInfos,
    )

    from sim.alfworld.engine import Engine
    from sim.alfworld.fast import FastPddlEnv, argv_kept

    infos = textworld.EnvInfos(won=True, admissible_commands=True)
    pddl_env = FastPddlEnv(infos)
    pddl_env.sas_store = sas_store
    expert = AlfredExpert(
        AlfredInfos(AlfredDemangler(pddl_env)), expert_type=AlfredExpertType.PLANNER
    )
    with argv_kept():
        expert.load(str(game))
        plan = list(expert.reset()["extra.expert_plan"])
    if not plan:
        return None
    engine = Engine(sas_store=sas_store)
    engine.load(game)
    for command in plan:
        if command not in engine.admissible:
            return None
        engine.step(command)
    return plan if engine.won else None


def solve_bounded(
    game: Path, sas_store: Path | None = None, seconds: float = 60.0, memory_mb: int = 3000
) -> list[str] | None:
    """`solve` with a time and memory limit (`bounded`): a game the planner cannot solve
    within them is dropped like an unsolvable one."""
    try:
        return bounded(lambda: solve(game, sas_store), seconds, memory_mb)
    except Exceeded as exc:
        log.warning("%s: the engine's planner %s", game.parent.name, exc)
        return None


@dataclass
class Made:
    spec: TaskSpec
    seed: int
    game: Path
    steps: int
    seconds: float


def make_task(
    spec: TaskSpec, split: str, games: Path, seed: int = 0, tries: int = 3
) -> Made | None:
    """Write a task's game for the first seed (from `seed`) the engine's planner solves (a
    game already written and solved is kept)."""
    for s in range(seed, seed + tries):
        t0 = time.perf_counter()
        scene = scenes.layout(spec, split, s)
        folder = gamefiles.trial_dir(games, scene, spec, split)
        game = folder / gamefiles.GAME_FILE
        if game.exists():  # checked before: keep the verdict
            old = json.loads(game.read_text())
            if old["pddl_problem"] == gamefiles.problem(scene, spec) and old["solvable"]:
                return Made(spec, s, game, len(old["walkthrough"]), time.perf_counter() - t0)
            if old["pddl_problem"] == gamefiles.problem(scene, spec) and old["solvable"] is False:
                continue
        game = gamefiles.write_trial(folder, scene, spec, split, spec.instruction())
        plan = solve_bounded(game, games / "sas")
        gamefiles.mark_solved(game, plan)
        if plan is not None:
            return Made(spec, s, game, len(plan), time.perf_counter() - t0)
        log.warning("%s seed %d: the engine's planner found no solution", spec.predicate(), s)
    return None


def suite(name: str, split: str, made: list[Made], max_ticks: int = 150) -> dict[str, Any]:
    """A task suite (see `scenarios.schema.TaskSuite`) of generated, checked tasks."""
    return {
        "name": name,
        "description": (
            f"ALFWorld household tasks, {split} split: the six task types in generated "
            "kitchens, living rooms, bedrooms and bathrooms, played by the real ALFWorld engine. "
            "Generated and checked by `python -m sim.alfworld.generate`."
        ),
        "version": 1,
        "world": "alfworld/v1",
        "defaults": {"max_ticks": max_ticks, "max_subgoals": 30, "seeds": [0]},
        "tasks": [
            {
                "id": f"{SHORT[m.spec.kind]}_{m.spec.obj.lower()}_{m.spec.recep.lower()}",
                "instruction": m.spec.instruction()[0].upper() + m.spec.instruction()[1:],
                "group": m.spec.kind,
                "goal": {"predicate": m.spec.predicate()},
                "split": split,
                **({"seeds": [m.seed]} if m.seed != 0 else {}),
            }
            for m in made
        ],
    }


def suite_from_games(root: Path, name: str) -> dict[str, Any]:
    """A suite of the real game folders under `root` (what `alfworld-download` writes), one
    task per folder, named by `game:<path>` (relative to `$ALFWORLD_DATA` when under it)."""
    data = Path(os.environ.get("ALFWORLD_DATA", "~/.cache/alfworld")).expanduser().resolve()
    entries = []
    for n, trial in enumerate(gamefiles.find_trials(root)):
        folder = trial.folder.resolve()
        path = folder.relative_to(data) if folder.is_relative_to(data) else folder
        spec = trial.spec()
        text = trial.instruction or spec.instruction()
        short = SHORT.get(spec.kind, spec.kind)
        entries.append(
            {
                "id": f"{short}_{spec.obj.lower()}_{spec.recep.lower()}_{n}",
                "instruction": text[0].upper() + text[1:] + ("" if text.endswith(".") else "."),
                "group": spec.kind,
                "goal": {"predicate": f"{GAME_PREFIX}{path}"},
                "split": trial.split,
            }
        )
    return {
        "name": name,
        "description": f"ALFWorld game folders under {root}, played by the real engine.",
        "version": 1,
        "world": "alfworld/v1",
        "defaults": {"max_ticks": 150, "max_subgoals": 30, "seeds": [0]},
        "tasks": entries,
    }


def main(argv: list[str] | None = None) -> None:
    from sim.alfworld.world import cache_dir

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--split", choices=sorted(scenes.SPLITS), default="seen")
    p.add_argument("--per-type", type=int, default=10, help="tasks per task type")
    p.add_argument("--types", nargs="*", default=list(TASK_TYPES), choices=TASK_TYPES)
    p.add_argument("--games", type=Path, default=None, help="where game folders go")
    p.add_argument("--suite", type=Path, default=None, help="write a suite YAML here")
    p.add_argument("--name", default=None, help="suite name (default alfworld_<split>)")
    p.add_argument(
        "--from-games",
        type=Path,
        default=None,
        help="instead of generating, write a suite of the real game folders under this path",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.from_games is not None:
        out = args.suite or Path(f"{args.name or 'alfworld_games'}.yaml")
        data = suite_from_games(args.from_games, args.name or out.stem)
        out.write_text(dump_suite(data))
        log.info("%d game folders: suite written to %s", len(data["tasks"]), out)
        return
    games = args.games or cache_dir()
    made: list[Made] = []
    for kind in args.types:
        kept = 0
        for spec in pools(kind)[args.split]:
            if kept == args.per_type:
                break
            m = make_task(spec, args.split, games)
            if m is None:
                log.warning("%s: dropped (unsolved)", spec.predicate())
                continue
            made.append(m)
            kept += 1
            log.info(
                "%-60s seed %d: %2d steps, %.1f s",
                spec.predicate(),
                m.seed,
                m.steps,
                m.seconds,
            )
    log.info("%d tasks solved by the engine's planner; games in %s", len(made), games)
    if args.suite is not None:
        name = args.name or f"alfworld_{args.split}"
        args.suite.write_text(HEADER + dump_suite(suite(name, args.split, made)))
        log.info("suite written to %s", args.suite)


def dump_suite(data: dict[str, Any]) -> str:
    """A suite as YAML with one task per line (a long suite reads better as a table)."""
    head = {k: v for k, v in data.items() if k not in ("tasks", "defaults")}
    text = yaml.safe_dump(head, sort_keys=False, width=96)
    defaults = yaml.safe_dump(data["defaults"], default_flow_style=True, sort_keys=False)
    lines = [text.rstrip(), f"defaults: {defaults.strip()}", "tasks:"]
    for task in data["tasks"]:
        flow = yaml.safe_dump(task, default_flow_style=True, sort_keys=False, width=10_000)
        lines.append(f"  - {flow.strip()}")
    return "\n".join(lines) + "\n"


HEADER = """\
# Generated by `python -m sim.alfworld.generate` (see sim/alfworld/generate.py): every task was
# solved by ALFWorld's own planner (AlfredExpert, type planner) when it was generated. A task's
# scene follows from its goal predicate, its split and the seed; the world writes the game on
# first use (under $STEVE_ALFWORLD_GAMES, default ~/.cache/steve-evolving/alfworld).
"""


if __name__ == "__main__":
    main()
