"""minecraft/v1: real Minecraft through the mineflayer sidecar.

The first tests need no Node: the world's facts and rule-level failures are CraftWorld's to
the letter (a fake sidecar answers). The ones marked `minecraft` start the bundled flying-squid
server and the sidecar; they skip cleanly where node or the sidecar's packages are missing
(`make install-minecraft`) and run in `make test-optional`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sim
from agent.diagnosis import observed
from sim.craftworld.world import CraftWorld
from sim.minecraft.sidecar import Sidecar, SidecarError, missing_reason
from sim.minecraft.world import MinecraftConnectionError, MinecraftWorld
from sim.schema import FailureCause, Goal, Subgoal, Task, WorldState

ROOT = Path(__file__).resolve().parents[1]
needs_node = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))


def _task(goal: str = "wooden_pickaxe", **kw: Any) -> Task:
    return Task(id="t", instruction="x", goal=Goal(item=goal), **kw)


class FakeSidecarWorld(MinecraftWorld):
    """The world with its sidecar replaced by canned answers: for rule-level behaviour."""

    def __init__(self, inventory: dict[str, int], near: dict[str, int] | None = None) -> None:
        super().__init__()
        self.inv, self.near, self.calls = dict(inventory), dict(near or {}), []

    def ensure(self) -> None:
        self.connected = True

    def rpc(self, method: str, params: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        self.calls.append(method)
        if method == "state":
            return {
                "inventory": self.inv,
                "durability": {},
                "position": [0, 5, 0],
                "health": 20,
                "food": 20,
                "time_of_day": 1000,
                "nearby_blocks": self.near,
                "nearby_entities": {},
            }
        if method == "find":
            found = self.near.get(params["block"]) and params["radius"] >= 5
            return {"positions": [[1, 5, 0]] if found else []}
        return {"trace": [], "ms": 0}


# ---- no Node needed -------------------------------------------------------------------------
def test_registered_and_same_verbs_as_craftworld() -> None:
    assert "minecraft/v1" in sim.registered()
    assert MinecraftWorld.VERBS == CraftWorld.VERBS
    assert set(MinecraftWorld().item_names()) == set(CraftWorld().item_names())


def test_facts_are_craftworlds_to_the_letter() -> None:
    """The same state gives the same facts, hence the same condition signatures."""
    mc, cw = MinecraftWorld(), CraftWorld()
    rng = np.random.default_rng(0)
    items = ["oak_log", "stick", "coal", "wooden_pickaxe", "stone_pickaxe", "iron_sword"]
    for _ in range(200):
        inv = {i: int(rng.integers(1, 4)) for i in items if rng.random() < 0.4}
        state = WorldState(
            world="x",
            inventory=inv,
            equipped=next(iter(inv), None),
            position=(0, int(rng.integers(5, 70)), 0),
            health=float(rng.integers(1, 21)),
            food=float(rng.integers(1, 21)),
            time_of_day=int(rng.integers(0, 24000)),
            nearby_blocks={"crafting_table": 1} if rng.random() < 0.5 else {"furnace": 2},
        )
        assert mc.facts(state) == cw.facts(state)


@pytest.mark.parametrize(
    ("inventory", "near", "subgoal", "cause", "needs"),
    [
        ({}, {}, "craft:oak_planks", "MISSING_ITEM", "has:oak_log"),
        (
            {"oak_planks": 3, "stick": 2},
            {},
            "craft:wooden_pickaxe",
            "RECIPE_FAIL",
            "near:crafting_table",
        ),
        ({}, {}, "place:crafting_table", "MISSING_ITEM", "has:crafting_table"),
        ({}, {}, "craft:wooden_pikaxe", "INVALID_ACTION", None),
        ({"iron_ore": 1}, {"furnace": 1}, "smelt:iron_ingot", "SMELT_FAIL", "has_fuel"),
    ],
)
def test_rule_failures_match_craftworld(
    inventory: dict[str, int],
    near: dict[str, int],
    subgoal: str,
    cause: str,
    needs: str | None,
) -> None:
    """A failure the rules alone explain is reported as CraftWorld reports it (the same cause
    and evidence, from which diagnosis reads the same missing fact; no remedy in either),
    without asking the server to try."""
    verb, target = subgoal.split(":")
    world = FakeSidecarWorld(inventory, near)
    world.reset(_task(), seed=0)
    out = world.execute(Subgoal(verb=verb, target=target))
    assert not out.success and out.cause.value == cause
    fail = out.trace[-1]
    assert fail["event"] == "fail" and set(fail) == {"event", "t", "cause", "message"}
    assert observed(out).get("needs") == needs
    assert verb not in world.calls  # decided before any verb reached the sidecar
    if near:
        return  # CraftWorld has no station standing at reset to compare with
    # the same attempt in CraftWorld, from the same inventory
    cw = CraftWorld()
    cw.reset(_task(initial_inventory=inventory), seed=0)
    ref = cw.execute(Subgoal(verb=verb, target=target))
    assert ref.cause.value == cause and observed(ref).get("needs") == needs
    strip = ("t", "message")
    assert [{k: v for k, v in e.items() if k not in strip} for e in ref.trace[-2:]] == [
        {k: v for k, v in e.items() if k not in strip} for e in out.trace[-2:]
    ], "the same evidence in both worlds"


def test_world_options_reach_the_world(tmp_path: Path) -> None:
    from agent.runner import RunConfig, world_options

    suite = tmp_path / "s.yaml"
    suite.write_text("world: minecraft/v1\nworld_options: {port: 1, start_server: true}\n")
    cfg = RunConfig(suite=str(suite), extra={"world": {"port": 2}})
    assert world_options(suite, cfg) == {"port": 2, "start_server": True}


# ---- with Node: the sidecar, flying-squid and the protocol ----------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    if missing_reason() is not None:
        pytest.skip(str(missing_reason()))
    from sim.minecraft.server import LocalServer

    with LocalServer(trees=6, cook_ms=100) as srv:
        yield srv


@pytest.fixture
def bot(server: Any) -> Iterator[Sidecar]:
    sc = Sidecar()
    try:
        sc.call("connect", {"port": server.port, "username": "probe"}, timeout=30)
        yield sc
    finally:
        sc.close()


@pytest.mark.minecraft
@needs_node
def test_spawn_find_dig_collect_place_goto(server: Any, bot: Sidecar) -> None:
    state = bot.call("state", {"names": ["oak_log"]})
    assert state["position"][1] == 5  # spawned on the superflat grass
    assert state["nearby_blocks"].get("oak_log", 0) > 0
    found = bot.call("find", {"block": "oak_log", "radius": 32, "count": 3})["positions"]
    assert len(found) == 3
    mined = bot.call("mine", {"block": "oak_log", "count": 1}, timeout=60)
    assert mined["drops"].get("oak_log", 0) >= 1  # dug and collected
    assert any(e["event"] == "dig" for e in mined["trace"])
    bot.call("chat", {"message": "/give probe dirt 2"})
    time.sleep(0.5)
    placed = bot.call("place", {"block": "dirt"}, timeout=20)
    assert bot.call("block_at", dict(zip("xyz", placed["pos"], strict=True)))["name"] == "dirt"
    went = bot.call("go_to", {"x": -4, "y": 5, "z": 4, "range": 1}, timeout=40)
    assert abs(went["position"][0] + 4) <= 1 and abs(went["position"][2] - 4) <= 1


@pytest.mark.minecraft
@needs_node
def test_the_3d_view_of_a_server_world(bot: Sidecar) -> None:
    """The sidecar's `region` names the blocks around the bot; the isometric view CraftWorld
    draws shows them (issue 32): the superflat grass, the agent at the centre."""
    import numpy as np

    from sim.craftworld.iso import BlockBox, render_iso
    from sim.craftworld.render import AGENT_COLOR

    raw = bot.call("region", {"radius": 4, "down": 3, "up": 4})
    assert raw["shape"] == [9, 7, 9] and len(raw["cells"]) == 9 * 7 * 9
    assert "grass_block" in raw["names"] and raw["names"][0] == "air"
    box = BlockBox.from_names(raw["origin"], raw["shape"], raw["names"], raw["cells"])
    feet = bot.call("state", {})["position"]
    assert (
        box.region((feet[0], feet[1] - 1, feet[2]), (feet[0] + 1, feet[1], feet[2] + 1))[0, 0, 0]
        != 0
    ), "the bot stands on something"
    img = render_iso(box, tuple(feet), radius=4)
    agent = (np.abs(img.astype(int) - AGENT_COLOR.astype(int)).max(axis=2) == 0).sum()
    assert agent >= 10


@pytest.mark.minecraft
@needs_node
def test_not_found_and_unknown_method_are_errors_not_hangs(bot: Sidecar) -> None:
    with pytest.raises(SidecarError) as err:
        bot.call("mine", {"block": "diamond_ore", "radius": 16}, timeout=20)
    assert err.value.kind == "not_found"
    with pytest.raises(SidecarError) as err:
        bot.call("fly", {}, timeout=5)
    assert err.value.kind == "invalid"


@pytest.mark.minecraft
@needs_node
def test_wooden_pickaxe_from_nothing(tmp_path: Path) -> None:
    """The done-when run: `steve run` of the Minecraft suite crafts a wooden pickaxe."""
    from agent.runner import RunConfig, run_suite

    cfg = RunConfig(
        suite=str(ROOT / "scenarios/suites/minecraft/wooden.yaml"),
        tasks=["craft_wooden_pickaxe"],
        out=str(tmp_path),
        extra={"world": {"cook_ms": 100}},
    )
    result = run_suite(cfg)
    (episode,) = result.episodes
    assert episode.success and episode.error is None
    assert episode.causes.get("NONE", 0) >= 5


@pytest.mark.minecraft
@needs_node
def test_without_the_plugin_crafting_windows_fail_as_gui_fail() -> None:
    """flying-squid never answers a crafting window: without the plugin that is GUI_FAIL,
    within the subgoal timeout."""
    from sim.minecraft.server import LocalServer

    with LocalServer(trees=0, plugin=False) as srv:
        world = MinecraftWorld(port=srv.port, subgoal_timeout=4, clear_inventory=False)
        try:
            world.reset(_task(initial_inventory={"oak_log": 1}), seed=0)
            assert world.plugin == []
            started = time.monotonic()
            out = world.execute(Subgoal(verb="craft", target="oak_planks", count=4))
            assert time.monotonic() - started < 20
            assert out.cause is FailureCause.GUI_FAIL
            assert any(e["event"] == "gui_error" for e in out.trace)
        finally:
            world.close()


@pytest.mark.minecraft
@needs_node
def test_a_down_server_is_a_clear_error_within_the_timeout() -> None:
    from sim.minecraft.server import free_port

    port = free_port()
    world = MinecraftWorld(port=port, connect_timeout=3, reconnect_tries=2)
    started = time.monotonic()
    with pytest.raises(MinecraftConnectionError, match=f"127.0.0.1:{port}"):
        world.reset(_task(), seed=0)
    world.close()
    assert time.monotonic() - started < 15


@pytest.mark.minecraft
@needs_node
def test_a_silent_server_times_out() -> None:
    """A port that accepts and never speaks: connect gives up after connect_timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(listener.accept()[0]), daemon=True).start()
    port = listener.getsockname()[1]
    world = MinecraftWorld(port=port, connect_timeout=2, reconnect_tries=1)
    started = time.monotonic()
    try:
        with pytest.raises(MinecraftConnectionError, match=f"127.0.0.1:{port}"):
            world.reset(_task(), seed=0)
        assert time.monotonic() - started < 12
    finally:
        world.close()
        listener.close()


