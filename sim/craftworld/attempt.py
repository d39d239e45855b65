"""One subgoal execution's bookkeeping, and the exception that ends it honestly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sim.schema import FailureCause, Subgoal


class Failure(Exception):
    """Ends an attempt with an honest cause; `needs` (a fact) and `remedy` (a subgoal as
    verb, target, count) say what was missing, for diagnosis and guardrails to read."""

    def __init__(
        self,
        cause: FailureCause,
        message: str,
        *,
        needs: str | None = None,
        remedy: tuple[str, str, int] | None = None,
    ) -> None:
        super().__init__(message)
        self.cause, self.message, self.needs, self.remedy = cause, message, needs, remedy


@dataclass
class Attempt:
    """Ticks, low-level steps and the trace of one subgoal execution."""

    subgoal: Subgoal
    tick_limit: int
    ticks: int = 0
    steps: int = 0
    trace: list[dict[str, Any]] = field(default_factory=list)

    def log(self, event: str, **data: Any) -> None:
        self.trace.append({"event": event, "t": self.ticks, **data})
