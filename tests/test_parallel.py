"""Parallel rollouts (agent.parallel): the driver's waves, records and retries without Ray
(the in-process backend), then on Ray: two workers equal the serial run without memory, a
killed worker's episode is retried and every episode is recorded once, and --resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent import runner
from agent.llm.base import Completion
from agent.runner import RunConfig, load_run_config, run_suite
from knowledge.store import ExperienceStore

TECHTREE = "scenarios/suites/techtree.yaml"
# the fallible planner's seeded mistakes make failures, online guardrails and blocks
MISTAKES = ["craft_wooden_sword", "craft_chest", "craft_ladder"]
SUITE = """
name: tiny
world: craftworld/v1
defaults: {max_ticks: 12000, max_subgoals: 30, seeds: [0, 1]}
tasks:
  - {id: pickaxe, instruction: Craft a wooden pickaxe., goal: {item: wooden_pickaxe}}
  - {id: stone, instruction: Craft a stone pickaxe., goal: {item: stone_pickaxe}}
  - {id: sword, instruction: Craft a wooden sword., goal: {item: wooden_sword}}
"""


def _suite(tmp_path: Path) -> str:
    path = tmp_path / "tiny.yaml"
    path.write_text(SUITE)
    return str(path)


def _episodes(run: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (run / "episodes.jsonl").read_text().splitlines()]
    for row in rows:
        row.pop("wall_s")
    return rows


def _trajectories(run: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((run / "trajectory").glob("*.jsonl"))}


def _knowledge(run: Path) -> tuple[Any, ...]:
    store = ExperienceStore(run / "knowledge.sqlite")
    try:
        return (
            [s.model_dump() for s in store.skills(include_retired=True)],
            [g.model_dump() for g in store.guardrails(include_retired=True)],
            store.stats(),
            store.ledger(),  # what each piece of knowledge did, replayed from private copies
        )
    finally:
        store.close()


def _same_run(a: Path, b: Path, knowledge: bool = True) -> None:
    assert _episodes(a) == _episodes(b)
    assert _trajectories(a) == _trajectories(b)
    if knowledge:
        assert _knowledge(a) == _knowledge(b)


def _ids_are_the_stores(run: Path) -> int:
    """Every id a trajectory names is the store's: its tuples, recalled knowledge, evidence
    and blocking guardrails. Returns the number of blocked subgoals."""
    store = ExperienceStore(run / "knowledge.sqlite")
    skills = {s.id for s in store.skills(include_retired=True)}
    rails = {g.id: g for g in store.guardrails(include_retired=True)}
    blocked = 0
    try:
        for path in (run / "trajectory").glob("*.jsonl"):
            for line in path.read_text().splitlines():
                row = json.loads(line)
                tup = store.get_tuple(row["tuple_id"])
                assert (tup.episode_id, tup.step) == (path.stem, row["step"])
                for item in row["recalled"]:
                    store.get_tuples(item["evidence"])
                    assert len(store.get_tuples(item["evidence"])) == len(item["evidence"])
                    if item["kind"] == "skill":
                        assert item["id"] in skills
                    if item["kind"] == "guardrail":  # its remedy may be a newer one
                        rail = rails[item["id"]]
                        assert item["text"].startswith(f"do not {rail.forbidden}")
                if row["guardrail"]["blocked"]:
                    blocked += 1
                    rail = rails[row["guardrail"]["id"]]
                    assert rail.forbidden == "{verb}:{target}".format(**row["subgoal"])
                    assert f"guardrail {rail.id}:" in row["guardrail"]["reason"]
        for evidence in [s.evidence for s in store.skills(include_retired=True)] + [
            g.evidence for g in rails.values()
        ]:
            assert len(store.get_tuples(evidence)) == len(evidence)
    finally:
        store.close()
    return blocked


# ---- the driver, in process (no Ray) -------------------------------------------------------
def test_a_wave_of_one_replays_the_serial_run(tmp_path: Path) -> None:
    """With one episode per snapshot every episode sees all before it, as in the serial run:
    the driver's re-anchoring and replayed distillation give the same records and knowledge."""
    common: dict[str, Any] = dict(suite=TECHTREE, tasks=MISTAKES, seeds=[0], planner="fallible")
    serial = run_suite(RunConfig(**common, out=str(tmp_path / "serial")))
    local = run_suite(RunConfig(**common, out=str(tmp_path / "local")), pool="copies")
    assert sum(r.online_guardrails for r in serial.episodes) > 0
    _same_run(serial.run_dir, local.run_dir)
    _ids_are_the_stores(local.run_dir)


