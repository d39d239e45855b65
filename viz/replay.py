"""A recorded run as a timeline of frames: `steve replay`, screenshots and video export.

A run directory holds states, not the voxel world. The world is deterministic, so the replay
regenerates it: the world the run used (`config.yaml` names it), reset with the episode's task
and seed, then the recorded subgoals executed again in order (a blocked subgoal or an unusable
plan never reached the world, so it is not executed). After every attempt the regenerated state
is compared with the recorded post state; from the first difference on (a world changed since
the run, a suite edited) the frames fall back to a schematic of the recorded state, and say so.
Nothing the viewer shows comes from the regenerated world except the picture.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray

from agent.record import TrajectoryLine, read_trajectory
from viz.frame import Frame, frames_of, split_episode_id

log = logging.getLogger(__name__)


class RunReplay:
    """The frames of a run directory, one per subgoal attempt, episodes in stream order.

    Frames are made an episode at a time, when first asked for, and the last few episodes
    are kept. `regenerate=False` draws every frame as a schematic (no world is built)."""

    mode = "replay"
    finished = True

    def __init__(self, run_dir: str | Path, *, regenerate: bool = True, keep: int = 4) -> None:
        self.run_dir = Path(run_dir)
        config = self.run_dir / "config.yaml"
        if not config.exists():
            raise ValueError(f"{self.run_dir}: not a run directory (no config.yaml)")
        self.config: dict[str, Any] = yaml.safe_load(config.read_text()) or {}
        self.regenerate = regenerate
        self.results = episode_rows(self.run_dir / "episodes.jsonl")
        traj = self.run_dir / "trajectory"
        files = {p.stem: p for p in sorted(traj.glob("*.jsonl"))} if traj.exists() else {}
        order = [e for e in self.results if e in files]
        order += [e for e in files if e not in self.results]  # cut short by a kill
        self.episodes: list[str] = []
        self.counts: list[int] = []
        for eid in order:
            n = sum(1 for line in files[eid].read_text().splitlines() if line.strip())
            if n:
                self.episodes.append(eid)
                self.counts.append(n)
        if not self.episodes:
            raise ValueError(f"{self.run_dir}: no recorded subgoal attempts in trajectory/")
        self.files = files
        self.starts = tuple(int(s) for s in np.cumsum([0, *self.counts[:-1]]))
        self._cache: OrderedDict[str, list[Frame]] = OrderedDict()
        self._keep = keep
        self._world: Any = None
        self._tasks: dict[str, Any] | None = None

    # ---- the timeline interface ---------------------------------------------------------
    def __len__(self) -> int:
        return sum(self.counts)

    def frame(self, index: int) -> Frame:
        e = self.episode_of(index)
        return self.episode_frames(self.episodes[e])[index - self.starts[e]]

    def request(self, index: int) -> None:
        """Recorded runs have every frame already."""

    def episode_of(self, index: int) -> int:
        if not 0 <= index < len(self):
            raise IndexError(f"frame {index} out of range (0..{len(self) - 1})")
        return max(i for i, s in enumerate(self.starts) if s <= index)

    def index_of(self, episode: str | int, step: int = 0) -> int:
        """The timeline index of `step` (0-based) in an episode given by id or 0-based index."""
        e = pick_episode(self.episodes, episode, str(self.run_dir))
        if not 0 <= step < self.counts[e]:
            raise ValueError(
                f"episode {self.episodes[e]} has {self.counts[e]} attempts (steps 0.."
                f"{self.counts[e] - 1}); got step {step}"
            )
        return self.starts[e] + step

    def close(self) -> None:
        if self._world is not None:
            self._world.close()
            self._world = None

    # ---- building frames ----------------------------------------------------------------
    def lines(self, episode_id: str) -> list[TrajectoryLine]:
        """The episode's attempts (a line cut short by a kill, or damaged, ends its record)."""
        return read_trajectory(self.files[episode_id], strict=False)

    def episode_frames(self, episode_id: str) -> list[Frame]:
        if episode_id in self._cache:
            self._cache.move_to_end(episode_id)
            return self._cache[episode_id]
        lines, task, seed = self._episode(episode_id)
        images, maps, notes = self._images(lines, task, seed)
        frames = self._frames(episode_id, lines, task, seed, images, maps, notes)
        self._cache[episode_id] = frames
        while len(self._cache) > self._keep:
            self._cache.popitem(last=False)
        return frames

    def frames_and_worlds(self, episode_id: str) -> Iterator[tuple[Frame, Any]]:
        """The episode's frames without pictures, each with the world regenerated after its
        attempt (see `regenerated`; None where that is not honest): for what reads the world
        itself, as the Rerun export does, without drawing images it would not use."""
        lines, task, seed = self._episode(episode_id)
        worlds = self.regenerated(lines, task, seed)
        frames = self._frames(episode_id, lines, task, seed, [], [], None)
        for frame, (world, _) in zip(frames, worlds, strict=True):
            yield frame, world

    def _episode(self, episode_id: str) -> tuple[list[TrajectoryLine], Any, int]:
        """The episode's lines, its task (None where the suite lacks it) and its seed."""
        task_id, seed = split_episode_id(episode_id)
        row = self.results.get(episode_id, {})
        return (
            self.lines(episode_id),
            self._task(row.get("task_id", task_id)),
            int(row.get("seed", seed)),
        )

    def _frames(
        self,
        episode_id: str,
        lines: list[TrajectoryLine],
        task: Any,
        seed: int,
        images: list[NDArray[np.uint8] | None],
        maps: list[NDArray[np.uint8] | None],
        notes: list[str] | None,
    ) -> list[Frame]:
        row = self.results.get(episode_id, {})
        return frames_of(
            lines,
            images,
            maps=maps,
            episode_id=episode_id,
            task_id=row.get("task_id", split_episode_id(episode_id)[0]),
            seed=seed,
            notes=notes,
            success=row.get("success") if row else None,
            instruction=getattr(task, "instruction", ""),
            agent_at=agent_in_view(str(self.config.get("world", ""))),
        )

    def _images(
        self, lines: list[TrajectoryLine], task: Any, seed: int
    ) -> tuple[list[NDArray[np.uint8] | None], list[NDArray[np.uint8] | None], list[str]]:
        """One world image (and map, where the world has one) per attempt, regenerated; None
        (and why) where that is not honest."""
        images: list[NDArray[np.uint8] | None] = []
        maps: list[NDArray[np.uint8] | None] = []
        notes: list[str] = []
        for world, note in self.regenerated(lines, task, seed):
            images.append(world.render() if world is not None else None)
            maps.append(world_map(world) if world is not None else None)
            notes.append(note)
        return images, maps, notes

    def regenerated(
        self, lines: list[TrajectoryLine], task: Any, seed: int
    ) -> Iterator[tuple[Any, str]]:
        """Per attempt, the world regenerated to its state after it (one world, stepped on:
        read it before the next) and how; None (and why) from where that is not honest."""
        n = len(lines)
        if not self.regenerate:
            yield from [(None, "schematic (replay without regenerating the world)")] * n
            return
        if task is None:
            yield from [(None, "schematic: the run's suite or task is not available")] * n
            return
        try:
            world = self._get_world()
            state = world.reset(task, seed)
        except Exception as exc:  # an unknown world, a bridge that is down: still replayable
            log.warning("cannot regenerate %s: %s", self.config.get("world"), exc)
            yield from [(None, f"schematic: world not regenerated ({exc})")] * n
            return
        diverged: str | None = None
        if lines and state.model_dump(mode="json") != lines[0].pre_state.model_dump(mode="json"):
            diverged = "schematic: the regenerated start differs from the recorded one"
        for line in lines:
            if diverged is None and _reached_world(line):
                out = world.execute(line.subgoal)
                if out.post_state.model_dump(mode="json") != line.post_state.model_dump(
                    mode="json"
                ):
                    diverged = f"schematic: the regenerated world diverged at step {line.step}"
            if diverged is None:
                yield world, f"world regenerated from seed {seed}"
            else:
                yield None, diverged

    def _get_world(self) -> Any:
        if self._world is None:
            import sim

            self._world = sim.make(str(self.config.get("world", "craftworld/v1")))
        return self._world

    def _task(self, task_id: str) -> Any:
        if self._tasks is None:
            self._tasks = {}
            path = _suite_path(str(self.config.get("suite", "")))
            if path is not None:
                from scenarios.loader import SuiteError, load_suite

                try:
                    self._tasks = {t.id: t for t, _ in load_suite(path).to_tasks()}
                except SuiteError as exc:
                    log.warning("cannot load the run's suite %s: %s", path, exc)
        return self._tasks.get(task_id)


