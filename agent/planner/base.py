"""The planner interface: a task, a state and a briefing in, subgoals out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from knowledge.schema import Briefing, Diagnosis
from sim.schema import Subgoal, Task, WorldState


@dataclass(frozen=True)
class Expanded:
    """A skill the plan names, expanded into its steps: `subgoals[start:start + steps]`."""

    skill_id: int
    start: int
    steps: int


@dataclass
class PlanResult:
    """A plan, with the accounting of what producing it cost.

    `error` is set when the planner's reply could not be turned into subgoals (the loop
    diagnoses that as PLAN_PARSE_FAIL rather than crashing)."""

    subgoals: list[Subgoal]
    prompt: str | None = None
    reply: str | None = None
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    expanded: list[Expanded] = field(default_factory=list)
    """The skills the plan expanded and where their steps stand (checked after they run)."""
    followed: list[dict[str, Any]] = field(default_factory=list)
    """Each briefing item the planner was shown, and whether this plan followed it (filled
    in by the loop, `agent.followed`)."""


class Planner(Protocol):
    """Anything that plans: the symbolic oracle, or an LLM behind `agent.llm`."""

    name: str

    def plan(self, task: Task, state: WorldState, briefing: Briefing) -> PlanResult:
        """A full plan at task start."""
        ...

    def replan(
        self,
        task: Task,
        state: WorldState,
        briefing: Briefing,
        failed: Subgoal,
        diagnosis: Diagnosis,
        remaining: list[Subgoal],
    ) -> PlanResult:
        """A local repair from the failed subgoal, given its diagnosis."""
        ...
