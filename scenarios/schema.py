"""The task-suite schema: what a suite YAML file may say, and how it becomes world tasks.

A suite is the unit users author and runners consume: a named list of tasks for one versioned
world, with suite-wide defaults (tick budget, subgoal budget, seeds) that each task may
override. Validation is strict (`extra="forbid"`) so a typo is an error, never a silent default;
`scenarios.loader` turns validation errors into messages that name the file, field and line.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from sim.schema import ArgValue, Goal, Task

# Ids end up in run-directory and file names, so they are kept to filename-safe characters.
ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$"
# A world id is a registered, versioned name such as `craftworld/v1` (see `sim.registry`).
WORLD_PATTERN = r"^[A-Za-z0-9_.\-]+/v[0-9][A-Za-z0-9_.\-]*$"

# Upper bounds, so a typo (or a hostile file) cannot ask for a run that never ends. Each sits
# far above any real need: the largest shipped budgets are 120,000 ticks and 150 subgoals.
MAX_TICKS = 10_000_000  # ~139 hours of game time at 20 ticks/s, ~417 in-game days
MAX_SUBGOALS = 10_000  # each subgoal costs a planner call; 10,000 is days of LLM time
MAX_COUNT = 10_000  # a Minecraft inventory holds at most 36 x 64 = 2,304 items
MAX_SEED = 2**32 - 1  # the range every seeded RNG accepts (NumPy's legacy seeds included)
MAX_SEEDS = 1_000  # seeds per task: each one is a full episode

# Strict: YAML `true` or `1.5e6` is a mistake to report, never an integer to coerce.
Ticks = Annotated[int, Field(strict=True, ge=1, le=MAX_TICKS)]
Subgoals = Annotated[int, Field(strict=True, ge=1, le=MAX_SUBGOALS)]
Count = Annotated[int, Field(strict=True, ge=1, le=MAX_COUNT)]
Seed = Annotated[int, Field(strict=True, ge=0, le=MAX_SEED)]
Seeds = Annotated[list[Seed], Field(min_length=1, max_length=MAX_SEEDS)]
_T = TypeVar("_T")


def _first(*values: _T | None) -> _T:
    """The first value that is set (the last one always is)."""
    return next(value for value in values if value is not None)


def _item_entry(value: Any) -> Any:
    """`stick` is short for `{item: stick}` in a list of goals."""
    return {"item": value} if isinstance(value, str) else value


class ItemGoalSpec(BaseModel):
    """Hold `count` of `item`: one entry of an `all` goal."""

    model_config = ConfigDict(extra="forbid")

    item: str = Field(min_length=1, description="Item name (Minecraft 1.16.5, e.g. `stick`).")
    count: Count = Field(1, description=f"How many (1 to {MAX_COUNT:,}).")

    def to_goal(self) -> Goal:
        return Goal(item=self.item, count=self.count)


ItemGoals = Annotated[list[ItemGoalSpec], Field(min_length=1, max_length=64)]


class MilestoneSpec(BaseModel):
    """One milestone of a `then` goal: an item (with a count) or `all` of several."""

    model_config = ConfigDict(extra="forbid")

    item: str | None = Field(None, min_length=1, description="Item to hold at this point.")
    count: Count = Field(1, description=f"How many of `item` (1 to {MAX_COUNT:,}).")
    all: ItemGoals | None = Field(
        None, description="Items to hold together at this point (`stick` or `{item, count}`)."
    )

    @field_validator("all", mode="before")
    @classmethod
    def _short_items(cls, value: Any) -> Any:
        return [_item_entry(v) for v in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _one_kind(self) -> MilestoneSpec:
        if (self.item is None) == (self.all is None):
            raise ValueError("a milestone needs exactly one of 'item' and 'all'")
        return self

    def to_goal(self) -> Goal:
        if self.all is not None:
            return Goal(all=[g.to_goal() for g in self.all])
        return Goal(item=self.item, count=self.count)


class GoalSpec(BaseModel):
    """A task's success condition: hold `count` of `item`; hold `all` of several items at
    once; reach milestones in order (`then`, the last one held at the end); or satisfy a world
    `predicate`."""

    model_config = ConfigDict(extra="forbid")

    item: str | None = Field(
        None,
        min_length=1,
        description="Item the agent must hold at the end (Minecraft 1.16.5 name, e.g. "
        "`wooden_pickaxe`). Exactly one of `item`, `all`, `then` and `predicate`.",
    )
    count: Count = Field(
        1, description=f"How many of `item` the agent must hold (1 to {MAX_COUNT:,})."
    )
    all: ItemGoals | None = Field(
        None,
        description="Items the agent must hold together at the end, each `stick` or "
        "`{item: stick, count: 4}`.",
    )
    then: Annotated[list[MilestoneSpec], Field(min_length=2, max_length=64)] | None = Field(
        None,
        description="Milestones reached in order, each `stick`, `{item, count}` or `{all: "
        "[...]}`; each is scored, and the task succeeds when the last is reached.",
    )
    predicate: str | None = Field(
        None,
        min_length=1,
        description="A goal predicate the world evaluates (household worlds). Exactly one of "
        "`item`, `all`, `then` and `predicate`.",
    )

    @field_validator("all", "then", mode="before")
    @classmethod
    def _short_items(cls, value: Any) -> Any:
        return [_item_entry(v) for v in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _one_kind_of_goal(self) -> GoalSpec:
        kinds = [self.item, self.all, self.then, self.predicate]
        if sum(k is not None for k in kinds) != 1:
            raise ValueError("a goal needs exactly one of 'item', 'all', 'then' and 'predicate'")
        return self

    def to_goal(self) -> Goal:
        if self.all is not None:
            return Goal(all=[g.to_goal() for g in self.all])
        if self.then is not None:
            return Goal(then=[m.to_goal() for m in self.then])
        return Goal(item=self.item, count=self.count, predicate=self.predicate)

    def item_fields(self) -> list[tuple[str, tuple[str | int, ...]]]:
        """Every item the goal names, with its field path under `goal`."""
        if self.item is not None:
            return [(self.item, ("item",))]
        out: list[tuple[str, tuple[str | int, ...]]] = [
            (g.item, ("all", i, "item")) for i, g in enumerate(self.all or [])
        ]
        for i, m in enumerate(self.then or []):
            if m.item is not None:
                out.append((m.item, ("then", i, "item")))
            out += [(g.item, ("then", i, "all", j, "item")) for j, g in enumerate(m.all or [])]
        return out


class TaskEntry(BaseModel):
    """One task of a suite as the user writes it; unset budgets and seeds come from its group
    (`TaskSuite.groups`) or the suite (`TaskSuite.defaults`)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        pattern=ID_PATTERN,
        description="Unique id within the suite (letters, digits, `_`, `.`, `-`); used in "
        "run records and file names.",
    )
    instruction: str = Field(
        min_length=1, description="The natural-language task given to the planner."
    )
    group: str = Field(
        "default", min_length=1, description="Tech-tree group for reporting (e.g. `wooden`)."
    )
    goal: GoalSpec = Field(description="The success condition.")
    initial_inventory: dict[str, Count] = Field(
        default_factory=dict,
        description=f"Items the agent starts with, by name (counts 1 to {MAX_COUNT:,}).",
    )
    max_ticks: Ticks | None = Field(
        None,
        description="World-tick budget; unset means the group's, else the suite's default.",
    )
    max_subgoals: Subgoals | None = Field(
        None,
        description="Subgoal attempts allowed; unset means the group's, else the suite's default.",
    )
    seeds: Seeds | None = Field(
        None,
        description="World seeds to run this task with; unset means the group's, else the "
        "suite's default.",
    )
    split: Literal["seen", "unseen"] = Field(
        "seen", description="Whether the task is for learning (`seen`) or held out (`unseen`)."
    )
    helpers: dict[str, ArgValue] = Field(
        default_factory=dict,
        description="Help the world gives the agent (e.g. spawning ores nearby). Every helper "
        "is off unless named here, and is printed in every report.",
    )
    skip: str | None = Field(
        None,
        min_length=1,
        description="If set, the reason the task is not run; a skipped task is listed, never run.",
    )


