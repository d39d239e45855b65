"""What experience teaches, and how the agent finds out what it does not know.

Diagnosis reads the missing fact from a world's evidence; remedies and recipes are induced from
anchored attempts (`knowledge.induce`, `knowledge.recipes`), each naming the tuples it rests
on; the explorer probes for a missing fact nothing offers a way to; the loop repairs from
memory, then by probing, and stops a planner that goes round in circles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import sim
from agent.diagnosis import History, diagnose, observed
from agent.explore import Explorer
from agent.loop import Episode
from agent.methods import METHODS
from agent.planner.base import PlanResult
from knowledge.distill import chain
from knowledge.induce import condition_for, gain_tags, remedy_for
from knowledge.recipes import learned_recipes
from knowledge.schema import Briefing, Diagnosis, ExperienceTuple, Guardrail, StateDiff
from knowledge.store import ExperienceStore, StoreError
from sim.schema import FailureCause, Goal, Outcome, Subgoal, Task, WorldState

C = FailureCause


def _sg(verb: str, target: str, count: int = 1) -> Subgoal:
    return Subgoal(verb=verb, target=target, count=count)


def _tup(
    action: Subgoal,
    *,
    ok: bool = True,
    gained: dict[str, int] | None = None,
    lost: dict[str, int] | None = None,
    facts: tuple[str, ...] = (),
    after: tuple[str, ...] = (),
    details: dict[str, Any] | None = None,
    cause: FailureCause = C.NONE,
) -> ExperienceTuple:
    state = WorldState(world="craftworld/v1")
    return ExperienceTuple(
        run_id="r",
        episode_id="e",
        task_id="t",
        step=0,
        pre_state=state,
        action=action,
        diagnosis=Diagnosis(
            success=ok,
            cause=cause,
            diff=StateDiff(gained=gained or {}, lost=lost or {}),
            details=details or {},
        ),
        post_state=state,
        facts=list(facts),
        tags=[action.verb, action.target, cause.value, *gain_tags(facts, (*facts, *after))],
    )


# ---- diagnosis reads the missing fact from the evidence -------------------------------------
def test_diagnosis_reads_what_a_crafting_grid_showed() -> None:
    world = sim.make("craftworld/v1")
    task = Task(id="t", instruction="x", goal=Goal(item="wooden_pickaxe"))
    pre = world.reset(task.model_copy(update={"initial_inventory": {"oak_planks": 1}}), 0)
    out = world.execute(_sg("craft", "wooden_pickaxe"))
    d = diagnose(pre, out.subgoal, out, History(), task, lambda s: 0.0)
    assert d.cause is C.MISSING_ITEM and d.details["needs"] == "has:oak_planks"
    assert d.details["ingredients"] == "oak_planks=3,stick=2" and d.details["makes"] == 1
    assert d.details["missing"] == "oak_planks=2,stick=2"
    assert d.details["station"] == "crafting_table"
    assert not any(k.startswith("remedy") for k in d.details)
    dug = world.execute(_sg("mine", "stone"))
    assert dug.cause is C.WRONG_TOOL and observed(dug) == {"context": "hands:empty"}


def test_the_same_product_made_twice_is_a_loop() -> None:
    history = History()
    made = StateDiff(gained={"crafting_table": 1}, lost={"oak_planks": 4})
    assert history.repeated(_sg("craft", "crafting_table"), True, made) is None
    assert history.repeated(_sg("craft", "crafting_table"), True, made) == "crafting_table"
    placed = StateDiff(lost={"crafting_table": 1})
    assert history.repeated(_sg("place", "crafting_table"), True, placed) is None
    assert history.repeated(_sg("craft", "crafting_table"), True, made) is None, "used: fine"


# ---- induction ------------------------------------------------------------------------------
def test_a_remedy_is_what_made_the_fact_true_before() -> None:
    store = ExperienceStore(":memory:")
    assert remedy_for(store, "has:stick") is None, "nothing seen: nothing to offer"
    a = store.anchor(_tup(_sg("craft", "stick", 4), gained={"stick": 4}, after=("has:stick",)))
    b = store.anchor(_tup(_sg("craft", "stick", 4), gained={"stick": 4}, after=("has:stick",)))
    store.anchor(_tup(_sg("mine", "dead_bush"), gained={"stick": 1}, after=("has:stick",)))
    found = remedy_for(store, "has:stick", shortfall=2)
    assert found is not None and [s.key() for s in found.steps] == ["craft:stick"]
    assert found.steps[0].count == 2 and found.evidence == (a, b), "most often; names its tuples"
    assert remedy_for(store, "has:stick", avoid=["craft:stick"]).steps[0].key() == "mine:dead_bush"


def test_a_condition_is_what_held_when_the_step_worked() -> None:
    store = ExperienceStore(":memory:")
    store.anchor(_tup(_sg("mine", "stone"), ok=False, cause=C.WRONG_TOOL, facts=("hands:empty",)))
    assert condition_for(store, "mine:stone", ["hands:empty"], "equipped:") is None
    equip = store.anchor(
        _tup(_sg("equip", "wooden_pickaxe"), after=("equipped:wooden_pickaxe",), facts=("x",))
    )
    win = store.anchor(
        _tup(_sg("mine", "stone"), gained={"cobblestone": 1}, facts=("equipped:wooden_pickaxe",))
    )
    found = condition_for(store, "mine:stone", ["hands:empty"], "equipped:")
    assert found is not None and found.fact == "equipped:wooden_pickaxe"
    assert [s.key() for s in found.steps] == ["equip:wooden_pickaxe"]
    assert set(found.evidence) == {equip, win}


def test_learned_recipes_come_from_attempts_and_grids() -> None:
    store = ExperienceStore(":memory:")
    assert learned_recipes(store, "wooden_pickaxe") == []
    shown = store.anchor(
        _tup(
            _sg("craft", "wooden_pickaxe"),
            ok=False,
            cause=C.MISSING_ITEM,
            details={
                "needs": "has:oak_planks",
                "ingredients": "oak_planks=3,stick=2",
                "missing": "oak_planks=3,stick=2",
                "makes": 1,
                "times": 1,
                "station": "crafting_table",
            },
        )
    )
    planks = store.anchor(
        _tup(
            _sg("craft", "oak_planks", 8),
            gained={"oak_planks": 8},
            lost={"oak_log": 2},
            details={"times": 2},
            after=("has:oak_planks",),
        )
    )
    logs = store.anchor(_tup(_sg("mine", "oak_log"), gained={"oak_log": 1}, after=("has:oak_log",)))
    recipes = learned_recipes(store, "wooden_pickaxe")
    assert [r.text() for r in recipes] == [
        "wooden_pickaxe: craft 1 wooden_pickaxe from 3 oak_planks + 2 stick, at a placed "
        "crafting_table",
        "oak_planks: craft 4 oak_planks from 1 oak_log",
        "oak_log: mine oak_log",
    ], "goal first, then what it is made of; a recipe never seen (stick) is not there"
    assert [r.evidence for r in recipes] == [[shown], [planks], [logs]]
    assert recipes[0].seen == "shown" and recipes[1].seen == "worked"


def test_a_skill_is_the_chain_the_goal_rests_on() -> None:
    def made(verb: str, target: str, item: str, lost: dict[str, int] | None = None, **kw: Any):
        return _tup(_sg(verb, target), gained={item: 1}, lost=lost, **kw)

    steps = [
        made("mine", "oak_log", "oak_log"),
        made("craft", "oak_planks", "oak_planks", {"oak_log": 1}),
        made("craft", "wooden_shovel", "wooden_shovel", {"oak_planks": 1}),  # a detour
        made("craft", "crafting_table", "crafting_table", {"oak_planks": 4}),
        _tup(_sg("place", "crafting_table"), lost={"crafting_table": 1}, after=("near:ct",)),
        made("craft", "bowl", "bowl", {"oak_planks": 3}, facts=("near:ct",)),
    ]
    kept = [t.action.key() for t in chain(steps, "bowl")]
    assert kept == [
        "mine:oak_log",
        "craft:oak_planks",
        "craft:crafting_table",
        "place:crafting_table",
        "craft:bowl",
    ]


def test_a_remedy_must_name_its_tuples_or_is_refused(tmp_path: Path) -> None:
    store = ExperienceStore(tmp_path / "k.sqlite")
    advice = Guardrail(
        root_cause=C.MISSING_ITEM,
        forbidden="craft:stick",
        unless=["has:oak_planks"],
        remedy=[_sg("craft", "oak_planks")],
    )
    with pytest.raises(StoreError, match=r"craft:stick.*names no tuple"):
        store.put_guardrail(advice)
    assert store.guardrails() == [], "nothing written"
    advice.remedy_evidence = [3]
    assert store.put_guardrail(advice).id is not None


# ---- probing for what is missing ------------------------------------------------------------
def test_probes_for_a_missing_item_in_a_players_order() -> None:
    verbs = {
        "mine": ("oak_log", "stone", "dirt"),
        "craft": ("oak_planks", "stick"),
        "smelt": ("charcoal",),
        "attack": ("pig",),
        "explore": ("oak_log", "stone"),
    }
    state = WorldState(
        world="craftworld/v1",
        nearby_blocks={"dirt": 9, "oak_log": 3, "stone": 5},
        nearby_entities={"pig": 1},
    )
    explorer = Explorer(verbs)
    seen = []
    while (probe := explorer.next("has:oak_log", _sg("craft", "oak_planks"), state)) is not None:
        seen.append("; ".join(s.key() for s in probe))
    assert seen == ["mine:oak_log", "mine:stone", "mine:dirt", "attack:pig", "explore:oak_log"]
    explorer.pending["has:stick"] = [_sg("craft", "stick")]
    explorer.settle(frozenset({"has:stick"}))
    assert explorer.next("has:stick", _sg("craft", "ladder"), state) == [_sg("craft", "stick")]


def test_probes_for_what_to_hold_use_the_tools_the_agent_has_had() -> None:
    store = ExperienceStore(":memory:")
    for tool in ("wooden_sword", "wooden_pickaxe"):
        tup = _tup(_sg("craft", tool), gained={tool: 1})
        tup.tags.append(f"durable:{tool}")
        store.anchor(tup)
    verbs = {
        "craft": ("wooden_sword", "wooden_pickaxe"),
        "equip": ("wooden_sword", "wooden_pickaxe"),
    }
    state = WorldState(
        world="craftworld/v1", inventory={"wooden_sword": 1}, durability={"wooden_sword": 59}
    )
    explorer = Explorer(verbs, store)
    first = explorer.next("mine:stone|hold", _sg("mine", "stone"), state, context=True)
    second = explorer.next("mine:stone|hold", _sg("mine", "stone"), state, context=True)
    assert first == [_sg("equip", "wooden_sword")]
    assert second == [_sg("craft", "wooden_pickaxe"), _sg("equip", "wooden_pickaxe")]


# ---- the loop: memory first, then probing; never round in circles ---------------------------
class Stubborn:
    """A planner that only ever asks for the goal (a model that does not read its prompt)."""

    name = "stubborn"
    oracle = False

    def __init__(self, goal: str) -> None:
        self.goal, self.calls = goal, 0

    def plan(self, task: Task, state: WorldState, briefing: Briefing) -> PlanResult:
        self.calls += 1
        return PlanResult([_sg("craft", self.goal)], llm_calls=1)

    def replan(self, task: Task, state: WorldState, briefing: Briefing, *rest: Any) -> PlanResult:
        return self.plan(task, state, briefing)


def _episode(store: ExperienceStore | None, method: str, seed: int = 0) -> Any:
    world = sim.make("craftworld/v1")
    task = Task(id="stick", instruction="x", goal=Goal(item="stick"), max_subgoals=20)
    planner = Stubborn("stick")
    lines: list[dict[str, Any]] = []
    result = Episode(
        world=world,
        task=task,
        seed=seed,
        planner=planner,
        method=METHODS[method],
        store=store,
        run_id="r",
        record=lambda line: lines.append(line.row()),  # as written
    ).run()
    return result, lines, planner


def test_a_stubborn_planner_is_carried_by_probing_then_by_memory(tmp_path: Path) -> None:
    store = ExperienceStore(tmp_path / "k.sqlite")
    first, lines, _ = _episode(store, "evolving")
    assert first.success and first.probes >= 1, "found by probing: sticks need planks, logs"
    assert not any("remedy" in str(ln["outcome"]) for ln in lines), "no world named a fix"
    second, lines, planner = _episode(store, "evolving", seed=1)
    assert second.success and second.probes == 0 and second.remedies >= 2
    assert second.steps < first.steps and planner.calls == 1, "memory repairs; no more asking"
    rails = [g for g in store.guardrails() if g.remedy]
    assert rails and all(g.remedy_evidence for g in rails)
    none, _, _ = _episode(None, "none", seed=1)
    assert none.success and none.probes >= 1, "no memory: it probes again"


def test_without_probing_a_stubborn_planner_never_gets_there(tmp_path: Path) -> None:
    result, _, _ = _episode(ExperienceStore(tmp_path / "k.sqlite"), "no-explore")
    assert not result.success and result.probes == 0


def test_a_blocked_step_is_not_told_to_the_grammar_when_nothing_lifts_it() -> None:
    rail = Guardrail(root_cause=C.WRONG_TOOL, forbidden="mine:stone", when=["hands:empty"])
    store = ExperienceStore(":memory:")
    store.put_guardrail(rail)
    from knowledge.recall import RecallQuery, recall

    here = recall(store, RecallQuery(goal="cobblestone", facts=frozenset({"hands:empty"})))
    assert here.closed == ["mine:stone"]
    held = recall(store, RecallQuery(goal="cobblestone", facts=frozenset({"equipped:x"})))
    assert held.closed == []


def test_outcomes_are_data_not_advice() -> None:
    """The loop's own blocked event carries the guardrail's learned remedy (agent side), and
    diagnosis reads only its lifting fact or condition from it."""
    rail = Guardrail(
        id=4,
        root_cause=C.WRONG_TOOL,
        forbidden="mine:stone",
        when=["hands:empty"],
    )
    event = {"event": "blocked", "guardrail": 4, "context": rail.when[0], "message": "x"}
    here = WorldState(world="w")
    out = Outcome(
        subgoal=_sg("mine", "stone"),
        success=False,
        cause=C.BLOCKED_BY_GUARDRAIL,
        post_state=here,
        trace=[event],
    )
    task = Task(id="t", instruction="x", goal=Goal(item="cobblestone"))
    d = diagnose(here, out.subgoal, out, History(), task, lambda s: 0.0)
    assert d.details == {"context": "hands:empty"}


class Astray(Stubborn):
    """A planner that keeps asking for something that fails and leads nowhere."""

    def plan(self, task: Task, state: WorldState, briefing: Briefing) -> PlanResult:
        self.calls += 1
        return PlanResult([_sg("mine", "stone")], llm_calls=1)


def test_the_same_failure_three_times_turns_the_agent_to_the_goal() -> None:
    world = sim.make("craftworld/v1")
    task = Task(id="log", instruction="x", goal=Goal(item="oak_log"), max_subgoals=12)
    result = Episode(
        world=world,
        task=task,
        seed=1,
        planner=Astray("oak_log"),
        method=METHODS["none"],
        store=None,
        run_id="r",
    ).run()
    assert result.success and result.causes.get("WRONG_TOOL") == 3, result.causes
