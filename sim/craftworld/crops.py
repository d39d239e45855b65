"""Crops: tilled farmland, sown seeds and their growth over world ticks (Minecraft 1.16.5).

A sown crop grows through ages 0..7 on random ticks: a block is picked on average once every
`RANDOM_TICK` game ticks (3 random ticks per 16x16x16 section a tick), and each pick grows it
one age with chance 1 / (floor(25 / points) + 1). Points: 2 for the farmland under the crop (4
when hydrated: water within 4 blocks across, level with it or one above) plus, for each of the
8 farmland blocks around, 0.25 (0.75 hydrated). A lone crop by the water grows with chance 1/7
a pick, one in a 3x3 field with chance 1/3. Under the open sky crops grow by night as by day
(sky light stays 15; only rendering darkens), so light is not modelled.

Growth is drawn once, when the seed is sown: the wait for each age is exponential with mean
RANDOM_TICK / chance (a geometric number of exponential gaps), so a crop's whole future is seven
numbers and its age at any tick is a count, whatever the clock does in between. Only a ripe
crop (age 7) drops wheat; the world lets `mine` take ripe crops only.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

RANDOM_TICK = 4096 / 3
"""Mean game ticks between two random ticks of one block."""
RIPE = 7
SEEDS: dict[str, str] = {"wheat_seeds": "wheat"}
"""Seed item -> the crop block it grows into."""
TILLABLE = ("grass_block", "dirt")
HYDRATION = 4
Pos = tuple[int, int, int]


def hydrated(get: Callable[[int, int, int], str], pos: Pos) -> bool:
    """Farmland at `pos` is wet: water within `HYDRATION` blocks across, at its level or one
    above."""
    x, y, z = pos
    r = range(-HYDRATION, HYDRATION + 1)
    return any(get(x + dx, y + dy, z + dz) == "water" for dy in (0, 1) for dx in r for dz in r)


def growth_chance(wet: bool, around: list[bool]) -> float:
    """Chance that one random tick grows a crop, from its own farmland (`wet`) and the
    farmland blocks among its 8 neighbours (`around`: wet or not for each)."""
    points = (4.0 if wet else 2.0) + sum(0.75 if w else 0.25 for w in around)
    return 1.0 / (math.floor(25.0 / points) + 1)


def ripening(rng: np.random.Generator, chance: float, sown: int) -> tuple[int, ...]:
    """The ticks at which a crop sown at tick `sown` reaches ages 1..7."""
    waits = rng.exponential(RANDOM_TICK / chance, size=RIPE)
    return tuple(int(sown + t) for t in np.cumsum(waits))


def age(stages: tuple[int, ...], tick: int) -> int:
    """The crop's age at `tick` (0..7)."""
    return sum(1 for t in stages if t <= tick)
