"""Coordinate hashing and value noise: random fields that are pure functions of world coordinates.

World generation uses these instead of stateful generators wherever a value must agree across
chunk borders (heights, biomes, caves that cross chunks): a field evaluated at a world
coordinate gives the same number whichever chunk asks, in whatever order.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

_MASK64 = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_K1 = np.uint64(0xBF58476D1CE4E5B9)
_K2 = np.uint64(0x94D049BB133111EB)
_S27, _S30, _S31, _S11 = (np.uint64(s) for s in (27, 30, 31, 11))
_TO_UNIT = 2.0**-53

FloatArray = NDArray[np.float64]


def _mix(h: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """The splitmix64 finalizer: a bijective avalanche on 64-bit words (wraps silently)."""
    h = h ^ (h >> _S30)
    h = h * _K1
    h = h ^ (h >> _S27)
    h = h * _K2
    return h ^ (h >> _S31)


def _mix_int(h: int) -> int:
    """`_mix` on a Python int (cheaper than numpy for a single word)."""
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _MASK64
    return h ^ (h >> 31)


def hash_u64(seed: int, salt: int, *coords: ArrayLike) -> NDArray[np.uint64]:
    """A 64-bit hash of (seed, salt, coords...), broadcast over the coordinate arrays.

    The start value is a 1-element array (not a scalar) so numpy wraps on overflow silently,
    as it does for arrays; the result has the broadcast shape of the coordinates (at least 1-d).
    """
    h = np.array([_mix_int((seed * 0x9E3779B97F4A7C15 + salt) & _MASK64)], dtype=np.uint64)
    for c in coords:
        c64 = np.asarray(c, dtype=np.int64).astype(np.uint64)
        h = _mix(h ^ (c64 * _GOLDEN))
    return h


def uniform(seed: int, salt: int, *coords: ArrayLike) -> FloatArray:
    """A uniform float in [0, 1) per coordinate tuple, from `hash_u64`."""
    return (hash_u64(seed, salt, *coords) >> _S11).astype(np.float64) * _TO_UNIT


def int_seed(seed: int, salt: int, *coords: int) -> int:
    """A Python int seed for a numpy Generator, derived from (seed, salt, coords)."""
    return int(hash_u64(seed, salt, *coords)[0])


def value2(seed: int, salt: int, x: FloatArray, z: FloatArray, scale: float) -> FloatArray:
    """Smooth 2-d value noise in [0, 1) with lattice spacing `scale` (in blocks).

    `x` and `z` are world coordinates that broadcast against each other; lattice values are
    hashed from integer lattice coordinates, so any region computes the same field.
    """
    fx = np.asarray(x, dtype=np.float64) / scale
    fz = np.asarray(z, dtype=np.float64) / scale
    x0 = np.floor(fx)
    z0 = np.floor(fz)
    tx = fx - x0
    tz = fz - z0
    # Smoothstep fade: continuous first derivative, so slopes have no creases at lattice lines.
    tx = tx * tx * (3.0 - 2.0 * tx)
    tz = tz * tz * (3.0 - 2.0 * tz)
    ix = x0.astype(np.int64)
    iz = z0.astype(np.int64)
    if ix.ndim == 2 and ix.shape[1] == 1 and iz.ndim == 2 and iz.shape[0] == 1:
        # A grid (x down axis 0, z along axis 1), as chunks ask for: hash each lattice point
        # once into a small table, then interpolate along x on the table and along z after.
        x_lo, x_hi = int(ix.min()), int(ix.max())
        z_lo, z_hi = int(iz.min()), int(iz.max())
        table = uniform(
            seed, salt, np.arange(x_lo, x_hi + 2)[:, None], np.arange(z_lo, z_hi + 2)[None, :]
        )
        ax = ix[:, 0] - x_lo
        rows = table[ax] + (table[ax + 1] - table[ax]) * tx
        az = iz[0] - z_lo
        a = rows[:, az]
        b = rows[:, az + 1]
    else:
        v00 = uniform(seed, salt, ix, iz)
        v10 = uniform(seed, salt, ix + 1, iz)
        v01 = uniform(seed, salt, ix, iz + 1)
        v11 = uniform(seed, salt, ix + 1, iz + 1)
        a = v00 + (v10 - v00) * tx
        b = v01 + (v11 - v01) * tx
    return a + (b - a) * tz


def fbm2(
    seed: int, salt: int, x: FloatArray, z: FloatArray, scale: float, octaves: int
) -> FloatArray:
    """Fractal (multi-octave) value noise in [-1, 1]: coarse shape plus finer detail.

    Each octave halves the scale and the amplitude; the sum is normalised by the total
    amplitude, so values concentrate around 0 (most land is near the mean).
    """
    total = np.zeros(np.broadcast_shapes(np.shape(x), np.shape(z)), dtype=np.float64)
    amp = 1.0
    norm = 0.0
    for octave in range(octaves):
        total = total + amp * (2.0 * value2(seed, salt + 7919 * octave, x, z, scale) - 1.0)
        norm += amp
        amp *= 0.5
        scale *= 0.5
    return total / norm


def sin_poly(theta: FloatArray) -> FloatArray:
    """sin(theta) to ~1e-9 from + - * / and floor only.

    numpy's own sin and exp may take SIMD paths that differ in the last bit between CPUs; world
    generation uses this instead so a seed gives the same world on every machine.
    """
    t = np.asarray(theta, dtype=np.float64)
    t = t - (2.0 * np.pi) * np.floor((t + np.pi) / (2.0 * np.pi))  # into [-pi, pi)
    t = np.where(t > 0.5 * np.pi, np.pi - t, np.where(t < -0.5 * np.pi, -np.pi - t, t))
    t2 = t * t
    # Taylor series to t^13, Horner form; on [-pi/2, pi/2] the error is below 1e-9.
    poly = 1.0 + t2 * (
        -1 / 6
        + t2
        * (1 / 120 + t2 * (-1 / 5040 + t2 * (1 / 362880 + t2 * (-1 / 39916800 + t2 / 6227020800))))
    )
    return t * poly


def cos_poly(theta: FloatArray) -> FloatArray:
    """cos(theta), machine-independent like `sin_poly`."""
    return sin_poly(np.asarray(theta, dtype=np.float64) + 0.5 * np.pi)


def smoothstep(lo: float, hi: float, v: FloatArray) -> FloatArray:
    """0 below `lo`, 1 above `hi`, a smooth ramp between (`lo > hi` ramps the other way)."""
    t = np.clip((v - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
