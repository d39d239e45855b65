"""Gymnasium environments over CraftWorld: a per-tick low-level env and the subgoal-level env.

Both follow the standard contract: `reset(*, seed, options)` calls `super().reset`, `step`
returns the 5-tuple, and all randomness comes from `self.np_random` (the world's seed is drawn
from it). The task is set at construction or per episode with `options={"task": Task}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sim.craftworld import actions as skills
from sim.craftworld.body import MOB_HEALTH, SECOND
from sim.craftworld.firstperson import Camera
from sim.craftworld.palette import BLOCK_ID, NATURAL, SOLID_LUT
from sim.craftworld.render import NIGHT
from sim.craftworld.world import CraftWorld
from sim.mcrules.attempt import Attempt, Failure
from sim.schema import Goal, Subgoal, Task

DEFAULT_TASK = Task(
    id="wooden_pickaxe",
    instruction="Craft a wooden pickaxe.",
    goal=Goal(item="wooden_pickaxe"),
    max_ticks=36_000,
)
MOVES = (
    "noop",
    "forward",
    "turn_left",
    "turn_right",
    "jump",
    "dig",
    "dig_down",
    "dig_up",
    "place",
    "attack",
    "eat",
)
CRAFTS = (
    "oak_planks",
    "birch_planks",
    "spruce_planks",
    "stick",
    "crafting_table",
    "wooden_pickaxe",
    "wooden_sword",
    "stone_pickaxe",
    "stone_sword",
    "furnace",
    "iron_pickaxe",
    "iron_sword",
    "diamond_pickaxe",
    "torch",
)
SMELTS = ("iron_ingot", "gold_ingot", "charcoal", "cooked_beef")
EQUIPS = (
    "wooden_pickaxe",
    "stone_pickaxe",
    "iron_pickaxe",
    "diamond_pickaxe",
    "wooden_sword",
    "stone_sword",
    "iron_sword",
    "crafting_table",
    "furnace",
    "cobblestone",
    "beef",
    "cooked_beef",
)
FACING = ((0, 1), (1, 0), (0, -1), (-1, 0))  # +z, +x, -z, -x
WALK_PER_TICK = 4.3 / SECOND  # blocks per tick at walking speed
VIEW = (9, 5, 9)  # x, y, z extent of the voxel observation around the agent


def _body_spaces(n_items: int) -> dict[str, spaces.Space[Any]]:
    return {
        "inventory": spaces.Box(0, 1 << 16, (n_items,), np.int32),
        "position": spaces.Box(-(1 << 24), 1 << 24, (3,), np.int32),
        "health": spaces.Box(-40.0, 20.0, (1,), np.float32),
        "food": spaces.Box(0.0, 20.0, (1,), np.float32),
        "time_of_day": spaces.Box(0, 23_999, (1,), np.int32),
    }


class _CraftEnv(gym.Env[dict[str, Any], Any]):
    """What both envs share: the world, the task, the item index and the body observation."""

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 20}  # noqa: RUF012

    def __init__(self, task: Task | None = None, render_mode: str | None = None) -> None:
        self.world = CraftWorld()
        self.task = task or DEFAULT_TASK
        self.render_mode = render_mode
        self.items = tuple(sorted(self.world.rules.items))
        self.item_index = {name: i for i, name in enumerate(self.items)}
        self._rewarded = False

    def _reset_world(self, seed: int | None, options: dict[str, Any] | None) -> None:
        super().reset(seed=seed)
        if options and "task" in options:
            self.task = options["task"]
        self.world.reset(self.task, int(self.np_random.integers(2**31 - 1)))
        self._rewarded = False

    def _body_obs(self) -> dict[str, np.ndarray]:
        w = self.world
        inv = np.zeros(len(self.items), np.int32)
        for item, n in w.inventory.items():
            inv[self.item_index[item]] = n
        return {
            "inventory": inv,
            "position": np.asarray(w.pos, np.int32),
            "health": np.asarray([max(-40.0, w.body.health)], np.float32),
            "food": np.asarray([w.body.food], np.float32),
            "time_of_day": np.asarray([w.time_of_day], np.int32),
        }

    def _reward(self) -> tuple[float, bool]:
        """+1 once, when the task's goal is first reached; the episode ends then or at death."""
        reached = self.world.goal_reached()
        reward = 1.0 if reached and not self._rewarded else 0.0
        self._rewarded |= reached
        return reward, reached or self.world.body.dead

    def render(self) -> Any:
        if self.render_mode == "rgb_array":
            return self.world.render()
        if self.render_mode == "ansi":
            return self.world.describe()
        return None


