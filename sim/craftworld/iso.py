"""An isometric 3D view of CraftWorld around the agent: terrain and positions in, image out.

Pure: no window, no state. The blocks within `radius` of the agent (and from `DOWN` below its
feet to `UP` above them) are drawn as shaded cubes seen from the south-east and above: tops
lit, south faces a little darker, east faces darker still, so relief, cliffs and holes read
at a glance. The box is cut at its south and east sides and shows what lies there in section
(stone, ores, caves), like a diorama. Plants and torches are drawn as small upright marks,
mobs as figures (hostile red, passive pink), the agent as a yellow figure drawn last so that
nothing hides it, with an arrow for its facing where it has one.

Underground (a solid block above the agent's head) the view is cut at the agent's head, as
the top-down map is, so the tunnels and caves it stands in show from above.

Drawing is a painter's algorithm by layers: blocks whose x + y + z are equal never overlap on
screen in this projection, so each layer is one fancy-indexed assignment, back to front.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from sim.craftworld.palette import BLOCK_ID, HEIGHT, PLANTS
from sim.craftworld.render import (
    AGENT_COLOR,
    HOSTILE_COLOR,
    HOSTILE_MOBS,
    NIGHT,
    NIGHT_FACTOR,
    PALETTE,
    PASSIVE_COLOR,
    TALL_MOBS,
    Voxels,
    under_cover,
)

TILE = 8
"""Half a block's width on screen, in pixels (a block's sprite is 2*TILE square)."""
DOWN, UP = 8, 12
"""Layers drawn below and above the agent's feet."""
BACKGROUND = (26, 30, 40)
SKY = (120, 170, 230)

_AIR = BLOCK_ID["air"]
UNKNOWN_ID = 255
"""The id a block the CraftWorld palette lacks gets in a `BlockBox` (drawn grey)."""
_FLAT = PLANTS
"""Blocks drawn as a small upright mark, not a cube; the blocks behind them show through."""
_FLAT_LUT = np.zeros(256, dtype=bool)
_FLAT_LUT[[BLOCK_ID[n] for n in _FLAT if n in BLOCK_ID]] = True
CLEAR = _FLAT_LUT.copy()
CLEAR[_AIR] = True
"""Block id -> whether a block's face beside it can be seen (air, plants, torches)."""


@lru_cache(maxsize=4)
def _cube(t: int) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]:
    """A cube's sprite as pixel offsets (rows, cols) and the shade of each pixel: the top
    diamond lit (its rim darker, so blocks read apart), the south face 0.78, the east 0.6."""
    py, px = np.mgrid[0 : 2 * t, 0 : 2 * t].astype(np.float32) + 0.5
    across = np.abs(px - t) / t
    top = across + np.abs(py - t / 2) / (t / 2) <= 1.0
    upper = t / 2 * across
    lower = t / 2 + t / 2 * (1 - across) + t
    cube = (py >= upper) & (py <= lower)
    shade = np.where(top, 1.0, np.where(px < t, 0.78, 0.6)).astype(np.float32)
    rim = top & (across + np.abs(py - t / 2) / (t / 2) > 1.0 - 1.6 / t)
    edge = cube & ~top & ((py > lower - 1.0) | (np.abs(px - t) < 0.6))
    shade = np.where(rim | edge, shade * 0.82, shade)
    rows, cols = np.nonzero(cube)
    return rows, cols, shade[rows, cols]


@lru_cache(maxsize=4)
def _mark(t: int) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]:
    """A plant's or torch's sprite: a narrow upright bar in the middle of its cell."""
    py, px = np.mgrid[0 : 2 * t, 0 : 2 * t].astype(np.float32) + 0.5
    bar = (np.abs(px - t) < max(1.0, t / 4)) & (py > t * 0.75) & (py < t * 1.5)
    rows, cols = np.nonzero(bar)
    return rows, cols, np.ones(len(rows), dtype=np.float32)


def image_size(radius: int, tile: int = TILE) -> tuple[int, int]:
    """(width, height) of the view of a given radius."""
    side = 2 * radius + 1
    width = 2 * side * tile
    return width, width * 3 // 4 + (DOWN + UP) * tile // 2


