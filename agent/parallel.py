"""Parallel rollouts on Ray: the serial runner's stream, played by several workers.

Each worker (a Ray actor) holds its own world, planner (and LLM client) and distiller, built
from the `RunConfig`. The driver is the single writer: it owns the experience store, the run
directory and `episodes.jsonl`, and records every episode in stream order.

What an episode may recall (the method's semantics, with workers):

- The stream is cut into **waves** of `RunConfig.wave` episodes (default: one per worker). At
  the start of a wave the driver takes a snapshot of the store (SQLite's backup API) and ships
  it to the workers; each episode of the wave runs against a **private copy** of it.
- So an episode recalls the knowledge distilled from every episode of the earlier waves, plus
  what it anchors and learns online within itself (its own tuples, summaries and online
  guardrails, in its private copy). It never sees the other episodes of its own wave, even
  those earlier in the stream. With a wave of one this is exactly the serial runner.
- When an episode is recorded, the driver anchors its tuples into the store (its tuple ids
  are re-numbered, and trajectory lines and knowledge evidence name the store's ids), replays
  the online guardrail pass after the same failures and the end-of-episode distillation, in
  stream order. The LLM distiller's written guardrails are replayed from the worker, not
  asked for twice. The private copy is then thrown away.
- A method without memory (`none`) has no store and no waves: episodes run as workers free
  up, and the results equal the serial run's (the world is deterministic given the seed).

Given the seeds and the wave size the results are deterministic, however the episodes are
scheduled. A worker that dies, or an episode that raises, is retried on a fresh worker (up to
`RETRIES` times; then the episode is recorded as errored, and `--resume` retries it), and no
episode is recorded twice: workers write nothing the driver keeps but what they return.
Running on several machines: docs/ray.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import socket
import sqlite3
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import sim
from agent.loop import Episode, EpisodeResult
from agent.methods import get_method
from agent.record import RunSink
from agent.runspec import (
    RunConfig,
    RunResult,
    check_config,
    make_distiller,
    make_planner,
    place_run,
    stop_reason,
    suite_world_id,
    world_options,
)
from knowledge.distill import Distiller, DistillReport, RuleDistiller
from knowledge.schema import ExperienceTuple, Guardrail
from knowledge.store import ExperienceStore
from scenarios.loader import load_suite
from sim.schema import Task

log = logging.getLogger(__name__)

RETRIES = 3  # attempts beyond the first, per episode
SHM_MAX = 256 << 20  # snapshots up to this size are copied on /dev/shm (tmpfs)
OnDispatch = Callable[[str, int, Any], None]  # (episode id, attempt, worker handle)
# a store image, or a one-item list holding its Ray object ref (fetched once per wave)
Snapshot = bytes | list[Any]


@dataclass
class Job:
    """One episode of the stream, as a worker gets it."""

    index: int  # position in the stream (after --resume's skips)
    task: Task
    seed: int
    run_id: str
    wave: int  # which snapshot it runs against

    @property
    def episode_id(self) -> str:
        return f"{self.task.id}__s{self.seed}"


@dataclass
class Played:
    """What a worker hands back: the result and everything the driver records from it. Ids
    are the private copy's; the driver maps them to the store's."""

    result: EpisodeResult
    lines: list[str]  # trajectory lines (JSON)
    tuples: list[dict[str, Any]] = field(default_factory=list)  # anchored, in order
    online: list[int] = field(default_factory=list)  # tuples the online pass distilled
    distilled: tuple[list[int], bool, str] | None = None  # the end-of-episode pass's input
    new_guardrails: dict[int, Guardrail] = field(default_factory=dict)
    new_skills: dict[int, str] = field(default_factory=dict)
    extracted: dict[int, Guardrail | None] = field(default_factory=dict)  # LLM distiller
    worker: str = ""


@dataclass
class ParallelRunResult(RunResult):
    timing: dict[str, float] = field(default_factory=dict)  # ray_init_s, start_s, rollout_s
    retried: dict[str, int] = field(default_factory=dict)  # episode id -> attempts beyond one
    workers: int = 1


# ---- the worker ---------------------------------------------------------------------------
class _PrivateStore(ExperienceStore):
    """A worker's copy of the wave's snapshot, which remembers what the episode anchored."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self.anchored: list[ExperienceTuple] = []
        # a throwaway copy: no WAL file, no fsync (closing a WAL store checkpoints it)
        self.db.execute("PRAGMA journal_mode=MEMORY")
        self.db.execute("PRAGMA synchronous=OFF")

    def anchor_many(self, tuples: Any) -> list[int]:
        tups = list(tuples)
        ids = super().anchor_many(tups)
        self.anchored.extend(tups)
        return ids


