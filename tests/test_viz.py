"""The visualiser: the pure renderer, the viewer driven by scripted keys (headless), replay
that regenerates the recorded world, the live agent held by the viewer, video export, plots and
the knowledge browser."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from agent.cli import app
from agent.record import TrajectoryLine
from agent.runner import RunConfig, run_suite
from knowledge.schema import Guardrail
from knowledge.store import ExperienceStore
from sim.schema import FailureCause, Subgoal
from viz.frame import Frame, PlanTracker
from viz.live import LiveSession
from viz.render import HEIGHT, PANELS, RIGHT_X, SCRUBBER, WIDTH, WORLD_BOX, Chrome, render_frame
from viz.replay import RunReplay
from viz.viewer import KEYMAP, Viewer, keymap_text

SUITE = """
name: tiny
world: craftworld/v1
defaults: {max_ticks: 12000, max_subgoals: 14, seeds: [0]}
tasks:
  - {id: planks, instruction: Craft oak planks., goal: {item: oak_planks, count: 4}}
  - {id: pickaxe, instruction: Craft a wooden pickaxe., goal: {item: wooden_pickaxe}}
"""
BAD = np.array([236, 88, 78], dtype=np.uint8)


def _seeded_store(path: Path) -> Path:
    """A store holding one guardrail the symbolic planner runs into: it crafts sticks before
    it places a crafting table, and this forbids that (blocked attempts to show)."""
    store = ExperienceStore(path)
    try:
        store.put_guardrail(
            Guardrail(
                root_cause=FailureCause.MISSING_ITEM,
                forbidden="craft:stick",
                unless=["near:crafting_table"],
                remedy=[Subgoal(verb="place", target="crafting_table")],
                remedy_evidence=[1],  # as if induced from the store's first tuple
                reason="seeded for the viewer's tests",
            )
        )
    finally:
        store.close()
    return path


def _config(suite: Path, **kw: object) -> RunConfig:
    base: dict[str, object] = {"suite": str(suite), "planner": "symbolic", "method": "evolving"}
    return RunConfig(**{**base, **kw})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("suite") / "tiny.yaml"
    path.write_text(SUITE)
    return path


@pytest.fixture(scope="module")
def run_dir(suite: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    store = _seeded_store(out / "knowledge.sqlite")
    return run_suite(_config(suite, out=str(out), name="tiny_run", knowledge=str(store))).run_dir


def _store_of(run_dir: Path) -> Path:
    return Path(yaml.safe_load((run_dir / "config.yaml").read_text())["store"])


@pytest.fixture()
def replay(run_dir: Path) -> Iterator[RunReplay]:
    r = RunReplay(run_dir)
    yield r
    r.close()


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ---- the renderer ----------------------------------------------------------------------------
def test_render_is_pure_and_shaped(replay: RunReplay) -> None:
    frame = replay.frame(1)
    chrome = Chrome(cursor=1, total=len(replay), starts=replay.starts)
    a, b = render_frame(frame, chrome), render_frame(frame, chrome)
    assert a.shape == (HEIGHT, WIDTH, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert render_frame(None, Chrome(message="waiting")).shape == (HEIGHT, WIDTH, 3)


def test_overlays_and_panels_change_the_picture(replay: RunReplay) -> None:
    frame = replay.frame(0)
    base = render_frame(frame, Chrome())
    for extra in ("help", "prompt"):
        shown = render_frame(frame, Chrome(overlays=PANELS | {extra}))
        assert not np.array_equal(base, shown), extra
    hidden = render_frame(frame, Chrome(overlays=PANELS - {"knowledge"}))
    region = (slice(380, SCRUBBER[1] - 8), slice(RIGHT_X, WIDTH))
    assert not np.array_equal(base[region], hidden[region])


def test_the_3d_view_is_the_default_and_the_map_one_key_away(replay: RunReplay) -> None:
    """A CraftWorld frame carries its 3D view and its map; `m` shows the map, again the 3D."""
    frame = replay.frame(0)
    assert frame.image is not None and frame.map_image is not None
    assert frame.image.shape != frame.map_image.shape  # two drawings, not one
    viewer = Viewer(replay, playing=False)
    world = (slice(WORLD_BOX[1] + 34, WORLD_BOX[1] + WORLD_BOX[3]), slice(8, RIGHT_X - 10))
    shown = viewer.render()[world].copy()
    assert viewer.handle("m") == "toggle:map"
    assert not np.array_equal(shown, viewer.render()[world])
    viewer.handle("m")
    assert np.array_equal(shown, viewer.render()[world])
    assert "the map" in keymap_text()


def test_prompt_overlay_shows_the_llm_exchange(replay: RunReplay) -> None:
    frame = replay.frame(0)
    chrome = Chrome(overlays=PANELS | {"prompt"})
    none = render_frame(frame, chrome)
    talk = replace(
        frame, prompt="You are a Minecraft planner.\nGoal: oak_planks", reply='{"plan": []}'
    )
    assert not np.array_equal(render_frame(talk, chrome), none)


def _knowledge_region(img: np.ndarray) -> np.ndarray:
    return img[356 : SCRUBBER[1] - 6, RIGHT_X:WIDTH]


def test_a_blocking_guardrail_is_marked(replay: RunReplay) -> None:
    frames = replay.episode_frames("pickaxe__s0")
    blocked = next(f for f in frames if f.blocked)
    rail = blocked.guardrail.id
    recalled = [
        {"kind": "guardrail", "id": rail, "text": "do not ...", "score": 1.0, "evidence": [1]},
        {"kind": "skill", "id": 9, "text": "skill ...", "score": 0.5, "evidence": [2]},
    ]
    marked = replace(
        blocked, line=TrajectoryLine.read({**blocked.line.row(), "recalled": recalled})
    )
    img = render_frame(marked, Chrome())
    assert (_knowledge_region(img) == BAD).all(axis=-1).sum() > 200  # banner and marks in red
    free = {**blocked.line.row(), "recalled": recalled, "guardrail": {"blocked": False}}
    img = render_frame(replace(blocked, line=TrajectoryLine.read(free)), Chrome())
    assert (_knowledge_region(img) == BAD).all(axis=-1).sum() == 0


def test_household_state_is_a_text_panel(replay: RunReplay) -> None:
    frame = replay.frame(0)
    state = {
        "world": "alfworld/v1",
        "location": "countertop_1",
        "holding": "apple_1",
        "object_states": {
            "fridge_1": ["closed"],
            "countertop_1": [],
            "knife_1": ["in:countertop_1", "clean"],
            "lettuce_1": ["in:fridge_1"],
        },
    }
    house = replace(
        frame, line=TrajectoryLine.read({**frame.line.row(), "post_state": state}), image=None
    )
    img = render_frame(house, Chrome())
    schematic = render_frame(replace(frame, image=None), Chrome())
    assert not np.array_equal(img[30:420, 8:400], schematic[30:420, 8:400])


# ---- replay ----------------------------------------------------------------------------------
def test_replay_regenerates_the_recorded_world(run_dir: Path, replay: RunReplay) -> None:
    assert replay.episodes == ["planks__s0", "pickaxe__s0"]
    counts = [len(_lines(run_dir / "trajectory" / f"{e}.jsonl")) for e in replay.episodes]
    assert len(replay) == sum(counts) and replay.starts == (0, counts[0])
    for i in range(len(replay)):
        f = replay.frame(i)
        assert f.image is not None and f.image.shape[2] == 3
        assert f.view_note.startswith("world regenerated")
    frames = replay.episode_frames("pickaxe__s0")
    assert any(f.blocked for f in frames)
    # a blocked attempt never reached the world: the picture is the one before it
    for prev, f in itertools.pairwise(frames):
        if f.blocked:
            assert np.array_equal(prev.image, f.image)


def test_replay_says_when_the_world_diverges(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    path = copy / "trajectory" / "planks__s0.jsonl"
    lines = _lines(path)
    lines[1]["post_state"]["inventory"]["diamond"] = 1  # not what the world does
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    frames = RunReplay(copy).episode_frames("planks__s0")
    assert frames[0].image is not None
    assert all(f.image is None and "diverged at step 1" in f.view_note for f in frames[1:])
    render_frame(frames[1], Chrome())  # the schematic draws


def test_replay_without_the_suite_is_schematic(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    cfg = yaml.safe_load((copy / "config.yaml").read_text())
    cfg["suite"] = str(tmp_path / "gone" / "no_such_suite.yaml")
    (copy / "config.yaml").write_text(yaml.safe_dump(cfg))
    frame = RunReplay(copy).frame(0)
    assert frame.image is None and "schematic" in frame.view_note


def _typed(part: dict) -> TrajectoryLine:
    """A hand-written trajectory line: `part`, with an empty state and a success."""
    state = {"world": "craftworld/v1"}
    base = {"step": 0, "pre_state": state, "post_state": state, "diagnosis": {"success": True}}
    return TrajectoryLine.read({**base, **part})


def test_plan_tracker_follows_the_plan() -> None:
    def line(verb: str, target: str, plan: list[str] | None = None) -> TrajectoryLine:
        out: dict = {"subgoal": {"verb": verb, "target": target, "count": 1, "args": {}}}
        if plan is not None:
            out["plan"] = {"subgoals": plan, "prompt": "P", "reply": "R", "error": None}
        return _typed(out)

    t = PlanTracker()
    plan = ["mine 1 oak_log", "craft 1 oak_planks"]
    assert t.feed(line("mine", "oak_log", plan)) == (tuple(plan), 0)
    assert t.feed(line("craft", "oak_planks")) == (tuple(plan), 1)
    assert t.feed(line("craft", "stick")) == (tuple(plan), -1)  # not in the plan
    assert t.feed(line("craft", "stick", ["craft 1 stick"])) == (("craft 1 stick",), 0)
    assert (t.prompt, t.reply) == ("P", "R")


# ---- the viewer, driven by scripted keys -----------------------------------------------------
def test_keymap_is_printed_and_in_the_help() -> None:
    text = keymap_text()
    for keys, _, what in KEYMAP:
        assert what in text and keys[0] in text
    viewer = Viewer(RunReplayStub(3))
    viewer.handle("h")
    assert "help" in viewer.chrome().overlays
    assert len(viewer.chrome().keymap) == len(KEYMAP) + 1  # and the scrubber click


def test_pause_holds(replay: RunReplay) -> None:
    viewer = Viewer(replay, playing=True, speed=4.0)
    viewer.tick(0.25)
    assert viewer.cursor == 1
    viewer.handle("space")
    held = viewer.render().copy()
    for _ in range(20):
        viewer.tick(1.0)
    assert viewer.cursor == 1 and not viewer.playing
    assert np.array_equal(viewer.render(), held)
    viewer.handle("space")
    viewer.tick(0.5)
    assert viewer.cursor == 3  # plays on at 4 per second


def test_step_advances_exactly_one_subgoal(replay: RunReplay) -> None:
    viewer = Viewer(replay, playing=False)
    before = viewer.render().copy()
    seen = [viewer.frame().step]  # type: ignore[union-attr]
    for _ in range(4):
        viewer.handle("n")
        viewer.tick(0.0)
        seen.append(viewer.frame().step)  # type: ignore[union-attr]
    assert viewer.cursor == 4
    # planks has 2 attempts (steps 0, 1), then the pickaxe episode's 0, 1, 2
    assert seen == [0, 1, 0, 1, 2]
    assert not np.array_equal(before, viewer.render())
    viewer.handle("b")
    assert viewer.cursor == 3 and not viewer.playing
    viewer.handle("right")  # the arrow keys too
    assert viewer.cursor == 4


def test_scrubber_jumps(replay: RunReplay) -> None:
    viewer = Viewer(replay, playing=False)
    viewer.handle("]")
    assert viewer.cursor == replay.starts[1]
    assert viewer.frame().episode_id == "pickaxe__s0"  # type: ignore[union-attr]
    viewer.handle("end")
    assert viewer.cursor == len(replay) - 1
    viewer.handle("home")
    assert viewer.cursor == replay.starts[1]
    viewer.handle("[")
    assert viewer.cursor == 0
    viewer.seek_fraction(0.999)
    assert viewer.cursor == len(replay) - 1
    viewer.seek_fraction(0.0)
    assert viewer.cursor == 0
    # the scrubber's marker moves with the cursor
    a = viewer.render().copy()
    viewer.seek_fraction(0.5)
    b = viewer.render()
    bar = (slice(SCRUBBER[1] - 6, SCRUBBER[1] + SCRUBBER[3]), slice(0, WIDTH))
    assert not np.array_equal(a[bar], b[bar])


def test_speed_keys(replay: RunReplay) -> None:
    viewer = Viewer(replay, playing=True, speed=1.0)
    viewer.handle("+")
    viewer.handle("+")
    assert viewer.speed == 4.0
    viewer.tick(0.5)
    assert viewer.cursor == 2
    viewer.handle("-")
    assert viewer.speed == 2.0
    viewer.handle("q")
    assert viewer.quit


def test_playing_stops_at_the_end_of_a_recorded_run(replay: RunReplay) -> None:
    viewer = Viewer(replay, playing=True, speed=16.0)
    for _ in range(20):
        viewer.tick(0.5)
    assert viewer.cursor == len(replay) - 1 and not viewer.playing


class RunReplayStub:
    """A finished timeline of n frames with no world (for key handling alone)."""

    mode = "replay"
    finished = True

    def __init__(self, n: int) -> None:
        self.n, self.starts = n, (0,)

    def __len__(self) -> int:
        return self.n

    def frame(self, index: int) -> Frame:
        return Frame("e__s0", "e", 0, index, _typed({"subgoal": {"verb": "wait", "target": "x"}}))

    def request(self, index: int) -> None:
        pass


# ---- live: the agent is held by the viewer ---------------------------------------------------
def test_live_agent_waits_for_the_viewer(suite: Path) -> None:
    session = LiveSession(_config(suite, method="none")).start()
    try:
        viewer = Viewer(session, playing=False)
        assert session.wait_for(1, timeout=60)
        assert session.wait_idle(timeout=60)
        time.sleep(0.3)
        assert len(session) == 1  # paused: the agent made one attempt and waits
        held = viewer.render().copy()
        viewer.tick(5.0)
        assert np.array_equal(viewer.render(), held)
        viewer.handle("n")  # one step: exactly one more attempt
        assert session.wait_for(2, timeout=60) and session.wait_idle(timeout=60)
        time.sleep(0.3)
        viewer.tick(0.0)
        assert len(session) == 2 and viewer.cursor == 1
        assert viewer.frame().step == 1  # type: ignore[union-attr]
        viewer.handle("]")  # on to the next episode: the agent runs until it starts
        deadline = time.monotonic() + 60
        while viewer.cursor == 1 and time.monotonic() < deadline:
            viewer.tick(0.05)
            time.sleep(0.01)
        assert viewer.frame().episode_id == "pickaxe__s0"  # type: ignore[union-attr]
        assert session.starts == (0, viewer.cursor)
        assert session.frame(0).success is True  # the first episode has ended since
    finally:
        session.close()
    assert session.finished and session.error is None


def test_live_and_replay_show_the_same_world(suite: Path, tmp_path: Path) -> None:
    cfg = _config(suite, out=str(tmp_path), name="rec", tasks=["pickaxe"])
    cfg.knowledge = str(_seeded_store(tmp_path / "a.sqlite"))
    recorded = RunReplay(run_suite(cfg).run_dir)
    cfg.knowledge = str(_seeded_store(tmp_path / "b.sqlite"))
    session = LiveSession(cfg).start()
    try:
        session.request(len(recorded) - 1)
        assert session.wait_for(len(recorded), timeout=60)
        for i in range(len(recorded)):
            live, rec = session.frame(i), recorded.frame(i)
            assert live.subgoal == rec.subgoal and live.line.diagnosis == rec.line.diagnosis
            assert np.array_equal(live.image, rec.image)  # type: ignore[arg-type]
        assert any(session.frame(i).blocked for i in range(len(recorded)))
    finally:
        session.close()
        recorded.close()


# ---- the pygame window, headless ---------------------------------------------------------------
@pytest.fixture()
def pygame_dummy(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    return pytest.importorskip("pygame")


def test_window_with_posted_key_events(pygame_dummy, replay: RunReplay) -> None:  # type: ignore[no-untyped-def]
    from viz.app import Window

    pg = pygame_dummy
    window = Window(Viewer(replay, playing=False))
    try:
        first = window.step(0.0)
        assert np.array_equal(window.screen_pixels(), first)

        def press(key: int, char: str = "") -> np.ndarray:
            pg.event.post(pg.event.Event(pg.KEYDOWN, key=key, unicode=char, mod=0))
            return window.step(0.0)

        shown = press(pg.K_n, "n")
        assert window.viewer.cursor == 1
        assert np.array_equal(window.screen_pixels(), shown)
        press(pg.K_RIGHTBRACKET, "]")
        assert window.viewer.cursor == replay.starts[1]
        press(pg.K_LEFT)
        assert window.viewer.cursor == replay.starts[1] - 1
        press(pg.K_SPACE, " ")
        assert window.viewer.playing
        press(pg.K_SPACE, " ")
        held = window.step(5.0)
        assert not window.viewer.playing and np.array_equal(window.step(5.0), held)
        press(pg.K_h, "h")
        assert "help" in window.viewer.overlays
        x, y, w, _ = SCRUBBER
        pg.event.post(pg.event.Event(pg.MOUSEBUTTONDOWN, button=1, pos=(x + w - 2, y + 4)))
        window.step(0.0)
        assert window.viewer.cursor == len(replay) - 1
        press(pg.K_ESCAPE)
        assert window.viewer.quit
        assert window.keys == ["n", "]", "left", "space", "space", "h", "escape"]
    finally:
        window.close()


# ---- the commands ------------------------------------------------------------------------------
cli = CliRunner()


def test_replay_screenshot_command(run_dir: Path, tmp_path: Path, replay: RunReplay) -> None:
    png = tmp_path / "shot.png"
    result = cli.invoke(
        app, ["replay", str(run_dir), "--at", "pickaxe__s0:2", "--screenshot", str(png)]
    )
    assert result.exit_code == 0, result.output
    shot = np.asarray(Image.open(png).convert("RGB"))
    viewer = Viewer(replay, playing=False)
    viewer.goto(replay.index_of("pickaxe__s0", 2))
    assert viewer.frame().step == 2  # type: ignore[union-attr]
    assert np.array_equal(shot, viewer.render())
    by_index = tmp_path / "by_index.png"  # EPISODE as a 0-based index
    result = cli.invoke(app, ["replay", str(run_dir), "--at", "1:2", "--screenshot", str(by_index)])
    assert result.exit_code == 0 and np.array_equal(np.asarray(Image.open(by_index)), shot)
    bad = cli.invoke(app, ["replay", str(run_dir), "--at", "nope:0", "--screenshot", str(png)])
    assert bad.exit_code == 2 and "no episode 'nope'" in bad.output


def test_replay_window_prints_its_keymap(pygame_dummy, run_dir: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli.invoke(app, ["replay", str(run_dir), "--seconds", "0.2"])
    assert result.exit_code == 0, result.output
    assert "play / pause" in result.output and "one subgoal forward" in result.output


def test_watch_screenshot_command(suite: Path, tmp_path: Path) -> None:
    png = tmp_path / "live.png"
    args = ["watch", str(suite), "--method", "none", "--screenshot", str(png), "--at", "1"]
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert Image.open(png).size == (WIDTH, HEIGHT)


def test_export_gif(run_dir: Path, tmp_path: Path, replay: RunReplay) -> None:
    gif = tmp_path / "episode.gif"
    result = cli.invoke(
        app, ["export-video", str(run_dir), "--episode", "pickaxe__s0", "--out", str(gif)]
    )
    assert result.exit_code == 0, result.output
    frames = replay.episode_frames("pickaxe__s0")
    with Image.open(gif) as im:
        assert im.size == (WIDTH, HEIGHT)
        assert im.n_frames == len(frames)  # the held last frame merges into the last
        im.seek(3)
        third = np.asarray(im.convert("RGB"), dtype=np.int16)
    i = replay.starts[1] + 3
    want = render_frame(
        frames[3],
        Chrome(mode="video", playing=True, cursor=i, total=len(replay), starts=replay.starts),
    ).astype(np.int16)
    assert np.abs(third - want).mean() < 3  # the same picture, up to the GIF's palette


def test_export_mp4(run_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("imageio_ffmpeg")
    from viz.video import export_episode

    path = export_episode(run_dir, 0, tmp_path / "e.mp4", fps=4)
    assert path.stat().st_size > 1000


def test_export_rejects_other_formats(run_dir: Path, tmp_path: Path) -> None:
    result = cli.invoke(app, ["export-video", str(run_dir), "--out", str(tmp_path / "x.avi")])
    assert result.exit_code == 2 and ".gif or .mp4" in result.output


def test_plots(run_dir: Path, tmp_path: Path) -> None:
    from viz.plots import find_runs, load_run

    result = cli.invoke(app, ["plots", str(run_dir), "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    for name in ("learning_curve", "success_by_group", "knowledge_growth", "failure_causes"):
        with Image.open(tmp_path / "p" / f"{name}.png") as im:
            assert im.size[0] > 300
    report = tmp_path / "report"  # an eval report folder: one run per method
    shutil.copytree(run_dir, report / "runs" / "evolving")
    shutil.copytree(run_dir, report / "runs" / "none")
    assert list(find_runs([report])) == ["evolving", "none"]
    result = cli.invoke(app, ["plots", str(report), "--out", str(tmp_path / "q")])
    assert result.exit_code == 0 and (tmp_path / "q" / "learning_curve.png").exists()
    growth = load_run("x", run_dir).growth
    assert len(growth) == 2
    store = ExperienceStore(_store_of(run_dir))
    try:
        skills, rails = len(store.skills()), len(store.guardrails())
    finally:
        store.close()
    assert growth[-1][:2] == (skills, rails)
    assert all(a <= b for a, b in zip(growth[0][:2], growth[-1][:2], strict=True))


def test_knowledge_html(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "kb"
    result = cli.invoke(
        app,
        ["knowledge", "html", str(_store_of(run_dir)), "--out", str(out), "--runs", str(run_dir)],
    )
    assert result.exit_code == 0, result.output
    index = (out / "index.html").read_text()
    store = ExperienceStore(_store_of(run_dir))
    try:
        rails, skills = store.guardrails(), store.skills()
    finally:
        store.close()
    assert rails and skills
    for g in rails:
        assert g.forbidden in index
    for s in skills:
        assert s.name in index
    links = [part.split('"')[0] for part in index.split('href="')[1:]]
    assert links
    for link in links:
        page, _, anchor = link.partition("#")
        if not page:  # the contents block's links, within the page
            assert f'id="{anchor}"' in index
            continue
        text = (out / page).read_text()
        assert f'id="{anchor}"' in text and "steve replay" in text


def test_docs_images_exist() -> None:
    """The README's pictures are made by `python -m viz.docs_images` and committed."""
    root = Path(__file__).resolve().parents[1] / "docs" / "img"
    for name in ("watch.png", "replay.png", "episode.gif"):
        assert (root / name).exists(), name
    assert os.path.getsize(root / "episode.gif") < 2_000_000
