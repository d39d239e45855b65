"""Pools whose episodes play on private copies of the store: Ray workers (`RayPool`), or one
in-process worker (`CopyPool`, the same semantics without Ray). The runner
(`agent.runner.Runner`) drives them; this module never imports it.

Each worker (a Ray actor) holds its own world, planner (and LLM client) and distiller, built
from the `RunConfig`. The runner is the single writer: it owns the experience store, the run
directory and `episodes.jsonl`, and records every episode in stream order.

What an episode may recall (the method's semantics, with workers):

- The stream is cut into **waves** of `RunConfig.wave` episodes (default: one per worker). At
  the start of a wave the pool takes a snapshot of the store (SQLite's backup API) and ships
  it to the workers; each episode of the wave runs against a **private copy** of it.
- So an episode recalls the knowledge distilled from every episode of the earlier waves, plus
  what it anchors and learns online within itself (its own tuples, summaries and online
  guardrails, in its private copy). It never sees the other episodes of its own wave, even
  those earlier in the stream. With a wave of one this is exactly the serial runner.
- When an episode is recorded, the runner anchors its tuples into the store (its tuple ids
  are re-numbered, and trajectory lines and knowledge evidence name the store's ids), replays
  the online guardrail pass after the same failures and the end-of-episode distillation, in
  stream order. The LLM distiller's written guardrails are replayed from the worker, not
  asked for twice. The private copy is then thrown away.
- A method without memory (`none`) has no store and no waves: episodes run as workers free
  up, and the results equal the serial run's (the world is deterministic given the seed).

Given the seeds and the wave size the results are deterministic, however the episodes are
scheduled. A worker that dies, or an episode that raises, is retried on a fresh worker (up to
`RETRIES` times; then the episode is recorded as errored, and `--resume` retries it), and no
episode is recorded twice: workers write nothing the runner keeps but what they return.
Running on several machines: docs/ray.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import sqlite3
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent.pool import Job, Outcome, Played, Player, Revision
from agent.record import RunSink, TrajectoryLine
from agent.runspec import RunConfig
from knowledge.distill import Distiller, DistillReport
from knowledge.schema import ExperienceTuple, Guardrail, Skill
from knowledge.store import ExperienceStore

log = logging.getLogger(__name__)

RETRIES = 3  # attempts beyond the first, per episode
SHM_MAX = 256 << 20  # snapshots up to this size are copied on /dev/shm (tmpfs)
OnDispatch = Callable[[str, int, Any], None]  # (episode id, attempt, worker handle)
# a store image, or a one-item list holding its Ray object ref (fetched once per wave)
Snapshot = bytes | list[Any]


# ---- the worker ---------------------------------------------------------------------------
class _PrivateStore(ExperienceStore):
    """A worker's copy of the wave's snapshot, which remembers what the episode anchored."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self.anchored: list[ExperienceTuple] = []
        self.revisions: list[Revision] = []
        # a throwaway copy: no WAL file, no fsync (closing a WAL store checkpoints it)
        self.db.execute("PRAGMA journal_mode=MEMORY")
        self.db.execute("PRAGMA synchronous=OFF")

    def anchor_many(self, tuples: Any) -> list[int]:
        tups = list(tuples)
        ids = super().anchor_many(tups)
        self.anchored.extend(tups)
        return ids

    # what the loop itself writes besides tuples (`agent.memory`), noted with how many tuples
    # were anchored before it, so that the runner replays it at the same point
    def ledger_add(self, counts: Iterable[tuple[str, int, str, int]]) -> None:
        rows = list(counts)
        self.revisions.append((len(self.anchored), "ledger", rows))
        super().ledger_add(rows)

    def revise_guardrail(self, rail: Guardrail) -> Guardrail:
        out = super().revise_guardrail(rail)
        self.revisions.append((len(self.anchored), "guardrail", out.model_copy(deep=True)))
        return out

    def revise_skill(self, skill: Skill) -> Skill:
        out = super().revise_skill(skill)
        self.revisions.append((len(self.anchored), "skill", out.model_copy(deep=True)))
        return out


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
    """One worker: a player of its own (world, planner, distiller); plays one episode at a time
    against a private copy of its wave's snapshot. A Ray actor, or in-process (`CopyPool`)."""

    def __init__(
        self, cfg: RunConfig, world_id: str, options: dict[str, Any], client: Any = None
    ) -> None:
        # the driver read the suite: a worker needs only the world's id and options
        self.player = Player.build(cfg, world_id=world_id, options=options, client=client)
        self.distiller = _Recorder(self.player.distiller)
        self.player.distiller = self.distiller
        self.dirs: dict[bool, Path] = {}  # on tmpfs or not -> a private folder
        self.wave, self.base = -1, Path()

    def ready(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}"

    def play(self, job: Job, snapshot: Snapshot | None) -> Played:
        store = self._private(job, snapshot) if snapshot is not None else None
        lines: list[TrajectoryLine] = []
        self.distiller.reset()
        try:
            rails = {g.id for g in store.guardrails(include_retired=True)} if store else set()
            skills = {s.id for s in store.skills(include_retired=True)} if store else set()
            result = self.player.play(
                job.task, job.seed, lines.append, store=store, run_id=job.run_id
            )
            played = Played(result, lines, worker=self.ready())
            if store is not None:
                played.tuples = list(store.anchored)
                played.revisions = list(store.revisions)
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
        self.player.close()
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
def _play_retrying(
    worker: Rollout, job: Job, snap: bytes | None, retries: int, retried: dict[str, int]
) -> Outcome:
    """`job` on an in-process worker: a crashed episode is tried again up to `retries` times
    (`retried` counts the attempts), then recorded as failed."""
    for attempt in range(retries + 1):
        try:
            return worker.play(job, snap)
        except Exception as exc:  # a crashed episode: try again, then record it
            log.warning("%s failed (attempt %d): %s", job.episode_id, attempt + 1, exc)
            retried[job.episode_id] = attempt + 1
            if attempt == retries:
                return f"failed {attempt + 1} times: {exc}"
    raise AssertionError("unreachable")  # retries >= 0: the loop returns


