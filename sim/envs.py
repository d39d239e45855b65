"""Gymnasium registration of the worlds' envs, by versioned id.

import gymnasium as gym
import sim  # registers the ids below
env = gym.make("steve/CraftWorld-v1")          # per-tick primitive actions
env = gym.make("steve/CraftWorldSubgoal-v1")   # one subgoal per step
"""

from __future__ import annotations

import gymnasium

ENVS = {
    "steve/CraftWorld-v1": "sim.craftworld.envs:CraftWorldEnv",
    "steve/CraftWorldSubgoal-v1": "sim.craftworld.envs:CraftSubgoalEnv",
}


def register_envs() -> None:
    """Register every env id (entry points are imported only when an env is made)."""
    for env_id, entry_point in ENVS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(env_id, entry_point=entry_point)
