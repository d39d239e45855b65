"""Issue 28, as a user meets it: the plan panel through a guardrail's remedy and the repairs
after it, `steve watch` on a machine without a display, `--at` meaning the same in `watch` and
`replay`, and the knowledge page's contents and filter."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from agent.cli import app
from agent.record import TrajectoryLine
from agent.runner import RunConfig, run_suite
from knowledge.schema import Guardrail
from knowledge.store import ExperienceStore
from sim.schema import FailureCause, Subgoal
from viz.frame import Frame, PlanTracker, plan_rows
from viz.live import LiveSession
from viz.render import render_frame
from viz.replay import RunReplay

SUITE = """
name: tiny
world: craftworld/v1
defaults: {max_ticks: 12000, max_subgoals: 14, seeds: [0]}
tasks:
  - {id: planks, instruction: Craft oak planks., goal: {item: oak_planks, count: 4}}
  - {id: pickaxe, instruction: Craft a wooden pickaxe., goal: {item: wooden_pickaxe}}
"""
cli = CliRunner()


def _seed_guardrail(path: Path) -> Path:
    """A store whose one guardrail the symbolic planner runs into (it crafts sticks before it
    places a crafting table), with a remedy the loop splices into the plan."""
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


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("suite") / "tiny.yaml"
    path.write_text(SUITE)
    return path


@pytest.fixture(scope="module")
def run_dir(suite: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    store = _seed_guardrail(out / "knowledge.sqlite")
    cfg = RunConfig(
        suite=str(suite),
        planner="symbolic",
        method="evolving",
        out=str(out),
        name="tiny_run",
        knowledge=str(store),
    )
    return run_suite(cfg).run_dir


# ---- 1. the plan panel follows remedies and repairs -----------------------------------------
def _rows(frame: Frame) -> list[str]:
    return [text for text, _ in plan_rows(frame)]


def test_plan_panel_follows_a_guardrails_remedy(run_dir: Path) -> None:
    """pickaxe__s0: `craft 4 stick` (plan step 3) is blocked by guardrail 1, whose remedy
    `place crafting_table` is spliced in; that fails for want of a table, which is repaired by
    crafting one; then the stick again, and the rest of the plan."""
    replay = RunReplay(run_dir, regenerate=False)
    frames = replay.episode_frames("pickaxe__s0")
    said = [_rows(f) for f in frames]
    assert not any("(not in the plan)" in row for rows in said for row in rows), said
    blocked = next(f for f in frames if f.blocked)
    assert blocked.active == 2 and blocked.subgoal == "craft 4 stick"
    remedy = frames[blocked.step + 1]
    assert remedy.active == -1
    assert plan_rows(remedy)[0] == (
        "repair: place 1 crafting_table (remedy of guardrail 1)",
        "repair",
    )
    assert ("3. craft 4 stick  (next)", "next") in plan_rows(remedy)  # where it goes back to
    assert "6. craft 1 wooden_pickaxe" in _rows(remedy)  # the plan's remaining steps stay
    nested = frames[blocked.step + 2]  # the remedy failed: no table to place
    assert _rows(nested)[0] == "repair: craft 1 crafting_table (for has:crafting_table)"
    again = next(f for f in frames[blocked.step + 1 :] if f.subgoal == "craft 4 stick")
    assert again.active == 2 and again.repair == ""  # the plan's own step, retried
    later = [f.active for f in frames[again.step :] if f.repair == ""]
    assert later == sorted(later) and later[-1] == len(again.plan) - 1  # in order, to the end
    render_frame(remedy)  # and the panel draws it


def test_the_live_view_names_the_repair_too(suite: Path) -> None:
    """`steve watch` builds its frames with the same tracker as the replay."""
    store = _seed_guardrail(suite.parent / "live.sqlite")
    cfg = RunConfig(
        suite=str(suite),
        planner="symbolic",
        method="evolving",
        knowledge=str(store),
        tasks=["pickaxe"],
    )
    session = LiveSession(cfg).start()
    try:
        i = session.index_of("pickaxe__s0", 3)
        frame = session.frame(i)
    finally:
        session.close()
    assert frame.repair == "remedy of guardrail 1", _rows(frame)


def _line(text: str, ok: bool = True, plan: list[str] | None = None, **d: Any) -> TrajectoryLine:
    verb, count, target = text.split(" ")
    sg = {"verb": verb, "count": int(count), "target": target, "args": {}}
    state = {"world": "craftworld/v1"}
    out: dict[str, Any] = {"subgoal": sg, "diagnosis": {"success": ok, **d}}
    if plan is not None:
        out["plan"] = {"subgoals": plan, "prompt": None, "reply": None, "error": None}
    return TrajectoryLine.read({"step": 0, "pre_state": state, "post_state": state, **out})


def test_tracker_follows_probes_and_repairs_of_the_goal() -> None:
    """Lines written by hand for what the run above does not show: a probe for a missing
    item, a repair of the goal after a planner going in circles, and one after a deadlock
    (which drops the failed step)."""
    plan = ["mine 1 oak_log", "craft 1 bowl", "craft 1 stick"]
    t = PlanTracker()
    assert t.feed(_line("mine 1 oak_log", plan=plan)) == (tuple(plan), 0)
    missing = {"details": {"needs": "has:oak_planks"}}
    assert t.feed(_line("craft 1 bowl", False, **missing))[1] == 1
    assert t.feed(_line("mine 1 birch_log"))[1] == -1  # a probe
    assert (t.repair, t.resumes) == ("for has:oak_planks", 1)
    assert t.feed(_line("craft 1 oak_planks"))[1] == -1  # the probe's next step
    assert t.repair == "for has:oak_planks"
    assert t.feed(_line("craft 1 bowl"))[1] == 1  # the failed step again
    assert t.feed(_line("craft 1 chest"))[1] == -1  # after a success: the goal's repair
    assert t.repair == "working on the goal"
    assert t.feed(_line("craft 1 stick"))[1] == 2
    t = PlanTracker()
    t.feed(_line("mine 1 oak_log", plan=plan))
    t.feed(_line("craft 1 bowl", False, deadlock=True))  # nothing named, a deadlock
    assert t.feed(_line("craft 1 chest"))[1] == -1 and t.repair == "working on the goal"
    assert t.feed(_line("craft 1 stick"))[1] == 2  # the failed step was dropped
    t = PlanTracker()
    assert t.feed(_line("craft 1 bowl")) == ((), -1)  # no plan was recorded at all
    frame = Frame("e", "t", 0, 0, _line("craft 1 bowl"), plan=("mine 1 oak_log",))
    assert _rows(frame)[0] == "attempt: craft 1 bowl (not in the plan)"


# ---- 2. no display ---------------------------------------------------------------------------
def _no_display(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")


def _says_how_to_do_without(result: Any) -> None:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # typer's Exit: no traceback
    out = " ".join(result.output.split())
    assert "--screenshot" in out and "xvfb-run" in out, out
    assert "Traceback" not in out


def test_watch_without_a_display(suite: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_display(monkeypatch)
    started = []
    monkeypatch.setattr(LiveSession, "start", lambda self: started.append(self) or self)
    result = cli.invoke(app, ["watch", str(suite), "--method", "none"])
    _says_how_to_do_without(result)
    assert "no display" in result.output and not started  # the agent was never started
    assert "XDG_RUNTIME_DIR" not in result.output  # SDL was not asked


def test_replay_without_a_display(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_display(monkeypatch)
    result = cli.invoke(app, ["replay", str(run_dir)])
    _says_how_to_do_without(result)
    assert "XDG_RUNTIME_DIR" not in result.output


def test_a_window_sdl_cannot_open(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A display variable that leads nowhere: SDL's own error, then the same ways on."""
    import viz.app

    class NoVideo:
        def __init__(self, *a: Any, **k: Any) -> None:
            raise Exception("error: XDG_RUNTIME_DIR not set [SDL]; No available video device")

    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(viz.app, "Window", NoVideo)
    result = cli.invoke(app, ["replay", str(run_dir)])
    _says_how_to_do_without(result)
    assert "No available video device" in " ".join(result.output.split())


