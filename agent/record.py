"""The run record: what a run directory holds, written by one sink (`RunSink`) for the serial and
the parallel runner alike, and read back (`read_episodes`) by resume, reports and the viewer.

runs/<suite>__<method>__<seeds>__<time>/
    config.yaml                     everything needed to repeat the run
    episodes.jsonl                  one `EpisodeRecord` per finished episode, appended and
                                    flushed at once (a resumed run appends; an episode's last
                                    line wins)
    trajectory/<episode_id>.jsonl   one line per subgoal attempt (`agent.loop`)
    knowledge.sqlite                the experience store (unless --knowledge points elsewhere)

Each episode line carries `version`: 2 since rows say how many milestones were reached and why
the episode ended; a row without one was written before (version 1) and still loads, with the
newer fields at their defaults.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from knowledge.schema import Diagnosis, RecallItem
from sim.schema import FailureCause, Subgoal, WorldState

RECORD_VERSION = 2

# Why an episode stops. `dead_end` and `unobtainable` end it before its budget: nothing the
# agent could do next would tell it anything new, so the rest of the budget is not burnt.
ENDINGS = (
    "goal",
    "died",
    "subgoal_budget",
    "tick_budget",
    "no_plan",
    "dead_end",
    "unobtainable",
    "error",
)
EARLY_ENDINGS = ("dead_end", "unobtainable")  # the endings before the budget ran out


class EpisodeRecord(BaseModel):
    """One line of episodes.jsonl: one episode's outcome and what it cost."""

    model_config = ConfigDict(extra="ignore")  # a newer writer's fields are skipped, not fatal

    version: int = RECORD_VERSION
    episode_id: str
    task_id: str
    group: str
    seed: int
    success: bool = False
    steps: int = 0
    ticks: int = 0
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_latency_s: float = 0.0  # seconds spent waiting on LLM calls (planner and extractor)
    wall_s: float = 0.0
    replans: int = 0
    blocked: int = 0
    remedies: int = 0  # local repairs from memory (a guardrail's or an induced remedy)
    probes: int = 0  # the explorer's probes for a missing fact
    causes: dict[str, int] = Field(default_factory=dict)
    recalled: int = 0
    online_guardrails: int = 0
    distilled: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    milestones: int = 0  # of the goal's milestones (one for a plain goal), reached in order
    milestones_of: int = 1
    ended: str = ""  # why the episode stopped: one of ENDINGS ("" in version 1 rows)
    ended_why: str = ""  # for an early end (dead end, unobtainable goal): the reason in words

    def row(self) -> dict[str, Any]:
        """The line as written (plain JSON types)."""
        return self.model_dump(mode="json")


class GuardVerdict(BaseModel):
    """Whether a guardrail stopped the attempt before it reached the world, and which."""

    blocked: bool = False
    id: int | None = None
    reason: str | None = None
    probe: bool = False  # a guardrail on probation let this attempt through (`id` names it)


class PlanCost(BaseModel):
    """What producing one plan cost (the episode's totals are in its row)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0


class PlanRecord(BaseModel):
    """A plan, on the line of its first step (later lines are its next steps, in order, until
    a line carries the next plan); a model's reply is clipped (`agent.loop.REPLY_CHARS`)."""

    subgoals: list[str] = Field(default_factory=list)
    prompt: str | None = None
    reply: str | None = None
    error: str | None = None
    notes: list[str] = Field(default_factory=list)
    followed: list[dict[str, Any]] = Field(
        default_factory=list, description="Each item shown: did the plan do what it said."
    )
    llm: PlanCost | None = None


class OutcomeRecord(BaseModel):
    """The world's outcome of the attempt, without the states the line holds already."""

    success: bool = False
    cause: FailureCause = FailureCause.NONE
    message: str = ""
    ticks: int = 0
    steps: int = 0
    trace: list[dict[str, Any]] = Field(default_factory=list)


class MilestoneRecord(BaseModel):
    """Where the goal's milestones stand after the attempt (a plain goal is one)."""

    reached: int = 0
    of: int = 1
    working_on: str | None = None