@pytest.mark.minecraft
@needs_node
def test_reconnects_after_the_sidecar_dies(server: Any) -> None:
    world = MinecraftWorld(port=server.port, username="phoenix", clear_inventory=False)
    try:
        world.reset(_task(), seed=0)
        assert world.sidecar is not None
        first = world.sidecar.pid
        os.kill(first, signal.SIGKILL)
        time.sleep(0.3)
        out = world.execute(Subgoal(verb="wait", target="seconds", count=1))
        assert out.success, out.message
        assert world.sidecar.pid != first and world.connected
    finally:
        world.close()


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # a zombie no longer runs


@pytest.mark.minecraft
@needs_node
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_node_never_outlives_a_killed_python() -> None:
    """SIGKILL leaves Python no chance to clean up: the sidecar and the server still exit."""
    script = textwrap.dedent(
        """
        import time
        from sim.minecraft.server import LocalServer
        from sim.minecraft.sidecar import Sidecar
        srv = LocalServer(trees=0).start()
        sc = Sidecar()
        print(srv.pid, sc.pid, flush=True)
        time.sleep(120)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2 and not any(_gone(p) for p in pids)
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all(_gone(p) for p in pids):
        time.sleep(0.1)
    assert all(_gone(p) for p in pids), "a node process outlived its Python parent"