def pick_episode(episodes: list[str], episode: str | int, where: str) -> int:
    """The 0-based index of an episode given by id or index (`--at`, `--episode`), or a
    ValueError that names what there is: one rule for a replay and a live session."""
    if isinstance(episode, str) and not episode.isdigit():
        if episode not in episodes:
            raise ValueError(
                f"no episode {episode!r} in {where} (episodes: "
                f"{', '.join(episodes[:8])}{' ...' if len(episodes) > 8 else ''})"
            )
        return episodes.index(episode)
    e = int(episode)
    if not 0 <= e < len(episodes):
        raise ValueError(f"episode index {e} out of range (0..{len(episodes) - 1})")
    return e


def world_map(world: Any) -> NDArray[np.uint8] | None:
    """The world seen from above, where it draws one (`render_map`: CraftWorld), else None."""
    draw = getattr(world, "render_map", None)
    return draw() if callable(draw) else None


def agent_in_view(world_id: str) -> tuple[float, float] | None:
    """Where a world's own render puts the agent: CraftWorld centres its 3D view and its map
    on it (the 3D view on its feet)."""
    return (0.5, 0.5) if world_id.partition("/")[0] == "craftworld" else None


def _reached_world(line: TrajectoryLine) -> bool:
    """Whether the attempt was executed by the world (not blocked, not an unusable plan)."""
    return not line.guardrail.blocked and line.subgoal.verb != "plan"


def _suite_path(suite: str) -> Path | None:
    """The run's suite file, or the shipped suite of the same name when the path moved."""
    if not suite:
        return None
    if Path(suite).is_file():
        return Path(suite)
    from scenarios.loader import SuiteError, resolve_suite

    try:
        return resolve_suite(Path(suite).stem)
    except SuiteError:
        return None


def episode_rows(path: Path) -> dict[str, dict[str, Any]]:
    """episodes.jsonl as {episode_id: row} (`agent.record.read_episodes`, typed and checked,
    as plain rows): first appearance sets the order, the last line of an episode wins."""
    from agent.record import read_episodes

    return {r.episode_id: r.row() for r in read_episodes(path.parent)}
