"""The agent's body and the clock: hunger, regeneration, day and night, and mobs.

Time advances in one-second steps (20 ticks). Hostile mobs spawn in the dark (anywhere under
the night sky, under a roof by day) 10-20 blocks from the agent where they can stand and walk
to it, follow that path at their speed and hurt it when in reach; an agent that does nothing
in the open at night dies, as in Minecraft, and one walled in is safe. The terrain side of
this (where a mob can stand, walk and see) is `Surroundings`, answered by `mobnav`. Passive
animals wander nowhere and wait to be hunted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from sim.schema import DAY_TICKS, NIGHT_END, NIGHT_START

SECOND = 20
PASSIVE = ("cow", "sheep", "pig", "chicken")
WATER = ("squid",)
"""Passive mobs of the sea: they keep to deep water (a hunter wades out to them)."""
HOSTILE = ("zombie", "skeleton", "spider", "creeper")
MOB_HEALTH = {
    "cow": 10,
    "squid": 10,
    "sheep": 8,
    "pig": 10,
    "chicken": 4,
    "zombie": 20,
    "skeleton": 20,
    "spider": 16,
    "creeper": 20,
}
# damage on Normal difficulty, attack reach in blocks and seconds between attacks
MOB_ATTACK = {"zombie": (3.0, 1.5, 1), "skeleton": (3.0, 12.0, 2), "spider": (2.0, 1.5, 1)}
MOB_SPEED = {"zombie": 2.3, "skeleton": 2.5, "spider": 3.0, "creeper": 2.5}
"""Walking speed, blocks per second."""
FOLLOW = {"zombie": 35.0, "skeleton": 16.0, "spider": 16.0, "creeper": 16.0}
"""Follow range (blocks of path): a mob farther from the agent than this loses it."""
CREEPER_FUSE = (3.0, 2)
"""A creeper starts its fuse within 3 blocks and explodes 1.5 s (two steps) later."""
CREEPER_BLAST = 22.0
MAX_HOSTILE = 6
SPAWN_CHANCE = 0.04
"""Chance per second that a hostile mob spawns near the agent, where one can."""


@dataclass
class Mob:
    kind: str
    pos: tuple[float, float, float]
    health: float
    fuse: int = 0
    path: float = 0.0
    """Blocks of walkable path left between a hostile mob and the agent."""
    spawned_at: tuple[float, float, float] | None = None
    path0: float = 0.0
    """The path's length at spawn (to draw the mob along the way)."""

    @property
    def hostile(self) -> bool:
        return self.kind in HOSTILE

    def block_pos(self) -> tuple[int, int, int]:
        return (round(self.pos[0]), round(self.pos[1]), round(self.pos[2]))


@dataclass
class Body:
    """Health, food and the mobs around the agent, advanced one second at a time."""

    health: float = 20.0
    food: float = 20.0
    exhaustion: float = 0.0
    mobs: list[Mob] = field(default_factory=list)

    @property
    def dead(self) -> bool:
        return self.health <= 0


def is_night(time_of_day: int) -> bool:
    return NIGHT_START <= time_of_day % DAY_TICKS < NIGHT_END


def distance(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    return math.dist(a, b)


class Surroundings(Protocol):
    """What the body needs to know of the terrain around the agent (see `mobnav.MobNav`)."""

    def sunlit(self) -> bool:
        """Whether the agent stands under the open sky."""
        ...

    def spawn_site(
        self, rng: np.random.Generator, night: bool
    ) -> tuple[tuple[float, float, float], float] | None:
        """A dark spot a hostile mob can spawn on and walk to the agent from, and the length
        of that walk; None where there is none."""
        ...

    def sees(self, a: tuple[float, float, float], b: tuple[float, float, float]) -> bool:
        """Line of sight between two points."""
        ...


def step_second(
    body: Body,
    agent: tuple[int, int, int],
    time_of_day: int,
    around: Surroundings,
    rng: np.random.Generator,
    *,
    working: bool,
    hostile_mobs: bool = True,
    moved: float = 0.0,
) -> list[dict[str, object]]:
    """Advance the body and the mobs by one second; `moved` is how far the agent went since
    the last second (mobs must walk that much farther). Returns the events that happened."""
    events: list[dict[str, object]] = []
    # hunger: Minecraft's exhaustion model, coarsened: work (walking, digging, fighting) costs
    # exhaustion; standing still costs none, as in Minecraft
    body.exhaustion += 0.05 if working else 0.0
    if body.exhaustion >= 4.0:
        body.exhaustion -= 4.0
        body.food = max(0.0, body.food - 1.0)
    if body.food >= 18 and body.health < 20 and rng.random() < 0.25:
        body.health = min(20.0, body.health + 1.0)
    elif body.food <= 0 and rng.random() < 0.25:
        body.health -= 1.0
        events.append({"event": "starving", "damage": 1.0})
    night = is_night(time_of_day)
    if hostile_mobs and rng.random() < SPAWN_CHANCE:
        hostiles = sum(1 for m in body.mobs if m.hostile)
        site = around.spawn_site(rng, night) if hostiles < MAX_HOSTILE else None
        if site is not None:
            pos, path = site
            kind = HOSTILE[int(rng.integers(len(HOSTILE)))]
            body.mobs.append(
                Mob(kind, pos, MOB_HEALTH[kind], path=path, spawned_at=pos, path0=path)
            )
            events.append({"event": "mob_spawn", "mob": kind, "distance": round(path, 1)})
    if not night and around.sunlit():
        # to reach an agent in daylight a mob must step into it: it burns or gives up
        body.mobs = [m for m in body.mobs if not m.hostile or rng.random() > 0.2]
    eye = (float(agent[0]), agent[1] + 1.6, float(agent[2]))
    for mob in list(body.mobs):
        if not mob.hostile:
            continue
        mob.path += moved
        if mob.path > FOLLOW[mob.kind]:
            body.mobs.remove(mob)  # lost the agent
            continue
        reach = CREEPER_FUSE[0] if mob.kind == "creeper" else MOB_ATTACK[mob.kind][1]
        close = mob.path <= 2  # point blank; farther, a ranged attack needs a line of sight
        if mob.path > reach or not (
            close or around.sees((mob.pos[0], mob.pos[1] + 1.6, mob.pos[2]), eye)
        ):
            mob.path = max(mob.path - MOB_SPEED[mob.kind], 1.0)
            _place_on_path(mob, agent)
            mob.fuse = 0
            continue
        mob.fuse += 1
        if mob.kind == "creeper":
            if mob.fuse >= CREEPER_FUSE[1]:
                body.health -= CREEPER_BLAST
                body.mobs.remove(mob)
                events.append({"event": "damage", "source": "creeper", "damage": CREEPER_BLAST})
            continue
        damage, _, every = MOB_ATTACK[mob.kind]
        if (mob.fuse - 1) % every == 0:
            body.health -= damage
            events.append({"event": "damage", "source": mob.kind, "damage": damage})
    if body.dead:
        source = next((e["source"] for e in reversed(events) if e["event"] == "damage"), "hunger")
        events.append({"event": "death", "source": source})
    return events


def _place_on_path(mob: Mob, agent: tuple[int, int, int]) -> None:
    """Where the mob is drawn: as far along the line from its spawn to the agent as it is
    along its path."""
    start = mob.spawned_at or mob.pos
    f = min(1.0, mob.path / mob.path0) if mob.path0 > 0 else 0.0
    mob.pos = tuple(a + (s - a) * f for s, a in zip(start, agent, strict=True))  # type: ignore[assignment]