def test_world_options_reach_every_worker(tmp_path: Path, monkeypatch: Any) -> None:
    """The suite's `world_options` and `--option world.KEY=VALUE` are read by the driver and
    handed to each worker's world (a Minecraft server's host and port travel this way)."""
    import sim

    made: list[dict[str, Any]] = []
    make = sim.make

    def recording(world_id: str, **options: Any) -> Any:
        made.append(options)
        return make(world_id, **options)

    monkeypatch.setattr(sim, "make", recording)
    path = tmp_path / "tiny.yaml"
    path.write_text(
        SUITE.replace(
            "world: craftworld/v1", "world: craftworld/v1\nworld_options: {subgoal_ticks: 50}"
        )
    )
    cfg = RunConfig(suite=str(path), tasks=["pickaxe"], seeds=[0], out=str(tmp_path), method="none")
    cfg.extra["world"] = {"version": "1.16.5"}
    result = run_suite(cfg, pool="copies")
    assert made and all(o == {"subgoal_ticks": 50, "version": "1.16.5"} for o in made)
    assert not result.episodes[0].success  # 50 ticks a subgoal: too few to fell a tree


class Writer:
    """An LLM client for the experience extractor: always the first grounded choice."""

    backend, model = "scripted", "test"

    def __init__(self) -> None:
        self.calls = 0

    def complete(self, messages: Any, schema: Any = None, **sampling: Any) -> Completion:
        self.calls += 1
        enum = {k: v["enum"][0] for k, v in schema["properties"].items() if "enum" in v}
        reply = {"lesson": f"lesson {self.calls}", **enum, "remedy_verb": "place"}
        return Completion(text="{}", parsed=reply, prompt_tokens=50, completion_tokens=20)