class CopyPool:
    """One in-process worker on private copies: the Ray pool's semantics without Ray (tests,
    debugging)."""

    private = True

    def __init__(self, cfg: RunConfig, world: tuple[str, dict[str, Any]], retries: int) -> None:
        self.worker, self.retries = Rollout(cfg, *world), retries
        self.retried: dict[str, int] = {}

    def run(
        self, jobs: list[Job], store: ExperienceStore | None, sink: RunSink
    ) -> Iterator[tuple[Job, Outcome]]:
        snap = snapshot(store) if store is not None else None
        for job in jobs:
            yield job, _play_retrying(self.worker, job, snap, self.retries, self.retried)

    def close(self) -> None:
        self.worker.close()


class ThreadPool:
    """`batch` episodes side by side in threads of this process, each on a private copy of its
    wave's snapshot (the Ray pool's semantics), an LLM planner's requests gathered into batches
    by one shared `agent.llm.batcher.Batcher` over one client (one model in memory). Results
    come back in the order of the jobs."""

    private = True

    def __init__(
        self, cfg: RunConfig, world: tuple[str, dict[str, Any]], batch: int, retries: int
    ) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from agent.llm.batcher import Batcher
        from agent.runspec import LLM_BACKENDS, llm_client

        self.retries, self.retried = retries, dict[str, int]()
        self.client = Batcher(llm_client(cfg), batch) if cfg.planner in LLM_BACKENDS else None
        try:
            self.workers = [Rollout(cfg, *world, client=self.client) for _ in range(batch)]
        except BaseException:
            if self.client is not None:
                self.client.close()
            raise
        self.free: deque[Rollout] = deque(self.workers)
        self.threads = ThreadPoolExecutor(batch, thread_name_prefix="episode")

    def _play(self, job: Job, snap: bytes | None) -> Outcome:
        worker = self.free.popleft()  # as many threads as workers: one is free
        if self.client is not None:  # an episode in play: the batcher waits for its requests
            self.client.join()
        try:
            return _play_retrying(worker, job, snap, self.retries, self.retried)
        finally:
            self.free.append(worker)
            if self.client is not None:
                self.client.leave()

    def run(
        self, jobs: list[Job], store: ExperienceStore | None, sink: RunSink
    ) -> Iterator[tuple[Job, Outcome]]:
        snap = snapshot(store) if store is not None else None
        futures = [self.threads.submit(self._play, job, snap) for job in jobs]
        for job, future in zip(jobs, futures, strict=True):
            yield job, future.result()

    def close(self) -> None:
        self.threads.shutdown()
        for worker in self.workers:
            worker.close()
        if self.client is not None:
            self.client.close()


class RayPool:
    """`workers` Ray actors. A job goes to whichever actor is free; a dead actor is replaced
    and its job resubmitted; results come back in the order of the jobs. Starts Ray (or joins
    `cfg.address`) unless this process has started it already; `close` shuts down what it
    started."""

    private = True

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

    def run(
        self, jobs: list[Job], store: ExperienceStore | None, sink: RunSink
    ) -> Iterator[tuple[Job, Outcome]]:
        ray = self.ray
        snap = snapshot(store) if store is not None else None
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


def start_ray(cfg: RunConfig) -> tuple[bool, float, RunConfig]:
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


def stop_ray() -> None:
    """Shut down the Ray instance `start_ray` started."""
    import ray

    ray.shutdown()
