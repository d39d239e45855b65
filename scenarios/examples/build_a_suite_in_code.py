"""Build a new task suite in code, check it, save it as YAML, and run it.

    python scenarios/examples/build_a_suite_in_code.py [--out DIR]

A suite is a pydantic model (`scenarios.schema.TaskSuite`, `extra="forbid"`): unknown fields
and unknown item names are errors, reported with the field (and, from YAML, the file and
line). Here: a three-task "torch economy" suite with a starting inventory, a per-task budget
and a held-out (`unseen`) task. `steve suite new NAME` writes a commented YAML template
instead; `steve suite validate FILE` checks one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import sim
from agent.runner import RunConfig, run_suite
from scenarios.loader import load_suite
from scenarios.schema import TaskSuite
from scenarios.template import write_suite


def build() -> TaskSuite:
    return TaskSuite.model_validate(
        {
            "name": "torch-economy",
            "description": "Light, from a head start of logs.",
            "world": "craftworld/v1",
            "defaults": {"max_ticks": 24000, "max_subgoals": 60, "seeds": [0]},
            "tasks": [
                {
                    "id": "charcoal",
                    "instruction": "Smelt a piece of charcoal.",
                    "group": "stone",
                    "goal": {"item": "charcoal"},
                    "initial_inventory": {"oak_log": 4},
                },
                {
                    "id": "torches",
                    "instruction": "Craft eight torches.",
                    "group": "stone",
                    "goal": {"item": "torch", "count": 8},
                    "max_subgoals": 80,
                },
                {
                    "id": "lantern",
                    "instruction": "Craft a lantern.",
                    "group": "iron",
                    "goal": {"item": "lantern"},
                    "split": "unseen",
                    "max_ticks": 60000,
                },
            ],
        }
    )


def main(out: str = "runs/suite_example") -> None:
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "torch-economy.yaml"
    write_suite(build(), path, overwrite=True, header="# built by build_a_suite_in_code.py")
    world = sim.make("craftworld/v1")
    suite = load_suite(path, known_items=world.item_names())  # the same checks as the CLI
    print(f"{path}: {len(suite.runnable())} tasks, valid")
    result = run_suite(RunConfig(suite=str(path), out=str(root)))
    for r in result.episodes:
        print(f"{r.task_id:<10} {'ok' if r.success else 'failed'} in {r.steps} subgoals")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/suite_example")
    main(ap.parse_args().out)
