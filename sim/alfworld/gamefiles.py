"""ALFWorld game folders: writing them for generated scenes, and finding and reading the ones
`alfworld-download` produces.

A folder (a "trial") holds `traj_data.json` (the task: `task_type`, `pddl_params`, the
annotated instruction), `initial_state.pddl` (the PDDL problem) and `game.tw-pddl` (JSON: the
domain, the grammar with the task line filled in, the problem, `solvable`, `walkthrough`),
laid out as ALFWorld's data is: `<root>/<split>/<task>-<floor plan>/<trial>/`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sim.alfworld.rules import DOMAIN_TYPES, Rules
from sim.alfworld.scenes import Scene
from sim.alfworld.tasks import TASK_TYPES, TaskSpec, game_path, parse

GAME_FILE = "game.tw-pddl"
TRAJ_FILE = "traj_data.json"
PROBLEM_FILE = "initial_state.pddl"
SPLIT_DIRS = {"seen": "valid_seen", "unseen": "valid_unseen"}
# object properties written to the problem (slicing is left out: no generated task slices,
# and every knife would ground a SliceObject per sliceable object and location)
PROPERTIES = ("cleanable", "heatable", "coolable", "toggleable")


@cache
def domain_text() -> str:
    from alfworld.info import ALFRED_PDDL_PATH

    return Path(ALFRED_PDDL_PATH).read_text()


@cache
def grammar_text() -> str:
    from alfworld.info import ALFRED_TWL2_PATH

    return Path(ALFRED_TWL2_PATH).read_text()


def problem(scene: Scene, spec: TaskSpec, rules: Rules | None = None) -> str:
    """The PDDL problem of a task in a scene: one location per receptacle, the agent in the
    middle of the room, `canContain` for the types present, and the goal from the engine's
    goal library."""
    rules = rules or Rules.load()
    otypes = sorted({t for _, t, _ in scene.objects} | {spec.obj})
    rtypes = sorted({t for _, t in scene.receptacles})
    declared_o = sorted({*(f"{t}Type" for t in otypes), *DOMAIN_TYPES["otype"]})
    declared_r = sorted({*(f"{t}Type" for t in rtypes), *DOMAIN_TYPES["rtype"]})
    loc = {rid: f"loc_bar_{i}" for i, (rid, _) in enumerate(scene.receptacles, 1)}
    init = ["(atLocation agent1 loc_bar_0)"]
    for rid, rtype in scene.receptacles:
        init.append(f"(receptacleType {rid} {rtype}Type)")
        init.append(f"(receptacleAtLocation {rid} {loc[rid]})")
        if rtype in rules.openable:
            init.append(f"(openable {rid})")
    for oid, otype, rid in scene.objects:
        init.append(f"(objectType {oid} {otype}Type)")
        if rules.pickupable(otype):
            init.append(f"(pickupable {oid})")
        init += [f"({p} {oid})" for p in PROPERTIES if rules.has(otype, p)]
        init.append(f"(inReceptacle {oid} {rid})")
        init.append(f"(objectAtLocation {oid} {loc[rid]})")
    init += [
        f"(canContain {r}Type {o}Type)" for r in rtypes for o in otypes if rules.can_hold(r, o)
    ]
    init.append("(= (total-cost) 0)")
    objects = [
        "agent1 - agent",
        " ".join(declared_o) + " - otype",
        " ".join(declared_r) + " - rtype",
        " ".join(oid for oid, _, _ in scene.objects) + " - object",
        " ".join(rid for rid, _ in scene.receptacles) + " - receptacle",
        " ".join(["loc_bar_0", *loc.values()]) + " - location",
    ]
    return "\n".join(
        [
            f"(define (problem plan_{spec.kind}_{scene.plan.number}_{scene.seed})",
            "(:domain alfred)",
            "(:objects",
            *(f"    {line}" for line in objects),
            ")",
            "(:init",
            *(f"    {line}" for line in init),
            ")",
            spec.goal_pddl().strip(),
            "",
        ]
    )


def traj_data(scene: Scene, spec: TaskSpec, split: str, instruction: str) -> dict[str, Any]:
    """The `traj_data.json` ALFWorld reads: the task type, its PDDL parameters, the scene and
    the instruction (as the one annotation)."""
    number = scene.plan.number
    return {
        "task_type": spec.kind,
        "task_id": f"trial_steve_{number}_{scene.seed}",
        "pddl_params": spec.pddl_params(),
        "scene": {"floor_plan": f"FloorPlan{number}", "scene_num": number, "random_seed": 0},
        "split": split,
        "repeat_idx": 0,
        "turk_annotations": {
            "anns": [{"task_desc": instruction, "high_descs": [], "votes": [1]}],
        },
        "generator": {"by": "steve-evolving sim.alfworld", "seed": scene.seed},
    }


def game_data(problem_text: str, instruction: str) -> dict[str, Any]:
    """The game file: domain, grammar with the task line (what ALFWorld's
    `add_task_to_grammar` writes, with our instruction), problem."""
    task = instruction.rstrip(".")
    return {
        "pddl_domain": domain_text(),
        "grammar": grammar_text().replace("UNKNOWN GOAL", task),
        "pddl_problem": problem_text,
        "solvable": None,
        "walkthrough": None,
    }


def trial_dir(root: Path, scene: Scene, spec: TaskSpec, split: str) -> Path:
    return (
        root
        / SPLIT_DIRS.get(split, split)
        / f"{spec.key()}-{scene.plan.number}"
        / f"trial_steve_{scene.seed}"
    )


def write_trial(folder: Path, scene: Scene, spec: TaskSpec, split: str, instruction: str) -> Path:
    """Write one game folder; returns the game file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    text = problem(scene, spec)
    (folder / PROBLEM_FILE).write_text(text)
    (folder / TRAJ_FILE).write_text(json.dumps(traj_data(scene, spec, split, instruction)))
    game = folder / GAME_FILE
    game.write_text(json.dumps(game_data(text, instruction)))
    return game