class _Recorder:
    """The worker's distiller, noting what the driver must replay: which failures the online
    pass saw, the end-of-episode pass's input, and the LLM distiller's written guardrails."""

    def __init__(self, inner: Distiller) -> None:
        self.inner = inner
        self.online_ids: list[int] = []
        self.distilled: tuple[list[int], bool, str] | None = None
        self.extracted: dict[int, Guardrail | None] = {}
        extract = getattr(inner, "extract", None)
        if extract is not None:

            def recording(
                tup: ExperienceTuple,
                report: DistillReport | None = None,
                store: ExperienceStore | None = None,
            ) -> Any:
                rail = extract(tup, report, store)
                self.extracted[int(tup.id or 0)] = rail
                return rail

            setattr(inner, "extract", recording)  # noqa: B010 (an instance shadows its method)

    def reset(self) -> None:
        self.online_ids, self.distilled, self.extracted = [], None, {}

    def online(self, store: ExperienceStore, tup: ExperienceTuple) -> DistillReport:
        self.online_ids.append(int(tup.id or 0))
        return self.inner.online(store, tup)

    def distill(
        self, store: ExperienceStore, tuples: list[ExperienceTuple], success: bool, goal: str
    ) -> DistillReport:
        self.distilled = ([int(t.id or 0) for t in tuples], success, goal)
        return self.inner.distill(store, tuples, success, goal)


class Rollout:
    """One worker: a world, a planner and a distiller of its own; plays one episode at a time
    against a private copy of its wave's snapshot. A Ray actor, or in-process (`backend`)."""

    def __init__(self, cfg: RunConfig, world_id: str, options: dict[str, Any]) -> None:
        self.cfg, self.method = cfg, get_method(cfg.method)
        self.world = sim.make(world_id, **options)  # the driver read them: workers need no suite
        self.planner = make_planner(cfg, self.world)
        self.distiller = _Recorder(make_distiller(cfg, self.planner))
        self.dirs: dict[bool, Path] = {}  # on tmpfs or not -> a private folder
        self.wave, self.base = -1, Path()

    def ready(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}"

    def play(self, job: Job, snapshot: Snapshot | None) -> Played:
        store = self._private(job, snapshot) if snapshot is not None else None
        lines: list[str] = []
        self.distiller.reset()
        try:
            rails = {g.id for g in store.guardrails(include_retired=True)} if store else set()
            skills = {s.id for s in store.skills(include_retired=True)} if store else set()
            result = Episode(
                world=self.world,
                task=job.task,
                seed=job.seed,
                planner=self.planner,
                method=self.method,
                store=store,
                run_id=job.run_id,
                record=lambda line: lines.append(json.dumps(line.row())),
                distiller=self.distiller,
            ).run()
            played = Played(result, lines, worker=self.ready())
            if store is not None:
                played.tuples = [t.model_dump(mode="json") for t in store.anchored]
                played.online = list(self.distiller.online_ids)
                played.distilled = self.distiller.distilled
                played.extracted = dict(self.distiller.extracted)
                played.new_guardrails = {
                    int(g.id or 0): g
                    for g in store.guardrails(include_retired=True)
                    if g.id not in rails
                }
                played.new_skills = {
                    int(s.id or 0): s.name
                    for s in store.skills(include_retired=True)
                    if s.id not in skills
                }
            return played
        finally:
            if store is not None:
                store.close()

    def _private(self, job: Job, snapshot: Snapshot) -> _PrivateStore:
        if job.wave != self.wave:  # fetched and written once per wave, copied per episode
            if isinstance(snapshot, bytes):
                data = snapshot
            else:
                import ray

                fetched: Any = ray.get(snapshot[0])
                data = fetched
            # on tmpfs unless the store is large: there a copy per episode takes ~1 ms
            shm = len(data) <= SHM_MAX and os.access("/dev/shm", os.W_OK)
            if shm not in self.dirs:
                where = "/dev/shm" if shm else None
                self.dirs[shm] = Path(tempfile.mkdtemp(prefix="steve-rollout-", dir=where))
            self.base = self.dirs[shm] / "snapshot.sqlite"
            self.base.write_bytes(data)
            self.wave = job.wave
        path = self.base.with_name("episode.sqlite")
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            p.unlink(missing_ok=True)
        shutil.copyfile(self.base, path)
        return _PrivateStore(path)

    def close(self) -> None:
        self.world.close()
        for d in self.dirs.values():
            shutil.rmtree(d, ignore_errors=True)


