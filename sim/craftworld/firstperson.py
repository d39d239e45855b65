"""What the agent sees: a first-person RGB image of CraftWorld, drawn by casting rays.

Pure: terrain, position and facing in, image out. The camera stands at the agent's eyes (1.62
blocks above its feet, in the middle of its cell), looks the way it faces (one of four
directions, as the per-tick env turns) and a little down, and sees `distance` blocks.

The agent stands in the middle of a cell and faces one of four ways, so every ray crosses the
same cells, relative to the agent's, whatever the world: `Camera` walks each pixel's ray
through the grid once (Amanatides and Woo's traversal, for all rays at once) and keeps, per
facing, the cells each ray crosses in order, the face it enters each by and how far along it
is. Drawing an image is then a gather of the block ids along every ray from the box around
the agent, the first that is not air per ray, and its colour shaded by the face it shows and
faded by distance: a few numpy operations, no loop over pixels or steps.

Mobs are drawn as the cells they stand in (two high for the tall ones), hostile red and
passive pink; plants and torches as small blocks of their colour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from sim.craftworld.palette import BLOCK_ID
from sim.craftworld.render import (
    HOSTILE_COLOR,
    HOSTILE_MOBS,
    NIGHT,
    NIGHT_FACTOR,
    PALETTE,
    PASSIVE_COLOR,
    TALL_MOBS,
)
from sim.craftworld.terrain import Terrain

EYE = 1.62
"""Eye height above the feet, in blocks (Minecraft's)."""
FACING = ((0, 1), (1, 0), (0, -1), (-1, 0))
"""(dx, dz) for facing 0..3: +z, +x, -z, -x (the per-tick env's order)."""
SKY = np.array((120, 170, 230), dtype=np.float32)
HOSTILE_ID, PASSIVE_ID = 254, 253
"""Ids, outside the block palette, of cells a mob stands in."""
NEAR = 8
"""Cells each ray reads before only the rays that have hit nothing read on."""
FACE_SHADE = np.array((0.8, 1.0, 0.65), dtype=np.float32)
"""Brightness of a face crossed along x, y (tops and bottoms) and z."""

_AIR = BLOCK_ID["air"]
_PALETTE = PALETTE.copy()  # with the mobs' colours at their ids
_PALETTE[HOSTILE_ID] = HOSTILE_COLOR
_PALETTE[PASSIVE_ID] = PASSIVE_COLOR
_HAZE = SKY * 0.35  # what distance fades a block towards


class Camera:
    """First-person images of `size` (an int: square; or (width, height)) with a horizontal
    field of view of `fov` degrees, looking `pitch` degrees down, `distance` blocks far."""

    def __init__(
        self,
        size: int | tuple[int, int] = 64,
        fov: float = 70.0,
        pitch: float = 15.0,
        distance: int = 12,
    ) -> None:
        self.width, self.height = (size, size) if isinstance(size, int) else size
        if self.width < 1 or self.height < 1:
            raise ValueError(f"image size must be positive, got {size!r}")
        self.fov, self.pitch, self.distance = fov, pitch, distance
        self.reach, self.box_shape = _box(distance)
        self._rays = [self._cast(f) for f in range(4)]

    def render(
        self,
        terrain: Terrain,
        feet: tuple[int, int, int],
        facing: int,
        *,
        mobs: Sequence[tuple[str, tuple[int, int, int]]] = (),
        time_of_day: int = 6000,
    ) -> NDArray[np.uint8]:
        """The view from `feet` (the agent's cell) facing FACING[`facing`]: (height, width, 3)
        uint8."""
        x, y, z = feet
        lo = (x - self.reach, y - self.reach, z - self.reach)
        nx, ny, nz = self.box_shape
        box = terrain.region(lo, (lo[0] + nx, lo[1] + ny, lo[2] + nz))
        for kind, (mx, my, mz) in mobs:
            cell = (mx - lo[0], my - lo[1], mz - lo[2])
            if all(0 <= c < n for c, n in zip(cell, box.shape, strict=True)):
                mob = HOSTILE_ID if kind in HOSTILE_MOBS else PASSIVE_ID
                box[cell] = mob
                if kind in TALL_MOBS and cell[1] + 1 < box.shape[1]:
                    box[cell[0], cell[1] + 1, cell[2]] = mob
        return self.draw(box, facing, time_of_day)

    def draw(
        self, box: NDArray[np.uint8], facing: int, time_of_day: int = 6000
    ) -> NDArray[np.uint8]:
        """The view from a box of block ids (`box_shape`, the agent's feet at its centre
        column, `reach` cells from its bottom)."""
        cells, light = self._rays[facing % 4]
        flat = np.concatenate((box.reshape(-1), np.array([_AIR], dtype=box.dtype)))
        # the near cells of every ray first: most rays end there (the ground ahead), and only
        # the others read on (the last index, past the box, is air)
        near = min(NEAR, cells.shape[1])
        ids = flat[cells[:, :near]]
        hit = ids != _AIR
        first = hit.argmax(axis=1)
        rows = np.arange(len(first))
        seen = hit[rows, first]
        block = ids[rows, first]
        far = np.flatnonzero(~seen)
        if len(far) and near < cells.shape[1]:
            ids_far = flat[cells[far, near:]]
            hit_far = ids_far != _AIR
            step = hit_far.argmax(axis=1)
            got = hit_far[np.arange(len(far)), step]
            first[far] = np.where(got, near + step, first[far])
            seen[far] = got
            block[far] = np.where(got, ids_far[np.arange(len(far)), step], block[far])
        shade = light[rows, first][:, None]
        color = _PALETTE[block] * shade + _HAZE * (1.0 - shade)
        color[~seen] = SKY
        if NIGHT[0] <= time_of_day % 24000 < NIGHT[1]:
            color = color * NIGHT_FACTOR
        return np.clip(color, 0, 255).astype(np.uint8).reshape(self.height, self.width, 3)

    def _cast(self, facing: int) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
        """For each pixel's ray, the cells it crosses in order (flat indices into the box)
        and the light of each as seen (the face the ray enters it by, faded with distance);
        rays that end early (or leave the box) read the index past the box, which is air."""
        return _cast(self.width, self.height, self.fov, self.pitch, self.distance, facing)


def _box(distance: int) -> tuple[int, tuple[int, int, int]]:
    """(reach, shape) of the box around the agent read for a view `distance` blocks far: every
    cell a ray may cross, `reach` cells from the feet down and across, two more up."""
    r = distance + 2
    return r, (2 * r + 1, 2 * r + 3, 2 * r + 1)


@lru_cache(maxsize=16)
def _cast(
    width: int, height: int, fov: float, pitch: float, distance: int, facing: int
) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
    r, shape = _box(distance)
    fx, fz = FACING[facing]
    forward = np.array([fx, 0.0, fz])
    right = np.array([-fz, 0.0, fx])  # x east, z south, y up: right of +z is -x
    up = np.array([0.0, 1.0, 0.0])
    half_w = math.tan(math.radians(fov) / 2)
    half_h = half_w * height / width
    u = ((np.arange(width) + 0.5) / width * 2 - 1) * half_w
    v = (1 - (np.arange(height) + 0.5) / height * 2) * half_h
    uu, vv = np.meshgrid(u, v)  # rows of the image top to bottom
    tilt = math.radians(-pitch)
    ahead = forward * math.cos(tilt) + up * math.sin(tilt)
    above = up * math.cos(tilt) - forward * math.sin(tilt)
    d = ahead[None, :] + uu.reshape(-1, 1) * right[None, :] + vv.reshape(-1, 1) * above[None, :]
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    origin = np.array([0.5, EYE, 0.5])
    cell = np.floor(origin).astype(np.int64)[None, :].repeat(len(d), axis=0)
    step = np.where(d >= 0, 1, -1).astype(np.int64)
    with np.errstate(divide="ignore"):
        delta = np.where(d != 0, np.abs(1.0 / d), np.inf)
        first_edge = np.where(step > 0, cell + 1 - origin, origin - cell)
        t_max = np.where(d != 0, first_edge * delta, np.inf)
    steps = int(3 * distance + 3)
    cells = np.empty((len(d), steps, 3), dtype=np.int64)
    faces = np.empty((len(d), steps), dtype=np.int64)
    dist = np.empty((len(d), steps), dtype=np.float64)
    rows = np.arange(len(d))
    for s in range(steps):
        axis = np.argmin(t_max, axis=1)
        dist[:, s] = t_max[rows, axis]
        cell[rows, axis] += step[rows, axis]
        t_max[rows, axis] += delta[rows, axis]
        cells[:, s] = cell
        faces[:, s] = axis
    beyond = (dist > distance) | np.any(np.abs(cells[..., [0, 2]]) > r, axis=2)
    beyond |= (cells[..., 1] < -r) | (cells[..., 1] > r + 2)
    ix = cells[..., 0] + r
    iy = np.clip(cells[..., 1] + r, 0, shape[1] - 1)
    iz = cells[..., 2] + r
    flat = (ix * shape[1] + iy) * shape[2] + iz
    size = shape[0] * shape[1] * shape[2]
    flat = np.where(beyond, size, np.clip(flat, 0, size - 1))
    fade = np.clip(dist / distance, 0.0, 1.0) ** 1.5 * 0.7
    light = FACE_SHADE[faces] * (1.0 - fade)
    return flat.astype(np.intp), light.astype(np.float32)
