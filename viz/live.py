"""An agent acting now, as a timeline the viewer can pause and step: `steve watch`.

The episodes run in a thread of their own, exactly as the runner plays them (`agent.loop.
Episode`, unchanged). The loop calls its `record` callback after every subgoal attempt with the
trajectory line; here that callback also renders the world (which is between subgoals then,
so the picture is the attempt's post state), appends the frame, and then waits until the viewer
asks for the next frame. The agent therefore never runs more than the frames the viewer has
asked for: pause the viewer and the agent stops after its current subgoal; a single step lets
it make exactly one more attempt.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent.record import TrajectoryLine
from viz.frame import Frame, PlanTracker
from viz.replay import agent_in_view, pick_episode, world_map

log = logging.getLogger(__name__)


class _Stopped(Exception):
    """Raised in the agent's thread to end it when the viewer closes."""


class LiveSession:
    """Runs a suite's episodes in a thread, one subgoal attempt per frame asked for."""

    mode = "live"

    def __init__(self, cfg: Any, on_frame: Any = None) -> None:
        """`cfg` is an `agent.runner.RunConfig` (suite, planner, method, knowledge, seeds,
        tasks, ...); nothing is written unless `cfg.knowledge` names a store to grow.
        `on_frame(frame, world)`, if given, sees each attempt as it is made (with the world
        after it): `steve watch --rerun` streams them to Rerun."""
        self.on_frame = on_frame
        from agent.runner import stream, suite_world_id
        from scenarios.loader import load_suite

        self.cfg = cfg
        self.world_id = suite_world_id(Path(cfg.suite))
        suite = load_suite(cfg.suite)
        self.jobs = stream(suite.to_tasks(), cfg)
        if not self.jobs:
            raise ValueError(f"{cfg.suite}: no episodes to watch (check --tasks and --seeds)")
        self._frames: list[Frame] = []
        self._starts: list[int] = []
        self._first: dict[str, int] = {}  # episode id -> the index of its first frame
        self._made: Counter[str] = Counter()  # episode id -> its frames so far
        self._results: dict[str, Any] = {}
        self._wanted = 0  # the highest frame index the viewer has asked for
        self._cond = threading.Condition()
        self._stop = False
        self._done = False
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="steve-watch", daemon=True)

    def start(self) -> LiveSession:
        self._thread.start()
        return self

    # ---- the timeline interface ---------------------------------------------------------
    def __len__(self) -> int:
        with self._cond:
            return len(self._frames)

    @property
    def starts(self) -> tuple[int, ...]:
        with self._cond:
            return tuple(self._starts)

    @property
    def finished(self) -> bool:
        with self._cond:
            return self._done

    def frame(self, index: int) -> Frame:
        with self._cond:
            f = self._frames[index]
            result = self._results.get(f.episode_id)
        if result is None:
            return f
        if f.success is None:  # the episode has ended since: say how, once
            f = replace(f, success=result.success, steps=result.steps)
            with self._cond:
                self._frames[index] = f
        return f

    def request(self, index: int) -> None:
        """Ask the agent to go on until frame `index` exists."""
        with self._cond:
            if index > self._wanted:
                self._wanted = index
                self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 60.0) -> bool:
        """Block until `count` frames exist or the run is over (for scripts and tests)."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._frames) >= count or self._done, timeout)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until the agent waits for the viewer (or the run is over)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._done or len(self._frames) > self._wanted, timeout
            )

    @property
    def episodes(self) -> list[str]:
        """The ids of the episodes this session plays, in the order it plays them."""
        return [f"{task.id}__s{seed}" for task, seed in self.jobs]

    def index_of(self, episode: str | int, step: int = 0, timeout: float = 600.0) -> int:
        """The timeline index of `step` (0-based) in an episode given by id or 0-based index,
        as `RunReplay.index_of` reads `--at`; the agent is let on until it has made that
        attempt. A ValueError names an episode that ended before it (or the run's error)."""
        name = self.episodes[pick_episode(self.episodes, episode, "this session")]
        if step < 0:
            raise ValueError(f"step {step}: steps count from 0")
        while True:
            with self._cond:
                made, count = self._made[name], len(self._frames)
                if step < made:
                    return self._first[name] + step
                if name in self._results or self._done:
                    why = f" ({self.error})" if self.error else ""
                    have = f"steps 0..{made - 1}" if made else "no step"
                    raise ValueError(
                        f"episode {name} ended after {made} attempts ({have}); got step {step}"
                        + why
                    )
            self.request(count)
            if not self.wait_for(count + 1, timeout):
                raise ValueError(f"the agent made no attempt in {timeout:.0f} s")

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    # ---- the agent's thread -------------------------------------------------------------
    def _run(self) -> None:
        from agent.pool import Player
        from knowledge.store import ExperienceStore

        player = store = None
        scratch = tempfile.TemporaryDirectory(prefix="steve-watch-")
        try:
            player = Player.build(self.cfg, world_id=self.world_id)
            world = player.world
            if player.method.memory:  # opened here: SQLite connections belong to their thread
                path = self.cfg.knowledge or str(Path(scratch.name) / "knowledge.sqlite")
                store = player.store = ExperienceStore(path)
            player.run_id = f"watch__{Path(self.cfg.suite).stem}__{player.method.name}"
            for task, seed in self.jobs:
                episode_id = f"{task.id}__s{seed}"

                def record(
                    line: TrajectoryLine,
                    task: Any = task,
                    seed: int = seed,
                    tracker: PlanTracker = PlanTracker(),  # noqa: B008 - one per episode
                ) -> None:
                    plan, active = tracker.feed(line)
                    frame = Frame(
                        episode_id=f"{task.id}__s{seed}",
                        task_id=task.id,
                        seed=seed,
                        step=line.step,
                        line=line,
                        plan=plan,
                        active=active,
                        repair=tracker.repair,
                        resumes=tracker.resumes,
                        prompt=tracker.prompt,
                        reply=tracker.reply,
                        plan_error=tracker.error,
                        image=world.render(),
                        map_image=world_map(world),
                        view_note="live",
                        instruction=task.instruction,
                        agent_at=agent_in_view(self.world_id),
                    )
                    if self.on_frame is not None:
                        self.on_frame(frame, world)
                    self._publish(frame)

                result = player.play(task, seed, record)
                with self._cond:
                    self._results[episode_id] = result
                    if result.error:
                        self.error = f"{episode_id}: {result.error}"
                    self._cond.notify_all()
        except _Stopped:
            pass
        except Exception as exc:  # shown in the viewer rather than lost in a thread
            log.exception("the watched run failed")
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            if store is not None:
                store.close()
            if player is not None:
                player.close()
            scratch.cleanup()
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _publish(self, frame: Frame) -> None:
        """Append a frame, then hold the agent until the viewer asks for the next one."""
        with self._cond:
            if not self._frames or self._frames[-1].episode_id != frame.episode_id:
                self._starts.append(len(self._frames))
            self._first.setdefault(frame.episode_id, len(self._frames))
            self._made[frame.episode_id] += 1
            self._frames.append(frame)
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._stop or self._wanted >= len(self._frames))
            if self._stop:
                raise _Stopped