def mark_solved(game: Path, walkthrough: list[str] | None) -> None:
    """Record the expert's check in the game file (ALFWorld skips games not `solvable`)."""
    data = json.loads(game.read_text())
    data["walkthrough"] = walkthrough
    data["solvable"] = walkthrough is not None
    game.write_text(json.dumps(data))


# ---- real game folders ----------------------------------------------------------------------
@dataclass(frozen=True)
class Trial:
    """One game folder as found on disk."""

    folder: Path
    task_type: str
    params: dict[str, Any]
    split: str
    instruction: str

    @property
    def game(self) -> Path:
        return self.folder / GAME_FILE

    def spec(self) -> TaskSpec:
        p = self.params
        recep = p.get("toggle_target") if self.task_type == "look_at_obj_in_light" else None
        return TaskSpec(self.task_type, str(p["object_target"]), str(recep or p["parent_target"]))


def read_trial(path: Path) -> Trial:
    """A game folder (or its game file); raises `FileNotFoundError` naming what is missing."""
    folder = path.parent if path.is_file() else path
    traj_path = folder / TRAJ_FILE
    if not traj_path.exists():
        raise FileNotFoundError(f"{folder}: no {TRAJ_FILE} (not an ALFWorld game folder)")
    traj = json.loads(traj_path.read_text())
    if not (folder / GAME_FILE).exists() and not (folder / PROBLEM_FILE).exists():
        raise FileNotFoundError(f"{folder}: neither {GAME_FILE} nor {PROBLEM_FILE}")
    anns = traj.get("turk_annotations", {}).get("anns", [])
    instruction = str(anns[0]["task_desc"]) if anns else ""
    parts = set(folder.parts)
    split = "unseen" if any("unseen" in p for p in parts) else "seen"
    return Trial(folder, str(traj["task_type"]), dict(traj["pddl_params"]), split, instruction)


def game_for(trial: Trial, cache_dir: Path) -> Path:
    """The trial's game file; a folder with only `initial_state.pddl` gets one built in
    `cache_dir` (as `alfworld-generate` would, with the templated task line)."""
    if trial.game.exists():
        return trial.game
    spec = trial.spec()
    instruction = trial.instruction or spec.instruction()
    out = cache_dir / "built" / _slug(trial.folder) / GAME_FILE
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        problem_text = (trial.folder / PROBLEM_FILE).read_text()
        out.write_text(json.dumps(game_data(problem_text, instruction)))
        (out.parent / TRAJ_FILE).write_text((trial.folder / TRAJ_FILE).read_text())
    return out


def find_trials(root: Path) -> list[Trial]:
    """Every playable game folder under `root` of the six task types (movable-receptacle and
    sliced tasks are skipped, as ALFWorld's TextWorld environment does)."""
    found = []
    for traj in sorted(root.rglob(TRAJ_FILE)):
        folder = traj.parent
        if "movable" in str(folder) or "Sliced" in str(folder):
            continue
        try:
            trial = read_trial(folder)
        except (FileNotFoundError, KeyError, json.JSONDecodeError):
            continue
        if trial.task_type not in TASK_TYPES:
            continue
        if trial.game.exists() and json.loads(trial.game.read_text()).get("solvable") is False:
            continue
        found.append(trial)
    return found


def _slug(path: Path) -> str:
    return "__".join(path.resolve().parts[-3:])


def spec_for(predicate: str) -> TaskSpec:
    """The task a goal predicate names: parsed, or read from the game folder it names."""
    folder = game_path(predicate)
    if folder is not None:
        return read_trial(folder).spec()
    return parse(predicate, Rules.load()._lower)