def test_the_llm_distillers_guardrails_are_replayed_not_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `--distiller llm` the runner takes the guardrails the worker's model wrote: the
    same knowledge as the serial run, and no LLM call of its own."""
    from agent import pool
    from agent.extractor import LLMDistiller

    writers: list[Writer] = []

    def distiller(cfg: RunConfig, planner: Any) -> LLMDistiller:
        writers.append(Writer())
        return LLMDistiller(writers[-1])

    monkeypatch.setattr(pool, "make_distiller", distiller)  # every pool's players
    common: dict[str, Any] = dict(
        suite=TECHTREE, tasks=MISTAKES, seeds=[0], planner="fallible", distiller="llm"
    )
    serial = run_suite(RunConfig(**common, out=str(tmp_path / "serial")))
    local = run_suite(RunConfig(**common, out=str(tmp_path / "local")), pool="copies")
    assert len(writers) == 2 and writers[0].calls > 0
    assert writers[1].calls == writers[0].calls  # the worker's; the runner asked nothing
    _same_run(serial.run_dir, local.run_dir)
    rails = _knowledge(local.run_dir)[1]
    assert any("written by scripted:test" in g["reason"] for g in rails)


def test_an_episode_recalls_only_what_its_wave_started_with(tmp_path: Path) -> None:
    """Waves of two: the second episode of a wave does not see the first (it ran meanwhile),
    the next wave sees both."""
    common: dict[str, Any] = dict(suite=_suite(tmp_path), tasks=["pickaxe"], seeds=[0, 1, 2])
    result = run_suite(RunConfig(**common, wave=2, out=str(tmp_path / "w")), pool="copies")
    first = _first_recalled(result.run_dir)
    assert first["pickaxe__s0"] == [] and first["pickaxe__s1"] == []
    store = ExperienceStore(result.run_dir / "knowledge.sqlite")
    made = {e: {t.id for t in store.tuples(episode_id=e)} for e in ("pickaxe__s0", "pickaxe__s1")}
    store.close()
    evidence = {e for item in first["pickaxe__s2"] for e in item["evidence"]}
    assert evidence & made["pickaxe__s0"] and evidence & made["pickaxe__s1"]
    assert evidence <= made["pickaxe__s0"] | made["pickaxe__s1"]
    _ids_are_the_stores(result.run_dir)
    serial = run_suite(RunConfig(**common, out=str(tmp_path / "serial")))
    assert _first_recalled(serial.run_dir)["pickaxe__s1"], "serially, the second sees the first"


def _first_recalled(run: Path) -> dict[str, list[dict[str, Any]]]:
    return {
        p.stem: json.loads(p.read_text().splitlines()[0])["recalled"]
        for p in (run / "trajectory").glob("*.jsonl")
    }


def test_ids_are_the_stores_with_waves(tmp_path: Path) -> None:
    cfg = RunConfig(
        suite=TECHTREE,
        tasks=MISTAKES,
        seeds=[0, 1],
        planner="fallible",
        wave=3,
        out=str(tmp_path),
    )
    result = run_suite(cfg, pool="copies")
    assert len(result.episodes) == 6 and all(r.success for r in result.episodes)
    _ids_are_the_stores(result.run_dir)


def test_a_failing_episode_is_retried_then_recorded_as_errored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.planner.symbolic import SymbolicPlanner

    calls: dict[str, int] = {}

    class Crashing(SymbolicPlanner):
        """Crashes the first plan of the sword task, and every plan of the stone task."""

        def plan(self, task, state, briefing):
            calls[task.id] = calls.get(task.id, 0) + 1
            if task.id == "stone" or (task.id == "sword" and calls[task.id] == 1):
                raise RuntimeError(f"world crashed in {task.id}")
            return super().plan(task, state, briefing)

    monkeypatch.setitem(runner.PLANNERS, "crashing", lambda cfg, world: Crashing())
    cfg = RunConfig(suite=_suite(tmp_path), planner="crashing", seeds=[0], out=str(tmp_path))
    result = run_suite(cfg, pool="copies", retries=2)
    assert result.retried == {"sword__s0": 1, "stone__s0": 3}
    by_id = {r.episode_id: r for r in result.episodes}
    assert by_id["sword__s0"].success and by_id["pickaxe__s0"].success
    assert "world crashed in stone" in (by_id["stone__s0"].error or "")
    rows = _episodes(result.run_dir)
    assert [r["episode_id"] for r in rows] == ["pickaxe__s0", "stone__s0", "sword__s0"]
    store = ExperienceStore(result.run_dir / "knowledge.sqlite")
    assert store.stats()["episodes"] == 2  # the errored one left nothing in the store
    assert {t.episode_id for t in store.tuples()} == {"pickaxe__s0", "sword__s0"}
    store.close()
    monkeypatch.setitem(runner.PLANNERS, "crashing", lambda cfg, world: SymbolicPlanner())
    again = run_suite(load_run_config(result.run_dir), pool="copies", resume=result.run_dir)
    assert [r.episode_id for r in again.episodes] == ["stone__s0"] and again.episodes[0].success


# ---- on Ray --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_local() -> Any:
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONHASHSEED": "0"}},
        )
    yield ray
    if started:
        ray.shutdown()


def test_two_workers_equal_the_serial_run_without_memory(tmp_path: Path, ray_local: Any) -> None:
    common: dict[str, Any] = dict(suite=_suite(tmp_path), method="none")
    serial = run_suite(RunConfig(**common, out=str(tmp_path / "serial")))
    parallel = run_suite(RunConfig(**common, out=str(tmp_path / "ray"), workers=2))
    assert len(parallel.episodes) == 6 and all(r.success for r in parallel.episodes)
    _same_run(serial.run_dir, parallel.run_dir, knowledge=False)
    assert not (parallel.run_dir / "knowledge.sqlite").exists()


def test_a_killed_worker_is_replaced_and_every_episode_recorded_once(
    tmp_path: Path, ray_local: Any
) -> None:
    """A worker killed with an episode in flight: the episode runs again on a new worker, the
    others are kept, and the records equal an undisturbed run's (the scheduling differs)."""
    common: dict[str, Any] = dict(
        suite=TECHTREE, tasks=MISTAKES, seeds=[0, 1], planner="fallible", workers=2
    )
    killed: list[str] = []

    def kill(episode_id: str, attempt: int, actor: Any) -> None:
        if episode_id == "craft_chest__s0" and attempt == 0:
            ray_local.kill(actor, no_restart=True)
            killed.append(episode_id)

    hit = run_suite(RunConfig(**common, out=str(tmp_path / "a")), on_dispatch=kill)
    assert killed == ["craft_chest__s0"] and hit.retried == {"craft_chest__s0": 1}
    ids = [r["episode_id"] for r in _episodes(hit.run_dir)]
    assert len(ids) == 6 == len(set(ids))
    store = ExperienceStore(hit.run_dir / "knowledge.sqlite")
    assert store.stats()["episodes"] == 6
    assert len({(t.episode_id, t.step) for t in store.tuples()}) == store.stats()["tuples"]
    store.close()
    calm = run_suite(RunConfig(**common, out=str(tmp_path / "b")))
    assert calm.retried == {}
    _same_run(hit.run_dir, calm.run_dir)
    _ids_are_the_stores(hit.run_dir)


