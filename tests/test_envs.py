"""The Gymnasium envs: the standard contract (check_env) and determinism, for every id."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import sim  # noqa: F401  (registers the env ids)
from sim.envs import ENVS
from sim.schema import Goal, Task

SHORT = Task(id="planks", instruction="Craft planks.", goal=Goal(item="oak_planks", count=4),
             max_ticks=400, max_subgoals=5)  # fmt: skip


@pytest.mark.parametrize("env_id", sorted(ENVS))
def test_check_env(env_id: str) -> None:
    env = gym.make(env_id, task=SHORT)
    check_env(env.unwrapped, skip_render_check=True)


def _rollout(env_id: str, seed: int, steps: int) -> list[tuple]:
    env = gym.make(env_id, task=SHORT)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    out = [("reset", _flat(obs))]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        out.append((_flat(obs), reward, terminated, truncated, sorted(info.items())))
        if terminated or truncated:
            obs, _ = env.reset()
            out.append(("reset", _flat(obs)))
    return out


def _flat(obs: dict) -> bytes:
    return b"".join(np.asarray(obs[k]).tobytes() for k in sorted(obs))


@pytest.mark.parametrize(("env_id", "steps"), [("steve/CraftWorld-v1", 300),
                                                ("steve/CraftWorldSubgoal-v1", 12)])  # fmt: skip
def test_two_envs_same_seed_same_rollout(env_id: str, steps: int) -> None:
    assert _rollout(env_id, 3, steps) == _rollout(env_id, 3, steps)
    assert _rollout(env_id, 3, steps) != _rollout(env_id, 4, steps)


def test_low_level_digs_a_log_with_bare_hands() -> None:
    env = gym.make("steve/CraftWorld-v1").unwrapped
    obs, _ = env.reset(seed=0)
    w = env.world
    x, y, z = w.pos
    w.terrain.set(x, y + 1, z + 1, "oak_log")  # a log in front, at head height (facing +z)
    dig = env.actions.index("dig")
    for _ in range(w.rules.dig_ticks("oak_log", None)):
        obs, *_ = env.step(dig)
    assert obs["inventory"][env.item_index["oak_log"]] == 1
    obs, *_ = env.step(env.actions.index("craft:oak_planks"))
    assert obs["inventory"][env.item_index["oak_planks"]] == 4


def test_rgb_and_text_render() -> None:
    env = gym.make("steve/CraftWorldSubgoal-v1", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    text = gym.make("steve/CraftWorldSubgoal-v1", render_mode="ansi")
    text.reset(seed=0)
    assert "inventory" in text.render()
