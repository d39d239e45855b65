"""Rollouts through the ordinary episode loop (`agent.loop.Episode`): the planner is the
usual `LLMPlanner`, its client a `Recorder` (a policy's, or a lockstep lane's for episodes
played side by side with their requests batched), so a trained policy is trained on exactly
the prompts, grammar, diagnosis and replanning it will meet in `steve run`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace

from agent.llm.base import LLMClient
from agent.llm.hf import Generation, Request
from agent.methods import METHODS, Method
from agent.planner.llm import LLMPlanner
from agent.pool import Player
from agent.record import TrajectoryLine
from agent.rl.config import PlannerOptions, RewardOptions
from agent.rl.policy import Recorder, Turn
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


SOLO = replace(METHODS["none"], name="none-solo", explore=False)
"""No memory and no probing for a missing fact: what the planner's weights alone achieve."""


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


def trace(lines: Sequence[TrajectoryLine]) -> list[str]:
    """An episode's attempts, one short line each: the subgoal, its diagnosed cause and the
    task progress after it (`benchmarks/rl_heldout.py --trace` prints them)."""
    return [
        f"{ln.subgoal.text()}: {ln.diagnosis.cause.value} {ln.diagnosis.task_progress:.2f}"
        for ln in lines
    ]


SampleFn = Callable[[list[Request]], list[Generation]]


class Lockstep:
    """Episodes played side by side in threads, their LLM requests answered in batches.

    Each episode (a lane) asks through its own `Recorder` and waits; once every lane
    still playing is waiting, their requests go to `sample` as one batch, so a batch holds
    the next request of every live episode and its make-up does not depend on thread
    timing. A CPU decodes four rows about as fast as one (the weights are read once a
    token), so a group of rollouts costs little more than one."""

    def __init__(self, sample: SampleFn, lanes: int) -> None:
        self.sample = sample
        self.live = lanes
        self.pending: dict[int, Request] = {}
        self.answers: dict[int, Generation | BaseException] = {}
        self.cond = threading.Condition()

    def ask(self, lane: int, request: Request) -> Generation:
        with self.cond:
            self.pending[lane] = request
            self._serve()
            while lane not in self.answers:
                self.cond.wait()
            answer = self.answers.pop(lane)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def leave(self) -> None:
        """A lane's episode has ended: the others no longer wait for its request."""
        with self.cond:
            self.live -= 1
            self._serve()

    def _serve(self) -> None:
        # called with the lock held, by the last lane to ask: every other one is waiting
        if not self.pending or len(self.pending) < self.live:
            return
        lanes = sorted(self.pending)
        requests = [self.pending.pop(i) for i in lanes]
        try:
            results: list[Generation | BaseException] = list(self.sample(requests))
        except Exception as exc:  # every waiting episode sees the backend's failure
            results = [exc] * len(lanes)
        self.answers.update(zip(lanes, results, strict=True))
        self.cond.notify_all()


def play_many(
    sample: SampleFn,
    model: str,
    worlds: Sequence[World],
    games: Sequence[tuple[Task, int]],
    planner: PlannerOptions,
    reward: RewardOptions,
) -> list[Rollout]:
    """The episodes `games` (task, world seed) played side by side, one thread and one
    world each, their requests batched through `sample` (`Lockstep`); the rollouts in the
    order given. A world is not shared between threads: `worlds` has one per game."""
    if len(worlds) < len(games):
        raise ValueError(f"{len(games)} games need as many worlds, got {len(worlds)}")
    step = Lockstep(sample, len(games))
    out: list[Rollout | BaseException | None] = [None] * len(games)

    def run(i: int) -> None:
        try:
            task, seed = games[i]
            lane = Recorder(lambda r: step.ask(i, r), model)
            out[i] = play(lane, worlds[i], task, seed, planner, reward)
        except BaseException as exc:  # re-raised in the caller's thread below
            out[i] = exc
        finally:
            step.leave()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(games))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in out:
        if isinstance(r, BaseException):
            raise r
    return [r for r in out if isinstance(r, Rollout)]


def play(
    client: LLMClient,
    world: World,
    task: Task,
    seed: int,
    planner: PlannerOptions,
    reward: RewardOptions,
    *,
    store: ExperienceStore | None = None,
    method: Method = SOLO,
    distiller: Distiller | None = None,
    run_id: str = "rl",
) -> Rollout:
    """One episode; its turns (when `client` records them), outcome and shaped reward. By
    default the planner plays alone (`SOLO`): no memory, and no probing by the loop, so that
    the reward is what the model's own plans earned."""
    lines: list[TrajectoryLine] = []
    recorded: list[Turn] | None = getattr(client, "turns", None)  # a Recorder's
    start = len(recorded) if recorded is not None else 0
    player = Player(
        world,
        planner_for(client, world, planner),
        method,
        distiller if distiller is not None else RuleDistiller(),
        store,
        run_id,
    )
    result = player.play(task, seed, lines.append)
    turns = recorded[start:] if recorded is not None else []
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
        info={"llm_calls": result.llm_calls, "error": result.error, "trace": trace(lines)},
    )
    rollout.reward = shaped_reward(rollout, reward)
    return rollout
