"""The primitive skills of the minecraft/v1 world: CraftWorld's verbs, done by a mineflayer bot.

Each verb first checks what the rules alone can tell (an unknown name, a missing ingredient,
no station within reach, no fuel) exactly as CraftWorld does, with the same evidence (never a
remedy), so a guardrail distilled in one world reads the same in the other. Then the sidecar
acts, and its low-level errors become honest failures:

| sidecar error | cause              | trace event  |
|---------------|--------------------|--------------|
| not_found     | TARGET_NOT_FOUND   | search       |
| no_path       | NAV_STUCK          | stuck        |
| gui           | GUI_FAIL           | gui_error    |
| timeout       | TIMEOUT            | budget       |
| no_space      | NAV_STUCK          | stuck        |
| missing       | MISSING_ITEM       | missing      |
| no_station    | RECIPE/SMELT_FAIL  | no_station   |
| died, connect | UNKNOWN            | disconnected |
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sim import events as ev
from sim.craftworld.attempt import Attempt, Failure, grid_evidence, pick_recipe
from sim.minecraft.sidecar import SidecarDied, SidecarError
from sim.schema import FailureCause, Subgoal

if TYPE_CHECKING:
    from sim.minecraft.world import MinecraftWorld

SEARCH = 32  # blocks within which mine and attack look for their target (as CraftWorld)
REACH = 4  # a station within REACH + 1 blocks can be used (as CraftWorld)
DISCONNECTED = "disconnected"  # this world's own trace event: the server or sidecar went away


def _check_name(w: MinecraftWorld, name: str, kind: str) -> None:
    known = w.rules.is_block(name) if kind == "block" else w.rules.is_item(name)
    if not known:
        close = ", ".join(w.rules.closest(name, kind, 3)) or "none"
        raise Failure(
            FailureCause.INVALID_ACTION,
            f"unknown {kind} {name!r}; closest: {close}",
            event=ev.INVALID,
            data={"what": kind, "name": name, "closest": close},
        )


def _missing(item: str, need: int, have: int, message: str) -> Failure:
    return Failure(
        FailureCause.MISSING_ITEM,
        message,
        event=ev.MISSING,
        data={"item": item, "need": need, "have": have},
    )


def _not_found(target: str, radius: int) -> Failure:
    return Failure(
        FailureCause.TARGET_NOT_FOUND,
        f"no {target} within {radius} blocks",
        event=ev.SEARCH,
        data={"target": target, "radius": radius, "found": False},
    )


def call(w: MinecraftWorld, att: Attempt, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """One verb on the sidecar; its trace joins the attempt's and its errors become Failures
    (the ones a verb knows better, like not_found, it catches itself)."""
    timeout_ms = w.subgoal_ms(att)
    params = {"timeout_ms": timeout_ms, **params}
    try:
        result = w.rpc(method, params, timeout=timeout_ms / 1000 + w.call_slack)
    except SidecarDied as exc:
        w.account(att, timeout_ms)
        raise _disconnected(exc) from None
    except SidecarError as exc:
        w.account(att, exc.ms)
        att.trace.extend(exc.trace)
        att.steps += sum(e["event"] in (ev.DIG, ev.WALK, ev.PLACE) for e in exc.trace)
        raise _sidecar_failure(exc, att) from None
    w.account(att, float(result.get("ms", 0.0)))
    att.trace.extend(result.get("trace", []))
    att.steps += max(1, len(result.get("trace", [])))
    return dict(result)


def _disconnected(exc: SidecarError) -> Failure:
    return Failure(
        FailureCause.UNKNOWN,
        f"lost the server: {exc.message}",
        event=DISCONNECTED,
        data={"kind": exc.kind, "error": exc.message},
    )


def _sidecar_failure(exc: SidecarError, att: Attempt) -> Failure:
    kind, data = exc.kind, exc.data
    if kind == "no_path":
        return Failure(
            FailureCause.NAV_STUCK,
            f"no way there: {exc.message}",
            event=ev.STUCK,
            data={"why": exc.message},
        )
    if kind == "no_space" or kind == "place_failed":
        return Failure(
            FailureCause.NAV_STUCK, exc.message, event=ev.STUCK, data={"why": exc.message}
        )
    if kind == "gui":
        window = str(data.get("window", "unknown"))
        return Failure(
            FailureCause.GUI_FAIL,
            exc.message,
            event=ev.GUI_ERROR,
            data={"window": window, "error": exc.message},
        )
    if kind == "timeout":
        return Failure(
            FailureCause.TIMEOUT,
            exc.message,
            event=ev.BUDGET,
            data={"scope": "subgoal", "limit": att.tick_limit},
        )
    if kind == "not_found":
        target = str(data.get("target", ""))
        return _not_found(target, int(data.get("radius", SEARCH)))
    if kind == "missing":
        item = str(data.get("item", ""))
        return Failure(
            FailureCause.MISSING_ITEM,
            exc.message,
            event=ev.MISSING,
            data={"item": item, "need": data.get("need", 1), "have": data.get("have", 0)},
        )
    if kind in ("not_connected", "connect"):
        return _disconnected(exc)
    if kind == "invalid":
        return Failure(FailureCause.INVALID_ACTION, exc.message, event=ev.INVALID, data=data)
    return Failure(
        FailureCause.UNKNOWN,
        f"{kind}: {exc.message}",
        event="sidecar_error",
        data={"kind": kind, "error": exc.message},
    )


# ---- the verbs ------------------------------------------------------------------------------
def mine(w: MinecraftWorld, sg: Subgoal, att: Attempt) -> str:
    _check_name(w, sg.target, "block")
    params = {
        "block": sg.target,
        "count": sg.count,
        "radius": SEARCH,
        "hold": w.equipped,
        "auto_equip": w.auto_equip,
    }
    result = call(w, att, "mine", params)
    for event in att.trace:  # what the rules say about the tool (flying-squid drops anyway)
        if event["event"] == ev.DIG and "harvestable" not in event:
            event["harvestable"] = w.rules.can_harvest(event["block"], event.get("tool"))
    drops: dict[str, int] = result.get("drops", {})
    if not drops and not w.rules.can_harvest(sg.target, w.equipped):
        raise _tool_failure(w, sg.target)
    return "mined " + ", ".join(f"{n} {k}" for k, n in sorted(drops.items()))


def _tool_failure(w: MinecraftWorld, block: str) -> Failure:
    """WRONG_TOOL: the block dropped nothing (CraftWorld's evidence; which tool would have
    worked is not said)."""
    return Failure(
        FailureCause.WRONG_TOOL,
        f"{block} broke with {w.equipped or 'bare hands'} and dropped nothing",
        event=None,
    )


def explore(w: MinecraftWorld, sg: Subgoal, att: Attempt) -> str:
    is_mob = sg.target in w.rules.mob_loot
    if not is_mob:
        _check_name(w, sg.target, "block")
    params = {"target": sg.target, "mob": is_mob, "seed": w.seed + att.subgoal.count}
    try:
        result = call(w, att, "explore", params)
    except Failure as fail:
        if fail.event == ev.SEARCH:  # the bot walked all its legs: the whole search
            fail.data = {**(fail.data or {}), "target": sg.target, "exhausted": True}
        raise
    return f"found {sg.target} after {result.get('legs', 0)} legs"


def move_to(w: MinecraftWorld, sg: Subgoal, att: Attempt) -> str:
    _check_name(w, sg.target, "block")
    try:
        result = call(w, att, "move_to", {"block": sg.target, "radius": 2 * SEARCH})
    except Failure as fail:
        if fail.event == ev.SEARCH:
            fail.data = {"target": sg.target, "radius": 2 * SEARCH, "found": False}
        raise
    return f"at {sg.target} {tuple(result.get('at', ()))}"


def _station_failure(station: str, cause: FailureCause, what: str) -> Failure:
    verb = "smelt" if cause is FailureCause.SMELT_FAIL else "craft"
    return Failure(
        cause,
        f"{what} needs a {station} within reach",
        event=ev.NO_STATION,
        data={"station": station, "verb": verb},
    )


def craft(w: MinecraftWorld, sg: Subgoal, att: Attempt) -> str:
    _check_name(w, sg.target, "item")
    options = w.rules.crafting_options(sg.target)
    if not options:
        raise Failure(
            FailureCause.RECIPE_FAIL,
            f"no crafting recipe makes {sg.target}",
            event=ev.NO_RECIPE,
            data={"item": sg.target, "verb": "craft"},
        )
    inv = w.last.inventory
    picked, best_missing = pick_recipe(options, inv, sg.count, w.last.nearby_blocks)
    best = picked if picked is not None else options[0]
    if best_missing:
        raise Failure(
            FailureCause.MISSING_ITEM,
            f"crafting {sg.count} {sg.target} lacks "
            + ", ".join(f"{k} x{v}" for k, v in sorted(best_missing.items())),
            event=ev.MISSING,
            data=grid_evidence(
                "craft",
                sg.target,
                best.ingredients,
                best.count,
                -(-sg.count // best.count),
                inv,
                "crafting_table" if best.needs_table else None,
            ),
        )
    if best.needs_table and not w.find("crafting_table", REACH + 1):
        raise _station_failure("crafting_table", FailureCause.RECIPE_FAIL, f"crafting {sg.target}")
    try:
        call(w, att, "craft", {"item": sg.target, "count": sg.count})
    except Failure as fail:
        if fail.event == "sidecar_error" and fail.data.get("kind") == "no_station":
            raise _station_failure(
                "crafting_table", FailureCause.RECIPE_FAIL, f"crafting {sg.target}"
            ) from None
        raise
    return f"crafted {sg.target}"


def smelt(w: MinecraftWorld, sg: Subgoal, att: Attempt) -> str:
    _check_name(w, sg.target, "item")
    recipe = w.rules.smelting.get(sg.target)
    if recipe is None:
        raise Failure(
            FailureCause.SMELT_FAIL,
            f"nothing smelts into {sg.target}",
            event=ev.NO_RECIPE,
            data={"item": sg.target, "verb": "smelt"},
        )
    if not w.find("furnace", REACH + 1):
        raise _station_failure("furnace", FailureCause.SMELT_FAIL, f"smelting {sg.target}")
    inv = w.last.inventory
    runs = -(-sg.count // recipe.count)
    if inv.get(recipe.input, 0) < runs:
        raise Failure(
            FailureCause.MISSING_ITEM,
            f"smelting {sg.count} {sg.target} needs {runs} {recipe.input}",
            event=ev.MISSING,
            data=grid_evidence(
                "smelt", sg.target, [(recipe.input, 1)], recipe.count, runs, inv, "furnace"
            ),
        )
    need = recipe.ticks * runs
    # one fuel kind a smelt (a furnace's fuel slot holds one stack): the best that suffices
    fuels = sorted(
        (i for i in inv if w.rules.fuels.get(i) and i != recipe.input),
        key=lambda i: -w.rules.fuels[i],
    )
    fuel = next((f for f in fuels if inv[f] * w.rules.fuels[f] >= need), None)
    if fuel is None:
        raise Failure(
            FailureCause.SMELT_FAIL,
            f"not enough fuel to smelt {runs} {recipe.input}",
            event=ev.NO_FUEL,
            data={"need_ticks": need, "short_ticks": need},
        )
    params = {
        "input": recipe.input,
        "output": sg.target,
        "count": runs,
        "fuel": fuel,
        "fuel_count": math.ceil(need / w.rules.fuels[fuel]),
        "cook_ms": recipe.ticks * 50,
    }
    call(w, att, "smelt", params)
    return f"smelted {recipe.count * runs} {sg.target}"


def place(w: MinecraftWorld, sg: Subgoal, att: Attempt) -> str:
    _check_name(w, sg.target, "block")
    if not w.rules.is_item(sg.target):
        raise Failure(
            FailureCause.INVALID_ACTION,
            f"{sg.target} cannot be placed",
            event=ev.INVALID,
            data={"what": "placeable block", "name": sg.target},
        )
    have = w.last.count(sg.target)
    if have < 1:
        raise _missing(sg.target, 1, have, f"no {sg.target} to place")
    call(w, att, "place", {"block": sg.target})
    w.equipped = None  # placing takes the block in hand; no tool is held afterwards
    return f"placed {sg.target}"


def equip(w: MinecraftWorld, sg: Subgoal, att: Attempt) -> str:
    _check_name(w, sg.target, "item")
    have = w.last.count(sg.target)
    if have < 1:
        raise _missing(sg.target, 1, have, f"no {sg.target} to equip")
    call(w, att, "equip", {"item": sg.target})
    w.equipped = sg.target
    return f"equipped {sg.target}"


def attack(w: MinecraftWorld, sg: Subgoal, att: Attempt) -> str:
    if sg.target not in w.rules.mob_loot:
        close = ", ".join(w.rules.closest(sg.target, "mob", 3)) or "none"
        raise Failure(
            FailureCause.INVALID_ACTION,
            f"unknown mob {sg.target!r}; closest: {close}",
            event=ev.INVALID,
            data={"what": "mob", "name": sg.target, "closest": close},
        )
    try:
        result = call(w, att, "attack", {"mob": sg.target, "count": sg.count, "radius": SEARCH})
    except Failure as fail:
        if fail.event == ev.SEARCH:
            raise _not_found(sg.target, SEARCH) from None
        raise
    drops = result.get("drops", {})
    return f"killed {sg.count} {sg.target}: " + ", ".join(f"{n} {k}" for k, n in drops.items())


def eat(w: MinecraftWorld, sg: Subgoal, att: Attempt) -> str:
    if sg.target not in w.rules.foods:
        raise Failure(
            FailureCause.INVALID_ACTION,
            f"{sg.target} is not food",
            event=ev.INVALID,
            data={"what": "food", "name": sg.target},
        )
    have = w.last.count(sg.target)
    if have < sg.count:
        raise _missing(sg.target, sg.count, have, f"no {sg.target} to eat")
    if w.last.food >= 20:
        raise Failure(FailureCause.INVALID_ACTION, "not hungry: food is full", event=ev.NOT_HUNGRY)
    call(w, att, "eat", {"item": sg.target, "count": sg.count})
    return f"ate {sg.count} {sg.target}"


def wait(w: MinecraftWorld, sg: Subgoal, att: Attempt) -> str:
    call(w, att, "wait", {"seconds": sg.count})
    return f"waited {sg.count} s"


VERBS: dict[str, Callable[[MinecraftWorld, Subgoal, Attempt], str]] = {
    "explore": explore,
    "move_to": move_to,
    "mine": mine,
    "craft": craft,
    "smelt": smelt,
    "place": place,
    "equip": equip,
    "attack": attack,
    "eat": eat,
    "wait": wait,
}
