"""Where hostile mobs can spawn and walk: the terrain as a mob's pathfinder sees it.

Minecraft spawns hostile mobs on a solid floor with two blocks of headroom where it is dark
(everywhere under the night sky, and under a roof by day), and a mob reaches the player only
along a walkable path: it steps up one block and drops at most three, and never walks through
rock. `MobNav` answers those questions around the agent with one breadth-first flood over a box
of terrain (vectorized, and computed only when a spawn is attempted), so an agent out in the
open at night is found and one walled into its own tunnel is not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from sim.craftworld.palette import HEIGHT, LEAVES, SOLID_LUT, lut
from sim.craftworld.terrain import Terrain

Coord = tuple[int, int, int]
Spot = tuple[tuple[float, float, float], float]

SPAWN_MIN, SPAWN_MAX = 10, 20
"""Euclidean distance (blocks) from the agent at which hostile mobs spawn."""
SPAN_Y = 12
"""Vertical half-height of the box the pathfinder searches."""
MAX_PATH = 48
"""Longest walk (blocks) the flood follows: mobs lose interest beyond their follow range."""
MAX_DROP = 3
"""Mobs path over drops of at most three blocks (more would hurt them), and climb one."""

# collision: mobs walk through air, water and plants, not through leaves, lava or solid blocks
_PASSABLE_LUT = ~SOLID_LUT & ~lut(("lava", *sorted(LEAVES)))
_WATER_LUT = lut(("water",))


def _shift(a: NDArray[np.bool_], dx: int, dy: int, dz: int) -> NDArray[np.bool_]:
    """out[x, y, z] = a[x + dx, y + dy, z + dz], false where that falls outside `a`."""
    out = np.zeros_like(a)
    sx, sy, sz = a.shape
    src = tuple(slice(max(d, 0), n + min(d, 0)) for d, n in ((dx, sx), (dy, sy), (dz, sz)))
    dst = tuple(slice(max(-d, 0), n + min(-d, 0)) for d, n in ((dx, sx), (dy, sy), (dz, sz)))
    out[dst] = a[src]
    return out


@dataclass(frozen=True)
class _Field:
    lo: Coord  # world coordinates of the box's [0, 0, 0]
    dist: NDArray[np.int16]  # moves to the agent; -1 where it cannot be reached
    stand: NDArray[np.bool_]  # where a mob can stand (or swim)
    floor: NDArray[np.bool_]  # where one can spawn: two cells of air over a solid block
    roofed: NDArray[np.bool_]  # dark by day: something solid overhead


@dataclass
class MobNav:
    """The walkable space around the agent at one moment (built lazily on first question)."""

    terrain: Terrain
    agent: Coord
    radius: int = SPAWN_MAX
    _field: _Field | None = field(default=None, repr=False)

    def sunlit(self, pos: Coord | None = None) -> bool:
        """Whether the open sky is straight above `pos` (default: the agent)."""
        x, y, z = pos or self.agent
        return y > self.terrain.surface_y(x, z)

    def spawn_site(self, rng: np.random.Generator, night: bool) -> Spot | None:
        """A random dark, standable cell 10-20 blocks from the agent with a walkable path to
        it, and the length of that path; None when no mob could spawn and reach the agent."""
        f = self._flood()
        ok = f.floor & (f.dist > 0)
        if not night:
            ok &= f.roofed
        idx = np.argwhere(ok)
        if idx.size == 0:
            return None
        cells = idx + np.array(f.lo)
        d = np.sqrt(((cells - np.array(self.agent)) ** 2).sum(axis=1))
        keep = (d >= SPAWN_MIN) & (d <= SPAWN_MAX)
        if not keep.any():
            return None
        cells, idx = cells[keep], idx[keep]
        i = int(rng.integers(len(cells)))
        x, y, z = (int(v) for v in cells[i])
        return (float(x), float(y), float(z)), float(f.dist[tuple(idx[i])])

    def sees(self, a: tuple[float, float, float], b: tuple[float, float, float]) -> bool:
        """Line of sight between two eye positions: no solid block on the segment."""
        steps = max(1, math.ceil(math.dist(a, b) * 2))
        for i in range(1, steps):
            t = i / steps
            p = [round(a[k] + (b[k] - a[k]) * t) for k in range(3)]
            if not 0 <= p[1] < HEIGHT:
                continue
            if SOLID_LUT[self.terrain.chunk(p[0] // 16, p[2] // 16)[p[0] % 16, p[1], p[2] % 16]]:
                return False
        return True

    # ------------------------------------------------------------------------------------
    def _flood(self) -> _Field:
        """Walking distance (moves) from every standable cell of the box to the agent, found
        backwards from the agent; -1 where the agent cannot be reached."""
        if self._field is not None:
            return self._field
        ax, ay, az = self.agent
        r = self.radius
        y0, y1 = max(ay - SPAN_Y, 1), min(ay + SPAN_Y, HEIGHT)
        n = y1 - y0
        # full height (for roofs) plus room above the world for headroom checks
        full = self.terrain.region((ax - r, 0, az - r), (ax + r + 1, HEIGHT + 8, az + r + 1))
        solid = SOLID_LUT[full]
        top = full.shape[1] - 1 - np.argmax(solid[:, ::-1, :], axis=1)
        box = full[:, y0 - 1 : y1 + MAX_DROP + 2, :]
        passable, water = _PASSABLE_LUT[box], _WATER_LUT[box]

        def at(a: NDArray[np.bool_], k: int) -> NDArray[np.bool_]:
            """`a` at y + k for every cell y of the search box."""
            return a[:, 1 + k : 1 + k + n, :]

        # a standable cell: passable with headroom over a floor, or swimming
        floor = at(passable, 0) & at(passable, 1) & ~at(water, 0) & at(SOLID_LUT[box], -1)
        stand = floor | (at(passable, 0) & at(passable, 1) & at(water, -1)) | at(water, 0)
        roofed = np.arange(y0, y1)[None, :, None] < top[:, None, :]
        agent = (r, ay - y0, r)
        stand[agent] = True
        dist = np.full(stand.shape, -1, dtype=np.int16)
        dist[agent] = 0
        frontier = np.zeros_like(stand)
        frontier[agent] = True
        jump = at(passable, 2)
        for step in range(1, MAX_PATH + 1):
            # a mob at cell c walks to c + (dx, d, dz) for -MAX_DROP <= d <= 1: a step up needs
            # room to jump; a drop of d needs the column above the landing open to the ledge
            targets = [(0, frontier)]
            landing = frontier
            for d in range(1, MAX_DROP + 1):
                landing = landing & at(passable, d + 1)
                targets.append((-d, landing))
            reach = np.zeros_like(stand)
            for dx, dz in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                reach |= _shift(frontier, dx, 1, dz) & jump
                for dy, cells in targets:
                    reach |= _shift(cells, dx, dy, dz)
            new = reach & stand & (dist < 0)
            if not new.any():
                break
            dist[new] = step
            frontier = new
        roofed = np.broadcast_to(roofed, stand.shape)
        self._field = _Field((ax - r, y0, az - r), dist, stand, floor, roofed)
        return self._field
