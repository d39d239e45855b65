"""Worlds report what a player observes, never what to do next.

Every failure event the worlds can emit is read here: each verb of CraftWorld against a spread
of targets from several starting inventories (empty, with materials, with tools, at night), the
same rule-level failures of the minecraft/v1 verb layer (no server needed), and the household
world's verbs where the `alfworld` extra is installed. None may carry a remedy or name the fact
that was missing: diagnosis works that out from the evidence, and remedies are learned.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sim
from agent.diagnosis import observed
from sim.craftworld.world import CraftWorld
from sim.schema import Goal, Outcome, Subgoal, Task

ADVICE = ("remedy", "needs", "needs_tool", "fix", "suggest")
FAIL_KEYS = {"event", "t", "cause", "message"}
STARTS: list[dict[str, Any]] = [
    {},
    {"oak_log": 2, "oak_planks": 3, "stick": 2},
    {"wooden_pickaxe": 1, "iron_ore": 2, "furnace": 1},
    {"stone_pickaxe": 1, "cobblestone": 3, "iron_ore": 1, "furnace": 1},
]


def _task(**kw: Any) -> Task:
    base: dict[str, Any] = {"id": "probe", "instruction": "x", "goal": Goal(item="diamond")}
    return Task(**{**base, "max_ticks": 6000, "max_subgoals": 400, **kw})


def _advice(event: dict[str, Any]) -> list[str]:
    """Keys of an event (and of anything nested in it) that would be advice."""
    found = [k for k in event if any(k.startswith(a) for a in ADVICE)]
    for value in event.values():
        if isinstance(value, dict):
            found += _advice(value)
    return found


def _check(outcome: Outcome) -> int:
    """The failure's events carry evidence only; returns how many failures were read."""
    if outcome.success:
        return 0
    for event in outcome.trace:
        assert not _advice(event), (outcome.subgoal.key(), event)
    fail = next(e for e in outcome.trace if e["event"] == "fail")
    assert set(fail) == FAIL_KEYS, (outcome.subgoal.key(), fail)
    return 1


# the failures that once carried a remedy: a block by hand, a tool tier too low, a craft with
# no table, a smelt with no fuel, a station nowhere near, what is not held
AIMED = [
    ("mine", "stone"),
    ("mine", "iron_ore"),
    ("craft", "wooden_pickaxe"),
    ("craft", "stone_sword"),
    ("smelt", "iron_ingot"),
    ("move_to", "furnace"),
    ("place", "chest"),
    ("equip", "iron_sword"),
    ("attack", "zombie"),
]


def _probes(world: CraftWorld) -> Iterator[Subgoal]:
    """The aimed probes, then every other verb with a spread of its targets (the first, last
    and every 151st name), plus a name the world does not know."""
    for verb, target in AIMED:
        yield Subgoal(verb=verb, target=target)
    for verb, targets in world.verb_targets().items():
        if verb in ("explore", "move_to"):  # long walks; aimed above, and searched alike
            continue
        picks = {targets[0], targets[-1], *targets[::151]}
        for target in [*sorted(picks), "no_such_thing"]:
            yield Subgoal(verb=verb, target=target, count=2)


def test_no_craftworld_failure_names_a_fix_or_the_missing_fact() -> None:
    world = sim.make("craftworld/v1")
    assert isinstance(world, CraftWorld)
    failures, causes, needs = 0, set(), set()
    for i, inventory in enumerate(STARTS):
        helpers = {"start_time": 14_000} if i == 3 else {}  # one start at night: mobs
        task = _task(initial_inventory=inventory, helpers=helpers)
        for subgoal in _probes(world):
            world.reset(task, seed=i)  # each probe from the same start, within its budget
            if subgoal.key() == "smelt:iron_ingot" and inventory.get("furnace"):
                world.execute(Subgoal(verb="place", target="furnace"))  # placed, but no fuel
            outcome = world.execute(subgoal)
            failures += _check(outcome)
            if not outcome.success:
                causes.add(outcome.cause.value)
                needs.add(str(observed(outcome).get("needs", "")).partition(":")[0])
    assert failures > 100
    # the probes reached the failures that once carried a remedy, and diagnosis still finds
    # what was missing from the evidence alone
    wanted = {"MISSING_ITEM", "RECIPE_FAIL", "SMELT_FAIL", "WRONG_TOOL", "TARGET_NOT_FOUND"}
    assert wanted <= causes, causes
    assert {"has", "near", "has_fuel"} <= needs, needs


