"""Diagnosis, table-driven: scripted situations across worlds, each asserting the cause, the key
indicators and the history triggers. The situations are the traces worlds write (CraftWorld,
the Minecraft bridge, the household world); real CraftWorld attempts are in the second part."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

import sim
from agent.diagnosis import History, attribute, diagnose, state_diff
from sim.schema import FailureCause as C
from sim.schema import Goal, Outcome, Subgoal, Task, WorldState

TASK = Task(id="t", instruction="x", goal=Goal(item="wooden_pickaxe"), max_ticks=1000)


def _state(**kw: Any) -> WorldState:
    return WorldState(world="test/v1", **kw)


@dataclass
class Case:
    name: str
    subgoal: str  # "verb target count"
    trace: list[dict[str, Any]]
    cause: C
    success: bool = False
    pre: dict[str, Any] = field(default_factory=dict)
    post: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, C] = field(default_factory=dict)


def _sg(text: str) -> Subgoal:
    verb, target, count = text.split()
    return Subgoal(verb=verb, target=target, count=int(count))


def _fail(cause: C) -> dict[str, Any]:
    return {"event": "fail", "cause": cause.value, "message": "world verdict"}


CASES = [
    Case(
        "mined logs",
        "mine oak_log 2",
        [{"event": "dig", "block": "oak_log", "drops": {"oak_log": 1}}],
        C.NONE,
        True,
        post={"inventory": {"oak_log": 2}},
    ),
    Case(
        "iron ore with a wooden pickaxe",
        "mine iron_ore 1",
        [
            {"event": "walk"},
            {"event": "dig", "block": "iron_ore", "harvestable": False, "drops": {}},
            _fail(C.WRONG_TOOL),
        ],
        C.WRONG_TOOL,
    ),
    Case(
        "stone by hand while digging a shaft, then the budget",
        "mine diamond_ore 1",
        [
            {"event": "dig", "block": "stone", "harvestable": False},
            {"event": "budget", "scope": "subgoal"},
            _fail(C.TIMEOUT),
        ],
        C.TIMEOUT,
    ),
    Case(
        "no log in sight",
        "mine oak_log 1",
        [{"event": "search", "target": "oak_log", "found": False}, _fail(C.TARGET_NOT_FOUND)],
        C.TARGET_NOT_FOUND,
    ),
    Case(
        "found, then lava on the way",
        "mine diamond_ore 1",
        [
            {"event": "search", "target": "diamond_ore", "found": True},
            {"event": "hazard", "kind": "lava"},
            _fail(C.TARGET_UNREACHABLE),
        ],
        C.TARGET_UNREACHABLE,
    ),
    Case(
        "bedrock in the way",
        "mine diamond_ore 1",
        [{"event": "hazard", "kind": "bedrock"}, _fail(C.TARGET_UNREACHABLE)],
        C.TARGET_UNREACHABLE,
    ),
    Case(
        "craft without sticks",
        "craft wooden_pickaxe 1",
        [{"event": "missing", "item": "stick", "need": 2, "have": 0}, _fail(C.MISSING_ITEM)],
        C.MISSING_ITEM,
    ),
    Case(
        "craft without a table",
        "craft wooden_pickaxe 1",
        [
            {"event": "no_station", "station": "crafting_table", "verb": "craft"},
            _fail(C.RECIPE_FAIL),
        ],
        C.RECIPE_FAIL,
    ),
    Case(
        "craft what has no recipe",
        "craft diamond 1",
        [{"event": "no_recipe", "item": "diamond", "verb": "craft"}, _fail(C.RECIPE_FAIL)],
        C.RECIPE_FAIL,
    ),
    Case(
        "smelt without a furnace",
        "smelt iron_ingot 1",
        [{"event": "no_station", "station": "furnace", "verb": "smelt"}, _fail(C.SMELT_FAIL)],
        C.SMELT_FAIL,
    ),
    Case(
        "smelt without fuel",
        "smelt iron_ingot 1",
        [{"event": "no_fuel"}, _fail(C.SMELT_FAIL)],
        C.SMELT_FAIL,
    ),
    Case(
        "smelt without ore",
        "smelt iron_ingot 3",
        [{"event": "missing", "item": "iron_ore"}, _fail(C.MISSING_ITEM)],
        C.MISSING_ITEM,
    ),
    Case(
        "killed by a zombie",
        "wait seconds 60",
        [{"event": "damage", "source": "zombie", "damage": 3}] * 6
        + [{"event": "death", "source": "zombie"}, _fail(C.MOB_KILLED)],
        C.MOB_KILLED,
        post={"dead": True, "health": 0},
    ),
    Case(
        "burned in lava",
        "mine obsidian 1",
        [
            {"event": "damage", "source": "lava", "damage": 20},
            {"event": "death", "source": "lava"},
            _fail(C.DAMAGE),
        ],
        C.DAMAGE,
        post={"dead": True},
    ),
    Case(
        "starved",
        "wait seconds 600",
        [{"event": "starving"}, {"event": "death", "source": "hunger"}, _fail(C.DAMAGE)],
        C.DAMAGE,
    ),
    Case(
        "hurt, no other evidence",
        "attack zombie 1",
        [
            {"event": "damage", "source": "skeleton", "damage": 3},
            {"event": "damage", "source": "skeleton", "damage": 3},
            _fail(C.DAMAGE),
        ],
        C.DAMAGE,
    ),
    Case(
        "subgoal budget",
        "explore diamond_ore 1",
        [{"event": "walk"}, {"event": "budget", "scope": "subgoal"}, _fail(C.TIMEOUT)],
        C.TIMEOUT,
    ),
    Case(
        "episode budget",
        "mine stone 3",
        [{"event": "budget", "scope": "episode"}, _fail(C.TIMEOUT)],
        C.TIMEOUT,
    ),
    Case(
        "unknown verb",
        "fly moon 1",
        [{"event": "invalid", "what": "verb", "name": "fly"}, _fail(C.INVALID_ACTION)],
        C.INVALID_ACTION,
    ),
    Case(
        "unknown item",
        "craft wooden_pikaxe 1",
        [{"event": "invalid", "what": "item", "name": "wooden_pikaxe"}, _fail(C.INVALID_ACTION)],
        C.INVALID_ACTION,
    ),
    Case(
        "eat when full",
        "eat bread 1",
        [{"event": "not_hungry"}, _fail(C.INVALID_ACTION)],
        C.INVALID_ACTION,
    ),
    Case(
        "no room to place",
        "place crafting_table 1",
        [{"event": "stuck", "why": "no free space"}, _fail(C.NAV_STUCK)],
        C.NAV_STUCK,
    ),
    Case(
        "guardrail blocked",
        "mine iron_ore 1",
        [{"event": "blocked", "guardrail": 3, "message": "g3"}],
        C.BLOCKED_BY_GUARDRAIL,
    ),
    Case(
        "unparseable plan",
        "plan wooden_pickaxe 1",
        [{"event": "parse_fail", "error": "not JSON"}, _fail(C.PLAN_PARSE_FAIL)],
        C.PLAN_PARSE_FAIL,
    ),
    Case(
        "crafting window never answered (real Minecraft)",
        "craft stick 4",
        [{"event": "gui_error", "window": "crafting_table", "error": "timeout"}, _fail(C.GUI_FAIL)],
        C.GUI_FAIL,
    ),
    Case(
        "household: no apple anywhere",
        "take apple 1",
        [{"event": "object_not_found", "object": "apple"}, _fail(C.OBJECT_NOT_FOUND)],
        C.OBJECT_NOT_FOUND,
    ),
    Case(
        "household: put without holding",
        "put apple 1",
        [{"event": "not_holding", "object": "apple"}, _fail(C.NOT_HOLDING)],
        C.NOT_HOLDING,
        pre={"location": "fridge 1", "holding": None},
    ),
    Case(
        "household: fridge closed",
        "put apple 1",
        [{"event": "receptacle_closed", "receptacle": "fridge 1"}, _fail(C.RECEPTACLE_CLOSED)],
        C.RECEPTACLE_CLOSED,
    ),
    Case(
        "household: heat in the fridge",
        "heat apple 1",
        [{"event": "wrong_appliance", "used": "fridge"}, _fail(C.WRONG_APPLIANCE)],
        C.WRONG_APPLIANCE,
    ),
    Case("a failure with no evidence", "mine stone 1", [{"event": "walk"}], C.UNKNOWN),
    Case(
        "a world's own event, registered by the world",
        "use lever 1",
        [{"event": "redstone_short"}, _fail(C.UNKNOWN)],
        C.DAMAGE,
        extra={"redstone_short": C.DAMAGE},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_cause_from_the_trace(case: Case) -> None:
    subgoal = _sg(case.subgoal)
    outcome = Outcome(
        subgoal=subgoal,
        success=case.success,
        cause=C.NONE if case.success else C.UNKNOWN,
        post_state=_state(**case.post),
        trace=case.trace,
    )
    cause, evidence = attribute(outcome, case.extra)
    assert cause is case.cause
    assert case.success or evidence, "a failure always names its evidence"


def test_never_reads_the_worlds_verdict() -> None:
    # the world's verdict says WRONG_TOOL, the evidence says the budget ran out
    outcome = Outcome(
        subgoal=_sg("mine iron_ore 1"),
        success=False,
        cause=C.WRONG_TOOL,
        post_state=_state(),
        trace=[{"event": "budget", "scope": "subgoal"}, _fail(C.WRONG_TOOL)],
    )
    assert attribute(outcome)[0] is C.TIMEOUT


def test_state_difference_minecraft_and_household() -> None:
    pre = _state(
        inventory={"oak_log": 3, "stick": 1},
        durability={"wooden_pickaxe": 59},
        position=(0, 64, 0),
        health=20,
        location="countertop 1",
        holding=None,
        object_states={"fridge 1": ["closed"]},
    )
    post = _state(
        inventory={"oak_log": 1, "oak_planks": 8, "stick": 1},
        durability={"wooden_pickaxe": 55},
        position=(3, 64, 4),
        health=17,
        tick=200,
        location="fridge 1",
        holding="apple 1",
        object_states={"fridge 1": ["opened"]},
    )
    d = state_diff(pre, post)
    assert d.gained == {"oak_planks": 8} and d.lost == {"oak_log": 2}
    assert d.durability_used == {"wooden_pickaxe": 4}
    assert d.moved == 5.0 and d.health_delta == -3 and d.ticks == 200
    assert d.location == ("countertop 1", "fridge 1") and d.holding == (None, "apple 1")
    assert d.object_states == {"fridge 1": ["opened"]}
    assert "+8 oak_planks" in d.text() and "-2 oak_log" in d.text()


def _progress(state: WorldState) -> float:
    return min(1.0, state.count("oak_planks") / 8)


def _run(pairs: list[tuple[WorldState, Outcome]], history: History) -> list[Any]:
    return [diagnose(pre, o.subgoal, o, history, TASK, _progress) for pre, o in pairs]


def test_indicators_and_progress() -> None:
    pre = _state(inventory={"oak_log": 2})
    post = _state(inventory={"oak_planks": 8}, tick=10, position=(40, 64, 0))
    o = Outcome(subgoal=_sg("craft oak_planks 8"), success=True, post_state=post, steps=2)
    (d,) = _run([(pre, o)], History())
    assert d.success and d.cause is C.NONE
    assert d.task_progress == 1.0 and d.task_progress_delta == 1.0 and d.subgoal_progress == 1.0
    assert d.resource_delta == 6 and d.steps == 2 and d.new_cells == 2
    assert d.budget_used == pytest.approx(0.01)
    # a partial mine: 2 of 3 logs before the budget ran out
    o2 = Outcome(
        subgoal=_sg("mine oak_log 3"),
        success=False,
        post_state=_state(inventory={"oak_log": 2}),
        trace=[{"event": "budget", "scope": "subgoal"}],
    )
    (d2,) = _run([(_state(), o2)], History())
    assert d2.cause is C.TIMEOUT and d2.subgoal_progress == pytest.approx(2 / 3)


def test_stagnation_loop_and_deadlock_trigger() -> None:
    state = _state(inventory={"oak_planks": 2})
    fail = Outcome(
        subgoal=_sg("mine iron_ore 1"),
        success=False,
        post_state=state,
        trace=[{"event": "dig", "harvestable": False}],
    )
    diags = _run([(state, fail)] * 4, History())
    assert [d.cause for d in diags] == [C.WRONG_TOOL] * 4
    assert [d.loop for d in diags] == [False, True, True, True]  # the same state and action again
    assert [d.deadlock for d in diags] == [False, False, True, True]  # the same cause 3 times
    assert [d.stagnation for d in diags] == [False, False, False, True]  # no progress over 4
    # progress resets stagnation; different causes do not deadlock
    ok = Outcome(
        subgoal=_sg("craft oak_planks 4"),
        success=True,
        post_state=_state(inventory={"oak_planks": 6}),
    )
    h = History()
    more = _run([(state, fail), (state, ok)], h)
    assert not any(d.stagnation or d.deadlock for d in more)


# ---- real CraftWorld attempts -------------------------------------------------------------


def _world(seed: int = 0, **task: Any) -> tuple[Any, WorldState]:
    world = sim.make("craftworld/v1")
    t = Task(id="t", instruction="x", goal=Goal(item="diamond"), **task)
    return world, world.reset(t, seed)


REAL = [
    ("craft wooden_pickaxe 1", {}, C.MISSING_ITEM),
    ("craft wooden_pickaxe 1", {"initial_inventory": {"oak_planks": 3, "stick": 2}}, C.RECIPE_FAIL),
    ("smelt iron_ingot 1", {"initial_inventory": {"iron_ore": 1}}, C.SMELT_FAIL),
    ("craft cobblestone 1", {}, C.RECIPE_FAIL),
    ("craft diamond 1", {}, C.MISSING_ITEM),
    ("mine wooden_pikaxe 1", {}, C.INVALID_ACTION),
    ("eat bread 1", {"initial_inventory": {"bread": 1}}, C.INVALID_ACTION),
    ("mine stone 1", {}, C.WRONG_TOOL),
    ("mine oak_log 8", {"max_ticks": 60}, C.TIMEOUT),
]


@pytest.mark.parametrize(("subgoal", "task", "cause"), REAL, ids=[r[0] for r in REAL])
def test_real_craftworld_attempts(subgoal: str, task: dict[str, Any], cause: C) -> None:
    world, pre = _world(**task)
    outcome = world.execute(_sg(subgoal))
    d = diagnose(pre, outcome.subgoal, outcome, History(), world.task, lambda s: 0.0)
    assert outcome.cause is cause, outcome.message  # the world's verdict ...
    assert d.cause is cause, d.evidence  # ... and the diagnosis from the evidence agree
    assert d.evidence
