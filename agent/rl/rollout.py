"""Rollouts through the ordinary episode loop (`agent.loop.Episode`): the planner is the
usual `LLMPlanner`, its client a policy's `Recorder`, so a trained policy is trained on
exactly the prompts, grammar, diagnosis and replanning it will meet in `steve run`."""

from __future__ import annotations

from typing import Any

from agent.adapters import adapter_for
from agent.llm.base import LLMClient
from agent.loop import Episode
from agent.methods import METHODS, Method
from agent.planner.llm import LLMPlanner
from agent.rl.config import PlannerOptions, RewardOptions
from agent.rl.policy import Recorder
from agent.rl.reward import Rollout, best_progress, pace, shaped_reward
from knowledge.distill import Distiller, DistillReport, RuleDistiller
from knowledge.schema import ExperienceTuple
from knowledge.store import ExperienceStore
from sim.base import World
from sim.schema import Task


class Keep:
    """A distiller that distils nothing and keeps the episode's tuples: for episodes whose
    store must not change while they run (the co-evolution's judged runs, its probe)."""

    def __init__(self) -> None:
        self.tuples: list[ExperienceTuple] = []

    def distill(
        self, store: ExperienceStore, tuples: list[ExperienceTuple], success: bool, goal: str
    ) -> DistillReport:
        self.tuples = list(tuples)
        return DistillReport()

    def online(self, store: ExperienceStore, tup: ExperienceTuple) -> DistillReport:
        return DistillReport()


def planner_for(client: LLMClient, world: World, opts: PlannerOptions) -> LLMPlanner:
    """The LLM planner with the training config's prompt and grammar options."""
    return LLMPlanner(
        client,
        world,
        max_steps=opts.max_steps,
        max_tokens=opts.max_tokens,
        examples=opts.examples,
        recipes=opts.recipes,
        narrow=opts.narrow,
    )


def play(
    client: LLMClient,
    world: World,
    task: Task,
    seed: int,
    planner: PlannerOptions,
    reward: RewardOptions,
    *,
    store: ExperienceStore | None = None,
    method: Method = METHODS["none"],
    distiller: Distiller | None = None,
    run_id: str = "rl",
) -> Rollout:
    """One episode; its turns (when `client` is a `Recorder`), outcome and shaped reward."""
    lines: list[dict[str, Any]] = []
    start = len(client.turns) if isinstance(client, Recorder) else 0
    result = Episode(
        world=world,
        task=task,
        seed=seed,
        planner=planner_for(client, world, planner),
        adapter=adapter_for(world, task),
        method=method,
        store=store,
        run_id=run_id,
        record=lines.append,
        distiller=distiller if distiller is not None else RuleDistiller(),
    ).run()
    turns = client.turns[start:] if isinstance(client, Recorder) else []
    rollout = Rollout(
        task_id=task.id,
        seed=seed,
        turns=list(turns),
        success=result.success,
        steps=result.steps,
        max_subgoals=task.max_subgoals,
        progress=best_progress(lines),
        pace=pace(lines, result.success, task.max_subgoals),
        invalid=result.causes.get("PLAN_PARSE_FAIL", 0),
        info={"llm_calls": result.llm_calls, "error": result.error},
    )
    rollout.reward = shaped_reward(rollout, reward)
    return rollout
