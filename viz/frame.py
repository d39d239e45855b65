"""The frame model: everything one picture of the viewer shows, built from trajectory lines.

A frame is one subgoal attempt as the loop recorded it (`agent.record.TrajectoryLine`: the
subgoal, pre and post state, the recalled knowledge, the guardrail verdict, the outcome and
the diagnosis), plus what the line alone does not say: the plan in force and which of its
subgoals this attempt is, the planner's last prompt and reply, and images of the world after
the attempt: its 3D view and, where the world draws one, its map (None where the world could
not be shown; the renderer then draws a schematic of the recorded state). The live view, the
replay and the video export all build frames this way and draw them with the one renderer in
`viz.render`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agent.record import GuardVerdict, TrajectoryLine
from knowledge.schema import Diagnosis, RecallItem
from sim.schema import WorldState


@dataclass(frozen=True, eq=False)
class Frame:
    """One subgoal attempt, ready to draw (compared by identity: it holds arrays)."""

    episode_id: str
    task_id: str
    seed: int
    step: int  # the attempt's index in its episode (the trajectory line's `step`)
    line: TrajectoryLine  # the trajectory line, as recorded
    plan: tuple[str, ...] = ()  # the plan in force when this attempt was made
    active: int = -1  # this attempt's index in `plan` (-1: not a planned subgoal)
    repair: str = ""  # for a step a repair put in: what it repairs (`PlanTracker`)
    resumes: int = -1  # the plan's step the agent goes back to after this one (-1: none)
    prompt: str | None = None  # the planner's last prompt and reply (None: not an LLM)
    reply: str | None = None
    plan_error: str | None = None
    image: NDArray[np.uint8] | None = None  # the world after the attempt (its 3D view, RGB)
    map_image: NDArray[np.uint8] | None = None  # the same from above, where the world has a map
    view_note: str = ""  # where the image came from (live, regenerated, schematic and why)
    agent_at: tuple[float, float] | None = None  # the agent in `image`, as fractions of w, h
    steps: int | None = None  # attempts in the episode, when known
    success: bool | None = None  # the episode's outcome, when known
    instruction: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    # ---- what the renderer reads: the typed line's parts --------------------------------
    @property
    def subgoal(self) -> str:
        return self.line.subgoal.text()

    @property
    def state(self) -> WorldState:
        """The state after the attempt (the post state; a blocked attempt leaves it as it was)."""
        return self.line.post_state

    @property
    def diagnosis(self) -> Diagnosis:
        return self.line.diagnosis

    @property
    def recalled(self) -> list[RecallItem]:
        return self.line.recalled

    @property
    def guardrail(self) -> GuardVerdict:
        return self.line.guardrail

    @property
    def blocked(self) -> bool:
        return self.line.guardrail.blocked

    @property
    def message(self) -> str:
        return self.line.outcome.message


GOAL = "working on the goal"  # why a step not in the plan follows a planned step that worked


@dataclass(frozen=True)
class _Ahead:
    """A step the loop will take next, as far as the lines tell."""

    text: str
    index: int  # in the plan; -1: a step a repair put in
    why: str = ""  # for a repair's step: what it repairs
    optional: bool = False  # a failed step that a repair of the goal may drop (a deadlock)


@dataclass
class PlanTracker:
    """Follows the plan through an episode's lines the way the loop pops it.

    A line that carries `plan` starts a new plan whose first subgoal is that line's own; each
    later line is the plan's next subgoal, until the next plan arrives. Between them the loop
    splices in repairs (`agent.repair`): after a failure, a guardrail's remedy, a remedy
    induced from memory or the explorer's probes, then the failed step again and the rest of
    the plan; after a planner that goes round in circles, steps towards the goal itself. The
    lines do not mark those steps, so they are inferred: a line that is not the next step
    ahead, after a failure that was not followed by a new plan, is that failure's repair (the
    blocked step's guardrail remedy when it matches the one the block recorded); the failed
    step is ahead again. Without this, every step after a repair would be "not in the plan".
    """

    plan: tuple[str, ...] = ()
    prompt: str | None = None
    reply: str | None = None
    error: str | None = None
    repair: str = ""  # the last line's repair ("" when it was one of the plan's steps)
    resumes: int = -1  # the plan's step the last line leads back to (its index; -1: none)
    _ahead: list[_Ahead] = field(default_factory=list)
    _why: str = ""  # what a step not in the plan, next, would be repairing
    _remedy: tuple[str, str, str] | None = None  # (verb, target, guardrail) of the last block

    def feed(self, line: TrajectoryLine) -> tuple[tuple[str, ...], int]:
        """The plan in force for this line and the line's index in it (-1 if not in it)."""
        planned = line.plan
        if planned is not None:
            self.plan = tuple(planned.subgoals)
            self.prompt, self.reply = planned.prompt, planned.reply
            self.error = planned.error
            self._ahead = [_Ahead(s, i) for i, s in enumerate(self.plan)]
            self._why, self._remedy = "", None
        sg = line.subgoal
        step = self._take(sg.text())
        if step is None:  # not the step ahead: one a repair put in
            if self._remedy is not None and self._remedy[:2] == (sg.verb, sg.target):
                self._why = f"remedy of guardrail {self._remedy[2]}"
            step = _Ahead(sg.text(), -1, self._why)
        self._remedy = None
        self.repair = step.why if step.index < 0 else ""
        d = line.diagnosis
        if not d.success:  # repaired next, unless a new plan comes
            self._ahead.insert(0, replace(step, optional=d.deadlock))
            self._why, self._remedy = _why_failed(line)
        else:  # a repair's step goes on with its repair; after a planned one, the goal's
            self._why = step.why if step.index < 0 else GOAL
        self.resumes = next((s.index for s in self._ahead if s.index >= 0), -1)
        return self.plan, step.index

    def _take(self, text: str) -> _Ahead | None:
        """The step ahead if `text` is it (a repair of the goal may have dropped a failed
        step that a deadlock put back), else None."""
        for i, ahead in enumerate(self._ahead[:2]):
            if ahead.text == text:
                del self._ahead[: i + 1]
                return ahead
            if not ahead.optional:
                break
        return None


