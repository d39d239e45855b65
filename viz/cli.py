"""The visualiser's commands, added to the `steve` CLI by `register(app)`, the
`steve.commands` entry point (pyproject.toml) that `agent.cli.load_commands` loads:

    steve watch SUITE            the agent acting live, in a pygame window
    steve replay RUN_DIR         a recorded run, with a scrubber
    steve export-video RUN_DIR   one episode as a GIF or MP4 (headless)
    steve export-rerun RUN_DIR.. runs as a Rerun recording file (.rrd), an episode each
    steve plots PATH...          learning curves, success by group, knowledge growth, causes
    steve knowledge html STORE   a static HTML page of skills and guardrails with evidence

`watch` and `replay` also take `--screenshot FILE.png --at EPISODE:STEP`: the picture the window
would show, written headless (no window, no pygame). `--at` means the same in both (`AT_HELP`).
Heavy imports happen inside the commands.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from viz.viewer import Viewer

console = Console()
err = Console(stderr=True)
log = logging.getLogger(__name__)

OVERLAY_HELP = (
    "Overlays to add (help, prompt) or, with a leading '-', panels to hide (-plan, -diagnosis,"
    " -knowledge); comma-separated."
)
AT_HELP = (
    "EPISODE:STEP: an episode id or 0-based index, and the 0-based step in it (the trajectory's"
    " `step`; the view shows attempt STEP+1). STEP alone is a step of the first episode; an"
    " episode id alone is its step 0."
)


def _fail(message: str) -> typer.Exit:
    # escaped: an SDL or suite message with [brackets] is text, not rich markup
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code=2)


def _apply_overlays(viewer: Viewer, spec: str | None) -> None:
    for name in (s.strip() for s in (spec or "").split(",")):
        if name.startswith("-"):
            viewer.overlays.discard(name[1:])
        elif name:
            viewer.overlays.add(name)


def _save_png(img: Any, path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path, optimize=True)
    console.print(f"wrote {path}")


def _no_display() -> str | None:
    """Why no window can open here, or None where one may. Asked before anything starts, so
    that a machine without a display gets a way on instead of SDL's XDG_RUNTIME_DIR message
    (and a live run is not started for nothing); an SDL_VIDEODRIVER the user set wins."""
    if os.environ.get("SDL_VIDEODRIVER"):
        return None
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return "no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    return None


def _headless(why: str, command: str) -> typer.Exit:
    """The failure for a window that cannot open, with the ways to do without one."""
    return _fail(
        f"cannot open the viewer's window: {why}. Without a display, write the view to a PNG"
        f" with --screenshot FILE.png --at EPISODE:STEP, or export an episode of a run with"
        f" `steve export-video RUN_DIR`; or run the window on a virtual display:"
        f" xvfb-run -a steve {command} ..."
    )


def _show(viewer: Viewer, title: str, seconds: float | None, command: str) -> None:
    """Open the window on `viewer`, printing the keymap first."""
    from viz.app import Window
    from viz.viewer import keymap_text

    console.print(f"[bold]{title}[/]; keys (h shows them in the window):")
    console.print(keymap_text(), highlight=False)
    try:
        window = Window(viewer, title=title)
    except RuntimeError as exc:  # no pygame
        raise _fail(str(exc)) from None
    except Exception as exc:  # pygame.error: SDL found no display after all
        raise _headless(str(exc).strip() or type(exc).__name__, command) from None
    try:
        window.run(seconds=seconds)
    finally:
        window.close()


def watch(
    suite: Annotated[str, typer.Argument(help="A suite file, or the name of a shipped suite.")],
    planner: Annotated[
        str, typer.Option(help="symbolic | fallible | local | openai | transformers | cassette")
    ] = "symbolic",
    method: Annotated[str, typer.Option(help="none | static | evolving | ...")] = "evolving",
    knowledge: Annotated[
        str | None, typer.Option(help="A store to use and grow (default: a scratch store).")
    ] = None,
    seeds: Annotated[str | None, typer.Option(help="Comma-separated seeds (override).")] = None,
    tasks: Annotated[str | None, typer.Option(help="Comma-separated task ids.")] = None,
    groups: Annotated[str | None, typer.Option(help="Comma-separated task groups.")] = None,
    model: Annotated[str | None, typer.Option(help="Model for LLM planners.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint.")] = None,
    option: Annotated[
        list[str] | None, typer.Option(help="Planner option KEY=VALUE (repeatable).")
    ] = None,
    speed: Annotated[float, typer.Option(help="Subgoal attempts per second.")] = 1.0,
    paused: Annotated[bool, typer.Option(help="Start paused (n steps, space plays).")] = False,
    screenshot: Annotated[
        Path | None, typer.Option(help="Write the view at --at to this PNG; no window.")
    ] = None,
    at: Annotated[
        str | None, typer.Option(help=f"Start at (the agent runs up to) {AT_HELP}")
    ] = None,
    overlay: Annotated[str | None, typer.Option(help=OVERLAY_HELP)] = None,
    seconds: Annotated[float | None, typer.Option(help="Close the window after this.")] = None,
    rerun: Annotated[
        bool, typer.Option(help="Also stream each attempt to a Rerun viewer spawned here.")
    ] = False,
) -> None:
    """Watch the agent act live: world, inventory, plan, diagnosis, recalled knowledge."""
    from agent.llm.base import LLMError
    from agent.options import parse_options, parse_seeds, split_csv
    from agent.runner import RunConfig
    from scenarios.loader import SuiteError, resolve_suite
    from sim.registry import UnknownWorldError
    from viz.live import LiveSession
    from viz.viewer import Viewer

    try:
        episode, step = parse_at(at)
        cfg = RunConfig(
            suite=str(resolve_suite(suite)),
            planner=planner,
            method=method,
            knowledge=knowledge,
            seeds=parse_seeds(seeds),
            tasks=split_csv(tasks),
            groups=split_csv(groups),
            model=model,
            base_url=base_url,
            extra=parse_options(option),
        )
        from agent.runner import check_config

        check_config(cfg)  # every name the user typed, before a world is made
        on_frame = None
        if rerun:
            from viz.rerun_log import Live

            on_frame = Live(spawn=True)
        session = LiveSession(cfg, on_frame=on_frame)
        why = _no_display() if screenshot is None else None
        if why is not None:  # before the agent starts: it would wait for a window
            raise _headless(why, "watch SUITE")
        session.start()
    except (SuiteError, UnknownWorldError, ValueError, LLMError, RuntimeError) as exc:
        raise _fail(str(exc)) from None
    viewer = Viewer(session, playing=not paused and screenshot is None, speed=speed)
    _apply_overlays(viewer, overlay)
    try:
        if at is not None or screenshot is not None:
            try:
                viewer.goto(session.index_of(episode, step))
            except ValueError as exc:
                raise _fail(str(exc)) from None
            viewer.tick(0.0)
        if screenshot is not None:
            if session.error:
                raise _fail(session.error)
            _save_png(viewer.render(), screenshot)
            return
        title = f"steve watch {Path(cfg.suite).stem} ({method}, {planner})"
        _show(viewer, title, seconds, "watch SUITE")
    finally:
        session.close()
        if on_frame is not None:
            on_frame.close()
    if session.error:
        raise _fail(session.error)


def parse_at(at: str | None) -> tuple[str | int, int]:
    """`--at` as `AT_HELP` says, for `watch` and `replay` alike: (episode id or 0-based index,
    0-based step). A bare number is a step, as in an episode's own numbering; a bare id has
    no digits-only form, so it cannot be mistaken for one."""
    if not at:
        return 0, 0
    episode, sep, step = at.rpartition(":")
    if not sep:
        episode, step = ("0", at) if at.lstrip("-").isdigit() else (at, "0")
    if not step.lstrip("-").isdigit():
        raise ValueError(f"--at {at!r}: expected EPISODE:STEP, e.g. craft_bowl__s0:3, 2:0 or 3")
    return (int(episode) if episode.isdigit() else episode or 0), int(step)


def replay(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (runs/<...>/).")],
    at: Annotated[str | None, typer.Option(help=f"Start at {AT_HELP}")] = None,
    speed: Annotated[float, typer.Option(help="Subgoal attempts per second.")] = 1.0,
    paused: Annotated[bool, typer.Option(help="Start paused.")] = False,
    screenshot: Annotated[
        Path | None, typer.Option(help="Write the view at --at to this PNG; no window.")
    ] = None,
    overlay: Annotated[str | None, typer.Option(help=OVERLAY_HELP)] = None,
    schematic: Annotated[
        bool, typer.Option(help="Do not regenerate the world; draw the recorded state.")
    ] = False,
    seconds: Annotated[float | None, typer.Option(help="Close the window after this.")] = None,
) -> None:
    """Replay a recorded run: the same view as watch, with a scrubber over every episode."""
    from viz.replay import RunReplay
    from viz.viewer import Viewer

    try:
        timeline = RunReplay(run_dir, regenerate=not schematic)
        episode, step = parse_at(at)
        start = timeline.index_of(episode, step)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    why = _no_display() if screenshot is None else None
    if why is not None:
        timeline.close()
        raise _headless(why, "replay RUN_DIR")
    viewer = Viewer(timeline, playing=not paused and screenshot is None, speed=speed)
    viewer.goto(start)
    _apply_overlays(viewer, overlay)
    try:
        if screenshot is not None:
            _save_png(viewer.render(), screenshot)
            return
        _show(viewer, f"steve replay {run_dir.name}", seconds, "replay RUN_DIR")
    finally:
        timeline.close()


def export_video(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    episode: Annotated[str, typer.Option(help="An episode id or 0-based index.")] = "0",
    out: Annotated[
        Path | None, typer.Option(help="FILE.gif or FILE.mp4 (default RUN_DIR/EPISODE.gif).")
    ] = None,
    fps: Annotated[float, typer.Option(help="Subgoal attempts per second.")] = 2.0,
    scale: Annotated[float, typer.Option(help="Resize the frames by this factor.")] = 1.0,
    schematic: Annotated[bool, typer.Option(help="Do not regenerate the world.")] = False,
) -> None:
    """Export one episode of a run to a GIF or MP4, headless."""
    from viz.video import export_episode

    key: str | int = int(episode) if episode.isdigit() else episode
    try:
        if out is None:
            from viz.replay import RunReplay

            names = RunReplay(run_dir, regenerate=False).episodes
            name = names[key] if isinstance(key, int) and 0 <= key < len(names) else str(key)
            out = run_dir / f"{name}.gif"
        path = export_episode(run_dir, key, out, fps=fps, scale=scale, regenerate=not schematic)
    except (ValueError, RuntimeError) as exc:
        raise _fail(str(exc)) from None
    console.print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


def export_rerun(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories (methods side by side).")],
    out: Annotated[Path, typer.Option(help="The .rrd file to write.")] = Path("run.rrd"),
    episode: Annotated[
        list[str] | None,
        typer.Option(help="An episode id or 0-based index (repeatable; default: every one)."),
    ] = None,
) -> None:
    """Write runs as a Rerun recording file: an episode per recording, on the timelines of
    attempts and ticks (docs/viz.md); open it with `rerun FILE.rrd`."""
    if out.suffix != ".rrd":
        raise _fail(f"--out {out}: a Rerun recording file ends in .rrd")
    for run_dir in run_dirs:
        if not (run_dir / "config.yaml").is_file():
            raise _fail(f"{run_dir}: not a run directory (no config.yaml)")
    from viz.rerun_log import export_runs

    try:
        path, n = export_runs(run_dirs, out, episode)
    except (ValueError, RuntimeError) as exc:
        raise _fail(str(exc)) from None
    console.print(f"wrote {path} ({n} recording(s), {path.stat().st_size // 1024} KiB)")


def plots(
    paths: Annotated[list[Path], typer.Argument(help="Run directories or eval report folders.")],
    out: Annotated[Path, typer.Option(help="Where the PNGs go.")] = Path("plots"),
    window: Annotated[int, typer.Option(help="Rolling window of the learning curve.")] = 10,
) -> None:
    """Learning curves, success by group, knowledge growth and failure causes, as PNGs."""
    from viz.plots import write_plots

    try:
        written = write_plots(paths, out, window)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    for p in written:
        console.print(f"wrote {p}")


def knowledge_html(
    store: Annotated[Path, typer.Argument(help="A knowledge.sqlite file.")],
    out: Annotated[Path, typer.Option(help="The folder to write.")] = Path("knowledge_html"),
    runs: Annotated[
        list[Path] | None, typer.Option(help="Run directories, to name them on episode pages.")
    ] = None,
) -> None:
    """A static HTML page of skills and guardrails, evidence linked to its episodes."""
    from knowledge.store import StoreError
    from viz.browser import write_knowledge_html

    if not store.exists():
        raise _fail(f"{store}: no such store")
    try:
        index = write_knowledge_html(store, out, runs)
    except StoreError as exc:
        raise _fail(str(exc)) from None
    console.print(f"wrote {index}")


def register(app: typer.Typer, knowledge_app: typer.Typer | None = None) -> None:
    """Add the visualiser's commands to the `steve` CLI: the `steve.commands` entry point
    (pyproject.toml), called by `agent.cli.load_commands(app)`. `knowledge html` goes on
    `knowledge_app`, by default the app's `knowledge` group (where it has one)."""
    if knowledge_app is None:
        knowledge_app = next(
            (
                g.typer_instance
                for g in app.registered_groups
                if g.name == "knowledge" and g.typer_instance is not None
            ),
            None,
        )
    app.command()(watch)
    app.command()(replay)
    app.command("export-video")(export_video)
    app.command("export-rerun")(export_rerun)
    app.command()(plots)
    if knowledge_app is not None:
        knowledge_app.command("html")(knowledge_html)