def snapshot(store: ExperienceStore) -> bytes:
    """The whole store as one SQLite image (the backup API: a consistent copy)."""
    mem = sqlite3.connect(":memory:")
    try:
        store.db.backup(mem)
        return mem.serialize()
    finally:
        mem.close()


# ---- the pools ----------------------------------------------------------------------------
Outcome = Played | str  # a played episode, or why it could not be played


class _LocalPool:
    """One in-process worker: the same driver without Ray (tests, debugging)."""

    def __init__(self, cfg: RunConfig, world: tuple[str, dict[str, Any]], retries: int) -> None:
        self.worker, self.retries = Rollout(cfg, *world), retries
        self.retried: dict[str, int] = {}

    def run(self, jobs: list[Job], snap: bytes | None) -> Iterator[tuple[Job, Outcome]]:
        for job in jobs:
            for attempt in range(self.retries + 1):
                try:
                    yield job, self.worker.play(job, snap)
                    break
                except Exception as exc:  # a crashed episode: try again, then record it
                    log.warning("%s failed (attempt %d): %s", job.episode_id, attempt + 1, exc)
                    self.retried[job.episode_id] = attempt + 1
                    if attempt == self.retries:
                        yield job, f"failed {attempt + 1} times: {exc}"

    def close(self) -> None:
        self.worker.close()


class _RayPool:
    """`workers` Ray actors. A job goes to whichever actor is free; a dead actor is replaced
    and its job resubmitted; results come back in the order of the jobs."""

    def __init__(
        self,
        cfg: RunConfig,
        world: tuple[str, dict[str, Any]],
        workers: int,
        retries: int,
        on_dispatch: OnDispatch | None,
    ) -> None:
        import ray

        self.ray, self.cfg, self.world = ray, cfg, world
        self.retries, self.on_dispatch = retries, on_dispatch
        self.cls = ray.remote(Rollout)
        self.actors = [self._spawn() for _ in range(workers)]
        self.retried: dict[str, int] = {}
        ray.get([a.ready.remote() for a in self.actors])  # a bad config fails here, once

    def _spawn(self) -> Any:
        # Ray's own restarts are off: the driver replaces a dead actor and resubmits its job
        return self.cls.options(
            num_cpus=1, max_restarts=0, max_task_retries=0, runtime_env=_runtime_env()
        ).remote(self.cfg, *self.world)

    def run(self, jobs: list[Job], snap: bytes | None) -> Iterator[tuple[Job, Outcome]]:
        ray = self.ray
        ref = [ray.put(snap)] if snap is not None else None  # in a list: not resolved per task
        pending, free = deque(jobs), deque(range(len(self.actors)))
        attempts: dict[int, int] = {}
        inflight: dict[Any, tuple[int, Job]] = {}
        done: dict[int, Outcome] = {}
        order = deque(j.index for j in jobs)
        by_index = {j.index: j for j in jobs}
        while pending or inflight:
            while pending and free:
                slot, job = free.popleft(), pending.popleft()
                attempt = attempts.get(job.index, 0)
                inflight[self.actors[slot].play.remote(job, ref)] = (slot, job)
                if self.on_dispatch is not None:
                    self.on_dispatch(job.episode_id, attempt, self.actors[slot])
            ready, _ = ray.wait(list(inflight), num_returns=1)
            for r in ready:
                slot, job = inflight.pop(r)
                try:
                    done[job.index] = ray.get(r)
                except ray.exceptions.RayError as exc:
                    if isinstance(exc, ray.exceptions.RayActorError):  # the worker died
                        self._replace(slot)
                    n = attempts[job.index] = attempts.get(job.index, 0) + 1
                    self.retried[job.episode_id] = n
                    log.warning("%s: worker failed (attempt %d): %s", job.episode_id, n, exc)
                    if n > self.retries:
                        done[job.index] = f"failed {n} times: {str(exc).splitlines()[0]}"
                    else:
                        pending.appendleft(job)  # next free worker: keeps the commits flowing
                free.append(slot)
            while order and order[0] in done:
                i = order.popleft()
                yield by_index[i], done.pop(i)

    def _replace(self, slot: int) -> None:
        with contextlib.suppress(Exception):  # already gone
            self.ray.kill(self.actors[slot], no_restart=True)
        self.actors[slot] = self._spawn()

    def close(self) -> None:
        ray = self.ray
        try:
            ray.get([a.close.remote() for a in self.actors], timeout=30)
        except Exception as exc:  # a worker gone at the end changes nothing recorded
            log.debug("closing workers: %s", exc)
        for a in self.actors:
            ray.kill(a, no_restart=True)