# ---- 3. --at means the same in watch and replay --------------------------------------------
def test_at_parses_one_way() -> None:
    from viz.cli import parse_at

    assert parse_at(None) == (0, 0)
    assert parse_at("3") == (0, 3)  # a step of the first episode
    assert parse_at("pickaxe__s0") == ("pickaxe__s0", 0)
    assert parse_at("pickaxe__s0:2") == ("pickaxe__s0", 2)
    assert parse_at("1:2") == (1, 2)
    with pytest.raises(ValueError, match="EPISODE:STEP"):
        parse_at("pickaxe__s0:x")


def test_at_is_the_same_in_both_commands(suite: Path, run_dir: Path, tmp_path: Path) -> None:
    import typer.main

    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    helps = {
        c: next(p.help for p in commands[c].params if p.name == "at") for c in ("watch", "replay")
    }
    assert helps["watch"].endswith(helps["replay"].removeprefix("Start at"))  # one text
    assert "EPISODE:STEP" in helps["replay"] and "0-based step" in helps["replay"]
    shots = {}
    for at in ("1", "0:1", "pickaxe__s0:2"):
        png = tmp_path / f"{at.replace(':', '_')}.png"
        result = cli.invoke(app, ["replay", str(run_dir), "--at", at, "--screenshot", str(png)])
        assert result.exit_code == 0, result.output
        shots[at] = np.asarray(Image.open(png))
    assert np.array_equal(shots["1"], shots["0:1"])  # STEP alone: the first episode
    png = tmp_path / "live.png"
    args = ["watch", str(suite), "--method", "none", "--screenshot", str(png)]
    result = cli.invoke(app, [*args, "--at", "planks__s0:1"])
    assert result.exit_code == 0, result.output
    late = cli.invoke(app, [*args, "--at", "planks__s0:5"])
    assert late.exit_code == 2 and "ended after 2 attempts" in late.output
    cfg = RunConfig(suite=str(suite), planner="symbolic", method="none")
    session = LiveSession(cfg).start()
    try:
        frame = session.frame(session.index_of(1, 2))  # the second episode, its third step
    finally:
        session.close()
    replay = RunReplay(run_dir, regenerate=False)
    same = replay.frame(replay.index_of(1, 2))
    assert (frame.episode_id, frame.step) == (same.episode_id, same.step) == ("pickaxe__s0", 2)