def render_iso(
    terrain: Voxels,
    agent: tuple[int, int, int],
    radius: int = 11,
    *,
    mobs: Sequence[tuple[str, tuple[int, int, int]]] = (),
    time_of_day: int = 6000,
    facing: tuple[int, int] | None = None,
    cutaway: bool | None = None,
    tile: int = TILE,
) -> NDArray[np.uint8]:
    """An RGB image (`image_size(radius, tile)`) of the blocks around `agent`, the agent's
    feet at the centre. `cutaway` None: cut at the head only when the agent is under cover."""
    ax, ay, az = agent
    t = tile
    width, height = image_size(radius, t)
    if cutaway is None:
        cutaway = under_cover(terrain, agent)
    y0 = max(0, ay - DOWN)
    y1 = min(HEIGHT, ay + 2 if cutaway else ay + UP)
    lo = (ax - radius, y0, az - radius)
    box = terrain.region(lo, (ax + radius + 1, y1, az + radius + 1))
    solid = box != _AIR
    clear = CLEAR[box]
    # a block is drawn if a face towards the viewer (up, south, east) is open, or lies on the
    # box's cut (its top, south or east side)
    open_face = np.zeros_like(solid)
    open_face[:, -1, :] = True
    open_face[-1, :, :] = True
    open_face[:, :, -1] = True
    open_face[:, :-1, :] |= clear[:, 1:, :]
    open_face[:-1, :, :] |= clear[1:, :, :]
    open_face[:, :, :-1] |= clear[:, :, 1:]
    bx, by, bz = np.nonzero(solid & open_face)
    ids = box[bx, by, bz]
    # screen position of each block's sprite (top-left), the agent's feet at the centre
    gx, gy, gz = bx + lo[0] - ax, by + lo[1] - ay, bz + lo[2] - az
    ox, oy = width // 2 - t, height // 2 - t - t // 2
    sx = (gx - gz) * t + ox
    sy = (gx + gz) * (t // 2) - gy * t + oy
    img = np.empty((height, width, 3), dtype=np.float32)
    img[...] = np.array(BACKGROUND if cutaway else SKY, dtype=np.float32)
    # a little variety per block, stable in the world, so that flat ground reads as blocks
    wx, wy, wz = gx + ax, gy + ay, gz + az
    jitter = 1.0 + 0.05 * (((wx * 73856093) ^ (wy * 19349663) ^ (wz * 83492791)) % 5 - 2) / 2
    flat = _FLAT_LUT[ids]
    # depth below the agent darkens a little (caves and the section read as deep)
    depth = np.clip(1.0 + 0.03 * np.minimum(gy, 0), 0.7, 1.0)
    base = PALETTE[ids] * (jitter * depth)[:, None].astype(np.float32)
    key = bx + by + bz
    order = np.argsort(key, kind="stable")
    bounds = np.searchsorted(key[order], np.arange(key.max() + 2 if len(key) else 1))
    figures = _figures(mobs, agent, lo, t, ox, oy)
    cube, mark = _cube(t), _mark(t)
    for k in range(len(bounds) - 1):
        layer = order[bounds[k] : bounds[k + 1]]
        for sprite, which in ((cube, layer[~flat[layer]]), (mark, layer[flat[layer]])):
            if len(which):
                _blit(img, sx[which], sy[which], base[which], sprite)
        for fig in figures.get(k, ()):
            _figure(img, *fig)
    agent_fig = _agent_figure(agent, lo, t, ox, oy)
    _figure(img, *agent_fig, outline=True)
    if facing is not None:
        _arrow(img, agent_fig[0], agent_fig[1], facing, t)
    if NIGHT[0] <= time_of_day % 24000 < NIGHT[1]:
        img *= NIGHT_FACTOR
    return np.clip(img, 0, 255).astype(np.uint8)


class BlockBox:
    """A box of block ids (the CraftWorld palette) at `origin`, answering `region` as a
    `Terrain` does: what the views draw from a world that is not CraftWorld's (a Minecraft
    server's blocks around its bot). Outside the box: air."""

    def __init__(self, origin: tuple[int, int, int], ids: NDArray[np.uint8]) -> None:
        self.origin, self.ids = origin, ids

    @classmethod
    def from_names(
        cls, origin: Sequence[int], shape: Sequence[int], names: Sequence[str], cells: Sequence[int]
    ) -> BlockBox:
        """From block names (a palette and an index per cell, x then y then z); a name the
        CraftWorld palette lacks is drawn grey."""
        lut = np.array([BLOCK_ID.get(n, UNKNOWN_ID) for n in names], dtype=np.uint8)
        ids = lut[np.asarray(cells, dtype=np.int64)].reshape(tuple(shape))
        x, y, z = origin
        return cls((int(x), int(y), int(z)), ids)

    def region(self, lo: tuple[int, int, int], hi: tuple[int, int, int]) -> NDArray[np.uint8]:
        out = np.full(tuple(b - a for a, b in zip(lo, hi, strict=True)), _AIR, dtype=np.uint8)
        src = [
            slice(max(lo[i], self.origin[i]), min(hi[i], self.origin[i] + self.ids.shape[i]))
            for i in range(3)
        ]
        if all(s.start < s.stop for s in src):
            dst = tuple(slice(s.start - lo[i], s.stop - lo[i]) for i, s in enumerate(src))
            out[dst] = self.ids[
                tuple(
                    slice(s.start - self.origin[i], s.stop - self.origin[i])
                    for i, s in enumerate(src)
                )
            ]
        return out


def _blit(
    img: NDArray[np.float32],
    sx: NDArray[np.int64],
    sy: NDArray[np.int64],
    colors: NDArray[np.float32],
    sprite: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]],
) -> None:
    """Sprites of one layer (which do not overlap) at (sx, sy), each in its colour."""
    rows, cols, shade = sprite
    r = sy[:, None] + rows[None, :]
    c = sx[:, None] + cols[None, :]
    inside = (r >= 0) & (r < img.shape[0]) & (c >= 0) & (c < img.shape[1])
    vals = colors[:, None, :] * shade[None, :, None]
    img[r[inside], c[inside]] = vals[inside]


