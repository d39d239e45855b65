"""Who plays a run's episodes: the episode factory (`Player`) and the in-process pool.

A `Player` holds what an episode needs besides its task and seed: a world, a planner, a method,
a distiller and (for a method with memory) a store. The runner's pools, the live viewer
(`viz.live`) and the policy-gradient rollouts (`agent.rl.rollout`) all build their episodes
through it, so an episode is set up one way everywhere.

A pool plays a wave of `Job`s and hands back, in the order of the jobs, what each one played
(`Played`). The runner (`agent.runner.Runner`) is the single writer of the run directory and
the store; it cuts the stream into waves and records every outcome. Two kinds of pool:

- `SerialPool` (the default): one episode at a time in this process, against the run's own
  store, its trajectory lines streamed to the run directory as they are played (`Played.live`:
  nothing is left to record but its row). Waves of one: each episode recalls every earlier one.
- the private-copy pools of `agent.parallel` (`CopyPool` in-process, `RayPool` on Ray workers):
  each episode plays against a private copy of the store's snapshot at its wave's start; the
  runner then brings its tuples and knowledge into the store in stream order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import sim
from agent.loop import Episode, EpisodeResult
from agent.methods import Method, get_method
from agent.planner.base import Planner
from agent.record import RunSink, TrajectoryLine
from agent.runspec import RunConfig, make_distiller, make_planner
from knowledge.distill import Distiller
from knowledge.schema import ExperienceTuple, Guardrail
from knowledge.store import ExperienceStore
from sim.base import World
from sim.schema import Task

Record = Callable[[TrajectoryLine], None]
# what the loop wrote to a private copy besides tuples, after how many of them: a ledger's rows,
# a revised guardrail, a revised skill (`agent.memory`)
Revision = tuple[int, str, Any]


@dataclass
class Player:
    """The episode factory: everything an episode needs but its task and seed."""

    world: World
    planner: Planner
    method: Method
    distiller: Distiller
    store: ExperienceStore | None = None
    run_id: str = ""

    @classmethod
    def build(
        cls,
        cfg: RunConfig,
        world: World | None = None,
        *,
        world_id: str = "",
        options: dict[str, Any] | None = None,
        store: ExperienceStore | None = None,
        run_id: str = "",
        client: Any = None,
    ) -> Player:
        """A player as `cfg` describes it, on `world` (or a new `world_id` world); an LLM
        planner on `client` where one is given (shared by players side by side)."""
        if world is None:
            world = sim.make(world_id, **(options or {}))
        planner = make_planner(cfg, world, client)
        return cls(
            world, planner, get_method(cfg.method), make_distiller(cfg, planner), store, run_id
        )

    def play(
        self,
        task: Task,
        seed: int,
        record: Record | None = None,
        *,
        store: ExperienceStore | None = None,
        run_id: str | None = None,
    ) -> EpisodeResult:
        """One episode of `task` on `seed`, played; `store` and `run_id` override the player's."""
        return Episode(
            world=self.world,
            task=task,
            seed=seed,
            planner=self.planner,
            method=self.method,
            store=store if store is not None else self.store,
            run_id=self.run_id if run_id is None else run_id,
            record=record if record is not None else _discard,
            distiller=self.distiller,
        ).run()

    def close(self) -> None:
        self.world.close()


@dataclass
class Job:
    """One episode of the stream, as a pool gets it."""

    index: int  # position in the stream (after --resume's skips)
    task: Task
    seed: int
    run_id: str
    wave: int  # which snapshot of the store it runs against

    @property
    def episode_id(self) -> str:
        return f"{self.task.id}__s{self.seed}"


@dataclass
class Played:
    """What a pool hands back for one job. `live`: it was played against the run's own store
    and its lines are written already. Otherwise ids are those of a private copy of the store,
    which the runner maps to the store's as it records the episode."""

    result: EpisodeResult
    lines: list[TrajectoryLine] = field(default_factory=list)
    live: bool = False
    tuples: list[ExperienceTuple] = field(default_factory=list)  # anchored, in order
    online: list[int] = field(default_factory=list)  # tuples the online pass distilled
    distilled: tuple[list[int], bool, str] | None = None  # the end-of-episode pass's input
    new_guardrails: dict[int, Guardrail] = field(default_factory=dict)
    new_skills: dict[int, str] = field(default_factory=dict)
    extracted: dict[int, Guardrail | None] = field(default_factory=dict)  # LLM distiller
    revisions: list[Revision] = field(default_factory=list)  # the loop's own writes
    worker: str = ""


Outcome = Played | str  # a played episode, or why it could not be played


class Pool(Protocol):
    """Plays a wave of jobs; yields each job with its outcome, in the order of the jobs."""

    private: bool  # episodes play on private copies (the runner replays them into the store)
    retried: dict[str, int]  # episode id -> attempts beyond the first

    def run(
        self, jobs: list[Job], store: ExperienceStore | None, sink: RunSink
    ) -> Iterator[tuple[Job, Outcome]]: ...

    def close(self) -> None: ...


class SerialPool:
    """One episode at a time, in this process, against the run's own store; each trajectory
    line is on disk as soon as it is played (the live viewer and a killed run see it)."""

    private = False

    def __init__(self, player: Player) -> None:
        self.player = player
        self.retried: dict[str, int] = {}  # an episode that raises is recorded as errored

    def run(
        self, jobs: list[Job], store: ExperienceStore | None, sink: RunSink
    ) -> Iterator[tuple[Job, Outcome]]:
        for job in jobs:
            with sink.trajectory(job.episode_id) as tf:
                result = self.player.play(
                    job.task, job.seed, partial(sink.line, tf), store=store, run_id=job.run_id
                )
            yield job, Played(result, live=True)

    def close(self) -> None:
        """Nothing: the player's world belongs to whoever built it (the runner)."""


def _discard(line: TrajectoryLine) -> None:
    """What a player does with the lines of an episode played without a record."""