def test_resume_runs_only_what_is_unfinished(tmp_path: Path, ray_local: Any) -> None:
    """Through the CLI: `--workers 2`, then `--resume` of a run killed while recording."""
    from typer.testing import CliRunner

    from agent.cli import app

    cli = CliRunner()
    out = tmp_path / "runs"
    args = ["run", _suite(tmp_path), "--method", "none", "--workers", "2", "--out", str(out)]
    done = cli.invoke(app, args)
    assert done.exit_code == 0, done.output
    (run,) = out.iterdir()
    assert load_run_config(run).workers == 2
    path = run / "episodes.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:4]) + lines[4][:20])  # killed while writing the fifth
    again = cli.invoke(app, ["run", "--resume", str(run), "x"])
    assert again.exit_code == 0, again.output
    assert [r["episode_id"] for r in _episodes(run)] == [
        json.loads(line)["episode_id"] for line in lines
    ]
    # the table shows the whole run; the resumed part is the two episodes left to play
    text = " ".join(again.output.split())
    assert "sword" in text and f"resumed: 2 played now, {len(lines)} in the whole run" in text


def test_a_private_copys_ids_become_the_stores_on_the_typed_line(tmp_path: Path) -> None:
    """Every id a trajectory line holds (its tuple, recalled items, the plan's followed
    entries, the guardrail verdict, a blocked event, and text naming one) is the store's."""
    from agent.loop import EpisodeResult
    from agent.pool import Played
    from agent.record import TrajectoryLine
    from agent.runner import Ids
    from knowledge.schema import Guardrail, Skill
    from sim.schema import FailureCause, Subgoal

    store = ExperienceStore(tmp_path / "k.sqlite")
    rail = Guardrail(root_cause=FailureCause.WRONG_TOOL, forbidden="mine:stone", evidence=[1])
    for n in range(3):  # the store's ids are not the private copy's
        store.put_guardrail(rail.model_copy(update={"forbidden": f"mine:x{n}"}))
    kept = store.put_guardrail(rail)
    private = 2  # the copy gave it the id the store gave another
    result = EpisodeResult(episode_id="e", task_id="t", group="g", seed=0)
    skill = store.put_skill(
        Skill(name="craft:stick", target="stick", steps=[Subgoal(verb="craft", target="stick")])
    )
    played = Played(result, new_guardrails={private: rail}, new_skills={7: "craft:stick"})
    ids = Ids(store, played)
    ids.tuples[5] = 40
    state = {"world": "w"}
    line = TrajectoryLine.read(
        {
            "tuple_id": 5,
            "step": 0,
            "subgoal": {"verb": "mine", "target": "stone"},
            "pre_state": state,
            "post_state": state,
            "diagnosis": {"success": False, "evidence": ["as in past attempt 5"]},
            "recalled": [
                {
                    "kind": "guardrail",
                    "id": private,
                    "text": "guardrail 2",
                    "score": 1,
                    "evidence": [5],
                },
                {"kind": "experience", "id": 5, "text": "past attempt 5: ...", "score": 1},
            ],
            "guardrail": {"blocked": True, "id": private, "reason": "guardrail 2: no"},
            "outcome": {
                "trace": [{"event": "blocked", "guardrail": private, "message": "guardrail 2"}]
            },
            "plan": {"followed": [{"kind": "guardrail", "id": private, "followed": True}]},
        }
    )
    out = ids.line(line)
    g = kept.id
    assert out.tuple_id == 40 and out.diagnosis.evidence == ["as in past attempt 40"]
    assert [(r.id, r.text, r.evidence) for r in out.recalled] == [
        (g, f"guardrail {g}", [40]),
        (40, "past attempt 40: ...", []),
    ]
    assert (out.guardrail.id, out.guardrail.reason) == (g, f"guardrail {g}: no")
    assert out.outcome.trace == [{"event": "blocked", "guardrail": g, "message": f"guardrail {g}"}]
    assert out.plan is not None and out.plan.followed[0]["id"] == g
    assert (
        ids.text("skill 7 failed its verification") == f"skill {skill.id} failed its verification"
    )
    assert line.tuple_id == 5, "the played line is left as it was"
    store.close()


