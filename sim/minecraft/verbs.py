"""The primitive skills of the minecraft/v1 world: CraftWorld's verbs, done by a mineflayer bot.

Each verb first checks what the rules alone can tell (an unknown name, a missing ingredient,
no station within reach, no fuel) with CraftWorld's own checks (`sim.mcrules.checks`), so the
evidence is the same (never a remedy) and a guardrail distilled in one world reads the same in
the other. Then the sidecar
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

import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sim import events as ev
from sim.mcrules import checks
from sim.mcrules.attempt import Attempt, Failure
from sim.mcrules.checks import REACH, SEARCH
from sim.minecraft.sidecar import SidecarDied, SidecarError
from sim.schema import FailureCause, Subgoal

if TYPE_CHECKING:
    from sim.minecraft.world import MinecraftWorld

DISCONNECTED = "disconnected"  # this world's own trace event: the server or sidecar went away


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
        return checks.not_found(target, int(data.get("radius", SEARCH)))
    if kind == "missing":
        item = str(data.get("item", ""))
        return checks.missing(item, data.get("need", 1), data.get("have", 0), exc.message)
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


def _near(w: MinecraftWorld, station: str) -> bool:
    return w.find(station, REACH + 1)


# ---- the verbs ------------------------------------------------------------------------------
def mine(w: MinecraftWorld, sg: Subgoal, att: Attempt) -> str:
    checks.check_name(w.rules, sg.target, "block")
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
        raise checks.dropped_nothing(sg.target, w.equipped)
    return "mined " + ", ".join(f"{n} {k}" for k, n in sorted(drops.items()))


def explore(w: MinecraftWorld, sg: Subgoal, att: Attempt) -> str:
    is_mob = sg.target in w.rules.mob_loot
    if not is_mob:
        checks.check_name(w.rules, sg.target, "block")
    params: dict[str, object] = {
        "target": sg.target,
        "mob": is_mob,
        "seed": w.seed + att.subgoal.count,
    }
    toward = str(sg.args.get("toward", "")).split(",")
    if len(toward) == 2 and all(t.lstrip("-").isdigit() for t in toward):
        params["toward"] = [int(toward[0]), int(toward[1])]  # where it was found before
    try:
        result = call(w, att, "explore", params)
    except Failure as fail:
        if fail.event == ev.SEARCH:  # the bot walked all its legs: the whole search
            fail.data = {**(fail.data or {}), "target": sg.target, "exhausted": True}
        raise
    return f"found {sg.target} after {result.get('legs', 0)} legs"


def move_to(w: MinecraftWorld, sg: Subgoal, att: Attempt) -> str:
    checks.check_name(w.rules, sg.target, "block")
    try:
        result = call(w, att, "move_to", {"block": sg.target, "radius": 2 * SEARCH})
    except Failure as fail:
        if fail.event == ev.SEARCH:
            fail.data = {"target": sg.target, "radius": 2 * SEARCH, "found": False}
        raise
    return f"at {sg.target} {tuple(result.get('at', ()))}"


def craft(w: MinecraftWorld, sg: Subgoal, att: Attempt) -> str:
    options = checks.crafting_options(w.rules, sg.target)
    near = functools.partial(_near, w)
    checks.craft_recipe(sg.target, sg.count, options, w.last.inventory, w.last.nearby_blocks, near)
    try:
        call(w, att, "craft", {"item": sg.target, "count": sg.count})
    except Failure as fail:
        if fail.event == "sidecar_error" and fail.data.get("kind") == "no_station":
            raise checks.station_failure(
                "crafting_table", FailureCause.RECIPE_FAIL, f"crafting {sg.target}"
            ) from None
        raise
    return f"crafted {sg.target}"


def smelt(w: MinecraftWorld, sg: Subgoal, att: Attempt) -> str:
    inv = w.last.inventory
    near = functools.partial(_near, w)
    recipe, runs = checks.smelt_recipe(w.rules, sg.target, sg.count, inv, near)
    need = recipe.ticks * runs
    # one fuel kind a smelt (a furnace's fuel slot holds one stack): the best that suffices
    fuels = sorted(
        (i for i in inv if w.rules.fuels.get(i) and i != recipe.input),
        key=lambda i: -w.rules.fuels[i],
    )
    fuel = next((f for f in fuels if inv[f] * w.rules.fuels[f] >= need), None)
    if fuel is None:
        raise checks.no_fuel(runs, recipe.input, need, need)
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
    checks.check_name(w.rules, sg.target, "block")
    if not w.rules.is_item(sg.target):
        raise Failure(
            FailureCause.INVALID_ACTION,
            f"{sg.target} cannot be placed",
            event=ev.INVALID,
            data={"what": "placeable block", "name": sg.target},
        )
    checks.require(sg.target, 1, w.last.count(sg.target), "place")
    call(w, att, "place", {"block": sg.target})
    w.equipped = None  # placing takes the block in hand; no tool is held afterwards
    return f"placed {sg.target}"


def plant(w: MinecraftWorld, sg: Subgoal, att: Attempt) -> str:
    """Not built on this bridge yet: the sidecar has no till-and-sow call (CraftWorld's
    `plant` is the model). An honest INVALID_ACTION, after the checks the rules can make."""
    checks.check_name(w.rules, sg.target, "item")
    checks.require(sg.target, sg.count, w.last.count(sg.target), "plant")
    raise Failure(
        FailureCause.INVALID_ACTION,
        "planting is not supported by the minecraft/v1 bridge yet",
        event=ev.INVALID,
        data={"what": "verb", "name": "plant", "closest": ""},
    )


def equip(w: MinecraftWorld, sg: Subgoal, att: Attempt) -> str:
    checks.check_name(w.rules, sg.target, "item")
    checks.require(sg.target, 1, w.last.count(sg.target), "equip")
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
            raise checks.not_found(sg.target, SEARCH) from None
        raise
    drops = result.get("drops", {})
    return f"killed {sg.count} {sg.target}: " + ", ".join(f"{n} {k}" for k, n in drops.items())


def eat(w: MinecraftWorld, sg: Subgoal, att: Attempt) -> str:
    checks.food(w.rules, sg.target)
    checks.require(sg.target, sg.count, w.last.count(sg.target), "eat")
    if w.last.food >= 20:
        raise checks.not_hungry()
    call(w, att, "eat", {"item": sg.target, "count": sg.count})
    return f"ate {sg.count} {sg.target}"


def wait(w: MinecraftWorld, sg: Subgoal, att: Attempt) -> str:
    call(w, att, "wait", {"seconds": sg.count})
    return f"waited {sg.count} s"


VERBS: dict[str, Callable[[MinecraftWorld, Subgoal, Attempt], str]] = checks.verb_table(
    explore, move_to, mine, craft, smelt, place, plant, equip, attack, eat, wait
)
