"""CraftWorld: the embedded, Minecraft-faithful world at the level of subgoals.

A seeded, chunked voxel terrain (`terrain`), Minecraft 1.16.5 game rules from minecraft-data
(`sim.mcrules`, shared with real Minecraft), a body with hunger and mobs (`body`), and
primitive skills that execute one subgoal each (`actions`), consuming world ticks and failing
honestly.
"""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

import numpy as np

from sim import events as ev
from sim.base import World
from sim.craftworld import actions, crops
from sim.craftworld.body import HOSTILE, SECOND, Body, is_night, step_second
from sim.craftworld.iso import render_iso
from sim.craftworld.mobnav import MobNav
from sim.craftworld.palette import SEA_LEVEL
from sim.craftworld.render import render_topdown
from sim.craftworld.terrain import Terrain
from sim.mcrules import checks
from sim.mcrules.attempt import Attempt, Failure
from sim.mcrules.facts import MinecraftRules, describe, interesting
from sim.mcrules.rules import Rules
from sim.schema import DAY_TICKS, FailureCause, Outcome, Subgoal, Task, WorldState

SIGHT = 16  # blocks within which the state lists nearby blocks
SQUID_SALT, SQUID_TRIES, SQUID_CHANCE = 7, 4, 0.3
ANIMAL_BIOMES = ("plains", "forest", "jungle", "savanna", "dark_forest")
"""Where passive land animals spawn (grassland and woods, as in Minecraft)."""
# never generated: only where agents place them, so the world indexes where they are
STATIONS = ("crafting_table", "furnace")
HELPERS = {
    "auto_equip": "the world equips the best tool for each block before digging",
    "start_time": "the episode starts at this time of day (ticks)",
    "hostile_mobs": "hostile mobs spawn at night and in the dark (default true)",
}
EVENT_CAUSES = {
    "attacked": FailureCause.DAMAGE,  # a busy skill stopped because a mob hurt the agent
    "tool_lost": FailureCause.WRONG_TOOL,  # the tool broke and the next block drops nothing
}
"""Trace events of CraftWorld's own, beyond `sim.events`, and the causes they are evidence of."""


