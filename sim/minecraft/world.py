"""minecraft/v1: real Minecraft (any Java server, offline mode) through a mineflayer sidecar.

The same verbs, item names (minecraft-data's) and `WorldState` fields as CraftWorld, and the
same facts, so the symbolic planner, diagnosis, condition signatures and guardrails work
unchanged, and knowledge distilled in CraftWorld is recalled here as it is.

Options (a suite's `world_options`, or `--option world.KEY=VALUE`):
    host, port, version, username   the server (offline mode; a vanilla or Paper server is
                                    the production target)
    start_server                    launch the bundled flying-squid on 127.0.0.1, a fresh
                                    world per episode (seeded trees; see `server.py`)
    trees, cook_ms                  that server's trees and the furnace pace of its plugin
    connect_timeout, subgoal_timeout, reconnect_tries   (seconds; tries)
    clear_inventory                 `/clear` at reset on a server that is not fresh (op)

A server that is down or refuses gives a `MinecraftConnectionError` naming host:port within
`connect_timeout` x `reconnect_tries`, never a hang; a lost connection is re-established
before the next subgoal, and the attempt it cut short fails with an honest trace.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, ClassVar

import numpy as np

from sim import events as ev
from sim.base import World
from sim.mcrules import checks
from sim.mcrules.attempt import Attempt, Failure
from sim.mcrules.facts import MinecraftRules, describe, interesting
from sim.mcrules.rules import Rules
from sim.minecraft import verbs
from sim.minecraft.server import LocalServer
from sim.minecraft.sidecar import Sidecar, SidecarDied, SidecarError, missing_reason
from sim.schema import FailureCause, Outcome, Subgoal, Task, WorldState

HELPERS = {
    "auto_equip": "the bot equips the best tool for each block before digging",
    "start_time": "the episode starts at this time of day (ticks; /time set)",
}
EVENT_CAUSES = {
    verbs.DISCONNECTED: FailureCause.UNKNOWN,  # the server or the sidecar went away
    "sidecar_error": FailureCause.UNKNOWN,
}
"""Trace events of this world's own, beyond `sim.events`, and the causes they are evidence of."""
TICK_MS = 50  # a server runs 20 ticks a second: an attempt's ticks are its wall time
FRESH_S = 2.0  # a state read this recently is what a subgoal starts from (saves a round trip)


class MinecraftConnectionError(ConnectionError):
    """No Minecraft server could be reached (or it refused the bot): names host:port."""


