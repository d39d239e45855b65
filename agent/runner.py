"""The serial runner: a suite in, a run directory out, written as the run goes.

runs/<suite>__<method>__<seeds>__<time>/
    config.yaml          everything needed to repeat the run
    episodes.jsonl       one line per finished episode (appended and flushed at once)
    trajectory/*.jsonl   one line per subgoal attempt
    knowledge.sqlite     the experience store (unless --knowledge points elsewhere)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

import sim
from agent.loop import Episode, EpisodeResult
from agent.methods import get_method
from agent.parallel import run_parallel
from agent.record import RunSink, read_episodes
from agent.runspec import (
    ERRORED_IN_A_ROW,
    PLANNER_KINDS,
    PLANNERS,
    RunConfig,
    RunResult,
    check_config,
    finished_episodes,
    help_given,
    load_run_config,
    make_distiller,
    make_planner,
    place_run,
    recipes_of,
    run_name,
    stop_reason,
    stream,
    suite_world_id,
    world_options,
)
from knowledge.store import ExperienceStore
from scenarios.loader import load_suite

__all__ = [  # the run's description lives in agent.runspec; importable from here as before
    "ERRORED_IN_A_ROW",
    "PLANNERS",
    "PLANNER_KINDS",
    "RunConfig",
    "RunResult",
    "check_config",
    "finished_episodes",
    "help_given",
    "load_run_config",
    "make_distiller",
    "make_planner",
    "recipes_of",
    "recorded_episodes",
    "run_name",
    "run_suite",
    "stop_reason",
    "stream",
    "suite_world_id",
    "world_options",
]

log = logging.getLogger(__name__)


def recorded_episodes(run_dir: Path) -> list[EpisodeResult]:
    """Every episode a run directory holds (the last line of each, in the order they were
    first played): what a resumed run's summary counts, not only the episodes resumed."""
    return read_episodes(run_dir)


def run_suite(
    cfg: RunConfig,
    on_episode: Callable[[EpisodeResult, int, int], None] | None = None,
    resume: str | Path | None = None,
) -> RunResult:
    """Run every (task, seed) of a suite in order; each finished episode is on disk at once.
    With `resume` (a run directory), only the episodes not yet finished there run. After
    `ERRORED_IN_A_ROW` errored episodes in a row the run stops (`RunResult.stopped` says why).
    With `cfg.workers > 1` or `cfg.address`, episodes run on Ray (`agent.parallel`)."""
    if cfg.workers > 1 or cfg.address:
        return run_parallel(cfg, on_episode, resume)
    check_config(cfg)
    suite_path = Path(cfg.suite)
    world = sim.make(suite_world_id(suite_path), **world_options(suite_path, cfg))
    suite = load_suite(suite_path, known_items=world.item_names())
    method = get_method(cfg.method)
    planner = make_planner(cfg, world)
    distiller = make_distiller(cfg, planner)
    place = place_run(cfg, suite, method.name, resume)
    run_dir, run_id, jobs, config = place.run_dir, place.run_id, place.pairs, place.config
    sink = RunSink(run_dir, config)
    store = ExperienceStore(place.store_path) if method.memory else None
    if resume is not None and store is not None:  # a killed episode's attempts: rolled back
        forgot = store.forget_unfinished(run_id, place.done)
        if forgot:
            log.info("%s: rolled back %d tuples of unfinished episodes", run_id, forgot)
    results: list[EpisodeResult] = []
    stopped: str | None = None
    try:
        for n, (task, seed) in enumerate(jobs):
            stopped = stop_reason(results, len(jobs) - n)
            if stopped is not None:
                log.info("%s: %s", run_id, stopped)
                break
            with sink.trajectory(f"{task.id}__s{seed}") as tf:
                episode = Episode(
                    world=world,
                    task=task,
                    seed=seed,
                    planner=planner,
                    method=method,
                    store=store,
                    run_id=run_id,
                    record=partial(sink.line, tf),
                    distiller=distiller,
                )
                result = episode.run()
            sink.episode(result)
            results.append(result)
            if on_episode is not None:
                on_episode(result, n + 1, len(jobs))
        stats = store.stats() if store is not None else {}
    finally:
        sink.close()
        if store is not None:
            store.close()
        world.close()
    skipped, given = suite.skipped(), config["help"]
    return RunResult(
        run_dir, results, skipped, stats, config["helpers"], given, config["recipes"], stopped
    )
