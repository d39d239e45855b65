"""Runs as Rerun recordings (issue 32): written with the SDK, read back with its reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.runner import RunConfig, run_suite
from scenarios.loader import resolve_suite

rr = pytest.importorskip("rerun")
from rerun.chunk import RrdReader  # noqa: E402

ENTITIES = {
    "/world/blocks",
    "/world/agent",
    "/world/path",
    "/world/mobs",
    "/agent/inventory",
    "/agent/health",
    "/plan",
    "/diagnosis",
    "/diagnosis/task_progress",
    "/diagnosis/subgoal_progress",
    "/recall",
    "/log",
}


def _run(tmp: Path, method: str) -> Path:
    cfg = RunConfig(
        suite=str(resolve_suite("wooden")),
        planner="fallible",
        method=method,
        tasks=["craft_stick", "craft_wooden_pickaxe"],
        seeds=[0],
        out=str(tmp),
        name=method,
        extra={"misbeliefs": {"seed": 1}},
    )
    return run_suite(cfg).run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("runs")
    return _run(tmp, "evolving"), _run(tmp, "none")


def _contents(path: Path) -> dict[str, tuple[set[str], set[str]]]:
    """recording id -> (entity paths, timelines) as the SDK's reader reads the file."""
    reader = RrdReader(path)
    out = {}
    for entry in reader.recordings():
        entities, timelines = set(), set()
        for chunk in reader.stream(store=entry):
            entities.add(str(chunk.entity_path))
            timelines |= set(chunk.timeline_names)
        assert entry.application_id == "steve-evolving"
        out[entry.recording_id] = (entities, timelines)
    return out


def test_a_run_exports_an_episode_per_recording_with_its_entities(
    runs: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "run.rrd"
    result = CliRunner().invoke(app, ["export-rerun", str(runs[0]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    got = _contents(out)
    assert set(got) == {"evolving/craft_stick__s0", "evolving/craft_wooden_pickaxe__s0"}
    for entities, timelines in got.values():
        assert entities >= ENTITIES, ENTITIES - entities
        assert {"attempt", "tick"} <= timelines


def test_methods_side_by_side_and_one_episode(runs: tuple[Path, Path], tmp_path: Path) -> None:
    from viz.rerun_log import export_runs

    out, n = export_runs(list(runs), tmp_path / "both.rrd", ["craft_stick__s0"])
    assert n == 2 and set(_contents(out)) == {
        "evolving/craft_stick__s0",
        "none/craft_stick__s0",
    }


def test_the_recorded_blocks_are_the_world_around_the_agent(runs: tuple[Path, Path]) -> None:
    from sim.craftworld.world import CraftWorld
    from sim.schema import Goal, Task
    from viz.rerun_log import RADIUS, exposed_blocks

    world = CraftWorld()
    world.reset(Task(id="t", instruction="x", goal=Goal(item="stick")), 0)
    centers, colors = exposed_blocks(world.terrain, world.pos)
    assert len(centers) == len(colors) > 100
    assert (abs(centers[:, 0] - world.pos[0] - 0.5) <= RADIUS).all()
    x, y, z = world.pos
    below = world.terrain.get(x, y - 1, z)  # what the agent stands on is open to the air above
    assert below != "air" and ((centers == (x + 0.5, y - 0.5, z + 0.5)).all(axis=1)).any()


def _said(output: str) -> str:
    return " ".join(output.split())  # the console wraps long lines


def test_bad_requests_are_refused_before_anything_is_written(
    runs: tuple[Path, Path], tmp_path: Path
) -> None:
    cli = CliRunner()
    bad = cli.invoke(app, ["export-rerun", str(runs[0]), "--out", str(tmp_path / "x.gif")])
    assert bad.exit_code == 2 and "ends in .rrd" in _said(bad.output)
    nodir = cli.invoke(app, ["export-rerun", str(tmp_path), "--out", str(tmp_path / "y.rrd")])
    assert nodir.exit_code == 2 and "not a run directory" in _said(nodir.output)
    noep = cli.invoke(
        app, ["export-rerun", str(runs[0]), "--episode", "nope", "--out", str(tmp_path / "z.rrd")]
    )
    assert noep.exit_code == 2 and "nope" in _said(noep.output)
    assert not list(tmp_path.glob("*.rrd"))


def test_watch_streams_each_attempt_as_it_is_made(tmp_path: Path) -> None:
    from viz.live import LiveSession
    from viz.rerun_log import Live

    cfg = RunConfig(suite=str(resolve_suite("wooden")), tasks=["craft_stick"], seeds=[0])
    stream = Live(spawn=False, save=tmp_path / "live.rrd")
    session = LiveSession(cfg, on_frame=stream).start()
    try:
        session.request(50)
        session.wait_for(51, timeout=120)
        n = len(session)
    finally:
        session.close()
        stream.close()
    (path,) = tmp_path.glob("live.*.rrd")
    ((rid, (entities, _)),) = _contents(path).items()
    assert rid == "watch/craft_stick__s0" and n > 0
    assert {"/world/blocks", "/plan", "/diagnosis"} <= entities