def test_no_minecraft_rule_failure_names_a_fix() -> None:
    """The minecraft/v1 verbs decide rule-level failures before the server acts: the same
    evidence as CraftWorld, no remedy (a sidecar that answers nothing stands in for Node)."""
    from sim.minecraft.world import MinecraftWorld

    class Silent(MinecraftWorld):
        def __init__(self, inventory: dict[str, int]) -> None:
            super().__init__()
            self.inv = inventory

        def ensure(self) -> None:
            self.connected = True

        def rpc(self, method: str, params: dict[str, Any], timeout: float = 30.0) -> dict:
            if method == "state":
                return {
                    "inventory": self.inv,
                    "durability": {},
                    "position": [0, 5, 0],
                    "health": 20,
                    "food": 20,
                    "time_of_day": 1000,
                    "nearby_blocks": {},
                    "nearby_entities": {},
                }
            if method == "find":
                return {"positions": []}
            return {"trace": [], "ms": 0}

    failures = 0
    for inventory in STARTS:
        world = Silent(inventory)
        world.reset(_task(), seed=0)
        for verb in ("craft", "smelt", "place", "equip", "eat"):
            for target in ("wooden_pickaxe", "iron_ingot", "crafting_table", "bread", "stick"):
                failures += _check(world.execute(Subgoal(verb=verb, target=target)))
    assert failures > 20


def test_no_household_failure_names_a_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("textworld")
    pytest.importorskip("alfworld")
    monkeypatch.setenv("STEVE_ALFWORLD_GAMES", str(tmp_path / "games"))
    world = sim.make("alfworld/v1")
    failures = 0
    task = Task(
        id="h",
        instruction="x",
        goal=Goal(predicate="pick_heat_then_place_in_recep(egg, countertop)"),
        max_ticks=200,
        max_subgoals=200,
    )
    world.reset(task, 0)
    for verb, targets in world.verb_targets().items():
        for target in (*targets[:6], "no_such_thing"):
            failures += _check(world.execute(Subgoal(verb=verb, target=target)))
    assert failures > 10


def test_no_world_module_can_write_a_remedy() -> None:
    """The failure types of every world take no remedy or missing fact, and no module of
    `sim` writes one into an event."""
    from sim.alfworld import actions as household
    from sim.mcrules import attempt

    for failure in (attempt.Failure, household.Failure):
        params = set(inspect.signature(failure.__init__).parameters)
        assert not params & {"remedy", "needs"}, failure
    root = Path(sim.__file__).parent
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value not in ("remedy", "needs"), f"{path}:{node.lineno}"
            if isinstance(node, ast.keyword):
                assert node.arg not in ("remedy", "needs"), f"{path}:{node.lineno}"


def test_the_grid_shows_the_recipe_whose_missing_ingredients_are_in_sight() -> None:
    """Between recipes short of equally many items, the one of the logs in sight (a smoker of
    oak, not dark oak, beside an oak tree); a recipe that can be made always wins."""
    from sim.mcrules.attempt import pick_recipe
    from sim.mcrules.recipes import Recipe

    def smoker(log: str) -> Recipe:
        return Recipe("smoker", 1, (("furnace", 1), (log, 4)), True, None)

    options = [smoker("dark_oak_log"), smoker("oak_log")]
    chosen, missing = pick_recipe(options, {"furnace": 1}, 1, {"oak_log": 9})
    assert chosen is options[1] and missing == {"oak_log": 4}
    chosen, missing = pick_recipe(options, {"furnace": 1}, 1, {})
    assert chosen is options[0], "nothing in sight: the first of equals, as before"
    chosen, missing = pick_recipe(options, {"furnace": 1, "dark_oak_log": 4}, 1, {"oak_log": 9})
    assert chosen is options[0] and missing == {}
    _, missing = pick_recipe(options, {"oak_log": 2}, 1, {"dark_oak_log": 9})
    assert missing == {"furnace": 1, "oak_log": 2}, "fewest missing first, sight second"