def test_readme_says_what_at_means() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### Watching agents")[1].split("\n### ")[0]
    assert "`--at EPISODE:STEP` means the same on `watch` and `replay`" in section
    assert "xvfb-run" in section


# ---- 4. the knowledge page: contents, guardrails first, a filter -----------------------------
@pytest.fixture
def page(run_dir: Path, tmp_path: Path) -> tuple[Path, str]:
    store_path = tmp_path / "knowledge.sqlite"
    shutil.copy(run_dir.parent / "knowledge.sqlite", store_path)
    store = ExperienceStore(store_path)
    try:
        store.put_guardrail(
            Guardrail(
                root_cause=FailureCause.MISSING_ITEM,
                forbidden="craft:bowl",
                unless=["has:oak_planks"],
                reason="<script>alert('x')</script> & more",
            )
        )
    finally:
        store.close()
    out = tmp_path / "kb"
    result = cli.invoke(app, ["knowledge", "html", str(store_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, (out / "index.html").read_text()


def test_knowledge_page_has_contents_guardrails_first(page: tuple[Path, str]) -> None:
    _, index = page
    contents = index.index("<nav class=contents>")
    rails, skills = index.index('<h2 id="guardrails">'), index.index('<h2 id="skills">')
    assert contents < rails < skills  # the guardrails are no longer below the skills
    nav = index[contents : index.index("</nav>")]
    assert 'href="#guardrails"' in nav and 'href="#skills"' in nav
    n_rails = len(re.findall(r'<tr id="g\d+"', index))
    n_skills = len(re.findall(r'<tr id="s\d+"', index))
    assert f"Guardrails</a>: {n_rails} (" in nav and f"Skills</a>: {n_skills} (" in nav
    assert n_rails >= 2 and n_skills >= 1
    assert "<script>alert" not in index and "&lt;script&gt;alert(&#x27;x&#x27;)" in index


def test_knowledge_page_filter_is_hidden_without_js(page: tuple[Path, str]) -> None:
    _, index = page
    assert '<p id="filter-box" hidden>' in index  # no script: no dead input box
    assert 'type="search" id="filter"' in index


def test_knowledge_page_filter_hides_rows(page: tuple[Path, str], tmp_path: Path) -> None:
    """The page's own script, run by node against a small stand-in for the DOM."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    _, index = page
    script = index.split("<script>")[1].split("</script>")[0]
    rows = re.findall(r'<tr id="([gs]\d+)"[^>]*>(.*?)</tr>', index)
    texts = {rid: re.sub(r"<[^>]+>", " ", body) for rid, body in rows}
    harness = f"""
const texts = {json.dumps(texts)};
const rows = Object.entries(texts).map(([id, t]) => ({{id, textContent: t, hidden: false}}));
const els = {{filter: {{value: "", addEventListener(_, f) {{ this.fire = f; }}}},
              shown: {{textContent: ""}}, "filter-box": {{hidden: true}}}};
const document = {{getElementById: id => els[id], querySelectorAll: () => rows}};
{script}
const out = {{box: els["filter-box"].hidden}};
els.filter.value = "CRAFT:bowl  has:oak_planks"; els.filter.fire();
out.shown = rows.filter(r => !r.hidden).map(r => r.id); out.count = els.shown.textContent;
els.filter.value = ""; els.filter.fire();
out.all = rows.filter(r => !r.hidden).length;
console.log(JSON.stringify(out));
"""
    js = tmp_path / "filter.js"
    js.write_text(harness)
    done = subprocess.run([node, str(js)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    bowl = next(rid for rid, t in texts.items() if "craft:bowl" in t)
    assert out["box"] is False  # with JS the filter shows
    assert out["shown"] == [bowl] and out["count"] == f"1 of {len(rows)} rows"
    assert out["all"] == len(rows)


def test_watch_checks_every_name_before_the_agent_starts(
    suite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A misspelt task or option in `watch` is the same error as in `run`: exit 2, the close
    names, and nothing started."""
    started = []
    monkeypatch.setattr(LiveSession, "start", lambda self: started.append(self) or self)
    result = cli.invoke(
        app, ["watch", str(suite), "--tasks", "nosuch_task", "--option", "recipies=learned"]
    )
    assert result.exit_code == 2, result.output
    out = " ".join(result.output.split())
    assert "nosuch_task" in out and "recipies" in out and not started
