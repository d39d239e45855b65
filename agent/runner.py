"""The runner: a suite in, a run directory out, written as the run goes. One driver for every
run: it reads the suite, places the run directory, cuts the experience stream into waves, hands
each wave to a pool (`agent.pool.SerialPool` by default; `agent.parallel`'s `RayPool` with
`--workers`/`--address`, or `CopyPool`), records every episode in stream order as the single
writer of the directory and the store, and stops early after errors in a row.

runs/<suite>__<method>__<seeds>__<time>/
    config.yaml          everything needed to repeat the run
    episodes.jsonl       one line per finished episode (appended and flushed at once)
    trajectory/*.jsonl   one line per subgoal attempt
    knowledge.sqlite     the experience store (unless --knowledge points elsewhere)
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sim
from agent.loop import EpisodeResult
from agent.methods import get_method
from agent.parallel import (
    RETRIES,
    CopyPool,
    OnDispatch,
    RayPool,
    ThreadPool,
    start_ray,
    stop_ray,
)
from agent.pool import Job, Outcome, Played, Player, Pool, Revision, SerialPool
from agent.record import RunSink, TrajectoryLine, read_episodes
from agent.runspec import (
    ERRORED_IN_A_ROW,
    PLANNER_KINDS,
    PLANNERS,
    RunConfig,
    RunPlace,
    RunResult,
    batch_on_ray,
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
from knowledge.distill import Distiller, DistillReport, RuleDistiller
from knowledge.schema import Diagnosis, ExperienceTuple, Guardrail, RecallItem
from knowledge.store import ExperienceStore
from scenarios.loader import load_suite

__all__ = [  # the run's description lives in agent.runspec; importable from here as before
    "ERRORED_IN_A_ROW",
    "PLANNERS",
    "PLANNER_KINDS",
    "POOLS",
    "RunConfig",
    "RunResult",
    "Runner",
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

POOLS = ("serial", "ray", "copies", "threads")  # who plays the episodes (`Runner`)


def recorded_episodes(run_dir: Path) -> list[EpisodeResult]:
    """Every episode a run directory holds (the last line of each, in the order they were
    first played): what a resumed run's summary counts, not only the episodes resumed."""
    return read_episodes(run_dir)


def run_suite(
    cfg: RunConfig,
    on_episode: Callable[[EpisodeResult, int, int], None] | None = None,
    resume: str | Path | None = None,
    *,
    pool: str | None = None,
    retries: int = RETRIES,
    on_dispatch: OnDispatch | None = None,
) -> RunResult:
    """Run every (task, seed) of a suite in order; each finished episode is on disk at once.
    With `resume` (a run directory), only the episodes not yet finished there run. After
    `ERRORED_IN_A_ROW` errored episodes in a row the run stops (`RunResult.stopped` says why).
    `pool` (`POOLS`): by default "serial", or "ray" with `cfg.workers > 1` or `cfg.address`."""
    runner = Runner(cfg, pool=pool, retries=retries, on_dispatch=on_dispatch)
    return runner.run(on_episode, resume)


