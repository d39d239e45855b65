"""One subgoal execution's bookkeeping, and the exception that ends it honestly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sim.schema import FailureCause, Subgoal


class Failure(Exception):
    """Ends an attempt with an honest cause; `needs` (a fact) and `remedy` (a subgoal as
    verb, target, count) say what was missing, for diagnosis and guardrails to read.

    `event` and `data` are the low-level evidence (a `sim.events` name) written to the trace
    before the verdict; None where the evidence is already in the trace (a death, a hazard)."""

    def __init__(
        self,
        cause: FailureCause,
        message: str,
        *,
        event: str | None,
        data: dict[str, Any] | None = None,
        needs: str | None = None,
        remedy: tuple[str, str, int] | None = None,
    ) -> None:
        super().__init__(message)
        self.cause, self.message, self.needs, self.remedy = cause, message, needs, remedy
        self.event, self.data = event, data or {}


@dataclass
class Attempt:
    """Ticks, low-level steps and the trace of one subgoal execution."""

    subgoal: Subgoal
    tick_limit: int
    guarded: bool = False
    """Whether being hurt by a mob cuts the attempt short (busy skills watch their back;
    `wait` and `attack` do not: an idle agent just takes it, a fighting one fights on)."""
    ticks: int = 0
    steps: int = 0
    trace: list[dict[str, Any]] = field(default_factory=list)

    def log(self, event: str, **data: Any) -> None:
        self.trace.append({"event": event, "t": self.ticks, **data})

    def failed(self, fail: Failure) -> None:
        """Write a failure's evidence, then its verdict (cause, message, what was missing and
        the fix) to the trace, as every world playing by Minecraft's rules records it."""
        if fail.event is not None:
            self.log(fail.event, **fail.data)
        event: dict[str, Any] = {"cause": fail.cause.value, "message": fail.message}
        if fail.needs:
            event["needs"] = fail.needs
        if fail.remedy:
            event["remedy"] = {
                "verb": fail.remedy[0],
                "target": fail.remedy[1],
                "count": fail.remedy[2],
            }
        self.log("fail", **event)