class TrajectoryLine(BaseModel):
    """One line of trajectory/<episode_id>.jsonl: one subgoal attempt, as the loop saw it."""

    model_config = ConfigDict(extra="ignore")

    version: int = RECORD_VERSION
    tuple_id: int | None = None
    step: int
    subgoal: Subgoal
    pre_state: WorldState
    facts: list[str] = Field(default_factory=list)
    recalled: list[RecallItem] = Field(default_factory=list)
    guardrail: GuardVerdict = Field(default_factory=GuardVerdict)
    outcome: OutcomeRecord = Field(default_factory=OutcomeRecord)
    diagnosis: Diagnosis
    post_state: WorldState
    plan: PlanRecord | None = None
    milestone: MilestoneRecord = Field(default_factory=MilestoneRecord)
    memory: list[str] = Field(
        default_factory=list,
        description="What this attempt changed in the store's knowledge: a probe's verdict "
        "on a guardrail, a skill's verification (`agent.memory`).",
    )

    def row(self) -> dict[str, Any]:
        """The line as written (plain JSON types; `plan` only on a plan's first line)."""
        out = self.model_dump(mode="json")
        if out["plan"] is None:
            del out["plan"]
        return out

    @classmethod
    def read(cls, row: Any) -> TrajectoryLine:
        """A line read back; one written before lines carried `version` is version 1."""
        if not isinstance(row, dict):
            raise ValueError("a trajectory line is a JSON object")
        return cls.model_validate({"version": 1, **row})


def read_trajectory(path: Path, strict: bool = True) -> list[TrajectoryLine]:
    """An episode's attempts, in order. A last line cut short by a kill is left out; a damaged
    line elsewhere is a ValueError naming the file and line (not `strict`: the lines before
    it, as a viewer shows what it can)."""
    lines = Path(path).read_text().splitlines() if Path(path).exists() else []
    out = []
    for n, text in enumerate(lines, 1):
        try:
            out.append(TrajectoryLine.read(json.loads(text)))
        except (json.JSONDecodeError, ValueError) as exc:
            if not strict or (n == len(lines) and isinstance(exc, json.JSONDecodeError)):
                break  # cut short by a kill
            raise ValueError(f"{path}:{n}: not a trajectory line ({exc})") from None
    return out


def read_episodes(run_dir: Path) -> list[EpisodeRecord]:
    """Every episode a run directory holds: the last line of each, in the order they were first
    played. A line cut short by a kill (or otherwise unreadable) is skipped: that episode is not
    finished. Rows written before `version` was kept load as version 1."""
    last: dict[str, EpisodeRecord] = {}
    path = Path(run_dir) / "episodes.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            row = json.loads(line)
            if isinstance(row, dict) and "milestones" not in row:  # a version 1 row
                row["milestones"] = int(bool(row.get("success")))
            record = EpisodeRecord.model_validate({"version": 1, **row})
        except (json.JSONDecodeError, TypeError, ValueError):
            continue
        last[record.episode_id] = record  # a dict keeps the first-played order
    return list(last.values())


def drop_partial_line(path: Path) -> None:
    """A run killed mid-write leaves a last line with no newline: cut it, so the lines appended
    on resume start on a line of their own (that episode runs again)."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


class RunSink:
    """The one writer of a run directory: its config, each episode's trajectory, and
    episodes.jsonl, each line flushed as soon as it is written (a killed run keeps every
    finished episode; `--resume` plays the rest)."""

    def __init__(self, run_dir: Path, config: dict[str, Any]) -> None:
        self.run_dir = Path(run_dir)
        (self.run_dir / "trajectory").mkdir(parents=True, exist_ok=True)
        (self.run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        drop_partial_line(self.run_dir / "episodes.jsonl")
        self._episodes: IO[str] = (self.run_dir / "episodes.jsonl").open("a")

    def trajectory(self, episode_id: str) -> IO[str]:
        """The episode's trajectory file, opened afresh (a retried episode starts over)."""
        return (self.run_dir / "trajectory" / f"{episode_id}.jsonl").open("w")

    @staticmethod
    def line(out: IO[str], line: TrajectoryLine | str) -> None:
        """One trajectory line, flushed (the live viewer and a killed run see it at once)."""
        out.write((line if isinstance(line, str) else json.dumps(line.row())) + "\n")
        out.flush()

    def episode(self, record: EpisodeRecord) -> None:
        self._episodes.write(json.dumps(record.row()) + "\n")
        self._episodes.flush()

    def close(self) -> None:
        self._episodes.close()

    def __enter__(self) -> RunSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
