"""Recipes learned from experience: how the agent has seen each item obtained.

The `learned` recipe facts a planner may put in its prompt instead of the world's recipe book.
They come only from anchored attempts:

- an attempt that gained the item (`gain:has:<item>` in the tag index): a craft, with what it
  consumed per craft; a smelt, with its input (fuel aside); a block mined, with what was held
  where that block had once dropped nothing by hand or with a lesser tool; a mob hunted;
- a failed craft or smelt whose crafting grid showed the recipe (the ingredients it lacked and
  the station it asked for), for an item never yet made.

`learned_recipes(store, goal)` walks from the goal through inputs, stations and tools, goal
first, as the oracle's facts read. Each recipe names the tuples it rests on. An agent with no
store (the `none` method) has none.
"""

from __future__ import annotations

from knowledge.induce import producers
from knowledge.schema import ExperienceTuple, LearnedRecipe, unpack_counts
from knowledge.store import ExperienceStore
from sim.schema import FailureCause

LIMIT = 12  # recipes walked from one goal (the prompt of a small model is short)
_MAKERS = ("craft", "smelt")


def learned_recipes(
    store: ExperienceStore, goal: str, *, also: tuple[str, ...] = (), limit: int = LIMIT
) -> list[LearnedRecipe]:
    """The recipes the agent has seen for `goal` and what it is made of (breadth first, goal
    first), then for the items in `also` (what the plan ahead or a failure names)."""
    out: list[LearnedRecipe] = []
    queue, seen = [goal, *also], set()
    while queue and len(out) < limit:
        item = queue.pop(0)
        if not item or item in seen:
            continue
        seen.add(item)
        recipe = recipe_of(store, item)
        if recipe is None:
            continue
        out.append(recipe)
        nxt = [*sorted(recipe.inputs), recipe.station, recipe.tool]
        if recipe.verb not in _MAKERS and recipe.source != item:
            nxt.append(recipe.source)  # a block is no item, but a mob or block named so may be
        queue.extend(n for n in nxt if n and n not in seen)
    return out


def recipe_of(store: ExperienceStore, item: str) -> LearnedRecipe | None:
    """How `item` was obtained most often (then most recently), or the recipe a crafting grid
    showed for it; None if the agent has seen neither."""
    worked: dict[str, list[ExperienceTuple]] = {}
    for tup in producers(store, f"has:{item}"):
        made = tup.diagnosis.success and tup.diagnosis.diff.gained.get(item, 0) > 0
        if made and tup.action.verb not in ("skill", "plan"):
            worked.setdefault(tup.action.key(), []).append(tup)
    attempts = _attempts(store, item)
    station = _station(attempts)
    if worked:
        key = max(worked, key=lambda k: (len(worked[k]), max(int(t.id or 0) for t in worked[k])))
        tups = worked[key]
        last = max(tups, key=lambda t: int(t.id or 0))
        ids = sorted(int(t.id or 0) for t in tups)[-5:]
        return _from_success(store, item, last, station, ids)
    shown = [t for t in attempts if t.diagnosis.details.get("ingredients")]
    if shown:
        t = max(shown, key=lambda t: int(t.id or 0))
        d = t.diagnosis.details
        times = max(1, int(d.get("times", 1)))
        inputs = {k: max(1, n // times) for k, n in unpack_counts(d["ingredients"]).items()}
        return LearnedRecipe(
            item=item,
            verb=t.action.verb,
            source=item,
            makes=max(1, int(d.get("makes", times)) // times),
            inputs=inputs,
            station=station or (str(d["station"]) if d.get("station") else None),
            seen="shown",
            evidence=[int(t.id or 0)],
        )
    return None


def _attempts(store: ExperienceStore, item: str) -> list[ExperienceTuple]:
    """Attempts to craft or smelt `item` (what they showed: a grid, a station asked for)."""
    out: list[ExperienceTuple] = []
    for verb in _MAKERS:
        ids = store.lookup.by_tags([verb, item], limit=16)
        out += [t for t in store.get_tuples(ids) if t.action.key() == f"{verb}:{item}"]
    return out


def _station(attempts: list[ExperienceTuple]) -> str | None:
    """A station the grid asked for in any attempt (a craft that failed for want of one, or
    whose grid named one)."""
    for t in sorted(attempts, key=lambda t: -int(t.id or 0)):
        d = t.diagnosis.details
        if d.get("station"):
            return str(d["station"])
        needs = str(d.get("needs", ""))
        if needs.startswith("near:") and t.diagnosis.cause is not FailureCause.MISSING_ITEM:
            return needs.partition(":")[2]
    return None


def _from_success(
    store: ExperienceStore,
    item: str,
    t: ExperienceTuple,
    station: str | None,
    ids: list[int],
) -> LearnedRecipe:
    d, diff = t.diagnosis.details, t.diagnosis.diff
    verb, source = t.action.verb, t.action.target
    times = max(1, int(d.get("times", 1)))
    gained = diff.gained.get(item, 1)
    if verb in _MAKERS:
        burned = unpack_counts(d.get("fuel"))
        inputs = {
            k: max(1, (n - burned.get(k, 0)) // times)
            for k, n in diff.lost.items()
            if n - burned.get(k, 0) > 0
        }
        makes = max(1, gained // times)
        return LearnedRecipe(
            item=item,
            verb=verb,
            source=source,
            makes=makes,
            inputs=inputs,
            station=station,
            evidence=ids,
        )
    tool = None
    if verb == "mine" and _ever_dropped_nothing(store, source):
        # the block once dropped nothing: what was held when it did drop this matters
        tool = next((f.partition(":")[2] for f in t.facts if f.startswith("equipped:")), None)
    per_unit = max(1, gained // max(1, t.action.count))
    return LearnedRecipe(
        item=item, verb=verb, source=source, makes=per_unit, tool=tool, evidence=ids
    )


def _ever_dropped_nothing(store: ExperienceStore, block: str) -> bool:
    ids = store.lookup.by_tags(["mine", block, FailureCause.WRONG_TOOL.value], limit=1)
    return bool(ids)


def recipe_names(recipes: list[LearnedRecipe]) -> set[str]:
    """Every name the recipes mention (for the plan grammar)."""
    return {n for r in recipes for n in r.names()}