class SuiteDefaults(BaseModel):
    """Budgets and seeds for every task of a suite that does not set its own."""

    model_config = ConfigDict(extra="forbid")

    max_ticks: Ticks = Field(
        36_000, description=f"World-tick budget per episode (1 to {MAX_TICKS:,})."
    )
    max_subgoals: Subgoals = Field(
        60, description=f"Subgoal attempts allowed per episode (1 to {MAX_SUBGOALS:,})."
    )
    seeds: Seeds = Field(
        default_factory=lambda: [0],
        description=f"World seeds to run each task (0 to 2**32-1; at most {MAX_SEEDS:,}).",
    )


class GroupDefaults(BaseModel):
    """Budgets and seeds for the tasks of one group; each unset field falls back to the suite's
    `defaults`. Long suites (the tech tree) give each group its own budget this way instead of
    repeating it on every task."""

    model_config = ConfigDict(extra="forbid")

    max_ticks: Ticks | None = Field(
        None, description="World-tick budget; unset means the suite default."
    )
    max_subgoals: Subgoals | None = Field(
        None, description="Subgoal attempts allowed; unset means the suite default."
    )
    seeds: Seeds | None = Field(None, description="World seeds; unset means the suite default.")


class TaskSuite(BaseModel):
    """A named, versioned list of tasks for one world; the unit a runner runs."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=ID_PATTERN, description="Suite name, used in run directories.")
    description: str = Field("", description="What the suite measures, for humans.")
    version: int = Field(
        1, strict=True, ge=1, description="Bump when tasks change, so results stay comparable."
    )
    world: str = Field(
        "craftworld/v1",
        pattern=WORLD_PATTERN,
        description="Versioned id of the world the tasks run in (e.g. `craftworld/v1`).",
    )
    world_options: dict[str, Any] = Field(
        default_factory=dict, description="Keyword options passed to the world when it is made."
    )
    defaults: SuiteDefaults = Field(
        default_factory=SuiteDefaults, description="Budgets and seeds for tasks that set none."
    )
    groups: dict[str, GroupDefaults] = Field(
        default_factory=dict,
        description="Budgets and seeds per task group (keyed by `group`): a task's own setting "
        "wins, then its group's, then `defaults`. Every key must be some task's group.",
    )
    tasks: list[TaskEntry] = Field(min_length=1, description="The tasks, in run order.")

    @field_validator("tasks")
    @classmethod
    def _unique_ids(cls, tasks: list[TaskEntry]) -> list[TaskEntry]:
        first: dict[str, int] = {}
        for index, task in enumerate(tasks):
            if task.id in first:
                # The index travels in the error context so the loader can point at the
                # duplicate's own line rather than at the whole list.
                raise PydanticCustomError(
                    "duplicate_id",
                    "duplicate task id '{id}' (first used by tasks[{first}])",
                    {"id": task.id, "index": index, "first": first[task.id]},
                )
            first[task.id] = index
        return tasks

    @model_validator(mode="after")
    def _groups_are_used(self) -> TaskSuite:
        used = {task.group for task in self.tasks}
        for group in self.groups:
            if group not in used:
                # A misspelt group key would otherwise silently leave its budgets unapplied.
                # The group travels in the context so the loader can point at its line.
                raise PydanticCustomError(
                    "unused_group",
                    "no task has group '{group}' (groups used: {used})",
                    {"group": group, "used": ", ".join(sorted(used))},
                )
        return self

    def budget(self, entry: TaskEntry) -> tuple[int, int, list[int]]:
        """`(max_ticks, max_subgoals, seeds)` of a task: its own, else its group's, else the
        suite's defaults."""
        group, suite = self.groups.get(entry.group, GroupDefaults()), self.defaults
        return (
            _first(entry.max_ticks, group.max_ticks, suite.max_ticks),
            _first(entry.max_subgoals, group.max_subgoals, suite.max_subgoals),
            list(_first(entry.seeds, group.seeds, suite.seeds)),
        )

    def runnable(self) -> list[TaskEntry]:
        """The tasks to run: every task not marked `skip`."""
        return [task for task in self.tasks if task.skip is None]

    def skipped(self) -> list[tuple[str, str]]:
        """`(id, reason)` for every skipped task, so reports can list what was left out."""
        return [(task.id, task.skip) for task in self.tasks if task.skip is not None]

    def to_tasks(self) -> list[tuple[Task, list[int]]]:
        """Each runnable task as the world-facing `Task`, with defaults applied, and its seeds."""
        out: list[tuple[Task, list[int]]] = []
        for entry in self.runnable():
            max_ticks, max_subgoals, seeds = self.budget(entry)
            task = Task(
                id=entry.id,
                instruction=entry.instruction,
                group=entry.group,
                goal=entry.goal.to_goal(),
                initial_inventory=dict(entry.initial_inventory),
                max_ticks=max_ticks,
                max_subgoals=max_subgoals,
                helpers=dict(entry.helpers),
                split=entry.split,
            )
            out.append((task, seeds))
        return out

    def item_names(self) -> set[str]:
        """Every item named by a goal or an initial inventory, skipped tasks included."""
        names: set[str] = set()
        for task in self.tasks:
            names.update(name for name, _ in task.goal.item_fields())
            names.update(task.initial_inventory)
        return names
