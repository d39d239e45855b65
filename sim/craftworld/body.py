"""The agent's body and the clock: hunger, regeneration, day and night, and mobs.

Time advances in one-second steps (20 ticks). Hostile mobs spawn at night on the surface and
in the dark underground, walk to the agent and hurt it; an agent that does nothing at night
dies, as in Minecraft. Passive animals wander nowhere and wait to be hunted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.schema import DAY_TICKS, NIGHT_END, NIGHT_START

SECOND = 20
PASSIVE = ("cow", "sheep", "pig", "chicken")
HOSTILE = ("zombie", "skeleton", "spider", "creeper")
MOB_HEALTH = {
    "cow": 10,
    "sheep": 8,
    "pig": 10,
    "chicken": 4,
    "zombie": 20,
    "skeleton": 20,
    "spider": 16,
    "creeper": 20,
}
# damage on Normal difficulty and attack reach in blocks; speed in blocks per second
MOB_ATTACK = {"zombie": (3.0, 1.5), "skeleton": (3.0, 12.0), "spider": (2.0, 1.5)}
MOB_SPEED = {"zombie": 2.3, "skeleton": 2.5, "spider": 3.0, "creeper": 2.5}
CREEPER_BLAST = 22.0
MAX_HOSTILE = 6


@dataclass
class Mob:
    kind: str
    pos: tuple[float, float, float]
    health: float
    fuse: int = 0

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


def step_second(
    body: Body,
    agent: tuple[int, int, int],
    time_of_day: int,
    dark: bool,
    rng: np.random.Generator,
    *,
    working: bool,
    hostile_mobs: bool = True,
) -> list[dict[str, object]]:
    """Advance the body and the mobs by one second; returns the events that happened."""
    events: list[dict[str, object]] = []
    # hunger: Minecraft's exhaustion model, coarsened: working costs more than idling
    body.exhaustion += 0.05 if working else 0.01
    if body.exhaustion >= 4.0:
        body.exhaustion -= 4.0
        body.food = max(0.0, body.food - 1.0)
    if body.food >= 18 and body.health < 20 and rng.random() < 0.25:
        body.health = min(20.0, body.health + 1.0)
    elif body.food <= 0 and rng.random() < 0.25:
        body.health -= 1.0
        events.append({"event": "starving", "damage": 1.0})
    if hostile_mobs and (is_night(time_of_day) or dark):
        hostiles = sum(1 for m in body.mobs if m.hostile)
        if hostiles < MAX_HOSTILE and rng.random() < 0.04:
            kind = HOSTILE[int(rng.integers(len(HOSTILE)))]
            angle = rng.uniform(0, 2 * math.pi)
            r = rng.uniform(10, 20)
            pos = (agent[0] + r * math.cos(angle), float(agent[1]), agent[2] + r * math.sin(angle))
            body.mobs.append(Mob(kind, pos, MOB_HEALTH[kind]))
            events.append({"event": "mob_spawn", "mob": kind, "distance": round(r, 1)})
    if not is_night(time_of_day) and not dark:
        # hostile mobs burn or wander off at daybreak
        body.mobs = [m for m in body.mobs if not m.hostile or rng.random() > 0.2]
    for mob in list(body.mobs):
        if not mob.hostile:
            continue
        d = distance(mob.pos, agent)
        reach = MOB_ATTACK.get(mob.kind, (0.0, 2.5))[1]
        if d > reach:
            step = min(MOB_SPEED[mob.kind], d - reach * 0.5)
            mob.pos = tuple(p + (a - p) * step / d for p, a in zip(mob.pos, agent, strict=True))  # type: ignore[assignment]
            continue
        if mob.kind == "creeper":
            mob.fuse += 1
            if mob.fuse >= 2:
                body.health -= CREEPER_BLAST
                body.mobs.remove(mob)
                events.append({"event": "damage", "source": "creeper", "damage": CREEPER_BLAST})
            continue
        damage = MOB_ATTACK[mob.kind][0]
        body.health -= damage
        events.append({"event": "damage", "source": mob.kind, "damage": damage})
    if body.dead:
        source = next((e["source"] for e in reversed(events) if e["event"] == "damage"), "hunger")
        events.append({"event": "death", "source": source})
    return events
