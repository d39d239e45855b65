"""The contract between a world and everything that drives it.

These types are the project's shared schema: `sim` owns them because worlds depend on nothing
of ours, and `knowledge` and `agent` import them from here. A world speaks only in these types:
a `Task` in, `WorldState` snapshots and `Outcome`s out.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

DAY_TICKS = 24_000
NIGHT_START = 13_000
NIGHT_END = 23_000

ArgValue = str | int | float | bool


class FailureCause(StrEnum):
    """Why a subgoal attempt failed: one enumerated cause per attempt.

    Worlds report their own ground-truth cause in `Outcome.cause`; diagnosis attributes a cause
    from the evidence (state difference and trace) and the two are compared in the tests.
    """

    NONE = "NONE"
    NAV_STUCK = "NAV_STUCK"
    TARGET_UNREACHABLE = "TARGET_UNREACHABLE"
    TARGET_NOT_FOUND = "TARGET_NOT_FOUND"
    MISSING_ITEM = "MISSING_ITEM"
    WRONG_TOOL = "WRONG_TOOL"
    RECIPE_FAIL = "RECIPE_FAIL"
    SMELT_FAIL = "SMELT_FAIL"
    GUI_FAIL = "GUI_FAIL"
    MOB_KILLED = "MOB_KILLED"
    DAMAGE = "DAMAGE"
    TIMEOUT = "TIMEOUT"
    DEADLOCK = "DEADLOCK"
    INVALID_ACTION = "INVALID_ACTION"
    BLOCKED_BY_GUARDRAIL = "BLOCKED_BY_GUARDRAIL"
    PLAN_PARSE_FAIL = "PLAN_PARSE_FAIL"
    UNKNOWN = "UNKNOWN"
    # household world
    OBJECT_NOT_FOUND = "OBJECT_NOT_FOUND"
    NOT_HOLDING = "NOT_HOLDING"
    RECEPTACLE_CLOSED = "RECEPTACLE_CLOSED"
    WRONG_APPLIANCE = "WRONG_APPLIANCE"


class WorldState(BaseModel):
    """A symbolic snapshot of the agent and what it can perceive.

    Minecraft-like worlds fill the inventory, equipment, body and surroundings; the household
    world fills `location`, `holding` and `object_states`. Unused fields keep their defaults.
    """

    model_config = ConfigDict(extra="forbid")

    world: str = Field(description="Versioned id of the world that produced this state.")
    tick: int = Field(0, description="World ticks since reset (20 ticks = 1 s of game time).")
    inventory: dict[str, int] = Field(default_factory=dict)
    equipped: str | None = None
    durability: dict[str, int] = Field(
        default_factory=dict, description="Uses left of each damageable item held."
    )
    position: tuple[int, int, int] = (0, 0, 0)
    health: float = 20.0
    food: float = 20.0
    time_of_day: int = Field(0, description="Ticks into the day, 0..23999 (night 13000-23000).")
    nearby_blocks: dict[str, int] = Field(
        default_factory=dict, description="Counts of block types within sight."
    )
    nearby_entities: dict[str, int] = Field(default_factory=dict)
    dead: bool = False
    # household world
    location: str | None = None
    holding: str | None = None
    object_states: dict[str, list[str]] = Field(default_factory=dict)

    @property
    def is_night(self) -> bool:
        return NIGHT_START <= self.time_of_day % DAY_TICKS < NIGHT_END

    def count(self, item: str) -> int:
        return self.inventory.get(item, 0)

    def inventory_key(self) -> str:
        """The inventory as one comparable string (`oak_log=2,stick=4`), for "the same
        inventory as before" checks."""
        return ",".join(f"{k}={n}" for k, n in sorted(self.inventory.items()))


