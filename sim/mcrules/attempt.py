"""One subgoal execution's bookkeeping (`Failure`, the exception that ends it honestly, lives
in `sim.events` with the evidence vocabulary and is imported from here too)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sim.events import Failure
from sim.schema import FailureCause, Outcome, Subgoal, WorldState

if TYPE_CHECKING:
    from sim.mcrules.recipes import Recipe

UNGUARDED = ("wait", "attack")
"""Verbs whose attempts go on when a mob hurts the agent (see `Attempt.guarded`)."""


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

    @classmethod
    def start(cls, subgoal: Subgoal, tick_limit: int) -> Attempt:
        """An attempt at `subgoal`, limited to its ``max_ticks`` argument or else `tick_limit`,
        guarded unless its verb is one of `UNGUARDED`."""
        limit = int(subgoal.args.get("max_ticks", tick_limit))
        return cls(subgoal, tick_limit=limit, guarded=subgoal.verb not in UNGUARDED)

    def outcome(self, cause: FailureCause, message: str, post_state: WorldState) -> Outcome:
        """What the attempt came to, with its ticks, steps and trace."""
        return Outcome(
            subgoal=self.subgoal,
            success=cause is FailureCause.NONE,
            cause=cause,
            message=message,
            ticks=self.ticks,
            steps=self.steps,
            post_state=post_state,
            trace=self.trace,
        )

    def log(self, event: str, **data: Any) -> None:
        self.trace.append({"event": event, "t": self.ticks, **data})

    def failed(self, fail: Failure) -> None:
        """Write a failure's evidence, then its verdict (the ground-truth cause and the
        message, which diagnosis never reads) to the trace, as every world playing by
        Minecraft's rules records it."""
        if fail.event is not None:
            self.log(fail.event, **fail.data)
        self.log("fail", cause=fail.cause.value, message=fail.message)


def grid_evidence(
    verb: str,
    target: str,
    ingredients: Iterable[tuple[str, int]],
    makes: int,
    times: int,
    inventory: Mapping[str, int],
    station: str | None,
) -> dict[str, Any]:
    """What a crafting grid (or a furnace's input slot) shows when the agent lacks
    ingredients: the recipe it tried (ingredients for `times` crafts, what they make and the
    station the grid asks for) and what is short. `item`, `need` and `have` name the first
    missing ingredient, for readers that want one."""
    wanted = {i: n * times for i, n in ingredients}
    missing = {
        i: n - inventory.get(i, 0) for i, n in sorted(wanted.items()) if inventory.get(i, 0) < n
    }
    first = next(iter(missing), "")
    return {
        "item": first,
        "need": wanted.get(first, 0),
        "have": inventory.get(first, 0),
        "verb": verb,
        "target": target,
        "ingredients": dict(sorted(wanted.items())),
        "makes": makes * times,
        "times": times,
        "missing": missing,
        "station": station,
    }


def pick_recipe(
    options: Sequence[Recipe], inventory: Mapping[str, int], count: int, seen: Mapping[str, int]
) -> tuple[Recipe | None, dict[str, int]]:
    """The recipe a crafting grid shows for `count` items: the first that can be made, else
    the one short of the fewest ingredients, and between equals the one whose missing
    ingredients are most in sight (`seen`: the blocks around; a smoker of the oak logs in
    sight, not of dark oak). Returns it and what it lacks (empty when it can be made). Every
    world playing by Minecraft's rules chooses alike, so their evidence matches."""
    best: Recipe | None = None
    best_key: tuple[int, int] | None = None
    best_missing: dict[str, int] = {}
    for recipe in options:
        times = -(-count // recipe.count)
        missing = {
            i: n * times - inventory.get(i, 0)
            for i, n in recipe.ingredients
            if inventory.get(i, 0) < n * times
        }
        if not missing:
            return recipe, {}
        key = (sum(missing.values()), -sum(seen.get(i, 0) for i in missing))
        if best_key is None or key < best_key:
            best, best_key, best_missing = recipe, key, missing
    return best, best_missing
