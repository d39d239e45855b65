"""Primitive skills: one function per subgoal verb, the same verbs the Minecraft bridge offers.

Each consumes world ticks through `world.pass_time` (so mobs, hunger and the budget act while
the agent works) and ends by returning a message or raising `Failure` with the honest cause and
the evidence a player would see (what the crafting grid lacked, a block that dropped nothing,
a search that found nothing within its radius). The trace they leave is what diagnosis reads;
no failure says what to do next.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim import events as ev
from sim.craftworld import crops
from sim.craftworld.body import MOB_HEALTH
from sim.craftworld.palette import BLOCK_ID, PLANTS
from sim.mcrules import checks
from sim.mcrules.attempt import Attempt, Failure
from sim.mcrules.checks import REACH, SEARCH
from sim.schema import FailureCause, Subgoal

if TYPE_CHECKING:
    from sim.craftworld.world import CraftWorld

CANDIDATES = 24  # nearest targets `mine` considers before giving up on a lava-free route
STATIONS = ("crafting_table", "furnace", "chest")  # placed blocks a route never digs through
WALK_TICKS = 4.65  # ticks per block at Minecraft's walking speed (4.3 blocks/s)
ATTACK_REACH = 3.0  # blocks within which a player hits a mob
CLIMB_TICKS = 6
CRAFT_TICKS = 10
SMELT_TICKS = 200
TILL_TICKS = 5  # a hoe's use, as a placed block's
SOW_TICKS = 5
FIELD_REACH = 12  # blocks from the agent a field by the water may lie: in sight from where it stood
Pos = tuple[int, int, int]
WEAPON = {"sword": (4.0, 12), "axe": (7.0, 20), "pickaxe": (2.0, 17), "shovel": (2.5, 20)}


def _dig(w: CraftWorld, pos: Pos, att: Attempt) -> dict[str, int]:
    """Break one block with the equipped tool; returns its drops (none if not harvestable)."""
    block = w.terrain.get(*pos)
    if block in ("air", "water", "cave_air"):
        return {}
    if block == "lava":
        w.body.health -= 8
        att.log("damage", source="lava", damage=8)
        if w.body.dead:
            att.log("death", source="lava")
            raise Failure(FailureCause.DAMAGE, f"the agent burned in lava at {pos}", event=None)
        att.log("hazard", kind="lava", pos=list(pos))
        raise Failure(FailureCause.TARGET_UNREACHABLE, f"lava at {pos} blocks the way", event=None)
    if not w.rules.blocks.get(block) or not w.rules.blocks[block].diggable:
        raise Failure(
            FailureCause.TARGET_UNREACHABLE,
            f"{block} at {pos} cannot be dug",
            event=ev.HAZARD,
            data={"kind": "undiggable", "block": block, "pos": list(pos)},
        )
    tool = w.equipped
    if w.task is not None and w.task.helpers.get("auto_equip"):
        tool = _best_tool(w, block)
        w.equipped = tool
    if not w.rules.can_harvest(block, tool) and any(e["event"] == "tool_broke" for e in att.trace):
        # the tool broke on the way: a player stops rather than dig on by hand for nothing
        att.log("tool_lost", block=block, pos=list(pos), tool=None)
        raise Failure(
            FailureCause.WRONG_TOOL,
            f"the tool broke; {block} would drop nothing by hand",
            event=None,
        )
    w.pass_time(w.rules.dig_ticks(block, tool), att)
    w.set_block(pos, "air")
    att.steps += 1
    drops = w.rules.drops(block, tool, w.rng) if w.rules.can_harvest(block, tool) else {}
    for item, n in drops.items():
        w.give(item, n)
    w.wear(tool, 1, att)
    harvestable = w.rules.can_harvest(block, tool)
    att.log("dig", block=block, pos=list(pos), tool=tool, drops=drops, harvestable=harvestable)
    return drops


def _best_tool(w: CraftWorld, block: str) -> str | None:
    usable = [i for i in w.inventory if w.rules.can_harvest(block, i) and w.rules.tool_kind(i)]
    return min(usable, key=lambda i: w.rules.dig_ticks(block, i), default=w.equipped)


@dataclass(frozen=True)
class Leg:
    """One stretch of a route: where the agent stands after each step, and what it costs.

    `tunnel` digs each cell and the one above it, `shaft` digs each cell, `climb` and `walk`
    dig nothing; `ticks` is the cumulative tick count at each step."""

    kind: str
    path: list[Pos]
    ticks: list[int]

    def dug(self) -> list[Pos]:
        if self.kind == "tunnel":
            return [c for p in self.path for c in (p, (p[0], p[1] + 1, p[2]))]
        return list(self.path) if self.kind == "shaft" else []


def route(w: CraftWorld, goal: Pos, *, tunnel: bool = True) -> list[Leg]:
    """How the agent goes to stand next to `goal`: tunnel straight when both ends are
    underground and close; else climb out, walk on the surface and dig a shaft down."""
    x, y, z = w.pos
    gx, gy, gz = goal
    horiz = math.hypot(gx - x, gz - z)
    # the ground as generated: in a shaft the agent dug, its own column shows no roof
    surface = max(w.terrain.surface_y(x, z), w.terrain.ground_y(x, z))
    if tunnel and y < surface - 2 and horiz <= 24 and abs(gy - y) <= 8:
        steps = max(int(horiz), abs(gy - y))
        path = [
            (
                round(x + (gx - x) * i / steps),
                round(y + (gy - y) * i / steps),
                round(z + (gz - z) * i / steps),
            )
            for i in range(1, steps)
        ]
        return [Leg("tunnel", path, [math.ceil(WALK_TICKS) * i for i in range(1, steps)])]
    legs = []
    if y < surface:
        rise = surface + 1 - y
        climb = [(x, y + i, z) for i in range(1, rise + 1)]
        legs.append(Leg("climb", climb, [CLIMB_TICKS * i for i in range(1, rise + 1)]))
    n = max(1, math.ceil(horiz))
    walk = []
    for i in range(1, n + 1):
        px, pz = round(x + (gx - x) * i / n), round(z + (gz - z) * i / n)
        walk.append((px, w.terrain.stand_y(px, pz), pz))
    legs.append(Leg("walk", walk, [math.ceil(WALK_TICKS * horiz * i / n) for i in range(1, n + 1)]))
    top = walk[-1][1]
    if gy < top - 1:
        shaft = [(gx, yy, gz) for yy in range(top - 1, gy, -1)]
        legs.append(Leg("shaft", shaft, [0] * len(shaft)))
    return legs


def hazard(w: CraftWorld, cells: list[Pos]) -> tuple[str, Pos] | None:
    """The first of `cells` a careful agent would not dig: lava or next to lava (it would
    flow in), or a station the agent placed. Returns what is there, and where."""
    for x, y, z in cells:
        block = w.terrain.get(x, y, z)
        if block in STATIONS:
            return block, (x, y, z)
        for dx, dy, dz in _SELF_AND_NEIGHBOURS:
            if w.terrain.get(x + dx, y + dy, z + dz) == "lava":
                return "lava", (x, y, z)
    return None


_SIDES = ((1, 0), (0, 1), (-1, 0), (0, -1))
_SELF_AND_NEIGHBOURS = (
    (0, 0, 0),
    (1, 0, 0),
    (-1, 0, 0),
    (0, 1, 0),
    (0, -1, 0),
    (0, 0, 1),
    (0, 0, -1),
)


def travel(w: CraftWorld, goal: Pos, att: Attempt, legs: list[Leg] | None = None) -> None:
    """Follow `route(w, goal)` (or the legs given) a step at a time, so the clock, the body
    and the mobs see the agent move."""
    for leg in legs if legs is not None else route(w, goal):
        start, spent = w.pos, 0
        for p, t in zip(leg.path, leg.ticks, strict=True):
            if leg.kind == "tunnel":
                for cell in (p, (p[0], p[1] + 1, p[2])):
                    _dig(w, cell, att)
            elif leg.kind == "shaft":
                _dig(w, p, att)
            w.pass_time(t - spent, att)
            spent = t
            w.pos = p
        if leg.kind == "walk":
            att.steps += len(leg.path)
            dist = math.hypot(w.pos[0] - start[0], w.pos[2] - start[2])
            att.log("walk", to=list(w.pos), distance=round(dist, 1))
        elif leg.kind == "climb":
            att.log("climb", rise=len(leg.path))
        elif leg.kind == "shaft":
            att.log("shaft", depth=len(leg.path))
        else:
            att.log("tunnel", to=list(w.pos), blocks=len(leg.path) + 1)


def _reachable(w: CraftWorld, target: str, att: Attempt) -> tuple[Pos, list[Leg]]:
    """The nearest `target` block the agent can dig its way to without touching lava, and
    the route there (a careful miner, like a bot that reads the chunk, looks before digging).
    A crop counts only when ripe: a player sees a green one is not."""
    near = w.terrain.find_near(target, w.pos, SEARCH, CANDIDATES)
    if target in crops.SEEDS.values() and near:
        ages = [w.crop_age(p) for p in near]
        near = [p for p, a in zip(near, ages, strict=True) if a >= crops.RIPE]
        if not near:
            raise Failure(
                FailureCause.TARGET_NOT_FOUND,
                f"no ripe {target} within {SEARCH} blocks; {len(ages)} growing "
                f"(ages {', '.join(map(str, sorted(ages)))} of {crops.RIPE})",
                event=ev.SEARCH,
                data={"target": target, "radius": SEARCH, "found": False, "growing": ages},
            )
    if not near:
        raise checks.not_found(target, SEARCH)
    for loc in near:
        legs = route(w, loc)
        danger = hazard(w, [c for leg in legs for c in leg.dug()] + [loc])
        if danger is None:
            return loc, legs
    att.log(
        "hazard", kind=danger[0] if danger else "unknown", pos=list(danger[1]) if danger else None
    )
    raise Failure(
        FailureCause.TARGET_UNREACHABLE,
        f"every {target} within {SEARCH} blocks is behind lava or a station",
        event=None,
    )


def mine(w: CraftWorld, sg: Subgoal, att: Attempt) -> str:
    checks.check_name(w.rules, sg.target, "block")
    got: Counter[str] = Counter()
    start = w.pos
    try:
        for _ in range(sg.count):
            loc, legs = _reachable(w, sg.target, att)
            travel(w, loc, att, legs)
            tool = w.equipped
            drops = _dig(w, loc, att)
            if not drops and not w.rules.can_harvest(sg.target, w.equipped):
                raise checks.dropped_nothing(sg.target, tool)
            got.update(drops)
    finally:
        if sg.target in crops.SEEDS.values() and w.pos != start and not w.body.dead:
            # a farmer steps back from the field to where it stood (its shelter, if walled)
            travel(w, (start[0], start[1] - 1, start[2]), att)
    return "mined " + ", ".join(f"{n} {k}" for k, n in sorted(got.items()))


def explore(w: CraftWorld, sg: Subgoal, att: Attempt) -> str:
    """Walk outwards in legs of 32 blocks until the target (block or mob) is within reach."""
    is_mob = sg.target in MOB_HEALTH
    if not is_mob:
        checks.check_name(w.rules, sg.target, "block")
    heading = float(w.rng.uniform(0, 2 * math.pi))
    toward, avoid = _place(sg.args.get("toward")), _places(sg.args.get("avoid"))
    for leg in range(64):
        if _find(w, sg.target, is_mob) is not None:
            return f"found {sg.target} after {leg} legs"
        heading += float(w.rng.uniform(-1.2, 1.2))
        x, _, z = w.pos
        if toward is not None and math.dist((x, z), toward) > SEARCH / 2:
            heading = math.atan2(toward[1] - z, toward[0] - x)  # where the player saw it
        elif toward is not None:
            toward = None  # there, and it is not in sight: search on from here
        heading = _away(heading, (x, z), avoid)
        gx, gz = round(x + 32 * math.cos(heading)), round(z + 32 * math.sin(heading))
        w.terrain.ensure_area(gx, gz, SEARCH)
        w.spawn_animals_in(gx // 16, gz // 16)
        travel(w, (gx, w.terrain.stand_y(gx, gz), gz), att)
    raise Failure(
        FailureCause.TARGET_NOT_FOUND,
        f"explored 64 legs without finding {sg.target}",
        event=ev.SEARCH,
        data={"target": sg.target, "legs": 64, "found": False, "exhausted": True},
    )


def _place(value: object) -> tuple[int, int] | None:
    """An `x,z` argument (`explore toward=12,-40`), or None."""
    try:
        x, z = str(value).split(",")
        return int(x), int(z)
    except ValueError:
        return None


def _places(value: object) -> list[tuple[int, int]]:
    """A `;`-separated list of `x,z` (`explore avoid=8,8;24,-8`)."""
    found = (_place(v) for v in str(value or "").split(";") if v)
    return [p for p in found if p is not None]


def _away(heading: float, at: tuple[int, int], avoid: list[tuple[int, int]]) -> float:
    """The heading turned from any place to avoid that lies within two legs ahead of it."""
    for _ in range(8):
        ahead = [
            p
            for p in avoid
            if math.dist(at, p) < 64
            and abs(math.remainder(math.atan2(p[1] - at[1], p[0] - at[0]) - heading, math.tau))
            < 0.5
        ]
        if not ahead:
            break
        heading += math.pi / 4
    return heading


def _find(w: CraftWorld, target: str, is_mob: bool) -> Pos | None:
    if is_mob:
        mobs = [m for m in w.body.mobs if m.kind == target]
        near = min(mobs, key=lambda m: math.dist(m.block_pos(), w.pos), default=None)
        if near is not None and math.dist(near.block_pos(), w.pos) <= SEARCH:
            return near.block_pos()
        return None
    return w.terrain.find_nearest(target, w.pos, SEARCH)


def move_to(w: CraftWorld, sg: Subgoal, att: Attempt) -> str:
    checks.check_name(w.rules, sg.target, "block")
    from sim.craftworld.world import STATIONS

    if sg.target in STATIONS:  # placed by agents: indexed, no need to scan the terrain
        loc = w.near_station(sg.target, 2 * SEARCH)
    else:
        loc = w.terrain.find_nearest(sg.target, w.pos, 2 * SEARCH)
    if loc is None:
        raise checks.not_found(sg.target, 2 * SEARCH)
    # stand beside it at its level: on the side whose ground is nearest that level (never
    # down an old shaft out of reach), digging down to it where the ground is higher
    x, y, z = loc
    sides = [(x + dx, y, z + dz) for dx, dz in _SIDES]
    sx, _, sz = min(sides, key=lambda p: abs(min(w.terrain.stand_y(p[0], p[2]) - y, 0)))
    goal = (sx, y - 1, sz)  # stand on the block beside it
    legs = route(w, goal)
    if hazard(w, [c for leg in legs for c in leg.dug()]) is not None:
        legs = route(w, goal, tunnel=False)  # never tunnel through a station or into lava
    travel(w, goal, att, legs)
    return f"at {sg.target} {loc}"


def _station_near(w: CraftWorld, station: str) -> bool:

    return w.near_station(station, REACH + 1) is not None


def craft(w: CraftWorld, sg: Subgoal, att: Attempt) -> str:
    options = checks.crafting_options(w.rules, sg.target)
    from sim.craftworld.world import SIGHT

    seen = w.terrain.count_near(w.pos, SIGHT, exposed_only=True)
    near = functools.partial(_station_near, w)
    best, times = checks.craft_recipe(sg.target, sg.count, options, w.inventory, seen, near)
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
    near = functools.partial(_station_near, w)
    recipe, runs = checks.smelt_recipe(w.rules, sg.target, sg.count, w.inventory, near)
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
        raise checks.no_fuel(runs, recipe.input, recipe.ticks * runs, need)
    # one item at a time, lighting fuel as the last burns out: an attempt cut short (by a
    # mob) keeps what was smelted and the input that was not, as a furnace does
    queue = [fuel for fuel, n in plan for _ in range(n)]
    burning = 0
    for _ in range(runs):
        while burning < recipe.ticks:
            fuel = queue.pop(0)
            w.take(fuel, 1)
            burning += w.rules.fuels[fuel]
        w.pass_time(recipe.ticks, att, working=False)
        burning -= recipe.ticks
        w.take(recipe.input, 1)
        w.give(sg.target, recipe.count)
        att.steps += 1
    att.log("smelt", item=sg.target, runs=runs, fuel=dict(plan))
    return f"smelted {recipe.count * runs} {sg.target}"


def place(w: CraftWorld, sg: Subgoal, att: Attempt) -> str:
    """Place `count` blocks next to the agent: the cells beside its feet, then beside its head,
    and for more than one block the cells above those (walls two high above the ground around
    even for an agent standing in a dip: a mob steps up one block, not two)."""
    checks.check_name(w.rules, sg.target, "block")
    # a crop is no placed block: it grows from a sown seed (a wheat item is not a crop)
    if sg.target not in BLOCK_ID or sg.target in crops.SEEDS.values():
        raise Failure(
            FailureCause.INVALID_ACTION,
            f"{sg.target} cannot be placed in CraftWorld",
            event=ev.INVALID,
            data={"what": "placeable block", "name": sg.target},
        )
    checks.require(sg.target, sg.count, w.inventory[sg.target], "place")
    for placed in range(sg.count):
        x, y, z = w.pos
        levels = (0, 1, 2) if sg.count > 1 else (0, 1)
        around = [(x + dx, y + dy, z + dz) for dy in levels for dx, dz in _SIDES]
        spot = next((p for p in around if _replaceable(w.terrain.get(*p))), None)
        if spot is None and placed > 0:
            break  # walled in: the rest stays in the inventory
        if spot is None:
            # walled in (the bottom of a shaft, a tunnel): a player digs out a side block first
            spot = next((p for p in around if _diggable_solid(w, w.terrain.get(*p))), None)
            if spot is None:
                raise Failure(
                    FailureCause.NAV_STUCK,
                    "no free or diggable space next to the agent",
                    event=ev.STUCK,
                    data={"why": "no free space to place"},
                )
            _dig(w, spot, att)
        w.set_block(spot, sg.target)
        w.take(sg.target, 1)
        w.pass_time(5, att)
        att.steps += 1
        att.log("place", block=sg.target, pos=list(spot))
    return f"placed {sg.target}"


def plant(w: CraftWorld, sg: Subgoal, att: Attempt) -> str:
    """Sow `count` seeds, one to a block of farmland: free farmland first, then grass or dirt
    tilled with the hoe in hand, by water within `FIELD_REACH` blocks if any (a wet field grows
    faster, and a compact one faster still), then back to where the agent stood. Growth is
    `sim.craftworld.crops`."""
    checks.check_name(w.rules, sg.target, "item")
    crop = crops.SEEDS.get(sg.target)
    if crop is None:
        raise Failure(
            FailureCause.INVALID_ACTION,
            f"{sg.target} does not grow in CraftWorld; seeds: {', '.join(crops.SEEDS)}",
            event=ev.INVALID,
            data={"what": "seed", "name": sg.target},
        )
    checks.require(sg.target, sg.count, w.inventory[sg.target], "plant")
    plots = _plots(w, sg.count)
    if not plots:
        raise checks.not_found("farmland", SEARCH)
    sown: list[Pos] = []
    start = w.pos
    try:
        for ground in plots[: sg.count]:
            _sow(w, ground, sg.target, crop, att)
            sown.append(ground)
    finally:  # growth counts the whole field: drawn once it is sown (or the hoe gave out)
        for ground in sown:
            w.sow((ground[0], ground[1] + 1, ground[2]))
    travel(w, (start[0], w.terrain.stand_y(start[0], start[2]) - 1, start[2]), att)  # off the field
    return f"planted {len(sown)} {sg.target}"


def _sow(w: CraftWorld, ground: Pos, seed: str, crop: str, att: Attempt) -> None:
    """Walk to `ground`, till it with the hoe in hand unless it is farmland, and sow."""
    travel(w, ground, att)
    block = w.terrain.get(*ground)
    if block != "farmland":
        tool = w.equipped
        if w.rules.tool_kind(tool) != "hoe":
            att.log(ev.TILL, block=block, pos=list(ground), tool=tool, tilled=False)
            raise Failure(
                FailureCause.WRONG_TOOL,
                f"{block} at {ground} did not till with {tool or 'bare hands'}",
                event=None,
            )
        w.pass_time(TILL_TICKS, att)
        w.set_block(ground, "farmland")
        w.wear(tool, 1, att)
        wet = crops.hydrated(w.terrain.get, ground)
        att.log(ev.TILL, block=block, pos=list(ground), tool=tool, hydrated=wet, tilled=True)
    w.pass_time(SOW_TICKS, att)
    w.take(seed, 1)
    att.steps += 1
    above = (ground[0], ground[1] + 1, ground[2])
    w.set_block(above, crop)
    att.log(ev.SOW, seed=seed, crop=crop, pos=list(above))


def _plots(w: CraftWorld, count: int) -> list[Pos]:
    """Ground to sow on, best first: free farmland; then grass or dirt under open air beside
    water (nearest the agent first, then nearest that first plot: one field); then any grass
    or dirt near the agent. Never the agent's own cell or the eight around it."""
    x0, _, z0 = w.pos

    def apart(p: Pos) -> bool:  # never the ground under or beside the agent: its walls' place
        return max(abs(p[0] - x0), abs(p[2] - z0)) > 1

    free = [
        p
        for p in w.terrain.find_near("farmland", w.pos, SEARCH, 64)
        if w.terrain.get(p[0], p[1] + 1, p[2]) == "air" and apart(p)
    ]
    if len(free) >= count:
        return free
    wet: set[Pos] = set()
    for x, y, z in w.terrain.find_near("water", w.pos, FIELD_REACH, 256):
        if w.terrain.get(x, y + 1, z) != "air":
            continue  # under water: its banks lie higher
        for dx in range(-2, 3):
            for dz in range(-2, 3):
                p = (x + dx, y, z + dz)
                if _tillable(w, p):
                    wet.add(p)
    field = sorted(wet, key=lambda p: (_dist2(p, w.pos), p))
    if field:
        first = field[0]
        field = sorted(field, key=lambda p: (_dist2(p, first), p))
    dry: list[Pos] = []
    for dx in range(-8, 9):
        for dz in range(-8, 9):
            x, z = x0 + dx, z0 + dz
            p = (x, w.terrain.stand_y(x, z) - 1, z)
            if p not in wet and _tillable(w, p):
                dry.append(p)
    dry.sort(key=lambda p: (_dist2(p, w.pos), p))
    return free + [p for p in field + dry if apart(p)]


