"""Primitive skills: one function per subgoal verb, the same verbs the Minecraft bridge offers.

Each consumes world ticks through `world.pass_time` (so mobs, hunger and the budget act while
the agent works) and ends by returning a message or raising `Failure` with the honest cause,
what was missing (`needs`, a fact) and a remedy. The trace they leave is what diagnosis reads.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from sim.craftworld.attempt import Attempt, Failure
from sim.craftworld.body import MOB_HEALTH
from sim.craftworld.palette import BLOCK_ID, NATURAL
from sim.craftworld.rules import Rules, drop_stats
from sim.schema import FailureCause, Subgoal

if TYPE_CHECKING:
    from sim.craftworld.world import CraftWorld

SEARCH = 32  # blocks within which `mine`, `move_to` and `attack` look for their target
WALK_TICKS = 4.65  # ticks per block at Minecraft's walking speed (4.3 blocks/s)
CLIMB_TICKS = 6
CRAFT_TICKS = 10
SMELT_TICKS = 200
Pos = tuple[int, int, int]
WEAPON = {"sword": (4.0, 12), "axe": (7.0, 20), "pickaxe": (2.0, 17), "shovel": (2.5, 20)}


def _check_name(w: CraftWorld, name: str, kind: str) -> None:
    known = w.rules.is_block(name) if kind == "block" else w.rules.is_item(name)
    if not known:
        close = ", ".join(w.rules.closest(name, kind, 3)) or "none"
        raise Failure(FailureCause.INVALID_ACTION, f"unknown {kind} {name!r}; closest: {close}")


def obtain_verb(w: CraftWorld, item: str) -> tuple[str, str]:
    """How an item is usually obtained here: (verb, target) for a remedy."""
    if w.rules.crafting_options(item):
        return "craft", item
    if item in w.rules.smelting:
        return "smelt", item
    return "mine", source_block(w.rules.version, item) or item


@functools.cache
def source_block(version: str, item: str) -> str | None:
    """The world block that most surely drops `item` when mined, if any."""
    rules = Rules.load(version)
    diggable = [b for b in NATURAL if b in rules.blocks and rules.blocks[b].diggable and b != "air"]
    best = max(
        ((drop_stats(version, b).get(item, (0, 0.0)), b) for b in diggable),
        default=((0, 0.0), ""),
    )
    return best[1] if best[0][1] > 0 else None


def _dig(w: CraftWorld, pos: Pos, att: Attempt) -> dict[str, int]:
    """Break one block with the equipped tool; returns its drops (none if not harvestable)."""
    block = w.terrain.get(*pos)
    if block in ("air", "water", "cave_air"):
        return {}
    if block == "lava":
        w.body.health -= 8
        att.log("damage", source="lava", damage=8)
        raise Failure(FailureCause.TARGET_UNREACHABLE, f"lava at {pos} blocks the way")
    if not w.rules.blocks.get(block) or not w.rules.blocks[block].diggable:
        raise Failure(FailureCause.TARGET_UNREACHABLE, f"{block} at {pos} cannot be dug")
    tool = w.equipped
    if w.task is not None and w.task.helpers.get("auto_equip"):
        tool = _best_tool(w, block)
        w.equipped = tool
    w.pass_time(w.rules.dig_ticks(block, tool), att)
    w.terrain.set(*pos, "air")
    att.steps += 1
    drops = w.rules.drops(block, tool, w.rng) if w.rules.can_harvest(block, tool) else {}
    for item, n in drops.items():
        w.give(item, n)
    w.wear(tool, 1, att)
    att.log("dig", block=block, pos=list(pos), tool=tool, drops=drops)
    return drops


def _best_tool(w: CraftWorld, block: str) -> str | None:
    usable = [i for i in w.inventory if w.rules.can_harvest(block, i) and w.rules.tool_kind(i)]
    return min(usable, key=lambda i: w.rules.dig_ticks(block, i), default=w.equipped)


def travel(w: CraftWorld, goal: Pos, att: Attempt) -> None:
    """Go to stand next to `goal`: climb out, walk on the surface, dig a shaft down; or
    tunnel straight when both ends are underground and close."""
    x, y, z = w.pos
    gx, gy, gz = goal
    horiz = math.hypot(gx - x, gz - z)
    surface = w.terrain.surface_y(x, z)
    if y < surface - 2 and horiz <= 24 and abs(gy - y) <= 8:
        steps = max(int(horiz), abs(gy - y))
        for i in range(1, steps):
            p = (
                round(x + (gx - x) * i / steps),
                round(y + (gy - y) * i / steps),
                round(z + (gz - z) * i / steps),
            )
            for cell in (p, (p[0], p[1] + 1, p[2])):
                _dig(w, cell, att)
            w.pass_time(math.ceil(WALK_TICKS), att)
            w.pos = p
        att.log("tunnel", to=list(w.pos), blocks=steps)
        return
    if y < surface:
        w.pass_time(CLIMB_TICKS * (surface + 1 - y), att)
        att.log("climb", rise=surface + 1 - y)
    w.pass_time(math.ceil(WALK_TICKS * horiz), att)
    att.steps += int(horiz)
    top = w.terrain.stand_y(gx, gz)
    w.pos = (gx, top, gz)
    att.log("walk", to=list(w.pos), distance=round(horiz, 1))
    if gy < top - 1:
        for yy in range(top - 1, gy, -1):
            _dig(w, (gx, yy, gz), att)
            w.pos = (gx, yy, gz)
        att.log("shaft", depth=top - 1 - gy)


def mine(w: CraftWorld, sg: Subgoal, att: Attempt) -> str:
    _check_name(w, sg.target, "block")
    got: Counter[str] = Counter()
    for _ in range(sg.count):
        loc = w.terrain.find_nearest(sg.target, w.pos, SEARCH)
        if loc is None:
            raise Failure(
                FailureCause.TARGET_NOT_FOUND,
                f"no {sg.target} within {SEARCH} blocks",
                needs=f"near:{sg.target}",
                remedy=("explore", sg.target, 1),
            )
        travel(w, loc, att)
        tool = w.equipped
        drops = _dig(w, loc, att)
        if not drops and not w.rules.can_harvest(sg.target, w.equipped):
            need = w.rules.min_harvest_tool(sg.target) or "a tool"
            kind, tier = w.rules.tool_kind(need), w.rules.tool_tier(need)
            if w.inventory[need] > 0 or any(
                w.rules.tool_kind(i) == kind and w.rules.tool_tier(i) >= tier for i in w.inventory
            ):
                needs, remedy = f"equipped:{need}", ("equip", need, 1)
            else:
                from sim.craftworld.world import TIERS

                needs, remedy = f"{kind}>={TIERS[tier - 1]}", ("craft", need, 1)
            raise Failure(
                FailureCause.WRONG_TOOL,
                f"{sg.target} broke with {tool or 'bare hands'} and dropped nothing: needs {need}",
                needs=needs,
                remedy=remedy,
            )
        got.update(drops)
    return "mined " + ", ".join(f"{n} {k}" for k, n in sorted(got.items()))


def explore(w: CraftWorld, sg: Subgoal, att: Attempt) -> str:
    """Walk outwards in legs of 32 blocks until the target (block or mob) is within reach."""
    is_mob = sg.target in MOB_HEALTH
    if not is_mob:
        _check_name(w, sg.target, "block")
    heading = float(w.rng.uniform(0, 2 * math.pi))
    for leg in range(64):
        if _find(w, sg.target, is_mob) is not None:
            return f"found {sg.target} after {leg} legs"
        heading += float(w.rng.uniform(-1.2, 1.2))
        x, _, z = w.pos
        gx, gz = round(x + 32 * math.cos(heading)), round(z + 32 * math.sin(heading))
        w.terrain.ensure_area(gx, gz, SEARCH)
        w.spawn_animals_in(gx // 16, gz // 16)
        travel(w, (gx, w.terrain.stand_y(gx, gz), gz), att)
    raise Failure(FailureCause.TARGET_NOT_FOUND, f"explored 64 legs without finding {sg.target}")


def _find(w: CraftWorld, target: str, is_mob: bool) -> Pos | None:
    if is_mob:
        mobs = [m for m in w.body.mobs if m.kind == target]
        near = min(mobs, key=lambda m: math.dist(m.block_pos(), w.pos), default=None)
        if near is not None and math.dist(near.block_pos(), w.pos) <= SEARCH:
            return near.block_pos()
        return None
    return w.terrain.find_nearest(target, w.pos, SEARCH)


def move_to(w: CraftWorld, sg: Subgoal, att: Attempt) -> str:
    _check_name(w, sg.target, "block")
    loc = w.terrain.find_nearest(sg.target, w.pos, 2 * SEARCH)
    if loc is None:
        raise Failure(
            FailureCause.TARGET_NOT_FOUND,
            f"no {sg.target} within {2 * SEARCH} blocks",
            needs=f"near:{sg.target}",
            remedy=("explore", sg.target, 1),
        )
    travel(w, (loc[0] + 1, loc[1], loc[2]), att)
    return f"at {sg.target} {loc}"


def _station_near(w: CraftWorld, station: str) -> bool:
    from sim.craftworld.world import REACH

    loc = w.terrain.find_nearest(station, w.pos, REACH)
    return loc is not None and math.dist(loc, w.pos) <= REACH + 1


def _station_failure(w: CraftWorld, station: str, cause: FailureCause, what: str) -> Failure:
    remedy = ("place", station, 1) if w.inventory[station] else ("craft", station, 1)
    if not w.inventory[station] and w.terrain.find_nearest(station, w.pos, 2 * SEARCH):
        remedy = ("move_to", station, 1)
    return Failure(
        cause, f"{what} needs a {station} within reach", needs=f"near:{station}", remedy=remedy
    )


def craft(w: CraftWorld, sg: Subgoal, att: Attempt) -> str:
    _check_name(w, sg.target, "item")
    options = w.rules.crafting_options(sg.target)
    if not options:
        raise Failure(FailureCause.RECIPE_FAIL, f"no crafting recipe makes {sg.target}")
    best, best_missing = None, None
    for recipe in options:
        times = -(-sg.count // recipe.count)
        missing = {
            i: n * times - w.inventory[i]
            for i, n in recipe.ingredients
            if w.inventory[i] < n * times
        }
        if best_missing is None or sum(missing.values()) < sum(best_missing.values()):
            best, best_missing = recipe, missing
        if not missing:
            break
    if best is None or best_missing is None:
        raise Failure(FailureCause.RECIPE_FAIL, f"no usable recipe for {sg.target}")
    if best_missing:
        item, n = sorted(best_missing.items())[0]
        verb, target = obtain_verb(w, item)
        raise Failure(
            FailureCause.MISSING_ITEM,
            f"crafting {sg.count} {sg.target} lacks "
            + ", ".join(f"{k} x{v}" for k, v in sorted(best_missing.items())),
            needs=f"has:{item}",
            remedy=(verb, target, n),
        )
    if best.needs_table and not _station_near(w, "crafting_table"):
        raise _station_failure(
            w, "crafting_table", FailureCause.RECIPE_FAIL, f"crafting {sg.target}"
        )
    times = -(-sg.count // best.count)
    after = w.rules.craft(w.inventory, best, times)
    for item in set(w.inventory) | set(after):
        delta = after.get(item, 0) - w.inventory[item]
        if delta > 0:
            w.give(item, delta)
        elif delta < 0:
            w.take(item, -delta)
    w.pass_time(CRAFT_TICKS * times, att)
    att.steps += times
    att.log("craft", item=sg.target, times=times, recipe=best.describe())
    return f"crafted {best.count * times} {sg.target}"


def smelt(w: CraftWorld, sg: Subgoal, att: Attempt) -> str:
    _check_name(w, sg.target, "item")
    recipe = w.rules.smelting.get(sg.target)
    if recipe is None:
        raise Failure(FailureCause.SMELT_FAIL, f"nothing smelts into {sg.target}")
    if not _station_near(w, "furnace"):
        raise _station_failure(w, "furnace", FailureCause.SMELT_FAIL, f"smelting {sg.target}")
    runs = -(-sg.count // recipe.count)
    if w.inventory[recipe.input] < runs:
        verb, target = obtain_verb(w, recipe.input)
        raise Failure(
            FailureCause.MISSING_ITEM,
            f"smelting {sg.count} {sg.target} needs {runs} {recipe.input}",
            needs=f"has:{recipe.input}",
            remedy=(verb, target, runs - w.inventory[recipe.input]),
        )
    need = recipe.ticks * runs
    fuels = sorted(
        (i for i in w.inventory if w.rules.fuels.get(i) and i != recipe.input),
        key=lambda i: -w.rules.fuels[i],
    )
    plan: list[tuple[str, int]] = []
    for fuel in fuels:
        if need <= 0:
            break
        n = min(w.inventory[fuel], -(-need // w.rules.fuels[fuel]))
        plan.append((fuel, n))
        need -= n * w.rules.fuels[fuel]
    if need > 0:
        raise Failure(
            FailureCause.SMELT_FAIL,
            f"not enough fuel to smelt {runs} {recipe.input}",
            needs="has_fuel",
            remedy=("mine", "coal_ore", 1),
        )
    for fuel, n in plan:
        w.take(fuel, n)
    w.take(recipe.input, runs)
    w.pass_time(recipe.ticks * runs, att, working=False)
    w.give(sg.target, recipe.count * runs)
    att.steps += runs
    att.log("smelt", item=sg.target, runs=runs, fuel=dict(plan))
    return f"smelted {recipe.count * runs} {sg.target}"


def place(w: CraftWorld, sg: Subgoal, att: Attempt) -> str:
    _check_name(w, sg.target, "block")
    if sg.target not in BLOCK_ID:
        raise Failure(FailureCause.INVALID_ACTION, f"{sg.target} cannot be placed in CraftWorld")
    if w.inventory[sg.target] < 1:
        verb, target = obtain_verb(w, sg.target)
        raise Failure(
            FailureCause.MISSING_ITEM,
            f"no {sg.target} to place",
            needs=f"has:{sg.target}",
            remedy=(verb, target, 1),
        )
    x, y, z = w.pos
    for dx, dz in ((1, 0), (0, 1), (-1, 0), (0, -1), (1, 1), (-1, -1)):
        if w.terrain.get(x + dx, y, z + dz) in ("air", "water", "cave_air") or w.terrain.get(
            x + dx, y, z + dz
        ).endswith(("grass", "leaves")):
            w.terrain.set(x + dx, y, z + dz, sg.target)
            w.take(sg.target, 1)
            w.pass_time(5, att)
            att.steps += 1
            att.log("place", block=sg.target, pos=[x + dx, y, z + dz])
            return f"placed {sg.target}"
    raise Failure(FailureCause.NAV_STUCK, "no free space next to the agent")


def equip(w: CraftWorld, sg: Subgoal, att: Attempt) -> str:
    _check_name(w, sg.target, "item")
    if w.inventory[sg.target] < 1:
        verb, target = obtain_verb(w, sg.target)
        raise Failure(
            FailureCause.MISSING_ITEM,
            f"no {sg.target} to equip",
            needs=f"has:{sg.target}",
            remedy=(verb, target, 1),
        )
    w.equipped = sg.target
    w.pass_time(1, att)
    att.log("equip", item=sg.target)
    return f"equipped {sg.target}"


def attack(w: CraftWorld, sg: Subgoal, att: Attempt) -> str:
    if sg.target not in MOB_HEALTH:
        close = ", ".join(k for k in MOB_HEALTH if k[0] == sg.target[:1]) or ", ".join(MOB_HEALTH)
        raise Failure(FailureCause.INVALID_ACTION, f"unknown mob {sg.target!r}; mobs: {close}")
    kind = w.rules.tool_kind(w.equipped)
    damage, cooldown = WEAPON.get(kind or "", (1.0, 5))
    damage += max(0, w.rules.tool_tier(w.equipped) - 1) if kind else 0
    loot: Counter[str] = Counter()
    for _ in range(sg.count):
        mobs = [m for m in w.body.mobs if m.kind == sg.target]
        mob = min(mobs, key=lambda m: math.dist(m.block_pos(), w.pos), default=None)
        if mob is None or math.dist(mob.block_pos(), w.pos) > SEARCH:
            raise Failure(
                FailureCause.TARGET_NOT_FOUND,
                f"no {sg.target} within {SEARCH} blocks",
                needs=f"near:{sg.target}",
                remedy=("explore", sg.target, 1),
            )
        bx, _, bz = mob.block_pos()
        travel(w, (bx, w.terrain.stand_y(bx, bz), bz), att)
        while mob.health > 0:
            w.pass_time(cooldown, att)
            mob.health -= damage
            att.steps += 1
            w.wear(w.equipped, 1, att)
        w.body.mobs.remove(mob)
        drops = w.rules.mob_drops(sg.target, w.rng)
        for item, n in drops.items():
            w.give(item, n)
        loot.update(drops)
        att.log("kill", mob=sg.target, drops=drops)
    return f"killed {sg.count} {sg.target}: " + ", ".join(f"{n} {k}" for k, n in loot.items())


def eat(w: CraftWorld, sg: Subgoal, att: Attempt) -> str:
    food = w.rules.foods.get(sg.target)
    if food is None:
        raise Failure(FailureCause.INVALID_ACTION, f"{sg.target} is not food")
    if w.inventory[sg.target] < sg.count:
        verb, target = obtain_verb(w, sg.target)
        raise Failure(
            FailureCause.MISSING_ITEM,
            f"no {sg.target} to eat",
            needs=f"has:{sg.target}",
            remedy=(verb, target, 1),
        )
    for _ in range(sg.count):
        if w.body.food >= 20:
            raise Failure(FailureCause.INVALID_ACTION, "not hungry: food is full")
        w.take(sg.target, 1)
        w.body.food = min(20.0, w.body.food + food.food_points)
        w.pass_time(32, att)
        att.log("eat", item=sg.target, food=w.body.food)
    return f"ate {sg.count} {sg.target}"


def wait(w: CraftWorld, sg: Subgoal, att: Attempt) -> str:
    """Stand still for `count` seconds (what an idle agent does at night)."""
    w.pass_time(sg.count * 20, att, working=False)
    att.log("wait", seconds=sg.count)
    return f"waited {sg.count} s"


ACTIONS: dict[str, Callable[[CraftWorld, Subgoal, Attempt], str]] = {
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
