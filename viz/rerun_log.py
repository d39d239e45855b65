"""Runs as Rerun recordings (issue 32): `steve export-rerun` and `steve watch --rerun`.

One recording per episode, all of one application (`APP`), so that episodes, and runs of
several methods, open side by side in the Rerun viewer and scrub on the same timelines:
`attempt` (the trajectory's step) and `tick` (world ticks after the attempt). Per attempt:

    world/blocks       the blocks around the agent with a face open to the air (3D boxes in
                       the world's colours; CraftWorld, from the regenerated world)
    world/agent        the agent (a point, yellow), world/path the way it went so far
    world/mobs         the mobs near it (red hostile, pink passive)
    agent/inventory    inventory, equipment, health and food (text);
    agent/health, agent/food                                     (scalars)
    plan               the plan in force, the attempt's step marked (text)
    diagnosis          the subgoal, its verdict, cause, evidence and state change (text);
    diagnosis/subgoal_progress, diagnosis/task_progress, diagnosis/budget_used   (scalars)
    recall             the recalled skills, guardrails and experiences with their ids and
                       the ids of the tuples they rest on; a guardrail that blocked, marked
    log                one line per attempt

`rerun-sdk` is an extra (`pip install -e '.[rerun]'`); nothing else imports it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from viz.frame import Frame

APP = "steve-evolving"
INSTALL = "pip install -e '.[rerun]' (the rerun-sdk package)"
RADIUS, DOWN, UP = 10, 6, 8
"""The blocks logged around the agent: within RADIUS across, DOWN below the feet, UP above."""


def _rerun() -> Any:
    try:
        import rerun
    except ImportError as exc:
        raise RuntimeError(f"Rerun is not installed: {INSTALL}") from exc
    return rerun


class EpisodeLog:
    """Logs one episode's attempts to a Rerun recording stream (`stream`)."""

    def __init__(self, stream: Any, recording_name: str) -> None:
        rr = _rerun()
        self.rr, self.stream = rr, stream
        self.path: list[tuple[float, float, float]] = []
        stream.send_recording_name(recording_name)
        stream.log("world", rr.ViewCoordinates.RIGHT_HAND_Y_UP, static=True)

    def attempt(self, frame: Frame, world: Any = None) -> None:
        """One attempt: the frame's record, and the world after it where one is given."""
        rr, rec = self.rr, self.stream
        s = frame.state
        rec.set_time("attempt", sequence=frame.step)
        rec.set_time("tick", sequence=s.tick)
        if s.location is None:  # a voxel world: the agent has a position
            x, y, z = s.position
            self.path.append((x + 0.5, y + 0.9, z + 0.5))
            rec.log(
                "world/agent",
                rr.Points3D([self.path[-1]], radii=0.35, colors=[(255, 230, 0)], labels=["agent"]),
            )
            if len(self.path) > 1:
                rec.log("world/path", rr.LineStrips3D([self.path], colors=[(255, 230, 0)]))
        terrain = getattr(world, "terrain", None)
        if terrain is not None:
            centers, colors = exposed_blocks(terrain, s.position)
            rec.log(
                "world/blocks", rr.Boxes3D(centers=centers, half_sizes=[0.5] * 3, colors=colors)
            )
            mobs = [(m.kind, m.block_pos()) for m in getattr(world.body, "mobs", ())]
            rec.log("world/mobs", _mobs(rr, mobs, s.position))
        rec.log("agent/inventory", rr.TextDocument(_body(frame), media_type="text/markdown"))
        rec.log("agent/health", rr.Scalars(s.health))
        rec.log("agent/food", rr.Scalars(s.food))
        rec.log("plan", rr.TextDocument(_plan(frame), media_type="text/markdown"))
        d = frame.diagnosis
        rec.log("diagnosis", rr.TextDocument(_diagnosis(frame), media_type="text/markdown"))
        rec.log("diagnosis/subgoal_progress", rr.Scalars(d.subgoal_progress))
        rec.log("diagnosis/task_progress", rr.Scalars(d.task_progress))
        rec.log("diagnosis/budget_used", rr.Scalars(d.budget_used))
        rec.log("recall", rr.TextDocument(_recall(frame), media_type="text/markdown"))
        verdict = "BLOCKED" if frame.blocked else d.cause.value if not d.success else "ok"
        level = "WARN" if frame.blocked or not d.success else "INFO"
        rec.log("log", rr.TextLog(f"step {frame.step}: {frame.subgoal} -> {verdict}", level=level))