def _tillable(w: CraftWorld, p: Pos) -> bool:
    x, y, z = p
    return w.terrain.get(x, y, z) in crops.TILLABLE and w.terrain.get(x, y + 1, z) in (
        "air",
        "grass",
    )


def _dist2(a: Pos, b: Pos) -> int:
    return (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 + (a[2] - b[2]) ** 2


def _replaceable(block: str) -> bool:
    """Cells a placed block may take: air, water, grass, leaves and flowers (broken as the
    block goes in), not a crop."""
    if block in crops.SEEDS.values():
        return False
    return block in ("air", "water", "cave_air") or block in PLANTS or block.endswith("leaves")


def _diggable_solid(w: CraftWorld, block: str) -> bool:
    info = w.rules.blocks.get(block)
    return info is not None and info.diggable and block not in ("lava", "water", "air")


def equip(w: CraftWorld, sg: Subgoal, att: Attempt) -> str:
    checks.check_name(w.rules, sg.target, "item")
    checks.require(sg.target, 1, w.inventory[sg.target], "equip")
    w.equipped = sg.target
    w.pass_time(1, att)
    att.log("equip", item=sg.target)
    return f"equipped {sg.target}"


def attack(w: CraftWorld, sg: Subgoal, att: Attempt) -> str:
    if sg.target not in MOB_HEALTH:
        close = ", ".join(k for k in MOB_HEALTH if k[0] == sg.target[:1]) or ", ".join(MOB_HEALTH)
        raise Failure(
            FailureCause.INVALID_ACTION,
            f"unknown mob {sg.target!r}; mobs: {close}",
            event=ev.INVALID,
            data={"what": "mob", "name": sg.target, "closest": close},
        )
    kind = w.rules.tool_kind(w.equipped)
    damage, cooldown = WEAPON.get(kind or "", (1.0, 5))
    damage += max(0, w.rules.tool_tier(w.equipped) - 1) if kind else 0
    loot: Counter[str] = Counter()
    for _ in range(sg.count):
        mobs = [m for m in w.body.mobs if m.kind == sg.target]
        mob = min(mobs, key=lambda m: math.dist(m.block_pos(), w.pos), default=None)
        if mob is None or math.dist(mob.block_pos(), w.pos) > SEARCH:
            raise checks.not_found(sg.target, SEARCH)
        if not mob.hostile:
            bx, _, bz = mob.block_pos()
            travel(w, (bx, w.terrain.stand_y(bx, bz), bz), att)
        while mob.health > 0:
            # a hostile mob comes along its path; the agent closes in on one out of reach
            w.pass_time(cooldown, att)
            if mob not in w.body.mobs:
                raise Failure(
                    FailureCause.TARGET_NOT_FOUND,
                    f"the {sg.target} got away",
                    event=ev.SEARCH,
                    data={"target": sg.target, "found": False, "lost": True},
                )
            if mob.hostile and mob.path > ATTACK_REACH:
                mob.path = max(ATTACK_REACH, mob.path - cooldown / WALK_TICKS)
                continue
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
    food = checks.food(w.rules, sg.target)
    checks.require(sg.target, sg.count, w.inventory[sg.target], "eat")
    for _ in range(sg.count):
        if w.body.food >= 20:
            raise checks.not_hungry()
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


ACTIONS: dict[str, Callable[[CraftWorld, Subgoal, Attempt], str]] = checks.verb_table(
    explore, move_to, mine, craft, smelt, place, plant, equip, attack, eat, wait
)