class CraftWorld(MinecraftRules, World):
    """The default world: fast, offline and faithful enough for the tech tree to be real."""

    id: ClassVar[str] = "craftworld/v1"
    HELPERS: ClassVar[dict[str, str]] = HELPERS  # the module's table

    def __init__(self, version: str = "1.16.5", subgoal_ticks: int = 6000) -> None:
        self.rules = Rules.load(version)
        self.subgoal_ticks = subgoal_ticks
        self.task: Task | None = None
        self.terrain = Terrain(0)
        self.rng = np.random.default_rng(0)
        self.inventory: Counter[str] = Counter()
        self.durability: dict[str, int] = {}
        self.equipped: str | None = None
        self.pos = (0, 0, 0)
        self._mob_anchor = self.pos  # where the agent was at the mobs' last step
        self.body = Body()
        self.tick = 0
        self.start_time = 0
        self._animals_spawned: set[tuple[int, int]] = set()
        self._verb_targets: dict[str, tuple[str, ...]] | None = None
        self.stations: dict[str, set[tuple[int, int, int]]] = {s: set() for s in STATIONS}
        self.crops: dict[tuple[int, int, int], tuple[int, ...]] = {}
        """Sown crops: position -> the ticks at which they reach each age."""

    # ---- the World interface (verbs, item_names, facts: `MinecraftRules`) ------------------
    def verb_targets(self) -> dict[str, tuple[str, ...]]:
        """What each verb accepts: only craftable items for `craft`, mineable blocks for
        `mine`, and so on, so an LLM's grammar admits no impossible subgoal."""
        if self._verb_targets is None:
            from sim.craftworld.body import MOB_HEALTH
            from sim.craftworld.palette import BLOCK_ID, NATURAL

            r = self.rules
            mineable = tuple(b for b in NATURAL if b in r.blocks and r.blocks[b].diggable)
            places = tuple(sorted((*mineable, "crafting_table", "furnace")))
            self._verb_targets = {
                "explore": tuple(sorted((*places, *MOB_HEALTH))),
                "move_to": places,
                "mine": tuple(sorted(mineable)),
                "craft": tuple(sorted(i for i in r.recipes if r.recipes[i])),
                "smelt": tuple(sorted(r.smelting)),
                "place": tuple(sorted(b for b in BLOCK_ID if b in r.items and b != "air")),
                "plant": tuple(sorted(crops.SEEDS)),
                "equip": tuple(sorted(r.items)),
                "attack": tuple(sorted(MOB_HEALTH)),
                "eat": tuple(sorted(r.foods)),
                "wait": ("seconds",),
            }
        return dict(self._verb_targets)

    def reset(self, task: Task, seed: int) -> WorldState:
        checks.check_helpers(task, HELPERS)
        self.task = task
        self.rng = np.random.default_rng(seed)
        self.terrain = Terrain(seed)
        self.pos = self.terrain.spawn_point()
        self._mob_anchor = self.pos
        self.inventory = Counter()
        self.durability = {}
        self.equipped = None
        for item, n in task.initial_inventory.items():
            self.give(item, n)
        self.body = Body()
        self.tick = 0
        self.start_time = int(task.helpers.get("start_time", 0))
        self._animals_spawned = set()
        self.stations = {s: set() for s in STATIONS}
        self.crops = {}
        self._spawn_animals()
        return self.state()

    def execute(self, subgoal: Subgoal) -> Outcome:
        if self.task is None:
            raise RuntimeError("execute() before reset()")
        attempt = Attempt.start(subgoal, self.subgoal_ticks)
        cause, message = FailureCause.NONE, "ok"
        try:
            if self.body.dead:
                raise checks.dead()
            handler = actions.ACTIONS.get(subgoal.verb)
            if handler is None:
                raise checks.unknown_verb(subgoal.verb)
            message = handler(self, subgoal, attempt) or "ok"
        except Failure as fail:
            cause, message = fail.cause, fail.message
            attempt.failed(fail)
        return attempt.outcome(cause, message, self.state())

    def event_causes(self) -> dict[str, FailureCause]:
        return dict(EVENT_CAUSES)

    def state(self) -> WorldState:
        nearby = self.terrain.count_near(self.pos, SIGHT, exposed_only=True)
        return WorldState(
            world=self.id,
            tick=self.tick,
            inventory=dict(sorted((k, v) for k, v in self.inventory.items() if v > 0)),
            equipped=self.equipped,
            durability=dict(sorted(self.durability.items())),
            position=self.pos,
            health=round(self.body.health, 1),
            food=round(self.body.food, 1),
            time_of_day=self.time_of_day,
            nearby_blocks={k: v for k, v in sorted(nearby.items()) if interesting(k)},
            nearby_entities=dict(
                sorted(
                    Counter(
                        m.kind for m in self.body.mobs if _dist(m.block_pos(), self.pos) <= SIGHT
                    ).items()
                )
            ),
            dead=self.body.dead,
        )

    def goal_reached(self) -> bool:
        """The task's final condition holds (an item goal, or every item of an `all`)."""
        if self.task is None:
            return False
        return self.task.goal.final().held(lambda i: self.inventory[i])

    def render(self) -> np.ndarray:
        """The isometric 3D view around the agent (`sim.craftworld.iso`), its feet at the
        centre (the agent here has no facing to draw)."""
        mobs = [(m.kind, m.block_pos()) for m in self.body.mobs]
        return render_iso(self.terrain, self.pos, mobs=mobs, time_of_day=self.time_of_day)

    def render_map(self) -> np.ndarray:
        """The top-down map around the agent (`sim.craftworld.render`), the agent at the
        centre."""
        mobs = [(m.kind, m.block_pos()) for m in self.body.mobs]
        return render_topdown(
            self.terrain, self.pos, 24, agent=self.pos, mobs=mobs, time_of_day=self.time_of_day
        )

    def describe(self) -> str:
        s = self.state()
        return describe(s, f"in {self.terrain.biome(s.position[0], s.position[2])}")

    # ---- helpers the actions share ----------------------------------------------------------
    @property
    def time_of_day(self) -> int:
        return (self.start_time + self.tick) % DAY_TICKS

    def set_block(self, pos: tuple[int, int, int], name: str) -> None:
        """Change one block, keeping the index of placed stations (crafting tables, furnaces)
        that `near_station` answers from."""
        old = self.terrain.get(*pos)
        self.terrain.set(*pos, name)
        if old in self.stations:
            self.stations[old].discard(pos)
        if name in self.stations:
            self.stations[name].add(pos)
        self.crops.pop(pos, None)

    def sow(self, pos: tuple[int, int, int]) -> None:
        """Draw the growth of the crop just sown at `pos` (on farmland), from how wet its
        farmland and the farmland around it are (`sim.craftworld.crops`)."""
        x, y, z = pos
        get = self.terrain.get
        around = [
            crops.hydrated(get, (x + dx, y - 1, z + dz))
            for dx in (-1, 0, 1)
            for dz in (-1, 0, 1)
            if (dx or dz) and get(x + dx, y - 1, z + dz) == "farmland"
        ]
        chance = crops.growth_chance(crops.hydrated(get, (x, y - 1, z)), around)
        self.crops[pos] = crops.ripening(self.rng, chance, self.tick)

    def crop_age(self, pos: tuple[int, int, int]) -> int:
        """The age (0..7) of the crop at `pos`; one the world did not see sown counts ripe."""
        stages = self.crops.get(pos)
        return crops.RIPE if stages is None else crops.age(stages, self.tick)

    def near_station(self, station: str, radius: float) -> tuple[int, int, int] | None:
        """The nearest placed `station` within `radius` blocks, if any."""
        best = min(self.stations.get(station, ()), key=lambda p: _dist(p, self.pos), default=None)
        return best if best is not None and _dist(best, self.pos) <= radius else None

    def give(self, item: str, n: int) -> None:
        self.inventory[item] += n
        info = self.rules.items.get(item)
        if info is not None and info.max_durability and item not in self.durability:
            self.durability[item] = info.max_durability

    def take(self, item: str, n: int) -> None:
        self.inventory[item] -= n
        if self.inventory[item] <= 0:
            del self.inventory[item]
            self.durability.pop(item, None)
            if self.equipped == item:
                self.equipped = None

    def wear(self, item: str | None, uses: int, attempt: Attempt) -> None:
        """Spend durability of a tool; a tool that breaks leaves the inventory."""
        if item is None or item not in self.durability:
            return
        self.durability[item] -= uses
        if self.durability[item] <= 0:
            attempt.log("tool_broke", item=item)
            self.durability.pop(item)
            self.take(item, 1)
            if self.inventory[item] > 0:
                info = self.rules.items[item]
                self.durability[item] = int(info.max_durability or 1)

    def pass_time(self, ticks: int, attempt: Attempt, *, working: bool = True) -> None:
        """Advance the clock, the body and the mobs; raise on death or an exhausted budget."""
        if self.task is None:
            raise RuntimeError("pass_time() before reset()")
        hostile = bool(self.task.helpers.get("hostile_mobs", True))
        remaining = ticks
        while remaining > 0:
            dt = min(SECOND, remaining)
            remaining -= dt
            self.tick += dt
            attempt.ticks += dt
            if self.tick % SECOND < dt:
                attacker: str | None = None
                moved = _dist(self.pos, self._mob_anchor)
                self._mob_anchor = self.pos
                killer = "unknown"
                for happening in step_second(
                    self.body,
                    self.pos,
                    self.time_of_day,
                    MobNav(self.terrain, self.pos),
                    self.rng,
                    working=working,
                    hostile_mobs=hostile,
                    moved=moved,
                ):
                    if happening["event"] == "damage" and happening["source"] in HOSTILE:
                        attacker = str(happening["source"])
                    if happening["event"] == ev.DEATH:
                        killer = str(happening["source"])
                    attempt.log(str(happening.pop("event")), **happening)
                if self.body.dead:
                    by_mob = killer in HOSTILE
                    raise Failure(
                        FailureCause.MOB_KILLED if by_mob else FailureCause.DAMAGE,
                        f"the agent was killed by {killer}",
                        event=None,
                    )
                if attacker is not None and attempt.guarded:
                    # a busy agent that is hurt stops to deal with the attacker
                    attempt.log("attacked", mob=attacker, health=round(self.body.health, 1))
                    raise Failure(FailureCause.DAMAGE, f"attacked by a {attacker}", event=None)
            if self.tick >= self.task.max_ticks:
                raise checks.out_of_ticks(self.task.max_ticks)
            if attempt.ticks > attempt.tick_limit:
                raise Failure(
                    FailureCause.TIMEOUT,
                    f"subgoal ran past {attempt.tick_limit} ticks",
                    event=ev.BUDGET,
                    data={"scope": "subgoal", "limit": attempt.tick_limit},
                )

    def night(self) -> bool:
        return is_night(self.time_of_day)

    def _spawn_animals(self) -> None:
        """Passive animals on grass, a few per chunk, seeded by the chunk's coordinates."""
        cx0, cz0 = self.pos[0] // 16, self.pos[2] // 16
        for cx in range(cx0 - 3, cx0 + 4):
            for cz in range(cz0 - 3, cz0 + 4):
                self.spawn_animals_in(cx, cz)

    def spawn_animals_in(self, cx: int, cz: int) -> None:
        from sim.craftworld.body import MOB_HEALTH, PASSIVE, Mob

        if (cx, cz) in self._animals_spawned:
            return
        self._animals_spawned.add((cx, cz))
        self._spawn_squid_in(cx, cz)
        rng = np.random.default_rng(
            [abs(hash(self.terrain.seed)) % 2**32, cx & 0xFFFF, cz & 0xFFFF]
        )
        if self.terrain.biome(cx * 16 + 8, cz * 16 + 8) not in ANIMAL_BIOMES:
            return
        for _ in range(int(rng.integers(0, 3))):
            kind = PASSIVE[int(rng.integers(len(PASSIVE)))]
            x, z = cx * 16 + int(rng.integers(16)), cz * 16 + int(rng.integers(16))
            y = self.terrain.stand_y(x, z)
            if self.terrain.get(x, y, z) == "water":
                continue  # a lake's floor is no pasture
            self.body.mobs.append(Mob(kind, (float(x), float(y), float(z)), MOB_HEALTH[kind]))

    def _spawn_squid_in(self, cx: int, cz: int) -> None:
        """Squid in deep water (four blocks or more below sea level's surface): up to four per
        chunk, from a draw of their own so the land animals are as before."""
        from sim.craftworld.body import MOB_HEALTH, WATER, Mob

        rng = np.random.default_rng(
            [abs(hash(self.terrain.seed)) % 2**32, cx & 0xFFFF, cz & 0xFFFF, SQUID_SALT]
        )
        for _ in range(SQUID_TRIES):
            x, z = cx * 16 + int(rng.integers(16)), cz * 16 + int(rng.integers(16))
            keep = rng.random() < SQUID_CHANCE
            deep = all(self.terrain.get(x, SEA_LEVEL - d, z) == "water" for d in (1, 4))
            if keep and deep:
                y = float(SEA_LEVEL - 3)
                self.body.mobs.append(Mob(WATER[0], (float(x), y, float(z)), MOB_HEALTH[WATER[0]]))


def _dist(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    return float(np.sqrt(sum((p - q) ** 2 for p, q in zip(a, b, strict=True))))