class Runner:
    """Plays a suite's stream through a pool and records it.

    Waves: a pool that plays on private copies gets `cfg.wave` episodes at a time (default one
    per worker) for a method with memory, each against the store as it stood at the wave's
    start, and the whole stream at once for a method without; the serial pool gets one
    episode at a time, against the store itself. A wave of one is the serial semantics
    exactly. No wave starts once `ERRORED_IN_A_ROW` episodes in a row have errored."""

    def __init__(
        self,
        cfg: RunConfig,
        *,
        pool: str | None = None,
        retries: int = RETRIES,
        on_dispatch: OnDispatch | None = None,
    ) -> None:
        kind = pool or (
            "ray" if cfg.workers > 1 or cfg.address else "threads" if cfg.batch > 1 else "serial"
        )
        if kind not in POOLS:
            raise ValueError(f"unknown pool {kind!r}; available: {', '.join(POOLS)}")
        if cfg.workers < 1 or cfg.batch < 1 or (cfg.wave is not None and cfg.wave < 1):
            raise ValueError(
                "workers, batch and wave must be at least 1, got"
                f" {cfg.workers}, {cfg.batch}, {cfg.wave}"
            )
        if cfg.batch > 1 and kind not in ("threads", "serial"):
            raise ValueError(batch_on_ray(cfg.batch))
        self.cfg, self.kind, self.retries, self.on_dispatch = cfg, kind, retries, on_dispatch

    def run(
        self,
        on_episode: Callable[[EpisodeResult, int, int], None] | None = None,
        resume: str | Path | None = None,
    ) -> RunResult:
        cfg = self.cfg
        check_config(cfg)
        suite_path = Path(cfg.suite)
        world_id, options = suite_world_id(suite_path), world_options(suite_path, cfg)
        timing: dict[str, float] = {}
        with contextlib.ExitStack() as stack:  # closed in reverse: pool, store, sink, Ray, world
            world = sim.make(world_id, **options)
            stack.callback(world.close)
            suite = load_suite(suite_path, known_items=world.item_names())
            method = get_method(cfg.method)
            t0 = time.perf_counter()
            # the serial pool plays on this world; a planner that cannot start fails here,
            # before there is a run directory
            player = Player.build(cfg, world) if self.kind == "serial" else None
            if player is None:
                world.close()  # the workers make their own
            if self.kind == "ray":  # a cluster's size may fill in the worker count (config.yaml)
                started, timing["ray_init_s"], cfg = start_ray(cfg)
                if started:
                    stack.callback(stop_ray)
            place = place_run(cfg, suite, method.name, resume)
            sink = stack.enter_context(RunSink(place.run_dir, place.config))
            store = ExperienceStore(place.store_path) if method.memory else None
            if store is not None:
                stack.callback(store.close)
                if resume is not None:  # a killed episode's attempts: rolled back
                    forgot = store.forget_unfinished(place.run_id, place.done)
                    if forgot:
                        log.info(
                            "%s: rolled back %d tuples of unfinished episodes", place.run_id, forgot
                        )
            pool: Pool | None = None
            if player is not None:
                pool = SerialPool(player)
            elif place.pairs:  # (none left on --resume of a finished run: no workers to start)
                where = (world_id, options)
                if self.kind == "ray":
                    pool = RayPool(cfg, where, cfg.workers, self.retries, self.on_dispatch)
                elif self.kind == "threads":
                    pool = ThreadPool(cfg, where, cfg.batch, self.retries)
                else:
                    pool = CopyPool(cfg, where, self.retries)
            if pool is not None:
                stack.callback(pool.close)
            timing["start_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            results: list[EpisodeResult] = []
            stopped = None
            if pool is not None:
                results, stopped = self._play(pool, place, store, sink, on_episode)
            timing["rollout_s"] = time.perf_counter() - t0
            stats = store.stats() if store is not None else {}
        return RunResult(
            place.run_dir,
            results,
            suite.skipped(),
            stats,
            place.config["helpers"],
            place.config["help"],
            place.config["recipes"],
            stopped,
            timing=timing,
            retried=dict(pool.retried) if pool is not None else {},
            workers=cfg.workers,
            batch=cfg.batch,
        )

    def _play(
        self,
        pool: Pool,
        place: RunPlace,
        store: ExperienceStore | None,
        sink: RunSink,
        on_episode: Callable[[EpisodeResult, int, int], None] | None,
    ) -> tuple[list[EpisodeResult], str | None]:
        """Wave by wave: each episode recorded in stream order as its pool hands it back."""
        pairs, run_id = place.pairs, place.run_id
        side = self.cfg.batch if self.kind == "threads" else self.cfg.workers
        if not pool.private:
            size = 1
        elif store is not None:
            size = self.cfg.wave or side
        elif self.kind == "threads":  # no memory to share, but an endpoint that is down
            size = side  # must stop the run after a few errors, as between serial episodes
        else:
            size = max(1, len(pairs))
        jobs = [Job(i, t, s, run_id, i // size) for i, (t, s) in enumerate(pairs)]
        distiller = _replay_distiller(self.cfg) if pool.private else RuleDistiller()
        results: list[EpisodeResult] = []
        for w in range(0, len(jobs), size):
            why = stop_reason(results, len(jobs) - len(results))
            if why is not None:
                log.info("%s: %s", run_id, why)
                return results, why
            for job, out in pool.run(jobs[w : w + size], store, sink):
                result, lines = record(store, distiller, job, out)
                if lines or not (isinstance(out, Played) and out.live):
                    with sink.trajectory(job.episode_id) as tf:
                        for line in lines:
                            sink.line(tf, line)
                sink.episode(result)
                results.append(result)
                if on_episode is not None:
                    on_episode(result, len(results), len(jobs))
        return results, None


# ---- recording a private copy's episode: the single writer --------------------------------
def _replay_distiller(cfg: RunConfig) -> Distiller:
    """The runner's distiller for private copies: the rules, or the LLM distiller replaying
    what its workers' models wrote (keyed by the store's tuple ids, filled in per episode)."""
    if cfg.distiller != "llm":
        return RuleDistiller()
    from agent.extractor import LLMDistiller

    class Replay(LLMDistiller):
        def __init__(self) -> None:
            super().__init__(client=None)  # type: ignore[arg-type]  # never asked: replayed
            self.written: dict[int, Guardrail | None] = {}

        def extract(self, tup: ExperienceTuple, *_: object, **__: object) -> Guardrail | None:
            """What the worker's model wrote for this tuple (asked nothing)."""
            if int(tup.id or 0) not in self.written:
                log.warning("no written guardrail for tuple %s: the rule's is kept", tup.id)
            rail = self.written.get(int(tup.id or 0))
            return None if rail is None else rail.model_copy(update={"evidence": [tup.id]})

    return Replay()


_GUARDRAIL_REF = re.compile(r"\bguardrail (\d+)\b")
_ATTEMPT_REF = re.compile(r"\bpast attempt (\d+)\b")
_SKILL_REF = re.compile(r"\bskill (\d+)\b")  # a skill check's verdict (`agent.memory`)


class Ids:
    """A private copy's ids -> the store's, on the typed record. Ids up to the snapshot are the
    same in both; new tuples get the ids the store gives them, new knowledge is found by its
    key. Text that names an id ("guardrail 7", "past attempt 12") is rewritten too."""

    def __init__(self, store: ExperienceStore, played: Played) -> None:
        self.store, self.played = store, played
        self.tuples: dict[int, int] = {}
        self.found: dict[tuple[str, int], int] = {}

    def tuple(self, i: int) -> int:
        return self.tuples.get(i, i)

    def guardrail(self, i: int) -> int:
        return self._known("g", i, self.played.new_guardrails.get(i), self.store.find_guardrail)

    def skill(self, i: int) -> int:
        return self._known("s", i, self.played.new_skills.get(i), self.store.find_skill)

    def _known(self, kind: str, i: int, new: Any, find: Callable[[Any], Any]) -> int:
        """A piece of knowledge the episode made (`new`, else `i` is the store's already):
        its id in the store, found by its key once the store holds it."""
        if new is not None and (kind, i) not in self.found:
            got = find(new)
            if got is not None and got.id is not None:
                self.found[kind, i] = got.id
        return self.found.get((kind, i), i)

    def guardrail_of(self, rail: Guardrail) -> Guardrail:
        """A private copy's guardrail with the store's ids (its own, its evidence's)."""
        update = {
            "id": self.guardrail(int(rail.id or 0)),
            "evidence": [self.tuple(e) for e in rail.evidence],
            "remedy_evidence": [self.tuple(e) for e in rail.remedy_evidence],
            "reason": self.text(rail.reason),
        }
        return rail.model_copy(update=update)

    def of_kind(self, kind: str, i: int) -> int:
        """An item's id by its kind (a recipe, summary or experience names a tuple)."""
        return {"skill": self.skill, "guardrail": self.guardrail}.get(kind, self.tuple)(i)

    def text(self, s: str) -> str:
        s = _GUARDRAIL_REF.sub(lambda m: f"guardrail {self.guardrail(int(m[1]))}", s)
        s = _SKILL_REF.sub(lambda m: f"skill {self.skill(int(m[1]))}", s)
        return _ATTEMPT_REF.sub(lambda m: f"past attempt {self.tuple(int(m[1]))}", s)

    def texts(self, values: dict[str, Any]) -> dict[str, Any]:
        return {k: self.text(v) if isinstance(v, str) else v for k, v in values.items()}

    def diagnosis(self, d: Diagnosis) -> Diagnosis:
        return d.model_copy(
            update={
                "evidence": [self.text(e) for e in d.evidence],
                "details": self.texts(d.details),
            }
        )

    def item(self, r: RecallItem) -> RecallItem:
        return r.model_copy(
            update={
                "id": self.of_kind(r.kind, r.id),
                "text": self.text(r.text),
                "evidence": [self.tuple(e) for e in r.evidence],
            }
        )

    def event(self, e: dict[str, Any]) -> dict[str, Any]:
        out = self.texts(e)
        if isinstance(e.get("guardrail"), int):  # a blocked event
            out["guardrail"] = self.guardrail(e["guardrail"])
        return out

    def experience(self, t: ExperienceTuple) -> ExperienceTuple:
        """A tuple to anchor in the store: a new id, its evidence text the store's."""
        return t.model_copy(
            update={"id": None, "created_at": 0, "diagnosis": self.diagnosis(t.diagnosis)}
        )

    def line(self, line: TrajectoryLine) -> TrajectoryLine:
        out = line.model_copy(deep=True)
        if out.tuple_id is not None:
            out.tuple_id = self.tuple(out.tuple_id)
        out.recalled = [self.item(r) for r in out.recalled]
        if out.guardrail.id is not None:
            out.guardrail.id = self.guardrail(out.guardrail.id)
        if out.guardrail.reason is not None:
            out.guardrail.reason = self.text(out.guardrail.reason)
        out.outcome.message = self.text(out.outcome.message)
        out.outcome.trace = [self.event(e) for e in out.outcome.trace]
        out.diagnosis = self.diagnosis(out.diagnosis)
        out.memory = [self.text(m) for m in out.memory]
        plan = out.plan
        if plan is not None:
            plan.notes = [self.text(n) for n in plan.notes]
            for name in ("prompt", "reply", "error"):
                value = getattr(plan, name)
                if value is not None:
                    setattr(plan, name, self.text(value))
            plan.followed = [
                {**f, "id": self.of_kind(f["kind"], f["id"])} if isinstance(f.get("id"), int) else f
                for f in plan.followed
            ]
        return out


def record(
    store: ExperienceStore | None, distiller: Distiller, job: Job, out: Outcome
) -> tuple[EpisodeResult, list[TrajectoryLine]]:
    """Bring one played episode into the store, in stream order, as the serial loop would
    have: anchor its tuples, replay the online pass after the same failures, then the
    end-of-episode pass. Returns its result and trajectory lines, with the store's ids (none
    for an episode played live: its lines are written and its tuples anchored already)."""
    if isinstance(out, str):  # retries spent: recorded as errored, `--resume` retries it
        res = EpisodeResult(
            episode_id=job.episode_id, task_id=job.task.id, group=job.task.group, seed=job.seed
        )
        res.error = out
        return res, []
    res = out.result
    if out.live or store is None:
        return res, out.lines
    ids = Ids(store, out)
    written: dict[int, Guardrail | None] = {}
    if hasattr(distiller, "written"):  # the LLM distiller: what the worker's model wrote
        distiller.written = written
    anchored: dict[int, ExperienceTuple] = {}
    revisions = sorted(out.revisions, key=lambda r: r[0])  # (stable: in order within a point)
    for n, private in enumerate(out.tuples):
        tup = ids.experience(private)
        old = int(private.id or 0)
        ids.tuples[old] = store.anchor(tup)
        anchored[old] = tup
        # what the loop wrote once this tuple was anchored, before its online pass
        revisions = _revise(store, ids, revisions, n + 2)
        if old in out.extracted:
            rail = out.extracted[old]
            if rail is not None:  # its remedy names tuples by the worker's ids
                evidence = [ids.tuple(e) for e in rail.remedy_evidence]
                rail = rail.model_copy(update={"remedy_evidence": evidence})
            written[ids.tuples[old]] = rail
        if old in out.online:
            _add(res, distiller.online(store, tup))  # only what the replay itself spent
    _revise(store, ids, revisions, len(out.tuples) + 1)  # the episode's last writes
    if out.distilled is not None:
        old_ids, success, goal = out.distilled
        report = distiller.distill(store, [anchored[i] for i in old_ids], success, goal)
        res.distilled = report.as_dict()
        _add(res, report)
        store.record_episode(res.episode_id, job.run_id, job.task.id, res.row())
    return res, [ids.line(line) for line in out.lines]


def _revise(
    store: ExperienceStore, ids: Ids, revisions: list[Revision], upto: int
) -> list[Revision]:
    """Replay the loop's own writes made with fewer than `upto` tuples anchored; the rest."""
    while revisions and revisions[0][0] < upto:
        _, kind, what = revisions.pop(0)
        if kind == "ledger":
            store.ledger_add((k, ids.of_kind(k, i), c, n) for k, i, c, n in what)
        elif kind == "guardrail":
            rail = ids.guardrail_of(what)
            store.revise_guardrail(rail)
        else:
            skill = what.model_copy(update={"evidence": [ids.tuple(e) for e in what.evidence]})
            store.revise_skill(skill.model_copy(update={"id": ids.skill(int(what.id or 0))}))
    return revisions


def _add(res: EpisodeResult, report: DistillReport) -> None:
    res.llm_calls += report.llm_calls
    res.prompt_tokens += report.prompt_tokens
    res.llm_latency_s = round(res.llm_latency_s + report.latency_s, 4)
    res.completion_tokens += report.completion_tokens