def exposed_blocks(
    terrain: Any, feet: tuple[int, int, int], radius: int = RADIUS
) -> tuple[np.ndarray, np.ndarray]:
    """(centres, colours) of the blocks near `feet` with a face open to air, water or a plant
    (what can be seen from some side)."""
    from sim.craftworld.iso import CLEAR
    from sim.craftworld.render import PALETTE

    x, y, z = feet
    lo = (x - radius, max(0, y - DOWN), z - radius)
    box = terrain.region(lo, (x + radius + 1, y + UP + 1, z + radius + 1))
    clear = np.pad(CLEAR[box], 1, constant_values=True)
    open_face = np.zeros(box.shape, dtype=bool)
    for axis in range(3):
        for shift in (-1, 1):
            open_face |= np.roll(clear, shift, axis=axis)[1:-1, 1:-1, 1:-1]
    cells = np.argwhere(~CLEAR[box] & open_face)
    centers = (cells + np.array(lo) + 0.5).astype(np.float32)
    colors = PALETTE[box[tuple(cells.T)]].astype(np.uint8)
    return centers, colors


def _mobs(rr: Any, mobs: Sequence[tuple[str, tuple[int, int, int]]], near: tuple[int, ...]) -> Any:
    from sim.craftworld.render import HOSTILE_COLOR, HOSTILE_MOBS, PASSIVE_COLOR

    close = [(k, p) for k, p in mobs if max(abs(p[0] - near[0]), abs(p[2] - near[2])) <= RADIUS]
    return rr.Points3D(
        [(p[0] + 0.5, p[1] + 0.7, p[2] + 0.5) for _, p in close] or np.zeros((0, 3)),
        radii=0.3,
        colors=[HOSTILE_COLOR if k in HOSTILE_MOBS else PASSIVE_COLOR for k, _ in close] or None,
        labels=[k for k, _ in close] or None,
    )


def _body(frame: Frame) -> str:
    s = frame.state
    items = ", ".join(f"{n} {k}" for k, n in sorted(s.inventory.items())) or "nothing"
    where = f"at {s.position}" if s.location is None else f"in {s.location}"
    return (
        f"**{frame.task_id}** seed {frame.seed}, attempt {frame.step + 1}\n\n"
        f"{where}; equipped {s.equipped or 'nothing'}; health {s.health:g}, food {s.food:g}\n\n"
        f"inventory: {items}"
    )


def _plan(frame: Frame) -> str:
    if not frame.plan:
        return "_no plan_"
    rows = []
    for i, step in enumerate(frame.plan):
        mark = "**→**" if i == frame.active else "  "
        rows.append(f"{i + 1}. {mark} {step}")
    if frame.repair:
        rows.insert(0, f"_repair: {frame.subgoal} ({frame.repair})_\n")
    return "\n".join(rows)


def _diagnosis(frame: Frame) -> str:
    d = frame.diagnosis
    verdict = "BLOCKED" if frame.blocked else "ok" if d.success else d.cause.value
    lines = [f"**{frame.subgoal}** → {verdict}"]
    if frame.message:
        lines.append(f"\n{frame.message}")
    if d.evidence:
        lines.append("\nevidence:\n" + "\n".join(f"- {e}" for e in d.evidence))
    lines.append(
        f"\nprogress: subgoal {d.subgoal_progress:.0%}, task {d.task_progress:.0%},"
        f" budget used {d.budget_used:.0%}"
    )
    flags = [n for n in ("stagnation", "loop", "deadlock") if getattr(d, n, False)]
    if flags:
        lines.append("flags: " + ", ".join(flags))
    return "\n".join(lines)