class Subgoal(BaseModel):
    """One step of a plan: a verb of the world applied to a target, `count` times."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verb: str
    target: str
    count: int = Field(1, ge=1)
    args: dict[str, ArgValue] = Field(default_factory=dict)

    def text(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in sorted(self.args.items()))
        return f"{self.verb} {self.count} {self.target}{extra}"

    def key(self) -> str:
        """What identifies the operation regardless of how many times: `verb:target`."""
        return f"{self.verb}:{self.target}"


class Outcome(BaseModel):
    """What happened when a world executed one subgoal."""

    model_config = ConfigDict(extra="forbid")

    subgoal: Subgoal
    success: bool
    cause: FailureCause = Field(
        FailureCause.NONE, description="The world's own ground-truth reason for a failure."
    )
    message: str = ""
    ticks: int = Field(0, description="World ticks the attempt consumed.")
    steps: int = Field(0, description="Low-level actions the attempt took.")
    post_state: WorldState
    trace: list[dict[str, Any]] = Field(
        default_factory=list, description="Low-level events, in order, for diagnosis to read."
    )


class Goal(BaseModel):
    """A success condition, one of: hold at least `count` of `item` (Minecraft-like worlds); hold
    every goal of `all` at once; reach the goals of `then` in order (milestones, each an item
    goal or an `all`); or a goal `predicate` the world evaluates (household worlds).

    A world judges the final condition (`final()`): the last milestone, held at the end. The
    order of milestones is the episode's to keep (`agent.loop`), as a referee would."""

    model_config = ConfigDict(extra="forbid")

    item: str | None = None
    count: int = Field(1, ge=1)
    predicate: str | None = None
    all: list[Goal] = Field(default_factory=list, description="Item goals held together.")
    then: list[Goal] = Field(default_factory=list, description="Milestones, in order.")

    @model_validator(mode="after")
    def _one_kind(self) -> Goal:
        kinds = [self.item is not None, self.predicate is not None, bool(self.all), bool(self.then)]
        if sum(kinds) != 1:
            raise ValueError("a goal is exactly one of item, predicate, all and then")
        if any(g.item is None for g in self.all):
            raise ValueError("each goal of 'all' is an item goal")
        if any(g.predicate is not None or g.then for g in self.then):
            raise ValueError("each milestone of 'then' is an item goal or an 'all'")
        return self

    def milestones(self) -> list[Goal]:
        """The goals to reach in order: `then`'s, else this goal alone."""
        return list(self.then) or [self]

    def final(self) -> Goal:
        """What must hold at the end."""
        return self.milestones()[-1]

    def wanted(self) -> dict[str, int]:
        """The items this goal (an item goal or an `all`) asks to hold, with their counts."""
        if self.item is not None:
            return {self.item: self.count}
        return {g.item: g.count for g in self.all if g.item is not None}

    def held(self, count: Callable[[str], int]) -> bool:
        """Whether an inventory (`count(item)`) satisfies this item goal or `all`."""
        wanted = self.wanted()
        return bool(wanted) and all(count(i) >= n for i, n in wanted.items())

    def item_names(self) -> list[str]:
        """Every item the goal names, milestones included, in order."""
        out = [i for m in self.milestones() for i in m.wanted()]
        return list(dict.fromkeys(out))

    def text(self) -> str:
        """`2 stick`, `all of 1 stick, 1 oak_planks`, `1 stick, then 1 wooden_pickaxe`."""
        if self.predicate is not None:
            return self.predicate
        if self.then:
            return ", then ".join(m.text() for m in self.then)
        items = ", ".join(f"{n} {i}" for i, n in self.wanted().items())
        return f"all of {items}" if self.all else items


class Task(BaseModel):
    """What a world is reset with: the goal, the budget and any disclosed help."""

    model_config = ConfigDict(extra="forbid")

    id: str
    instruction: str
    group: str = "default"
    goal: Goal
    initial_inventory: dict[str, int] = Field(default_factory=dict)
    max_ticks: int = Field(36_000, ge=1, description="World-tick budget for the episode.")
    max_subgoals: int = Field(60, ge=1, description="Subgoal attempts allowed per episode.")
    helpers: dict[str, ArgValue] = Field(
        default_factory=dict,
        description="Help the world gives the agent (all off by default; printed in reports).",
    )
    split: str = "seen"