# ---- episodes side by side in threads (issue 31) ------------------------------------------
def test_threads_play_the_waves_of_the_private_copies(tmp_path: Path) -> None:
    """`--batch 3`: three episodes at a time in threads, each against its wave's snapshot;
    the same records and knowledge as the in-process pool with waves of three."""
    common: dict[str, Any] = dict(suite=TECHTREE, tasks=MISTAKES, seeds=[0, 1], planner="fallible")
    copies = run_suite(RunConfig(**common, wave=3, out=str(tmp_path / "copies")), pool="copies")
    threads = run_suite(RunConfig(**common, batch=3, out=str(tmp_path / "threads")))
    assert sum(r.online_guardrails for r in threads.episodes) > 0
    _same_run(copies.run_dir, threads.run_dir)
    _ids_are_the_stores(threads.run_dir)


class _Counting:
    """A client that answers each request with its own text, and says how it was called."""

    backend, model = "counting", "counting-1"

    def __init__(self, many: bool) -> None:
        self.calls: list[int] = []
        if many:
            self.complete_many = self._many

    def complete(self, messages: Any, schema: Any = None, **sampling: Any) -> Completion:
        self.calls.append(1)
        return self._answer(messages)

    def _many(self, requests: list[Any]) -> list[Completion]:
        self.calls.append(len(requests))
        return [self._answer(m) for m, _, _ in requests]

    @staticmethod
    def _answer(messages: Any) -> Completion:
        text = messages[-1]["content"].upper()
        return Completion(text, None, 1, 1, 0.0, "counting", "counting-1")


@pytest.mark.parametrize("many", [True, False])
def test_the_batcher_answers_each_thread_its_own_request(many: bool) -> None:
    import threading

    from agent.llm.batcher import Batcher

    client = _Counting(many)
    batcher = Batcher(client, size=4, wait_s=5.0)
    replies: dict[int, str] = {}

    def episode(i: int) -> None:
        try:
            replies[i] = batcher.complete([{"role": "user", "content": f"plan {i}"}]).text
        finally:
            batcher.leave()

    batcher.join(4)  # as a pool does: its episodes join before any starts
    threads = [threading.Thread(target=episode, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    with batcher.member():  # alone, a request goes at once (not after wait_s)
        assert batcher.complete([{"role": "user", "content": "solo"}]).text == "SOLO"
    batcher.close()
    assert replies == {i: f"PLAN {i}" for i in range(4)}
    # all four wait, so they go as one batch (well before wait_s): one complete_many call,
    # or four complete calls one at a time on a client that takes no concurrent requests
    assert batcher.batches == [4, 1]
    assert client.calls == ([4, 1] if many else [1, 1, 1, 1, 1])


def test_batch_with_ray_workers_is_refused_before_anything_runs(tmp_path: Path) -> None:
    cfg = RunConfig(suite=_suite(tmp_path), batch=2, workers=2, out=str(tmp_path / "runs"))
    with pytest.raises(ValueError, match=r"--batch 2 .* not supported yet"):
        run_suite(cfg)
    assert not (tmp_path / "runs").exists()
