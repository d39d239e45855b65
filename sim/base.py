"""The subgoal-level world interface every world implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from sim.schema import FailureCause, Outcome, Subgoal, Task, WorldState


class World(ABC):
    """A world the agent acts in at the level of subgoals.

    `reset(task, seed)` starts an episode and returns the first state; `execute(subgoal)` runs one
    subgoal to completion or failure and returns its `Outcome` (with the post state and a
    low-level trace). Worlds never import the agent or the knowledge store.
    """

    id: ClassVar[str]
    # the help this world can give, by name (a task's `helpers`; each off unless named, and
    # printed in reports): read from the class, so a suite is checked before a world is made
    HELPERS: ClassVar[dict[str, str]] = {}

    @property
    @abstractmethod
    def verbs(self) -> tuple[str, ...]:
        """The subgoal verbs this world executes."""

    @abstractmethod
    def item_names(self) -> tuple[str, ...]:
        """Every name a subgoal target may take."""

    def verb_targets(self) -> dict[str, tuple[str, ...]]:
        """The names each verb accepts as a target (what an LLM planner's grammar admits).
        Worlds narrow it (e.g. only craftable items for `craft`); by default every name."""
        names = self.item_names()
        return {verb: names for verb in self.verbs}

    def event_causes(self) -> dict[str, FailureCause]:
        """Meanings of trace events of this world's own, beyond `sim.events` (for diagnosis)."""
        return {}

    @abstractmethod
    def reset(self, task: Task, seed: int) -> WorldState: ...

    @abstractmethod
    def execute(self, subgoal: Subgoal) -> Outcome: ...

    @abstractmethod
    def state(self) -> WorldState: ...

    @abstractmethod
    def goal_reached(self) -> bool:
        """Whether the current task's success condition holds."""

    @abstractmethod
    def facts(self, state: WorldState) -> frozenset[str]:
        """The symbolic facts that matter for recall and guardrails (condition signatures):
        e.g. `has:stone_pickaxe`, `pickaxe>=stone`, `near:iron_ore`, `night`."""

    @abstractmethod
    def render(self) -> np.ndarray:
        """An RGB image (H, W, 3, uint8) of the current state."""

    @abstractmethod
    def describe(self) -> str:
        """A short text description of the current state, for prompts and logs."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (processes, sockets); a no-op for embedded worlds."""
