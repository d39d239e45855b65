"""The voxel terrain of CraftWorld: lazily generated, cached 16x128x16 chunks of block ids.

`Terrain` is what the world engine and the renderer query: block lookups and edits, surface
heights, biomes, and vectorized searches (nearest block of a kind, block counts around a point).
Chunks are generated on first use by `worldgen.generate_chunk`, a pure function of
(seed, cx, cz), so a terrain is fully determined by its seed whatever order it is explored in.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray

from sim.craftworld.palette import (
    BIOMES,
    BLOCK_ID,
    BLOCKS,
    CHUNK,
    HEIGHT,
    LEAVES,
    LOGS,
    NON_SOLID,
    SEA_LEVEL,
    SOLID_LUT,
    TRANSPARENT,
    TRANSPARENT_LUT,
    lut,
)
from sim.craftworld.worldgen import generate_chunk

__all__ = [
    "BIOMES",
    "BLOCKS",
    "BLOCK_ID",
    "CHUNK",
    "HEIGHT",
    "NON_SOLID",
    "SEA_LEVEL",
    "TRANSPARENT",
    "Terrain",
]

log = logging.getLogger(__name__)

Coord = tuple[int, int, int]

_AIR = BLOCK_ID["air"]
_BEDROCK = BLOCK_ID["bedrock"]
_LOG_LUT = lut(LOGS)
_PASSABLE_LUT = ~SOLID_LUT & ~lut(("water", "lava", *sorted(LEAVES)))
_SPAWN_GROUND = lut(("grass_block", "dirt", "sand", "gravel", "snow_block", "stone"))
SPAWN_RADIUS = 48
"""How far from the origin `spawn_point` looks for a standing spot."""
SPAWN_TREE_RADIUS = 12
"""A spawn spot counts as 'near trees' when a log column lies within this square radius."""


class Terrain:
    """An infinite (in x and z) voxel world of Minecraft 1.16.5 blocks, determined by a seed.

    Chunk arrays are uint8 ids into `BLOCKS`, shaped (CHUNK, HEIGHT, CHUNK) and indexed
    [x, y, z] in chunk-local coordinates. Edits made with `set` live in the cached chunks.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._chunks: dict[tuple[int, int], NDArray[np.uint8]] = {}
        self._biomes: dict[tuple[int, int], NDArray[np.uint8]] = {}
        self._ground: dict[tuple[int, int], NDArray[np.int16]] = {}
        self._spawn: Coord | None = None
        self.edits = 0  # blocks changed by `set` so far: a view drawn before may be stale

    # ------------------------------------------------------------------ chunks and blocks
    def chunk(self, cx: int, cz: int) -> NDArray[np.uint8]:
        """The (cached, live) block-id array of chunk (cx, cz), generating it on first use."""
        key = (cx, cz)
        arr = self._chunks.get(key)
        if arr is None:
            arr, biome = generate_chunk(self.seed, cx, cz)
            self._chunks[key] = arr
            self._biomes[key] = biome
            solid = SOLID_LUT[arr]
            top = HEIGHT - 1 - np.argmax(solid[:, ::-1, :], axis=1)
            self._ground[key] = np.where(solid.any(axis=1), top, -1).astype(np.int16)
        return arr

    def get(self, x: int, y: int, z: int) -> str:
        """The block name at world coordinates (air above the world, bedrock below it)."""
        if y >= HEIGHT:
            return "air"
        if y < 0:
            return "bedrock"
        arr = self.chunk(x // CHUNK, z // CHUNK)
        return BLOCKS[arr[x % CHUNK, y, z % CHUNK]]

    def set(self, x: int, y: int, z: int, name: str) -> None:
        """Place block `name` (a palette name) at world coordinates; the edit persists."""
        block = BLOCK_ID.get(name)
        if block is None:
            raise ValueError(f"unknown block {name!r}: not in the CraftWorld palette")
        if not 0 <= y < HEIGHT:
            raise ValueError(f"y={y} is outside the world [0, {HEIGHT})")
        self.chunk(x // CHUNK, z // CHUNK)[x % CHUNK, y, z % CHUNK] = block
        self.edits += 1

    def region(self, lo: Coord, hi: Coord) -> NDArray[np.uint8]:
        """A copy of the block ids in the box lo <= (x, y, z) < hi, indexed [x, y, z] from lo.

        Cells above the world are air and cells below it bedrock, so callers can pad freely.
        """
        x0, y0, z0 = lo
        x1, y1, z1 = hi
        out = np.full((x1 - x0, y1 - y0, z1 - z0), _AIR, dtype=np.uint8)
        if y0 < 0:
            out[:, : min(0, y1) - y0, :] = _BEDROCK
        ya, yb = max(y0, 0), min(y1, HEIGHT)
        if ya >= yb:
            return out
        for cx in range(x0 // CHUNK, (x1 - 1) // CHUNK + 1):
            xa, xb = max(x0, cx * CHUNK), min(x1, (cx + 1) * CHUNK)
            for cz in range(z0 // CHUNK, (z1 - 1) // CHUNK + 1):
                za, zb = max(z0, cz * CHUNK), min(z1, (cz + 1) * CHUNK)
                arr = self.chunk(cx, cz)
                out[xa - x0 : xb - x0, ya - y0 : yb - y0, za - z0 : zb - z0] = arr[
                    xa - cx * CHUNK : xb - cx * CHUNK, ya:yb, za - cz * CHUNK : zb - cz * CHUNK
                ]
        return out

    # ------------------------------------------------------------------------- columns
    def surface_y(self, x: int, z: int) -> int:
        """y of the highest solid block of the column (skipping air, fluids, leaves, plants)."""
        column = self.chunk(x // CHUNK, z // CHUNK)[x % CHUNK, :, z % CHUNK]
        solid = np.flatnonzero(SOLID_LUT[column])
        return int(solid[-1]) if solid.size else -1

    def ground_y(self, x: int, z: int) -> int:
        """y of the column's highest solid block as generated, before any edit: the ground
        level an agent climbs back to from a shaft or tunnel it dug (which `surface_y`, read
        from the edited column, would no longer show)."""
        cx, cz = x // CHUNK, z // CHUNK
        self.chunk(cx, cz)
        return int(self._ground[(cx, cz)][x % CHUNK, z % CHUNK])

    def stand_y(self, x: int, z: int) -> int:
        """y at which an agent stands on the column's surface."""
        return self.surface_y(x, z) + 1

    def biome(self, x: int, z: int) -> str:
        """The biome of a column: plains, forest, desert, mountains or ocean (under water)."""
        cx, cz = x // CHUNK, z // CHUNK
        self.chunk(cx, cz)
        return BIOMES[self._biomes[(cx, cz)][x % CHUNK, z % CHUNK]]

    # ---------------------------------------------------------------------------- areas
    def ensure_area(self, x: int, z: int, radius: int) -> None:
        """Generate every chunk overlapping the square |dx|, |dz| <= radius around (x, z)."""
        for cx in range((x - radius) // CHUNK, (x + radius) // CHUNK + 1):
            for cz in range((z - radius) // CHUNK, (z + radius) // CHUNK + 1):
                self.chunk(cx, cz)

    def find_nearest(self, name: str, origin: Coord, radius: int) -> Coord | None:
        """The nearest block `name` (euclidean, ties by smallest x, then y, then z) with
        |dx|, |dz| <= radius of origin, at any y; None if there is none (or the name is not a
        block of the palette)."""
        found = self.find_near(name, origin, radius, 1)
        return found[0] if found else None

    def find_near(self, name: str, origin: Coord, radius: int, limit: int) -> list[Coord]:
        """Up to `limit` blocks `name` nearest to origin, in the order of `find_nearest`."""
        block = BLOCK_ID.get(name)
        if block is None:
            return []
        ox, oy, oz = origin
        found: list[NDArray[np.int64]] = []
        for cx in range((ox - radius) // CHUNK, (ox + radius) // CHUNK + 1):
            xa, xb = max(ox - radius, cx * CHUNK), min(ox + radius + 1, (cx + 1) * CHUNK)
            for cz in range((oz - radius) // CHUNK, (oz + radius) // CHUNK + 1):
                za, zb = max(oz - radius, cz * CHUNK), min(oz + radius + 1, (cz + 1) * CHUNK)
                sub = self.chunk(cx, cz)[
                    xa - cx * CHUNK : xb - cx * CHUNK, :, za - cz * CHUNK : zb - cz * CHUNK
                ]
                hx, hy, hz = np.nonzero(sub == block)
                if hx.size:
                    found.append(np.stack([hx + xa, hy, hz + za], axis=1))
        if not found:
            return []
        cells = np.concatenate(found)
        d2 = ((cells - np.array([ox, oy, oz])) ** 2).sum(axis=1)
        order = np.lexsort((cells[:, 2], cells[:, 1], cells[:, 0], d2))[:limit]
        return [(int(c[0]), int(c[1]), int(c[2])) for c in cells[order]]

    def count_near(
        self, origin: Coord, radius: int, *, exposed_only: bool = False
    ) -> dict[str, int]:
        """Counts of non-air blocks in the cube of half-width `radius` around origin (clipped to
        the world's height). With `exposed_only`, only blocks with a see-through face
        neighbour (air, water, leaves, plants, glass) count: what an agent could see."""
        ox, oy, oz = origin
        y0, y1 = max(oy - radius, 0), min(oy + radius + 1, HEIGHT)
        if y0 >= y1:
            return {}
        box = self.region(
            (ox - radius - 1, y0 - 1, oz - radius - 1), (ox + radius + 2, y1 + 1, oz + radius + 2)
        )
        inner = box[1:-1, 1:-1, 1:-1]
        if exposed_only:
            see = TRANSPARENT_LUT[box]
            exposed = (
                see[:-2, 1:-1, 1:-1]
                | see[2:, 1:-1, 1:-1]
                | see[1:-1, :-2, 1:-1]
                | see[1:-1, 2:, 1:-1]
                | see[1:-1, 1:-1, :-2]
                | see[1:-1, 1:-1, 2:]
            )
            ids = inner[exposed]
        else:
            ids = inner.ravel()
        counts = np.bincount(ids, minlength=len(BLOCKS))
        return {BLOCKS[i]: int(counts[i]) for i in np.flatnonzero(counts) if i != _AIR}

    # --------------------------------------------------------------------------- spawn
    def spawn_point(self) -> Coord:
        """A deterministic standing position on land near the origin, preferring trees nearby.

        Like Minecraft's spawn search: the closest open, dry grass (then any dry ground) column
        to the origin, among those with a tree trunk within `SPAWN_TREE_RADIUS` if any.
        """
        if self._spawn is not None:
            return self._spawn
        r = SPAWN_RADIUS
        box = self.region((-r, 0, -r), (r + 1, HEIGHT, r + 1))
        solid = SOLID_LUT[box]
        top = HEIGHT - 1 - np.argmax(solid[:, ::-1, :], axis=1)
        ix, iz = np.meshgrid(np.arange(2 * r + 1), np.arange(2 * r + 1), indexing="ij")
        ground = box[ix, top, iz]
        up1 = box[ix, np.minimum(top + 1, HEIGHT - 1), iz]
        up2 = box[ix, np.minimum(top + 2, HEIGHT - 1), iz]
        dry = _SPAWN_GROUND[ground] & _PASSABLE_LUT[up1] & _PASSABLE_LUT[up2]
        dry &= (top + 2 < HEIGHT) & (top >= SEA_LEVEL)
        trees: NDArray[np.bool_] = np.any(_LOG_LUT[box], axis=1)
        near_trees = _box_sum(trees, SPAWN_TREE_RADIUS) > 0
        grass = ground == BLOCK_ID["grass_block"]
        dist = (ix - r) ** 2 + (iz - r) ** 2
        for ok in (dry & grass & near_trees, dry & near_trees, dry & grass, dry):
            if ok.any():
                score = np.where(ok, dist, np.iinfo(np.int64).max)
                i, k = np.unravel_index(int(np.argmin(score)), score.shape)
                self._spawn = (int(i) - r, int(top[i, k]) + 1, int(k) - r)
                break
        else:
            log.warning("seed %d: no dry land within %d of the origin", self.seed, r)
            self._spawn = (0, self.stand_y(0, 0), 0)
        return self._spawn

    # -------------------------------------------------------------------------- memory
    def loaded_chunks(self) -> int:
        """How many chunks have been generated."""
        return len(self._chunks)

    def nbytes(self) -> int:
        """Bytes held by generated chunk arrays (blocks and biome maps)."""
        return sum(a.nbytes for a in self._chunks.values()) + sum(
            b.nbytes + g.nbytes
            for b, g in zip(self._biomes.values(), self._ground.values(), strict=True)
        )


def _box_sum(mask: NDArray[np.bool_], radius: int) -> NDArray[np.int64]:
    """For every cell of a 2-d mask, how many true cells lie within a square of `radius`."""
    n, m = mask.shape
    csum = np.zeros((n + 1, m + 1), dtype=np.int64)
    csum[1:, 1:] = mask.cumsum(axis=0).cumsum(axis=1)
    i = np.arange(n)
    k = np.arange(m)
    i0, i1 = np.clip(i - radius, 0, n)[:, None], np.clip(i + radius + 1, 0, n)[:, None]
    k0, k1 = np.clip(k - radius, 0, m)[None, :], np.clip(k + radius + 1, 0, m)[None, :]
    return csum[i1, k1] - csum[i0, k1] - csum[i1, k0] + csum[i0, k0]
