"""Condition signatures and world cells: the keys the experience store indexes tuples by.

A condition signature is a canonical hash of the symbolic facts that matter (`has:stick`,
`pickaxe>=stone`, `near:crafting_table`, ...): equal fact sets give equal signatures in any
order. A world cell is a 16x16 column of the world (x, z), taken from a state's position, so
tuples can be looked up by where they happened and what happened nearby.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

CELL_SIZE = 16
_MASK32 = 0xFFFFFFFF


def canonical(facts: Iterable[str]) -> list[str]:
    """Facts sorted and de-duplicated: the canonical form a signature is taken of."""
    return sorted(set(facts))


def signature(facts: Iterable[str]) -> str:
    """A short stable hash of a fact set; equal sets give equal signatures in any order."""
    return signature_of_canonical(canonical(facts))


def signature_of_canonical(facts: list[str]) -> str:
    """`signature` of facts already in canonical form (skips sorting them again)."""
    return hashlib.blake2b("\n".join(facts).encode(), digest_size=8).hexdigest()


def signature_int(sig: str) -> int:
    """The signature as a signed 64-bit integer (how SQLite stores it compactly)."""
    value = int(sig, 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def signature_hex(value: int) -> str:
    """The inverse of `signature_int`."""
    return f"{value & ((1 << 64) - 1):016x}"


def cell_of(position: tuple[int, int, int] | tuple[float, float, float]) -> tuple[int, int]:
    """The world cell (16x16 column) of a position `(x, y, z)`."""
    return (int(position[0]) // CELL_SIZE, int(position[2]) // CELL_SIZE)


def pack_cell(cell: tuple[int, int]) -> int:
    """A cell as one signed 64-bit integer, so one SQLite index covers it."""
    cx, cz = cell
    return (cx << 32) | (cz & _MASK32)


def unpack_cell(value: int) -> tuple[int, int]:
    cz = value & _MASK32
    return (value >> 32, cz - (1 << 32) if cz >= 1 << 31 else cz)


def neighbourhood(cell: tuple[int, int], radius: int = 1) -> list[tuple[int, int]]:
    """The cells within `radius` (Chebyshev distance) of `cell`, nearest rings first."""
    cx, cz = cell
    out = [
        (cx + dx, cz + dz) for dx in range(-radius, radius + 1) for dz in range(-radius, radius + 1)
    ]
    return sorted(out, key=lambda c: (max(abs(c[0] - cx), abs(c[1] - cz)), c))