def _screen(
    pos: tuple[int, int, int],
    lo: tuple[int, int, int],
    agent: tuple[int, int, int],
    t: int,
    ox: int,
    oy: int,
) -> tuple[int, int]:
    """Where the middle of a cell's floor lies on screen."""
    gx, gy, gz = pos[0] - agent[0], pos[1] - agent[1], pos[2] - agent[2]
    sx = (gx - gz) * t + ox + t
    sy = (gx + gz) * (t // 2) - gy * t + oy + t // 2 + t
    return sx, sy


Figure = tuple[int, int, int, int, tuple[int, int, int]]  # feet x, feet y, width, height, colour


def _figures(
    mobs: Sequence[tuple[str, tuple[int, int, int]]],
    agent: tuple[int, int, int],
    lo: tuple[int, int, int],
    t: int,
    ox: int,
    oy: int,
) -> dict[int, list[Figure]]:
    """Each mob's figure, by the layer after which it is drawn (its head's)."""
    out: dict[int, list[Figure]] = {}
    hi = (lo[0] + 2 * (agent[0] - lo[0]), lo[1] + DOWN + UP, lo[2] + 2 * (agent[2] - lo[2]))
    for kind, pos in mobs:
        if not all(lo[i] <= pos[i] <= hi[i] for i in range(3)):
            continue  # out of the box: not drawn floating in the sky
        hostile = kind in HOSTILE_MOBS
        tall = kind in TALL_MOBS
        color = tuple(int(v) for v in (HOSTILE_COLOR if hostile else PASSIVE_COLOR))
        fx, fy = _screen(pos, lo, agent, t, ox, oy)
        w, h = (max(3, t * 3 // 4), 2 * t - 2) if tall else (t, t - 1)
        k = (pos[0] - lo[0]) + (pos[1] - lo[1]) + (pos[2] - lo[2]) + (1 if tall else 0)
        out.setdefault(k, []).append((fx, fy, w, h, color))  # type: ignore[arg-type]
    return out


def _agent_figure(
    agent: tuple[int, int, int], lo: tuple[int, int, int], t: int, ox: int, oy: int
) -> Figure:
    fx, fy = _screen(agent, lo, agent, t, ox, oy)
    color = tuple(int(v) for v in AGENT_COLOR)
    return fx, fy, max(3, t * 3 // 4), 2 * t - 2, color  # type: ignore[return-value]


def _figure(
    img: NDArray[np.float32],
    fx: int,
    fy: int,
    w: int,
    h: int,
    color: tuple[int, int, int],
    outline: bool = False,
) -> None:
    """An upright figure standing at (fx, fy): a body in its colour, a lighter head, a dark
    outline (a thicker one for the agent)."""
    left, top = fx - w // 2, fy - h
    pad = 2 if outline else 1
    _rect(img, left - pad, top - pad, w + 2 * pad, h + 2 * pad, (10, 10, 14))
    _rect(img, left, top, w, h, color)
    head = max(2, h // 4)
    light = tuple(min(255, int(c * 0.6 + 100)) for c in color)
    _rect(img, left, top, w, head, light)  # type: ignore[arg-type]


def _rect(
    img: NDArray[np.float32], x: int, y: int, w: int, h: int, color: tuple[int, int, int]
) -> None:
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(img.shape[1], x + w), min(img.shape[0], y + h)
    if x0 < x1 and y0 < y1:
        img[y0:y1, x0:x1] = color


def _arrow(img: NDArray[np.float32], fx: int, fy: int, facing: tuple[int, int], t: int) -> None:
    """A short line from the agent's feet the way it faces ((dx, dz) in blocks)."""
    dx, dz = facing
    ex, ey = fx + (dx - dz) * t, fy + (dx + dz) * (t // 2)
    steps = max(abs(ex - fx), abs(ey - fy), 1)
    for i in range(steps + 1):
        x = round(fx + (ex - fx) * i / steps)
        y = round(fy + (ey - fy) * i / steps)
        _rect(img, x - 1, y - 1, 3, 3, (255, 255, 255))
