"""The checks every Minecraft-like world's verbs make before acting, and the failures they raise.

What the rules alone can tell (an unknown name, no recipe, a missing ingredient, no station
within reach, no fuel, not food) is checked here once, so CraftWorld and real Minecraft fail
alike: the same cause, message and evidence (never a remedy), and a guardrail distilled in one
world reads the same in the other. How a world acts, and how it sees a station, stay its own:
a station check takes the world's `near(station) -> bool`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import TypeVar

from sim import events as ev
from sim.mcrules.attempt import Failure, grid_evidence, pick_recipe
from sim.mcrules.recipes import Recipe
from sim.mcrules.rules import FoodInfo, Rules
from sim.mcrules.tables import SmeltRecipe
from sim.schema import FailureCause, Task

SEARCH = 32  # blocks within which `mine`, `move_to` and `attack` look for their target
REACH = 4  # blocks within which a station (crafting table, furnace) can be used
VERBS = (
    "explore",
    "move_to",
    "mine",
    "craft",
    "smelt",
    "place",
    "plant",
    "equip",
    "attack",
    "eat",
    "wait",
)
"""The subgoal verbs of every Minecraft-like world, in the order they are listed."""
V = TypeVar("V", bound=Callable[..., str])

Near = Callable[[str], bool]
"""Whether a station (``crafting_table``, ``furnace``) is within reach, as the world sees it."""


def check_name(rules: Rules, name: str, kind: str) -> None:
    """INVALID_ACTION for a name the rules do not know as a `kind` (``block`` or ``item``)."""
    known = rules.is_block(name) if kind == "block" else rules.is_item(name)
    if not known:
        close = ", ".join(rules.closest(name, kind, 3)) or "none"
        raise Failure(
            FailureCause.INVALID_ACTION,
            f"unknown {kind} {name!r}; closest: {close}",
            event=ev.INVALID,
            data={"what": kind, "name": name, "closest": close},
        )


def missing(item: str, need: int, have: int, message: str) -> Failure:
    """MISSING_ITEM for an item the agent lacks (to place, equip or eat)."""
    return Failure(
        FailureCause.MISSING_ITEM,
        message,
        event=ev.MISSING,
        data={"item": item, "need": need, "have": have},
    )


def require(item: str, need: int, have: int, verb: str) -> None:
    """Raise MISSING_ITEM ("no {item} to {verb}") when the agent has fewer than `need`."""
    if have < need:
        raise missing(item, need, have, f"no {item} to {verb}")


def not_found(target: str, radius: int) -> Failure:
    """TARGET_NOT_FOUND: a search within `radius` blocks found no `target`."""
    return Failure(
        FailureCause.TARGET_NOT_FOUND,
        f"no {target} within {radius} blocks",
        event=ev.SEARCH,
        data={"target": target, "radius": radius, "found": False},
    )


def dropped_nothing(block: str, tool: str | None) -> Failure:
    """WRONG_TOOL: the block broke and dropped nothing (the `dig` event with
    `harvestable: false` before it is the evidence). Which tool would have worked is what a
    player does not see, and the failure does not say."""
    return Failure(
        FailureCause.WRONG_TOOL,
        f"{block} broke with {tool or 'bare hands'} and dropped nothing",
        event=None,
    )


def station_failure(station: str, cause: FailureCause, what: str) -> Failure:
    """The grid (or the furnace recipe) asks for a station that is not within reach."""
    verb = "smelt" if cause is FailureCause.SMELT_FAIL else "craft"
    return Failure(
        cause,
        f"{what} needs a {station} within reach",
        event=ev.NO_STATION,
        data={"station": station, "verb": verb},
    )


def crafting_options(rules: Rules, target: str) -> tuple[Recipe, ...]:
    """The recipes that make `target`; INVALID_ACTION for an unknown item, RECIPE_FAIL for
    an item no crafting recipe makes."""
    check_name(rules, target, "item")
    options = rules.crafting_options(target)
    if not options:
        raise Failure(
            FailureCause.RECIPE_FAIL,
            f"no crafting recipe makes {target}",
            event=ev.NO_RECIPE,
            data={"item": target, "verb": "craft"},
        )
    return options


def craft_recipe(
    target: str,
    count: int,
    options: tuple[Recipe, ...],
    inventory: Mapping[str, int],
    seen: Mapping[str, int],
    near: Near,
) -> tuple[Recipe, int]:
    """The recipe the crafting grid shows for `count` `target` (see `pick_recipe`) and how many
    times it runs; MISSING_ITEM with the grid's evidence when ingredients are short, then
    RECIPE_FAIL when it needs a crafting table and none is within reach."""
    best, best_missing = pick_recipe(options, inventory, count, seen)
    if best is None:
        raise Failure(
            FailureCause.RECIPE_FAIL,
            f"no usable recipe for {target}",
            event=ev.NO_RECIPE,
            data={"item": target, "verb": "craft"},
        )
    times = -(-count // best.count)
    if best_missing:
        raise Failure(
            FailureCause.MISSING_ITEM,
            f"crafting {count} {target} lacks "
            + ", ".join(f"{k} x{v}" for k, v in sorted(best_missing.items())),
            event=ev.MISSING,
            data=grid_evidence(
                "craft",
                target,
                best.ingredients,
                best.count,
                times,
                inventory,
                "crafting_table" if best.needs_table else None,
            ),
        )
    if best.needs_table and not near("crafting_table"):
        raise station_failure("crafting_table", FailureCause.RECIPE_FAIL, f"crafting {target}")
    return best, times


def smelt_recipe(
    rules: Rules, target: str, count: int, inventory: Mapping[str, int], near: Near
) -> tuple[SmeltRecipe, int]:
    """The furnace recipe for `count` `target` and how many items it smelts: INVALID_ACTION
    for an unknown item, SMELT_FAIL when nothing smelts into it or no furnace is within reach,
    MISSING_ITEM with the input slot's evidence when the input is short."""
    check_name(rules, target, "item")
    recipe = rules.smelting.get(target)
    if recipe is None:
        raise Failure(
            FailureCause.SMELT_FAIL,
            f"nothing smelts into {target}",
            event=ev.NO_RECIPE,
            data={"item": target, "verb": "smelt"},
        )
    if not near("furnace"):
        raise station_failure("furnace", FailureCause.SMELT_FAIL, f"smelting {target}")
    runs = -(-count // recipe.count)
    if inventory.get(recipe.input, 0) < runs:
        raise Failure(
            FailureCause.MISSING_ITEM,
            f"smelting {count} {target} needs {runs} {recipe.input}",
            event=ev.MISSING,
            data=grid_evidence(
                "smelt", target, [(recipe.input, 1)], recipe.count, runs, inventory, "furnace"
            ),
        )
    return recipe, runs


def no_fuel(runs: int, item: str, need_ticks: int, short_ticks: int) -> Failure:
    """SMELT_FAIL: the fuel at hand burns for `short_ticks` too few to smelt `runs` `item`."""
    return Failure(
        FailureCause.SMELT_FAIL,
        f"not enough fuel to smelt {runs} {item}",
        event=ev.NO_FUEL,
        data={"need_ticks": need_ticks, "short_ticks": short_ticks},
    )


def food(rules: Rules, target: str) -> FoodInfo:
    """What eating `target` restores; INVALID_ACTION when it is not food."""
    info = rules.foods.get(target)
    if info is None:
        raise Failure(
            FailureCause.INVALID_ACTION,
            f"{target} is not food",
            event=ev.INVALID,
            data={"what": "food", "name": target},
        )
    return info


def not_hungry() -> Failure:
    """INVALID_ACTION: food is full, so the agent cannot eat."""
    return Failure(FailureCause.INVALID_ACTION, "not hungry: food is full", event=ev.NOT_HUNGRY)


def verb_table(*verbs: V) -> dict[str, V]:
    """A world's verbs by name: one function each, named after its verb, for all of `VERBS`."""
    table = {verb.__name__: verb for verb in verbs}
    if tuple(table) != VERBS:
        raise ValueError(f"verbs {tuple(table)} are not {VERBS}")
    return table


def unknown_verb(verb: str) -> Failure:
    """INVALID_ACTION for a verb no Minecraft-like world has."""
    close = difflib.get_close_matches(verb, VERBS, n=3)
    return Failure(
        FailureCause.INVALID_ACTION,
        f"unknown verb {verb!r}; closest: {', '.join(close) or VERBS}",
        event=ev.INVALID,
        data={"what": "verb", "name": verb, "closest": close},
    )


def dead() -> Failure:
    """MOB_KILLED: the agent died before this subgoal (it does nothing more)."""
    return Failure(
        FailureCause.MOB_KILLED, "the agent is dead", event=ev.DEATH, data={"source": "earlier"}
    )


def out_of_ticks(limit: int) -> Failure:
    """TIMEOUT: the episode's tick budget (`limit`) ran out before this subgoal."""
    return Failure(
        FailureCause.TIMEOUT,
        "the episode's tick budget ran out",
        event=ev.BUDGET,
        data={"scope": "episode", "limit": limit},
    )


def check_helpers(task: Task, helpers: Mapping[str, str]) -> None:
    """ValueError for a task that asks for help the world does not give."""
    unknown = set(task.helpers) - set(helpers)
    if unknown:
        raise ValueError(f"task {task.id}: unknown helper(s) {sorted(unknown)}; known: {helpers}")
