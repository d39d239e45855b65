"""The viewer's state machine, apart from any window: keys in, a cursor and overlays out.

`Viewer` holds what the user controls — play or pause, speed, the cursor on the timeline, the
overlays — and turns key names (`"space"`, `"n"`, `"]"`, ...) into changes of it. It knows
nothing of pygame: the window (`viz.app`) translates pygame's events into the same key names,
and the tests drive a `Viewer` with scripted keys and check the frames it renders.

A timeline is anything with `len()`, `frame(i)`, `starts` (where each episode begins),
`request(i)` (ask for frame i to be produced; recorded runs have every frame already),
`finished` and `mode`: `viz.replay.RunReplay` for a recorded run, `viz.live.LiveSession`
for an agent acting now. A live timeline makes the next subgoal attempt only when the viewer
asks for it, so pausing the viewer pauses the agent and a single step is one subgoal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from viz.frame import Frame
from viz.render import PANELS, Chrome, render_frame

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
"""Playback speeds, subgoal attempts per second."""

KEYMAP: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("space",), "play", "play / pause"),
    (("n", "right"), "step", "one subgoal forward (pauses)"),
    (("b", "left"), "back", "one subgoal back (pauses)"),
    (("+", "=", "up"), "faster", "faster"),
    (("-", "down"), "slower", "slower"),
    (("]", "pagedown"), "next_episode", "next episode"),
    (("[", "pageup"), "prev_episode", "previous episode (its start)"),
    (("home",), "first", "first subgoal of this episode"),
    (("end",), "last", "last subgoal of this episode"),
    (("l",), "toggle:plan", "plan panel on / off"),
    (("d",), "toggle:diagnosis", "diagnosis panel on / off"),
    (("k",), "toggle:knowledge", "recalled knowledge panel on / off"),
    (("p",), "toggle:prompt", "the LLM prompt and reply"),
    (("m",), "toggle:map", "the world from above (the map) / in 3D"),
    (("h", "?"), "toggle:help", "this help"),
    (("q", "escape"), "quit", "quit"),
)
"""(keys, action, what it does): the one place keys are bound; the help shows it."""
ACTIONS = {key: action for keys, action, _ in KEYMAP for key in keys}


MOUSE = ("click", "on the scrubber (bottom bar): jump there")


def help_rows() -> tuple[tuple[str, str], ...]:
    """(keys, what they do) for the help overlay and the printed keymap."""
    return (*((", ".join(keys), what) for keys, _, what in KEYMAP), MOUSE)


def keymap_text() -> str:
    """The keymap as printed when a viewer starts."""
    rows = help_rows()
    width = max(len(keys) for keys, _ in rows)
    return "\n".join(f"  {keys:<{width}}  {what}" for keys, what in rows)


class Timeline(Protocol):
    mode: str

    @property
    def starts(self) -> tuple[int, ...]: ...

    def __len__(self) -> int: ...

    def frame(self, index: int) -> Frame: ...

    def request(self, index: int) -> None: ...

    @property
    def finished(self) -> bool: ...


@dataclass
class Viewer:
    """Play, pause, step, speed, scrub and overlays over a timeline of frames."""

    timeline: Timeline
    playing: bool = True
    speed: float = 1.0
    cursor: int = 0
    overlays: set[str] = field(default_factory=lambda: set(PANELS))
    quit: bool = False
    _clock: float = 0.0
    _want: int | None = None  # a frame asked for that the live agent has not made yet
    _render_key: tuple[object, ...] | None = None
    _render_img: NDArray[np.uint8] | None = None

    # ---- input ----------------------------------------------------------------------------
    def handle(self, key: str) -> str | None:
        """Apply one key (a name from `KEYMAP`); returns the action, or None if unbound."""
        action = ACTIONS.get(key.lower() if len(key) > 1 else key)
        if action is None:
            return None
        if action.startswith("toggle:"):
            self.overlays ^= {action.partition(":")[2]}
        elif action == "play":
            self.playing = not self.playing
            self._clock = 0.0
        elif action == "step":
            self.playing = False
            self.goto(self.cursor + 1)
        elif action == "back":
            self.playing = False
            self.goto(self.cursor - 1)
        elif action in ("faster", "slower"):
            i = min(range(len(SPEEDS)), key=lambda j: abs(SPEEDS[j] - self.speed))
            i = min(len(SPEEDS) - 1, i + 1) if action == "faster" else max(0, i - 1)
            self.speed = SPEEDS[i]
        elif action == "next_episode":
            e = self.episode()
            if e + 1 < len(self.timeline.starts):
                self.goto(self.timeline.starts[e + 1])
            elif not self.timeline.finished:  # live: run the agent on to the next episode
                self._want = -(e + 1) - 1  # negative: "the first frame of episode e + 1"
                self._pump()
        elif action == "prev_episode":
            e = self.episode()
            start = self.timeline.starts[e] if self.timeline.starts else 0
            self.goto(start if self.cursor > start else self._start_of(e - 1))
        elif action == "first":
            self.goto(self._start_of(self.episode()))
        elif action == "last":
            self.goto(self._end_of(self.episode()))
        elif action == "quit":
            self.quit = True
        return action

    def seek_fraction(self, fraction: float) -> None:
        """Jump to a point of the timeline (a click on the scrubber)."""
        n = len(self.timeline)
        if n:
            self.playing = False
            self.goto(min(n - 1, max(0, int(fraction * n))))

    def goto(self, index: int) -> None:
        """Move the cursor to `index`; beyond the last frame of a live run, ask the agent for
        it and move there when it is made."""
        index = max(0, index)
        n = len(self.timeline)
        if index < n:
            self.cursor, self._want = index, None
        elif not self.timeline.finished:
            self._want = index
            self.timeline.request(index)
        elif n:
            self.cursor = n - 1

    # ---- time -----------------------------------------------------------------------------
    def tick(self, dt: float) -> None:
        """Let `dt` seconds pass: play on at the current speed, and take up frames a live
        agent has made since."""
        self._pump()
        if not self.playing:
            return
        self._clock += dt
        period = 1.0 / self.speed
        while self._clock >= period:
            n = len(self.timeline)
            if self.cursor + 1 < n:
                self._clock -= period
                self.cursor += 1
            elif not self.timeline.finished:  # live: wait for the agent's next attempt
                self._clock = min(self._clock, period)
                self.timeline.request(self.cursor + 1)
                break
            else:
                self.playing, self._clock = False, 0.0  # the end of a recorded run
                break
        if not self.timeline.finished and len(self.timeline) <= self.cursor + 1:
            self.timeline.request(self.cursor + 1)  # have the next attempt ready in time

    def _pump(self) -> None:
        want = self._want
        if want is None:
            return
        n = len(self.timeline)
        if want >= 0:
            if want < n:
                self.cursor, self._want = want, None
            elif self.timeline.finished:
                self.cursor, self._want = max(0, n - 1), None
            else:
                self.timeline.request(want)
            return
        episode = -want - 1
        if episode < len(self.timeline.starts):
            self.cursor, self._want = self.timeline.starts[episode], None
        elif self.timeline.finished:
            self.cursor, self._want = max(0, n - 1), None
        else:
            self.timeline.request(n)

    # ---- output ---------------------------------------------------------------------------
    def episode(self) -> int:
        starts = self.timeline.starts
        return max((i for i, s in enumerate(starts) if s <= self.cursor), default=0)

    def _start_of(self, e: int) -> int:
        starts = self.timeline.starts
        return starts[max(0, min(e, len(starts) - 1))] if starts else 0

    def _end_of(self, e: int) -> int:
        starts = self.timeline.starts
        if e + 1 < len(starts):
            return starts[e + 1] - 1
        return max(0, len(self.timeline) - 1)

    def frame(self) -> Frame | None:
        return self.timeline.frame(self.cursor) if len(self.timeline) else None

    def chrome(self) -> Chrome:
        message = ""
        if self._want is not None:
            message = "the agent is working on the next subgoal..."
        error = getattr(self.timeline, "error", None)
        if error:
            message = f"the agent stopped: {error}"
        elif self.timeline.finished and self.timeline.mode == "live" and self.at_end():
            message = "the run is over"
        return Chrome(
            mode=self.timeline.mode,
            playing=self.playing,
            speed=self.speed,
            overlays=frozenset(self.overlays),
            cursor=self.cursor,
            total=max(1, len(self.timeline)),
            starts=tuple(self.timeline.starts) or (0,),
            keymap=help_rows(),
            message=message,
        )

    def at_end(self) -> bool:
        return self.cursor >= len(self.timeline) - 1

    def render(self) -> NDArray[np.uint8]:
        """The current picture (drawn again only when something it shows has changed)."""
        frame, chrome = self.frame(), self.chrome()
        key = (frame, chrome)
        if key != self._render_key or self._render_img is None:
            self._render_img = render_frame(frame, chrome)
            self._render_key = key
        return self._render_img