class CraftWorldEnv(_CraftEnv):
    """Per-tick primitive actions (20 ticks a second): move, turn, jump, dig, place, attack,
    eat, and one action per craft, smelt and equip target. Observation: a voxel window of
    block ids around the agent, its facing, and the body (inventory, position, health, food,
    time); with `pixels` (a size: 64, or (width, height)) also "rgb", what the agent sees
    (`sim.craftworld.firstperson`). Digging takes the Minecraft break time of the block with
    the equipped tool. `render_mode="rgb_array"` renders that first-person view (64x64 unless
    `pixels` says otherwise)."""

    def __init__(
        self,
        task: Task | None = None,
        render_mode: str | None = None,
        crafts: Sequence[str] = CRAFTS,
        smelts: Sequence[str] = SMELTS,
        equips: Sequence[str] = EQUIPS,
        pixels: int | tuple[int, int] | None = None,
    ) -> None:
        super().__init__(task, render_mode)
        self.pixels = pixels
        self.camera = Camera(pixels or 64) if pixels or render_mode == "rgb_array" else None
        self._view: np.ndarray | None = None
        self._view_key: tuple[Any, ...] | None = None
        self.actions = (
            *MOVES,
            *(f"craft:{i}" for i in crafts),
            *(f"smelt:{i}" for i in smelts),
            *(f"equip:{i}" for i in equips),
        )
        self.action_space = spaces.Discrete(len(self.actions))
        seen: dict[str, spaces.Space[Any]] = {}
        if pixels and self.camera is not None:
            shape = (self.camera.height, self.camera.width, 3)
            seen["rgb"] = spaces.Box(0, 255, shape, np.uint8)
        self.observation_space = spaces.Dict(
            {
                "voxels": spaces.Box(0, 255, VIEW, np.uint8),
                "facing": spaces.Discrete(4),
                **seen,
                **_body_spaces(len(self.items)),
            }
        )
        self._attempt = Attempt(Subgoal(verb="tick", target="world"), tick_limit=1 << 62)
        self.facing, self._walk, self._dig_ticks = 0, 0.0, 0
        self._dig_at: tuple[int, int, int] | None = None
        self._voxels: np.ndarray | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self._reset_world(seed, options)
        self.facing, self._walk, self._dig_at, self._dig_ticks = 0, 0.0, None, 0
        self._voxels, self._view_key = None, None
        return self._obs(), {}

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        w = self.world
        name = self.actions[int(action)]
        info: dict[str, Any] = {}
        try:
            self._act(name, info)
            self._attempt.trace.clear()
            w.pass_time(1, self._attempt, working=name != "noop")
        except Failure as fail:  # death or the episode's budget
            info["failure"] = fail.cause.value
        reward, terminated = self._reward()
        truncated = not terminated and w.tick >= self.task.max_ticks
        return self._obs(), reward, terminated, truncated, info

    # ---- the primitive actions --------------------------------------------------------------
    def _front(self, dy: int = 0) -> tuple[int, int, int]:
        dx, dz = FACING[self.facing]
        x, y, z = self.world.pos
        return (x + dx, y + dy, z + dz)

    def _solid(self, pos: tuple[int, int, int]) -> bool:
        return bool(SOLID_LUT[BLOCK_ID.get(self.world.terrain.get(*pos), 0)])

    def _act(self, name: str, info: dict[str, Any]) -> None:
        w = self.world
        if name == "noop":
            return
        if name == "forward" or name == "jump":
            self._walk += WALK_PER_TICK if name == "forward" else 1.0
            if self._walk >= 1.0:
                self._walk = 0.0
                self._move()
        elif name in ("turn_left", "turn_right"):
            self.facing = (self.facing + (1 if name == "turn_right" else 3)) % 4
        elif name.startswith("dig"):
            x, y, z = w.pos
            spot = {"dig_down": (x, y - 1, z), "dig_up": (x, y + 2, z)}.get(name)
            if spot is None:
                spot = self._front(1) if self._solid(self._front(1)) else self._front(0)
            self._dig(spot, info)
        elif name == "place":
            self._place(info)
        elif name == "attack":
            self._attack(info)
        elif name == "eat":
            food = w.rules.foods.get(w.equipped or "")
            if food is not None and w.inventory[w.equipped or ""] and w.body.food < 20:
                w.take(w.equipped or "", 1)
                w.body.food = min(20.0, w.body.food + food.food_points)
        else:
            verb, _, target = name.partition(":")
            self._skill(verb, target, info)

    def _move(self) -> None:
        """One block forward, stepping up one block (auto-jump) and falling to the ground."""
        w, t = self.world, self.world.terrain
        nx_, y, nz = self._front()
        if self._solid((nx_, y, nz)):
            if self._solid((nx_, y + 1, nz)) or self._solid((nx_, y + 2, nz)):
                return
            y += 1
        elif self._solid((nx_, y + 1, nz)):
            return
        while y > 1 and not self._solid((nx_, y - 1, nz)) and t.get(nx_, y - 1, nz) != "water":
            y -= 1
        w.pos = (nx_, y, nz)
        self._voxels = None

    def _dig(self, pos: tuple[int, int, int], info: dict[str, Any]) -> None:
        w = self.world
        block = w.terrain.get(*pos)
        if block in ("air", "water", "lava") or not w.rules.blocks[block].diggable:
            self._dig_at = None
            return
        if self._dig_at != pos:
            self._dig_at, self._dig_ticks = pos, 0
        self._dig_ticks += 1
        if self._dig_ticks < w.rules.dig_ticks(block, w.equipped):
            return
        w.set_block(pos, "air")
        self._dig_at, self._voxels = None, None
        if w.rules.can_harvest(block, w.equipped):
            for item, n in w.rules.drops(block, w.equipped, w.rng).items():
                w.give(item, n)
        w.wear(w.equipped, 1, self._attempt)
        info["dug"] = block

    def _place(self, info: dict[str, Any]) -> None:
        w, item = self.world, self.world.equipped
        spot = self._front()
        if item in BLOCK_ID and w.inventory[item] and w.terrain.get(*spot) in ("air", "grass"):
            w.set_block(spot, item)
            w.take(item, 1)
            self._voxels = None
            info["placed"] = item

    def _attack(self, info: dict[str, Any]) -> None:
        w = self.world
        fx, _, fz = self._front()
        for mob in w.body.mobs:
            mx, _, mz = mob.block_pos()
            if abs(mx - fx) <= 1 and abs(mz - fz) <= 1:
                kind = w.rules.tool_kind(w.equipped)
                damage = skills.WEAPON.get(kind or "", (1.0, 5))[0]
                mob.health -= damage
                if mob.health <= 0:
                    w.body.mobs.remove(mob)
                    for item, n in w.rules.mob_drops(mob.kind, w.rng).items():
                        w.give(item, n)
                    info["killed"] = mob.kind
                return

    def _skill(self, verb: str, target: str, info: dict[str, Any]) -> None:
        """Craft, smelt and equip reuse the subgoal executors for one unit: the same rules,
        stations, failures and time (crafting 10 ticks, smelting 200)."""
        attempt = Attempt(Subgoal(verb=verb, target=target), tick_limit=1 << 62)
        try:
            skills.ACTIONS[verb](self.world, attempt.subgoal, attempt)
            info[verb] = target
        except Failure as fail:
            info["failed"] = fail.cause.value

    def _obs(self) -> dict[str, Any]:
        if self._voxels is None:
            x, y, z = self.world.pos
            hx, _, hz = (v // 2 for v in VIEW)
            lo = (x - hx, y - 1, z - hz)
            self._voxels = self.world.terrain.region(
                lo, (lo[0] + VIEW[0], lo[1] + VIEW[1], lo[2] + VIEW[2])
            )
        obs = {"voxels": self._voxels.copy(), "facing": np.int64(self.facing)}
        if self.pixels:
            obs["rgb"] = self.first_person().copy()
        return {**obs, **self._body_obs()}

    def first_person(self) -> np.ndarray:
        """What the agent sees now, drawn again only where something in view may have changed
        (it moved or turned, a block changed, a mob moved, night fell or ended)."""
        w = self.world
        if self.camera is None:
            self.camera = Camera(64)
        mobs = tuple((m.kind, m.block_pos()) for m in w.body.mobs)
        night = NIGHT[0] <= w.time_of_day % 24000 < NIGHT[1]  # the renderer's night
        key = (w.pos, self.facing, w.terrain.edits, night, mobs)
        if key != self._view_key or self._view is None:
            self._view = self.camera.render(
                w.terrain, w.pos, self.facing, mobs=mobs, time_of_day=w.time_of_day
            )
            self._view_key = key
        return self._view

    def render(self) -> Any:
        if self.render_mode == "rgb_array":
            return self.first_person().copy()
        return super().render()


class CraftSubgoalEnv(_CraftEnv):
    """One step is one subgoal (verb, target, count), executed to completion or an honest
    failure. Observation: the body plus counts of the blocks within sight."""

    def __init__(
        self, task: Task | None = None, render_mode: str | None = None, max_count: int = 64
    ) -> None:
        super().__init__(task, render_mode)
        self.verbs = self.world.verbs
        self.targets = tuple(sorted({*self.world.rules.items, *NATURAL, *MOB_HEALTH}))
        self.action_space = spaces.Dict(
            {
                "verb": spaces.Discrete(len(self.verbs)),
                "target": spaces.Discrete(len(self.targets)),
                "count": spaces.Discrete(max_count, start=1),
            }
        )
        self.blocks = (*(b for b in NATURAL if b != "air"), "crafting_table", "furnace")
        self.observation_space = spaces.Dict(
            {
                "nearby": spaces.Box(0, 1 << 20, (len(self.blocks),), np.int32),
                **_body_spaces(len(self.items)),
            }
        )
        self.attempts = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self._reset_world(seed, options)
        self.attempts = 0
        return self._obs(), {"description": self.world.describe()}

    def subgoal(self, action: dict[str, Any]) -> Subgoal:
        return Subgoal(
            verb=self.verbs[int(action["verb"])],
            target=self.targets[int(action["target"])],
            count=int(action["count"]),
        )

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        outcome = self.world.execute(
            action if isinstance(action, Subgoal) else self.subgoal(action)
        )
        self.attempts += 1
        reward, terminated = self._reward()
        truncated = not terminated and (
            self.attempts >= self.task.max_subgoals or self.world.tick >= self.task.max_ticks
        )
        info = {
            "success": outcome.success,
            "cause": outcome.cause.value,
            "message": outcome.message,
        }
        return self._obs(), reward, terminated, truncated, info

    def _obs(self) -> dict[str, np.ndarray]:
        state = self.world.state()
        nearby = np.asarray([state.nearby_blocks.get(b, 0) for b in self.blocks], np.int32)
        return {"nearby": nearby, **self._body_obs()}


ENV_IDS = {"steve/CraftWorld-v1": CraftWorldEnv, "steve/CraftWorldSubgoal-v1": CraftSubgoalEnv}
