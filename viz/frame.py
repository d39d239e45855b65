"""The frame model: everything one picture of the viewer shows, built from trajectory lines.

A frame is one subgoal attempt as the loop recorded it (`agent.loop._trajectory_line`: the
subgoal, pre and post state, the recalled knowledge, the guardrail verdict, the outcome and
the diagnosis), plus what the line alone does not say: the plan in force and which of its
subgoals this attempt is, the planner's last prompt and reply, and a top-down image of the world
after the attempt (None where the world could not be shown; the renderer then draws a
schematic of the recorded state). The live view, the replay and the video export all build
frames this way and draw them with the one renderer in `viz.render`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, eq=False)
class Frame:
    """One subgoal attempt, ready to draw (compared by identity: it holds arrays)."""

    episode_id: str
    task_id: str
    seed: int
    step: int  # the attempt's index in its episode (the trajectory line's `step`)
    line: dict[str, Any]  # the trajectory line, as recorded
    plan: tuple[str, ...] = ()  # the plan in force when this attempt was made
    active: int = -1  # this attempt's index in `plan` (-1: not a planned subgoal)
    prompt: str | None = None  # the planner's last prompt and reply (None: not an LLM)
    reply: str | None = None
    plan_error: str | None = None
    image: NDArray[np.uint8] | None = None  # the world after the attempt (top-down, RGB)
    view_note: str = ""  # where the image came from (live, regenerated, schematic and why)
    agent_at: tuple[float, float] | None = None  # the agent in `image`, as fractions of w, h
    steps: int | None = None  # attempts in the episode, when known
    success: bool | None = None  # the episode's outcome, when known
    instruction: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    # ---- what the renderer reads --------------------------------------------------------
    @property
    def subgoal(self) -> str:
        return subgoal_text(self.line.get("subgoal", {}))

    @property
    def state(self) -> dict[str, Any]:
        """The state after the attempt (the post state; a blocked attempt leaves it as it was)."""
        return dict(self.line.get("post_state") or self.line.get("pre_state") or {})

    @property
    def diagnosis(self) -> dict[str, Any]:
        return dict(self.line.get("diagnosis") or {})

    @property
    def recalled(self) -> list[dict[str, Any]]:
        return list(self.line.get("recalled") or [])

    @property
    def guardrail(self) -> dict[str, Any]:
        return dict(self.line.get("guardrail") or {"blocked": False})

    @property
    def blocked(self) -> bool:
        return bool(self.guardrail.get("blocked"))

    @property
    def message(self) -> str:
        return str((self.line.get("outcome") or {}).get("message", ""))


def subgoal_text(sg: dict[str, Any]) -> str:
    """`Subgoal.text()` of a recorded subgoal (`verb count target k=v`)."""
    if not sg:
        return ""
    args = sg.get("args") or {}
    extra = "".join(f" {k}={v}" for k, v in sorted(args.items()))
    return f"{sg.get('verb', '?')} {sg.get('count', 1)} {sg.get('target', '?')}{extra}"


@dataclass
class PlanTracker:
    """Follows the plan through an episode's lines: a line that carries `plan` starts a new
    plan whose first subgoal is that line's own; each later line is the plan's next subgoal
    (the loop pops the plan in order), until the next plan arrives."""

    plan: tuple[str, ...] = ()
    start: int = 0
    prompt: str | None = None
    reply: str | None = None
    error: str | None = None
    seen: int = 0

    def feed(self, line: dict[str, Any]) -> tuple[tuple[str, ...], int]:
        """The plan in force for this line and the line's index in it (-1 if not in it)."""
        planned = line.get("plan")
        if planned is not None:
            self.plan = tuple(planned.get("subgoals") or ())
            self.start = self.seen
            self.prompt, self.reply = planned.get("prompt"), planned.get("reply")
            self.error = planned.get("error")
        active = self.seen - self.start
        self.seen += 1
        text = subgoal_text(line.get("subgoal", {}))
        if not (0 <= active < len(self.plan)) or self.plan[active] != text:
            active = -1
        return self.plan, active


def frames_of(
    lines: list[dict[str, Any]],
    images: list[NDArray[np.uint8] | None],
    *,
    episode_id: str,
    task_id: str,
    seed: int,
    notes: list[str] | None = None,
    success: bool | None = None,
    instruction: str = "",
    agent_at: tuple[float, float] | None = None,
) -> list[Frame]:
    """The frames of one episode from its trajectory lines and one image (or None) per line."""
    tracker = PlanTracker()
    out = []
    for i, line in enumerate(lines):
        plan, active = tracker.feed(line)
        out.append(
            Frame(
                episode_id=episode_id,
                task_id=task_id,
                seed=seed,
                step=int(line.get("step", i)),
                line=line,
                plan=plan,
                active=active,
                prompt=tracker.prompt,
                reply=tracker.reply,
                plan_error=tracker.error,
                image=images[i] if i < len(images) else None,
                view_note=notes[i] if notes and i < len(notes) else "",
                agent_at=agent_at,
                steps=len(lines),
                success=success,
                instruction=instruction,
            )
        )
    return out


def split_episode_id(episode_id: str) -> tuple[str, int]:
    """`craft_bowl__s3` -> ("craft_bowl", 3), as the runner names episodes."""
    task, sep, seed = episode_id.rpartition("__s")
    if not sep or not seed.isdigit():
        return episode_id, 0
    return task, int(seed)