def _why_failed(line: TrajectoryLine) -> tuple[str, tuple[str, str, str] | None]:
    """What the repair of a failed line works on, and the remedy its guardrail named."""
    remedy = None
    for event in line.outcome.trace:
        if event.get("event") == "blocked" and event.get("remedy"):
            r = event["remedy"]
            remedy = (r.get("verb"), r.get("target"), str(event.get("guardrail", "?")))
    details = line.diagnosis.details
    if details.get("needs"):
        return f"for {details['needs']}", remedy
    if details.get("context"):
        return f"to change {details['context']}", remedy
    return GOAL, remedy  # nothing named: only a repair of the goal follows such a failure


def frames_of(
    lines: list[TrajectoryLine],
    images: list[NDArray[np.uint8] | None],
    *,
    maps: list[NDArray[np.uint8] | None] | None = None,
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
                step=line.step,
                line=line,
                plan=plan,
                active=active,
                repair=tracker.repair,
                resumes=tracker.resumes,
                prompt=tracker.prompt,
                reply=tracker.reply,
                plan_error=tracker.error,
                image=images[i] if i < len(images) else None,
                map_image=maps[i] if maps and i < len(maps) else None,
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


def plan_rows(frame: Frame, rows: int = 7) -> list[tuple[str, str]]:
    """The plan panel's lines as (text, role), kept apart from the drawing so that what the
    panel says can be read (and tested) as text: the attempt when it is not one of the plan's
    steps (a repair's step, named as such, else `note`: not in the plan), then up to `rows`
    lines of the plan around the step in hand. Roles of the plan's lines: `active` (this
    attempt), `next` (the step a repair leads back to), `done`, `todo`; `more` says how many
    are cut."""
    out: list[tuple[str, str]] = []
    plan = frame.plan
    stage = frame.line.milestone
    if stage.of > 1:  # a goal written as milestones: where this attempt stands
        doing = stage.working_on
        out.append(
            (
                f"milestones {stage.reached}/{stage.of} reached"
                + (f"; working on {doing}" if doing else ""),
                "more",
            )
        )
    if frame.active < 0 and frame.repair:
        out.append((f"repair: {frame.subgoal} ({frame.repair})", "repair"))
    elif frame.active < 0 and plan:
        out.append((f"attempt: {frame.subgoal} (not in the plan)", "note"))
    if not plan:
        return [*out, ("no plan recorded", "more")]
    rows -= len(out)
    at = frame.active if frame.active >= 0 else frame.resumes
    first = max(0, min(at - 2, len(plan) - rows)) if at >= 0 else 0
    for i in range(first, min(len(plan), first + rows)):
        if i == frame.active:
            role = "active"
        elif i == at:
            role = "next"
        elif 0 <= i < at or (at < 0 and frame.repair):  # a repair after the plan's last step
            role = "done"
        else:
            role = "todo"
        out.append((f"{i + 1}. {plan[i]}" + ("  (next)" if role == "next" else ""), role))
    if first + rows < len(plan):
        out.append((f"... {len(plan) - first - rows} more", "more"))
    return out
