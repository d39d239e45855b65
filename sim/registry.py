"""Worlds by versioned id (`craftworld/v1`), looked up, never chosen by if/elif."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import Any

from sim.base import World

_REGISTRY: dict[str, str | Callable[..., World]] = {}


class UnknownWorldError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def register(world_id: str, entry_point: str | Callable[..., World]) -> None:
    """Register a world factory under a versioned id; `entry_point` may be `module:attr`
    so that heavy worlds are imported only when made."""
    if "/" not in world_id:
        raise ValueError(f"world id {world_id!r} must be versioned, like 'name/v1'")
    _REGISTRY[world_id] = entry_point


def registered() -> list[str]:
    return sorted(_REGISTRY)


def entry_point(world_id: str) -> Callable[..., World]:
    """The class (or factory) that makes a world, imported but not called: its parameters are
    the world's options and its `HELPERS` the help it gives, so a run's settings are checked
    before anything is made. An unknown id names the closest registered ones."""
    try:
        entry = _REGISTRY[world_id]
    except KeyError:
        close = difflib.get_close_matches(world_id, _REGISTRY, n=3, cutoff=0.3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownWorldError(
            f"unknown world {world_id!r}{hint} (registered: {', '.join(registered())})"
        ) from None
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
    return entry


def make(world_id: str, **options: Any) -> World:
    """Build a world by id; an unknown id names the closest registered ones."""
    return entry_point(world_id)(**options)


# worlds whose heavy dependencies are extras: their modules load only when one is made
register("alfworld/v1", "sim.alfworld.world:AlfWorld")
register("minecraft/v1", "sim.minecraft.world:MinecraftWorld")