# ---- the driver ---------------------------------------------------------------------------
def run_parallel(
    cfg: RunConfig,
    on_episode: Callable[[EpisodeResult, int, int], None] | None = None,
    resume: str | Path | None = None,
    *,
    backend: str = "ray",
    retries: int = RETRIES,
    on_dispatch: OnDispatch | None = None,
) -> ParallelRunResult:
    """`agent.runner.run_suite` on `cfg.workers` workers (Ray, or `backend="local"`: one
    in-process worker with the same waves and records). `on_dispatch(episode_id, attempt,
    actor)` is called as an episode is handed to a Ray worker (monitoring, fault tests)."""
    if cfg.workers < 1 or (cfg.wave is not None and cfg.wave < 1):
        raise ValueError(f"workers and wave must be at least 1, got {cfg.workers}, {cfg.wave}")
    check_config(cfg)
    suite_path = Path(cfg.suite)
    world_id = suite_world_id(suite_path)
    options = world_options(suite_path, cfg)
    world = sim.make(world_id, **options)
    try:
        suite = load_suite(suite_path, known_items=world.item_names())
    finally:
        world.close()
    method = get_method(cfg.method)
    timing: dict[str, float] = {}
    started_ray = False
    if backend == "ray":
        started_ray, timing["ray_init_s"], cfg = _init_ray(cfg)
    elif backend != "local":
        raise ValueError(f"unknown backend {backend!r}; available: ray, local")
    place = place_run(cfg, suite, method.name, resume)
    run_dir, run_id, pairs, config = place.run_dir, place.run_id, place.pairs, place.config
    sink = RunSink(run_dir, config)
    store = ExperienceStore(place.store_path) if method.memory else None
    if resume is not None and store is not None:  # a killed episode's attempts: rolled back
        store.forget_unfinished(run_id, place.done)
    size = (cfg.wave or cfg.workers) if store is not None else max(1, len(pairs))
    jobs = [Job(i, t, s, run_id, i // size) for i, (t, s) in enumerate(pairs)]
    distiller = _replay_distiller(cfg)
    results: list[EpisodeResult] = []
    pool: _LocalPool | _RayPool | None = None
    stopped: list[str] = []

    def play(pool: _LocalPool | _RayPool) -> None:
        """Wave by wave: a snapshot, then each episode recorded in stream order; no further
        wave once `ERRORED_IN_A_ROW` episodes in a row have errored."""
        for w in range(0, len(jobs), size):
            why = stop_reason(results, len(jobs) - len(results))
            if why is not None:
                stopped.append(why)
                log.info("%s: %s", run_id, why)
                return
            snap = snapshot(store) if store is not None else None
            for job, out in pool.run(jobs[w : w + size], snap):
                result, lines = _record(store, distiller, job, out)
                with sink.trajectory(job.episode_id) as tf:
                    for line in lines:
                        sink.line(tf, line)
                sink.episode(result)
                results.append(result)
                if on_episode is not None:
                    on_episode(result, len(results), len(jobs))

    try:
        if jobs:  # (none left on --resume of a finished run: no workers to start)
            t0 = time.perf_counter()
            if backend == "ray":
                pool = _RayPool(cfg, (world_id, options), cfg.workers, retries, on_dispatch)
            else:
                pool = _LocalPool(cfg, (world_id, options), retries)
            timing["start_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            play(pool)
            timing["rollout_s"] = time.perf_counter() - t0
        stats = store.stats() if store is not None else {}
    finally:
        sink.close()
        if pool is not None:
            pool.close()
        if store is not None:
            store.close()
        if started_ray:
            import ray

            ray.shutdown()
    return ParallelRunResult(
        run_dir,
        results,
        suite.skipped(),
        stats,
        config["helpers"],
        config["help"],
        config["recipes"],
        stopped[0] if stopped else None,
        timing=timing,
        retried=dict(pool.retried) if pool is not None else {},
        workers=cfg.workers,
    )


def _init_ray(cfg: RunConfig) -> tuple[bool, float, RunConfig]:
    """Connect to `cfg.address`, or start a light local instance of `cfg.workers` CPUs (an
    instance already started in this process is used as it is). With an address and no worker
    count, one worker per CPU of the cluster (written to config.yaml)."""
    try:
        import ray
    except ImportError:
        raise ValueError(
            "parallel rollouts need Ray: pip install 'steve-evolving[ray]' (make install-ray)"
        ) from None
    t0 = time.perf_counter()
    started = False
    if not ray.is_initialized():
        quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
        if cfg.address:
            ray.init(address=cfg.address, runtime_env=_runtime_env(), **quiet)
        else:
            ray.init(
                num_cpus=cfg.workers,
                include_dashboard=False,
                runtime_env=_runtime_env(),
                **quiet,
            )
        started = True
    if cfg.address and cfg.workers <= 1:
        cfg = replace(cfg, workers=max(1, int(ray.cluster_resources().get("CPU", 1))))
    return started, time.perf_counter() - t0, cfg


def _runtime_env() -> dict[str, Any]:
    """What every worker process starts with: the driver's PYTHONHASHSEED (else 0), so that
    all workers hash strings alike and a planner whose tie-breaks follow a set's order plays
    an episode the same on any of them. Given at `ray.init` too, where it costs nothing."""
    return {"env_vars": {"PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")}}


# ---- recording: the single writer ---------------------------------------------------------
def _replay_distiller(cfg: RunConfig) -> Distiller:
    """The driver's distiller: the rules, or the LLM distiller replaying what its workers'
    models wrote (keyed by the store's tuple ids, filled in per episode)."""
    if cfg.distiller != "llm":
        return RuleDistiller()
    from agent.extractor import LLMDistiller

    class Replay(LLMDistiller):
        def __init__(self) -> None:
            super().__init__(client=None)  # type: ignore[arg-type]  # never asked: replayed
            self.written: dict[int, Guardrail | None] = {}

        def extract(
            self,
            tup: ExperienceTuple,
            report: DistillReport | None = None,
            store: ExperienceStore | None = None,
        ) -> Guardrail | None:
            if int(tup.id or 0) not in self.written:
                log.warning("no written guardrail for tuple %s: the rule's is kept", tup.id)
            rail = self.written.get(int(tup.id or 0))
            return None if rail is None else rail.model_copy(update={"evidence": [tup.id]})

    return Replay()


_GUARDRAIL_REF = re.compile(r"\bguardrail (\d+)\b")
_ATTEMPT_REF = re.compile(r"\bpast attempt (\d+)\b")


class _Ids:
    """The private copy's ids -> the store's. Ids up to the snapshot are the same in both;
    new tuples get the ids the store gives them, new knowledge is found by its key."""

    def __init__(self, store: ExperienceStore, played: Played) -> None:
        self.store, self.played = store, played
        self.tuples: dict[int, int] = {}
        self.found: dict[tuple[str, int], int] = {}

    def tuple(self, i: int) -> int:
        return self.tuples.get(i, i)

    def guardrail(self, i: int) -> int:
        rail = self.played.new_guardrails.get(i)
        if rail is None or ("g", i) in self.found:
            return self.found.get(("g", i), i)
        got = self.store.find_guardrail(rail)
        if got is not None and got.id is not None:
            self.found["g", i] = got.id
        return self.found.get(("g", i), i)

    def skill(self, i: int) -> int:
        name = self.played.new_skills.get(i)
        if name is None or ("s", i) in self.found:
            return self.found.get(("s", i), i)
        got = self.store.find_skill(name)
        if got is not None and got.id is not None:
            self.found["s", i] = got.id
        return self.found.get(("s", i), i)

    def rewrite(self, obj: Any) -> Any:
        """A trajectory line or tuple with every id the store's."""
        if isinstance(obj, str):
            obj = _GUARDRAIL_REF.sub(lambda m: f"guardrail {self.guardrail(int(m[1]))}", obj)
            return _ATTEMPT_REF.sub(lambda m: f"past attempt {self.tuple(int(m[1]))}", obj)
        if isinstance(obj, list):
            return [self.rewrite(v) for v in obj]
        if not isinstance(obj, dict):
            return obj
        out = {k: self.rewrite(v) for k, v in obj.items()}
        if isinstance(obj.get("tuple_id"), int):
            out["tuple_id"] = self.tuple(obj["tuple_id"])
        if isinstance(obj.get("guardrail"), int):  # a blocked event
            out["guardrail"] = self.guardrail(obj["guardrail"])
        if isinstance(obj.get("blocked"), bool) and isinstance(obj.get("id"), int):
            out["id"] = self.guardrail(obj["id"])  # a trajectory line's verdict
        kind = obj.get("kind")
        if kind in ("skill", "guardrail", "summary", "experience", "recipe") and "evidence" in obj:
            out["evidence"] = [self.tuple(e) for e in obj["evidence"]]  # a recalled item
            by = {"skill": self.skill, "guardrail": self.guardrail}.get(kind, self.tuple)
            out["id"] = by(obj["id"])
        return out


def _record(
    store: ExperienceStore | None, distiller: Distiller, job: Job, out: Outcome
) -> tuple[EpisodeResult, list[str]]:
    """Bring one played episode into the store, in stream order, as the serial loop would
    have: anchor its tuples, replay the online pass after the same failures, then the
    end-of-episode pass. Returns its result and trajectory lines, with the store's ids."""
    if isinstance(out, str):  # retries spent: recorded as errored, `--resume` retries it
        res = EpisodeResult(
            episode_id=job.episode_id, task_id=job.task.id, group=job.task.group, seed=job.seed
        )
        res.error = out
        return res, []
    res = out.result
    if store is None:
        return res, out.lines
    ids = _Ids(store, out)
    written: dict[int, Guardrail | None] = {}
    if hasattr(distiller, "written"):  # the LLM distiller: what the worker's model wrote
        distiller.written = written
    anchored: dict[int, ExperienceTuple] = {}
    for data in out.tuples:
        tup = ExperienceTuple.model_validate({**ids.rewrite(data), "id": None, "created_at": 0})
        old = int(data["id"])
        ids.tuples[old] = store.anchor(tup)
        anchored[old] = tup
        if old in out.extracted:
            rail = out.extracted[old]
            if rail is not None:  # its remedy names tuples by the worker's ids
                evidence = [ids.tuple(e) for e in rail.remedy_evidence]
                rail = rail.model_copy(update={"remedy_evidence": evidence})
            written[ids.tuples[old]] = rail
        if old in out.online:
            _add(res, distiller.online(store, tup))  # only what the replay itself spent
    if out.distilled is not None:
        old_ids, success, goal = out.distilled
        report = distiller.distill(store, [anchored[i] for i in old_ids], success, goal)
        res.distilled = report.as_dict()
        _add(res, report)
        store.record_episode(res.episode_id, job.run_id, job.task.id, res.row())
    return res, [json.dumps(ids.rewrite(json.loads(line))) for line in out.lines]


def _add(res: EpisodeResult, report: DistillReport) -> None:
    res.llm_calls += report.llm_calls
    res.prompt_tokens += report.prompt_tokens
    res.llm_latency_s = round(res.llm_latency_s + report.latency_s, 4)
    res.completion_tokens += report.completion_tokens
