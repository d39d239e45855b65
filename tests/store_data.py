"""Small random experience tuples for the store tests (not a test module)."""

from __future__ import annotations

import random

from knowledge import Diagnosis, ExperienceTuple
from knowledge.schema import StateDiff
from sim.schema import FailureCause, Subgoal, WorldState

FACTS = [f"has:item{i}" for i in range(40)] + ["night", "y<16", "near:furnace", "pickaxe>=wood"]
OPS = [("mine", "iron_ore"), ("mine", "stone"), ("craft", "stick"), ("craft", "planks")]


def make_tuple(rng: random.Random, i: int, *, run: str = "r") -> ExperienceTuple:
    facts = rng.sample(FACTS, rng.randint(0, 8))
    pos = (rng.randint(-48, 48), 60, rng.randint(-48, 48))
    verb, target = rng.choice(OPS)
    ok = rng.random() < 0.5
    cause = FailureCause.NONE if ok else rng.choice([FailureCause.WRONG_TOOL, FailureCause.TIMEOUT])
    return ExperienceTuple(
        run_id=run,
        episode_id=f"{run}-e{i // 10}",
        task_id="t",
        task_goal="iron_pickaxe",
        task_family=rng.choice(["wooden", "stone"]),
        step=i % 10,
        pre_state=WorldState(world="w", position=pos, inventory={"stick": i % 3}),
        action=Subgoal(verb=verb, target=target),
        diagnosis=Diagnosis(
            success=ok,
            cause=cause,
            diff=StateDiff(ticks=5 + i % 7),
            steps=i % 4,
            evidence=[] if ok else [f"{verb} {target} failed at step {i % 10}"],
        ),
        post_state=WorldState(world="w", position=pos),
        facts=facts,
        tags=[verb, target, cause.value],
    )


def make_tuples(n: int, seed: int = 0, *, run: str = "r") -> list[ExperienceTuple]:
    rng = random.Random(seed)
    return [make_tuple(rng, i, run=run) for i in range(n)]
