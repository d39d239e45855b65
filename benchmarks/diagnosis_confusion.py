"""Attribution accuracy of diagnosis on perturbed CraftWorld episodes.

Each episode takes a tech-tree task, plans it with the symbolic planner, then perturbs the plan
or the task at random (a dropped prerequisite, a lower tool tier, swapped steps, a misspelt
name, a night start, a tight budget, an absent target, missing fuel) and executes it with local
replanning. For every attempt the world's own verdict (`Outcome.cause`) is the ground truth and
the diagnosis attributes a cause from the trace alone; the script prints the confusion matrix
and the accuracy.

    .venv/bin/python benchmarks/diagnosis_confusion.py --episodes 300
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np
from rich.console import Console
from rich.table import Table

import sim
from agent.adapters import adapter_for
from agent.diagnosis import History, diagnose
from agent.planner.symbolic import SymbolicPlanner
from knowledge.schema import Briefing
from sim.schema import FailureCause, Goal, Subgoal, Task

GOALS = ["wooden_pickaxe", "stone_pickaxe", "furnace", "iron_ingot", "iron_pickaxe", "torch"]
PERTURBATIONS = [
    "drop_prerequisite",
    "lower_tier",
    "swap",
    "misspell",
    "night",
    "tight_budget",
    "absent_target",
    "no_fuel",
    "none",
]


def perturb(kind: str, plan: list[Subgoal], rng: np.random.Generator) -> list[Subgoal]:
    plan = list(plan)
    if kind == "drop_prerequisite" and plan:
        idx = [i for i, s in enumerate(plan) if s.verb in ("equip", "place", "mine")] or [0]
        plan.pop(int(rng.choice(idx)))
    elif kind == "lower_tier":
        plan = [
            s.model_copy(update={"target": s.target.replace("stone_", "wooden_")})
            if s.verb == "equip"
            else s
            for s in plan
        ]
    elif kind == "swap" and len(plan) > 2:
        i = int(rng.integers(len(plan) - 1))
        plan[i], plan[i + 1] = plan[i + 1], plan[i]
    elif kind == "misspell" and plan:
        i = int(rng.integers(len(plan)))
        plan[i] = plan[i].model_copy(update={"target": plan[i].target[:-1] + "x"})
    elif kind == "absent_target":
        plan.insert(
            0, Subgoal(verb="mine", target=str(rng.choice(["emerald_ore", "clay", "lava"])))
        )
    elif kind == "no_fuel":
        plan = [s for s in plan if not s.target.endswith("planks") or s.verb != "craft"]
    return plan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-steps", type=int, default=25)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    world = sim.make("craftworld/v1")
    planner = SymbolicPlanner()
    pairs: Counter[tuple[str, str]] = Counter()
    kinds: Counter[str] = Counter()
    t0 = time.perf_counter()
    for ep in range(args.episodes):
        kind = str(rng.choice(PERTURBATIONS))
        kinds[kind] += 1
        helpers: dict[str, str | int | float | bool] = {}
        max_ticks = 60_000
        if kind == "night":
            helpers["start_time"] = 13_000
        if kind == "tight_budget":
            max_ticks = int(rng.integers(200, 3000))
        task = Task(
            id=f"e{ep}",
            instruction="",
            goal=Goal(item=str(rng.choice(GOALS))),
            max_ticks=max_ticks,
            helpers=helpers,
        )
        state = world.reset(task, seed=int(rng.integers(1_000_000)))
        adapter, history = adapter_for(world, task), History()
        plan = perturb(kind, planner.plan(task, state, Briefing()).subgoals, rng)
        if kind == "night":
            plan.insert(0, Subgoal(verb="wait", target="seconds", count=int(rng.integers(30, 300))))
        for _ in range(args.max_steps):
            if not plan or world.goal_reached() or state.dead:
                break
            subgoal = plan.pop(0)
            outcome = world.execute(subgoal)
            d = diagnose(
                state, subgoal, outcome, history, task, adapter.progress, world.event_causes()
            )
            pairs[(outcome.cause.value, d.cause.value)] += 1
            state = outcome.post_state
            if not outcome.success:
                plan = planner.replan(task, state, Briefing(), subgoal, d, plan).subgoals
    elapsed = time.perf_counter() - t0
    causes = sorted(
        {c for pair in pairs for c in pair}, key=lambda c: list(FailureCause).index(FailureCause(c))
    )
    table = Table(title="truth (rows) x diagnosis (columns)")
    table.add_column("truth")
    for c in causes:
        table.add_column(c[:8], justify="right")
    for t in causes:
        table.add_row(t, *(str(pairs.get((t, p), "")) for p in causes))
    console = Console()
    console.print(table)
    total = sum(pairs.values())
    right = sum(n for (t, p), n in pairs.items() if t == p)
    fails = sum(n for (t, _), n in pairs.items() if t != "NONE")
    fails_right = sum(n for (t, p), n in pairs.items() if t == p and t != "NONE")
    console.print(f"episodes {args.episodes} ({dict(kinds)}), attempts {total}, {elapsed:.1f} s")
    console.print(
        f"attribution accuracy: all attempts {right / total:.1%}; "
        f"failed attempts {fails_right / max(fails, 1):.1%} ({fails_right}/{fails})"
    )


if __name__ == "__main__":
    main()