class MinecraftWorld(MinecraftRules, World):
    """A mineflayer bot on a Minecraft Java server, at the level of subgoals."""

    id: ClassVar[str] = "minecraft/v1"
    HELPERS: ClassVar[dict[str, str]] = HELPERS  # the module's table

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 25565,
        version: str = "1.16.5",
        username: str = "steve",
        start_server: bool = False,
        trees: int = 8,
        cook_ms: int = 10_000,
        connect_timeout: float = 15.0,
        subgoal_timeout: float = 120.0,
        reconnect_tries: int = 3,
        announce_ms: int = 750,
        clear_inventory: bool = True,
        subgoal_ticks: int = 6000,
    ) -> None:
        self.rules = Rules.load(version)
        self.host, self.port, self.version, self.username = host, port, version, username
        self.start_server, self.trees, self.cook_ms = start_server, trees, cook_ms
        self.connect_timeout, self.subgoal_timeout = connect_timeout, subgoal_timeout
        self.reconnect_tries, self.announce_ms = max(1, reconnect_tries), announce_ms
        self.clear_inventory, self.subgoal_ticks = clear_inventory, subgoal_ticks
        self.call_slack = 10.0  # seconds the Python side waits beyond a verb's own timeout
        self.server: LocalServer | None = None
        self.sidecar: Sidecar | None = None
        self.connected = False
        self.plugin: list[str] = []
        self.task: Task | None = None
        self.seed = 0
        self.tick = 0
        self.equipped: str | None = None
        self.auto_equip = False
        self._dead = False
        self.rpc_calls = 0
        self.verb_ms = 0.0  # what the last subgoal's verbs took inside Node (benchmarks)
        self.last = WorldState(world=self.id)
        self._last_at = 0.0
        self._watch = sorted(b for b in self.rules.blocks if interesting(b))

    # ---- the World interface (verbs, item_names, facts: `MinecraftRules`) ------------------
    def verb_targets(self) -> dict[str, tuple[str, ...]]:
        r = self.rules
        blocks = tuple(sorted(b for b in r.blocks if r.blocks[b].diggable and b != "air"))
        mobs = tuple(sorted(r.mob_loot))
        return {
            "explore": tuple(sorted((*blocks, *mobs))),
            "move_to": blocks,
            "mine": blocks,
            "craft": tuple(sorted(i for i in r.recipes if r.recipes[i])),
            "smelt": tuple(sorted(r.smelting)),
            "place": tuple(sorted(b for b in r.blocks if b in r.items and b != "air")),
            "equip": tuple(sorted(r.items)),
            "attack": mobs,
            "eat": tuple(sorted(r.foods)),
            "wait": ("seconds",),
        }

    def event_causes(self) -> dict[str, FailureCause]:
        return dict(EVENT_CAUSES)

    def reset(self, task: Task, seed: int) -> WorldState:
        checks.check_helpers(task, HELPERS)
        self.task, self.seed = task, seed
        self.tick, self.equipped, self._dead = 0, None, False
        self.auto_equip = bool(task.helpers.get("auto_equip", False))
        fresh = False
        if self.start_server:  # a fresh world per episode: trees grow back, seeds repeat
            self._disconnect()
            if self.server is not None:
                self.server.stop()
            self.server = LocalServer(version=self.version, seed=seed, trees=self.trees)
            self.server.cook_ms = self.cook_ms
            self.server.start()
            self.host, self.port, fresh = "127.0.0.1", self.server.port, True
        self.ensure()
        if not fresh and self.clear_inventory:
            self.command("/clear")
        for item, n in task.initial_inventory.items():
            self.command(f"/give {self.username} {item} {n}")
        if "start_time" in task.helpers:
            self.command(f"/time set {int(task.helpers['start_time'])}")
        self.last = self._await_inventory(task.initial_inventory)
        return self.last

    def execute(self, subgoal: Subgoal) -> Outcome:
        if self.task is None:
            raise RuntimeError("execute() before reset()")
        attempt = Attempt.start(subgoal, self.subgoal_ticks)
        cause, message = FailureCause.NONE, "ok"
        fail: Failure | None = None
        self.verb_ms = 0.0
        try:
            self.ensure()
            if time.monotonic() - self._last_at > FRESH_S:
                self.last = self.state()
            message = self._run(subgoal, attempt)
        except Failure as exc:
            fail, cause, message = exc, exc.cause, exc.message
        self._merge_events(attempt)
        if fail is not None:
            attempt.failed(fail)
        post = self._safe_state()
        return attempt.outcome(cause, message, post)

    def state(self) -> WorldState:
        raw = self.rpc("state", {"names": self._watch}, timeout=15.0)
        self._last_at = time.monotonic()
        inventory = {k: int(v) for k, v in sorted(raw["inventory"].items()) if v > 0}
        if self.equipped not in inventory:
            self.equipped = None
        return WorldState(
            world=self.id,
            tick=self.tick,
            inventory=inventory,
            equipped=self.equipped,
            durability=dict(sorted(raw["durability"].items())),
            position=tuple(raw["position"]),
            health=round(float(raw["health"]), 1),
            food=round(float(raw["food"]), 1),
            time_of_day=int(raw["time_of_day"]) % 24_000,
            nearby_blocks=dict(sorted(raw["nearby_blocks"].items())),
            nearby_entities=dict(sorted(raw["nearby_entities"].items())),
            dead=self._dead,
        )

    def goal_reached(self) -> bool:
        """The task's final condition holds (an item goal, or every item of an `all`)."""
        if self.task is None:
            return False
        return self.task.goal.final().held(lambda i: self.last.count(i))

    def render(self) -> np.ndarray:
        """The isometric 3D view CraftWorld draws (`sim.craftworld.iso`), of the blocks and
        mobs the bot sees around it (the sidecar's `region`); a card with the state in words
        where the server cannot be asked."""
        from sim.craftworld.iso import DOWN, UP, BlockBox, render_iso

        try:
            raw = self.rpc("region", {"radius": 11, "down": DOWN, "up": UP + 1}, timeout=15.0)
        except (SidecarError, SidecarDied, RuntimeError, OSError) as exc:
            return self._card(f"no view: {exc}")
        box = BlockBox.from_names(raw["origin"], raw["shape"], raw["names"], raw["cells"])
        mobs = [(str(m[0]), (int(m[1]), int(m[2]), int(m[3]))) for m in raw.get("mobs", [])]
        s = self.last
        return render_iso(box, s.position, mobs=mobs, time_of_day=s.time_of_day)

    def _card(self, note: str = "") -> np.ndarray:
        """The state in words, on a plain card."""
        from PIL import Image, ImageDraw

        img = Image.new("RGB", (320, 120), (32, 36, 44))
        draw = ImageDraw.Draw(img)
        words = [*self.describe().split("; "), note][:8]
        for i, line in enumerate(words):
            draw.text((6, 4 + 14 * i), line[:52], fill=(220, 220, 220))
        return np.asarray(img, dtype=np.uint8)

    def describe(self) -> str:
        s = self.last
        return describe(s, f"on {self.host}:{self.port}")

    def close(self) -> None:
        self._disconnect()
        if self.sidecar is not None:
            self.sidecar.close()
            self.sidecar = None
        if self.server is not None:
            self.server.stop()
            self.server = None

    # ---- the connection ---------------------------------------------------------------------
    def ensure(self) -> None:
        """A live sidecar connected to the server: (re)start and (re)connect as needed."""
        if self.sidecar is None or not self.sidecar.alive():
            reason = missing_reason()
            if reason is not None:
                raise MinecraftConnectionError(f"the minecraft/v1 world cannot run: {reason}")
            self.sidecar = Sidecar()
            self.sidecar.on_event = self._on_event
            self.connected = False
        if self.connected:
            return
        params = {
            "host": self.host,
            "port": self.port,
            "version": self.version,
            "username": self.username,
            "timeout_ms": int(self.connect_timeout * 1000),
            "announce_ms": self.announce_ms,
        }
        error = "no try"
        for n in range(self.reconnect_tries):
            if n:
                time.sleep(min(4.0, 0.5 * 2**n))
            try:
                info = self.rpc("connect", params, timeout=self.connect_timeout + 10)
            except SidecarError as exc:
                error = exc.message
                continue
            self.connected, self.plugin = True, list(info.get("plugin", []))
            return
        raise MinecraftConnectionError(
            f"cannot connect to a Minecraft server at {self.host}:{self.port} (version "
            f"{self.version}, user {self.username}, offline mode) within "
            f"{self.connect_timeout:g} s, {self.reconnect_tries} tries: {error}"
        )

    def rpc(self, method: str, params: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        if self.sidecar is None:
            raise SidecarDied("died", "no sidecar running")
        self.rpc_calls += 1
        try:
            return dict(self.sidecar.call(method, params, timeout=timeout))
        except SidecarDied:
            self.connected = False
            raise
        except SidecarError as exc:
            if exc.kind in ("not_connected", "connect"):
                self.connected = False
            raise

    def command(self, text: str) -> None:
        """A chat command as the bot (the server must let it: op or `everybody-op`)."""
        self.rpc("chat", {"message": text}, timeout=10.0)

    def find(self, block: str, radius: int) -> bool:
        found = self.rpc("find", {"block": block, "radius": radius, "count": 1}, timeout=10.0)
        return bool(found["positions"])

    # ---- helpers the verbs share ------------------------------------------------------------
    def subgoal_ms(self, att: Attempt) -> int:
        left = att.tick_limit - att.ticks
        return max(1000, min(left * TICK_MS, int(self.subgoal_timeout * 1000)))

    def account(self, att: Attempt, ms: float) -> None:
        self.verb_ms += ms
        ticks = round(ms / TICK_MS)
        att.ticks += ticks
        self.tick += ticks

    # ---- internals --------------------------------------------------------------------------
    def _run(self, subgoal: Subgoal, attempt: Attempt) -> str:
        if self.task is None:
            raise RuntimeError("execute() before reset()")
        if self.last.dead:
            raise checks.dead()
        if self.tick >= self.task.max_ticks:
            raise checks.out_of_ticks(self.task.max_ticks)
        handler = verbs.VERBS.get(subgoal.verb)
        if handler is None:
            raise checks.unknown_verb(subgoal.verb)
        return handler(self, subgoal, attempt) or "ok"

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("event") in ("end", "kicked"):
            self.connected = False
        elif event.get("event") == "death":
            self._dead = True

    def _merge_events(self, attempt: Attempt) -> None:
        """The sidecar's unsolicited events of this attempt, in the trace vocabulary."""
        if self.sidecar is None:
            return
        for event in self.sidecar.take_events():
            kind = event.get("event")
            if kind == "damage":
                attempt.log(ev.DAMAGE, source="unknown", damage=event.get("damage", 0))
            elif kind == "death":
                attempt.log(ev.DEATH, source=event.get("source", "unknown"))
            elif kind in ("end", "kicked"):
                attempt.log(verbs.DISCONNECTED, reason=event.get("reason", ""))

    def _safe_state(self) -> WorldState:
        try:
            self.ensure()
            self.last = self.state()
        except (SidecarError, MinecraftConnectionError):
            pass  # the failure is already in the trace; the next attempt reconnects
        return self.last

    def _await_inventory(self, want: dict[str, int], timeout: float = 5.0) -> WorldState:
        """The state once `/give` has reached the inventory (commands answer asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            if all(state.count(k) >= n for k, n in want.items()):
                return state
            if time.monotonic() > deadline:
                short = {k: n for k, n in want.items() if state.count(k) < n}
                raise MinecraftConnectionError(
                    f"the server at {self.host}:{self.port} did not give {short}: "
                    f"the bot must be an operator for /give"
                )
            time.sleep(0.1)

    def _disconnect(self) -> None:
        if self.sidecar is not None and self.sidecar.alive() and self.connected:
            with contextlib.suppress(SidecarError):
                self.sidecar.call("disconnect", {}, timeout=5.0)
        self.connected = False