def _recall(frame: Frame) -> str:
    if not frame.recalled:
        return "_nothing recalled_"
    blocked = frame.guardrail.id if frame.blocked else None
    rows = []
    for item in frame.recalled:
        mark = " **BLOCKED**" if item.kind == "guardrail" and item.id == blocked else ""
        ev = f" (evidence: tuples {', '.join(map(str, item.evidence))})" if item.evidence else ""
        rows.append(f"- {item.kind} #{item.id}{mark}: {item.text}{ev}")
    return "\n".join(rows)


# ---- whole runs --------------------------------------------------------------------------
def export_runs(
    run_dirs: Sequence[Path], out: Path, episodes: Iterable[str] | None = None
) -> tuple[Path, int]:
    """Every episode of the runs (or those named) as a recording, in one .rrd file; returns
    the file and the number of recordings."""
    rr = _rerun()
    from viz.replay import RunReplay, pick_episode

    wanted = list(episodes or [])
    parts: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="steve-rerun-") as tmp:
        for run_dir in run_dirs:
            replay = RunReplay(run_dir)
            try:
                names = (
                    [
                        replay.episodes[pick_episode(replay.episodes, _key(e), str(run_dir))]
                        for e in wanted
                    ]
                    if wanted
                    else replay.episodes
                )
                method = str(replay.config.get("method", ""))
                for eid in names:
                    part = Path(tmp) / f"{len(parts)}.rrd"
                    stream = rr.RecordingStream(APP, recording_id=f"{Path(run_dir).name}/{eid}")
                    stream.save(str(part))
                    episode = EpisodeLog(stream, f"{eid} ({method})" if method else eid)
                    for frame, world in replay.frames_and_worlds(eid):
                        episode.attempt(frame, world)
                    stream.flush()
                    stream.disconnect()
                    parts.append(part)
            finally:
                replay.close()
        out.parent.mkdir(parents=True, exist_ok=True)
        if len(parts) == 1:
            os.replace(parts[0], out)
        else:
            _merge(parts, out)
    return out, len(parts)


def _key(episode: str) -> str | int:
    return int(episode) if episode.isdigit() else episode


def _merge(parts: list[Path], out: Path) -> None:
    """Several .rrd files as one (`rerun rrd merge`, the CLI the SDK ships)."""
    env = {**os.environ, "RERUN_ANALYTICS": "0"}
    with out.open("wb") as fh:
        done = subprocess.run(
            [sys.executable, "-m", "rerun", "rrd", "merge", *map(str, parts)],
            stdout=fh,
            stderr=subprocess.PIPE,
            env=env,
            check=False,
        )
    if done.returncode != 0:
        out.unlink(missing_ok=True)
        raise RuntimeError(f"rerun rrd merge failed: {done.stderr.decode()[-500:]}")


class Live:
    """`steve watch --rerun`: each attempt, as the agent makes it, to a Rerun viewer spawned
    here (or, with `save`, to a file per episode), a recording per episode. Called with
    (frame, world) by `viz.live.LiveSession`; `close` flushes every recording."""

    def __init__(self, spawn: bool = True, save: Path | None = None) -> None:
        self.rr, self.spawn, self.save = _rerun(), spawn, save
        self.logs: dict[str, EpisodeLog] = {}

    def __call__(self, frame: Frame, world: Any) -> None:
        log = self.logs.get(frame.episode_id)
        if log is None:
            stream = self.rr.RecordingStream(APP, recording_id=f"watch/{frame.episode_id}")
            if self.save is not None:
                name = f"{self.save.stem}.{frame.episode_id}{self.save.suffix}"
                stream.save(str(self.save.with_name(name)))
            elif self.spawn:
                stream.spawn()
            log = self.logs[frame.episode_id] = EpisodeLog(stream, frame.episode_id)
        log.attempt(frame, world)

    def close(self) -> None:
        for log in self.logs.values():
            log.stream.flush()
            log.stream.disconnect()
