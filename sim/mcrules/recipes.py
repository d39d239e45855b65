"""Crafting recipes of a Minecraft version, read from minecraft-data, and the act of crafting.

A :class:`Recipe` is what a planner reasons about (what goes in, what comes out, whether a
crafting table is needed) and what the world applies to an inventory with :func:`craft`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The player's own crafting grid is 2x2; anything larger needs a crafting table.
INVENTORY_GRID_SIDE = 2
INVENTORY_GRID_SLOTS = INVENTORY_GRID_SIDE * INVENTORY_GRID_SIDE

Shape = tuple[tuple[str | None, ...], ...]


@dataclass(frozen=True)
class Recipe:
    """One way to craft an item: what one craft consumes, yields, and where it can be made."""

    result: str
    """Item name produced."""
    count: int
    """Items produced per craft."""
    ingredients: tuple[tuple[str, int], ...]
    """Aggregated ``(item, n)`` consumed per craft, sorted by item name."""
    needs_table: bool
    """True when the recipe does not fit the 2x2 inventory grid."""
    shape: Shape | None
    """The grid of item names (``None`` for an empty slot) of a shaped recipe; None if shapeless."""

    def describe(self) -> str:
        """One readable line, e.g. ``3 oak_planks + 2 stick -> 1 wooden_pickaxe``."""
        parts = " + ".join(f"{n} {item}" for item, n in self.ingredients)
        where = " (crafting table)" if self.needs_table else ""
        return f"{parts} -> {self.count} {self.result}{where}"


class MissingIngredients(ValueError):
    """Raised by :func:`craft` when the inventory cannot pay for the requested crafts."""

    def __init__(self, recipe: Recipe, missing: Mapping[str, int], times: int = 1) -> None:
        self.recipe = recipe
        self.missing: dict[str, int] = dict(missing)
        """Item -> how many more are needed."""
        self.times = times
        short = ", ".join(f"{n} {item}" for item, n in sorted(self.missing.items()))
        super().__init__(f"cannot craft {recipe.result} x{times}: missing {short}")


def _trimmed_size(shape: Sequence[Sequence[Any]]) -> tuple[int, int]:
    """Rows and columns of a shape once empty edge rows and columns are dropped."""
    rows = [i for i, row in enumerate(shape) if any(c is not None for c in row)]
    width = max((len(row) for row in shape), default=0)
    cols = [j for j in range(width) if any(j < len(row) and row[j] is not None for row in shape)]
    if not rows or not cols:
        return 0, 0
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def _aggregate(names: Sequence[str]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(Counter(names).items()))


def recipe_from_minecraft_data(raw: Mapping[str, Any], item_names: Mapping[int, str]) -> Recipe:
    """Convert one minecraft-data recipe dict (ids) into a :class:`Recipe` (names).

    A recipe's ``outShape`` (e.g. the cake leaving three empty buckets behind) is ignored on
    purpose: container returns do not matter for the tech-tree tasks CraftWorld is built for, and
    modelling them would make every ingredient count depend on what else the grid holds.
    """
    result = raw["result"]
    name = item_names[int(result["id"])]
    count = int(result["count"])
    if "inShape" in raw:
        shape: Shape = tuple(
            tuple(None if c is None else item_names[int(c)] for c in row) for row in raw["inShape"]
        )
        rows, cols = _trimmed_size(shape)
        used = [c for row in shape for c in row if c is not None]
        return Recipe(
            result=name,
            count=count,
            ingredients=_aggregate(used),
            needs_table=rows > INVENTORY_GRID_SIDE or cols > INVENTORY_GRID_SIDE,
            shape=shape,
        )
    used = [item_names[int(c)] for c in raw["ingredients"]]
    return Recipe(
        result=name,
        count=count,
        ingredients=_aggregate(used),
        needs_table=len(used) > INVENTORY_GRID_SLOTS,
        shape=None,
    )


def recipes_from_minecraft_data(
    raw: Mapping[str, Sequence[Mapping[str, Any]]], item_names: Mapping[int, str]
) -> dict[str, tuple[Recipe, ...]]:
    """Every crafting recipe of a version, keyed by result item name.

    minecraft-data already expands item tags (``#planks`` and the like) into one recipe per
    variant, so a wooden pickaxe has eight recipes, one per plank type; all are kept.
    """
    by_result: dict[str, list[Recipe]] = {}
    for recipes in raw.values():
        for entry in recipes:
            recipe = recipe_from_minecraft_data(entry, item_names)
            by_result.setdefault(recipe.result, []).append(recipe)
    return {name: tuple(found) for name, found in sorted(by_result.items())}


def craft(inventory: Mapping[str, int], recipe: Recipe, times: int = 1) -> dict[str, int]:
    """Apply ``recipe`` ``times`` times to ``inventory`` and return the new inventory.

    The input is left untouched; the result is a new dict without zero counts. Raises
    :class:`MissingIngredients` (naming every shortfall) when the inventory is short.
    """
    if times < 1:
        raise ValueError(f"times must be at least 1, got {times}")
    missing = {
        item: n * times - inventory.get(item, 0)
        for item, n in recipe.ingredients
        if inventory.get(item, 0) < n * times
    }
    if missing:
        raise MissingIngredients(recipe, missing, times)
    after = dict(inventory)
    for item, n in recipe.ingredients:
        after[item] -= n * times
    after[recipe.result] = after.get(recipe.result, 0) + recipe.count * times
    return {item: n for item, n in after.items() if n != 0}
