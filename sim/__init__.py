"""Worlds behind one subgoal-level interface, and their registry."""

from __future__ import annotations

from sim.base import World
from sim.envs import register_envs
from sim.registry import make, register, registered
from sim.schema import FailureCause, Goal, Outcome, Subgoal, Task, WorldState

register("craftworld/v1", "sim.craftworld.world:CraftWorld")
register_envs()

__all__ = [
    "FailureCause",
    "Goal",
    "Outcome",
    "Subgoal",
    "Task",
    "World",
    "WorldState",
    "make",
    "register",
    "registered",
]
