"""Issue 30: the experience space decides, and knowledge keeps score. Each index and the
summaries are sources of recalled items in an evolving run; each piece of knowledge has a
ledger; a wrong guardrail is probed and narrowed or retired; a skill whose preconditions do not
hold is refused before expansion; `explore` heads where this map's past attempts found its
target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import sim
from agent.loop import Episode
from agent.memory import Memory, map_tag
from agent.methods import METHODS
from agent.planner.base import Expanded, PlanResult
from agent.planner.plan_schema import PlanError, allowed_targets, to_subgoals
from agent.planner.symbolic import SymbolicPlanner
from agent.runner import RunConfig, run_suite
from knowledge.probation import CONFIRMED, NARROWED, RETIRED, probe_verdict
from knowledge.schema import Briefing, Diagnosis, ExperienceTuple, Guardrail, Skill
from knowledge.store import ExperienceStore
from scenarios.loader import resolve_suite
from sim.schema import FailureCause, Goal, Subgoal, Task, WorldState

STATE = WorldState(world="craftworld/v1")


def _tuple(
    op: str, facts: list[str], ok: bool, cause: FailureCause = FailureCause.NONE, **kw: Any
) -> ExperienceTuple:
    verb, _, target = op.partition(":")
    return ExperienceTuple(
        run_id="r",
        episode_id="e__s0",
        task_id="t",
        step=0,
        pre_state=kw.get("pre", STATE),
        action=Subgoal(verb=verb, target=target),
        diagnosis=Diagnosis(success=ok, cause=cause),
        post_state=kw.get("post", STATE),
        facts=sorted(facts),
        tags=kw.get("tags", [verb, target, cause.value]),
    )


# ---- the verdict of a probe ------------------------------------------------------------------
def test_a_probe_that_works_narrows_the_rule_to_the_fact_that_made_the_difference() -> None:
    rail = Guardrail(root_cause=FailureCause.DAMAGE, forbidden="mine:stone", evidence=[1, 2])
    failed = [
        _tuple("mine:stone", ["night", "has:dirt", "hands:empty"], False, FailureCause.DAMAGE),
        _tuple("mine:stone", ["night", "has:dirt", "equipped:stick"], False, FailureCause.DAMAGE),
    ]
    probe = _tuple("mine:stone", ["hands:empty"], True).model_copy(update={"id": 9})
    narrowed, verdict = probe_verdict(rail, probe, failed)
    assert verdict == NARROWED and narrowed.when == ["night"], "a condition before has: facts"
    assert "past attempt 9" in narrowed.reason
    retired, verdict = probe_verdict(
        rail, probe.model_copy(update={"facts": ["night"]}), failed[:0]
    )
    assert verdict == RETIRED and retired.retired
    again = _tuple("mine:stone", ["night"], False, FailureCause.DAMAGE)
    confirmed, verdict = probe_verdict(rail, again, failed)
    assert verdict == CONFIRMED and confirmed.confidence > rail.confidence


def test_a_narrowed_guardrail_keeps_its_id_and_takes_its_new_key(tmp_path: Path) -> None:
    store = ExperienceStore(tmp_path / "k.sqlite")
    rail = store.put_guardrail(Guardrail(root_cause=FailureCause.DAMAGE, forbidden="mine:stone"))
    narrowed = store.revise_guardrail(rail.model_copy(update={"when": ["night"]}))
    assert narrowed.id == rail.id and narrowed.version == rail.version + 1
    assert store.find_guardrail(narrowed) is not None
    assert store.find_guardrail(rail) is None, "the old key is gone"
    store.close()


# ---- a wrong guardrail in the loop -----------------------------------------------------------
def _planted(store: ExperienceStore) -> Guardrail:
    """A wrong rule: 'do not mine oak_log with empty hands' (logs come by hand), resting on a
    failure at night (its real cause, in this made-up past, was the dark)."""
    evidence = store.anchor(
        _tuple("mine:oak_log", ["hands:empty", "night"], False, FailureCause.WRONG_TOOL)
    )
    return store.put_guardrail(
        Guardrail(
            root_cause=FailureCause.WRONG_TOOL,
            forbidden="mine:oak_log",
            when=["hands:empty"],
            reason="planted: a wrong rule",
            evidence=[evidence],
        )
    )


def _play(store: ExperienceStore, seed: int) -> tuple[Any, list[Any]]:
    lines: list[Any] = []
    task = Task(id="planks", instruction="x", goal=Goal(item="oak_planks"), max_subgoals=20)
    result = Episode(
        world=sim.make("craftworld/v1"),
        task=task,
        seed=seed,
        planner=SymbolicPlanner(),
        method=METHODS["evolving"],
        store=store,
        run_id="r",
        record=lines.append,
    ).run()
    return result, lines


def test_a_wrong_guardrail_is_probed_and_narrowed_within_an_episode(tmp_path: Path) -> None:
    store = ExperienceStore(tmp_path / "k.sqlite")
    rail = _planted(store)
    result, lines = _play(store, seed=0)
    probes = [ln for ln in lines if ln.guardrail.probe]
    assert len(probes) == 1 and probes[0].guardrail.id == rail.id
    assert probes[0].outcome.success, "the forbidden step, let through, worked"
    assert any(f"guardrail {rail.id} probed: narrowed" in m for m in probes[0].memory)
    after = next(g for g in store.guardrails(include_retired=True) if g.id == rail.id)
    assert after.when == ["hands:empty", "night"] and not after.retired
    assert result.success, "narrowed, it no longer stands in the way by day"
    blocks = sum(1 for ln in lines if ln.guardrail.blocked)
    counts = store.ledger()[("guardrail", rail.id)]
    assert counts["blocks"] == blocks >= 2 and counts["probes"] == 1
    assert after.blocks == blocks, "the guardrail counts its blocks"
    store.close()


def test_a_wrong_guardrail_with_nothing_to_narrow_is_retired(tmp_path: Path) -> None:
    store = ExperienceStore(tmp_path / "k.sqlite")
    evidence = store.anchor(_tuple("mine:oak_log", ["hands:empty"], False, FailureCause.WRONG_TOOL))
    rail = store.put_guardrail(
        Guardrail(
            root_cause=FailureCause.WRONG_TOOL,
            forbidden="mine:oak_log",
            when=["hands:empty"],
            evidence=[evidence],
        )
    )
    result, lines = _play(store, seed=0)
    after = next(g for g in store.guardrails(include_retired=True) if g.id == rail.id)
    assert after.retired and result.success
    assert any(f"guardrail {rail.id} probed: retired" in m for ln in lines for m in ln.memory)
    store.close()


# ---- skills: before expansion and after ------------------------------------------------------
SKILL = Skill(
    id=3,
    name="obtain:stone_pickaxe",
    target="stone_pickaxe",
    preconditions=["has:stick", "near:crafting_table"],
    steps=[Subgoal(verb="craft", target="stone_pickaxe")],
    verification={"stone_pickaxe": 1},
)


def test_a_skill_whose_precondition_does_not_hold_is_refused_before_expansion() -> None:
    facts = frozenset({"near:crafting_table"})
    allowed = allowed_targets({"craft": ["stone_pickaxe"]}, [SKILL], facts=facts)
    assert "skill" not in allowed, "not offered where it cannot start"
    offered = allowed_targets({"craft": ["stone_pickaxe"]}, [SKILL], facts=facts | {"has:stick"})
    assert offered["skill"] == ("obtain:stone_pickaxe",)
    reply = {"plan": [{"verb": "skill", "target": "obtain:stone_pickaxe"}]}
    with pytest.raises(PlanError, match="obtain:stone_pickaxe cannot start here: has:stick"):
        to_subgoals(reply, offered, [SKILL], facts)
    steps, notes, expanded = to_subgoals(reply, offered, [SKILL], facts | {"has:stick"})
    assert steps == SKILL.steps and notes[0].startswith("skill obtain:stone_pickaxe -> 1 steps")
    assert expanded == [Expanded(SKILL.id or 0, 0, len(SKILL.steps))]


def test_a_skill_that_fails_its_verification_loses_confidence(tmp_path: Path) -> None:
    store = ExperienceStore(tmp_path / "k.sqlite")
    skill = store.put_skill(SKILL.model_copy(update={"id": None, "confidence": 0.3}))
    memory = Memory(store, METHODS["evolving"], "map:x#0")
    planned = PlanResult(subgoals=list(SKILL.steps), expanded=[Expanded(skill.id or 0, 0, 1)])
    memory.planned(planned, Briefing(skills=[skill]), STATE)
    memory.attempted(SKILL.steps[0], True, STATE)  # it "worked", and no pickaxe came of it
    after = store.find_skill(skill.name)
    assert after is not None and after.retired and after.confidence < 0.2
    assert memory.verdicts == [f"skill {skill.id} failed its verification: retired"]
    memory.flush()
    assert store.ledger()[("skill", int(skill.id or 0))]["failed"] == 1
    store.close()


# ---- the spatial index decides where to look -------------------------------------------------
def test_explore_heads_where_this_maps_attempts_found_the_target(tmp_path: Path) -> None:
    store = ExperienceStore(tmp_path / "k.sqlite")
    here = map_tag("craftworld/v1", 0)
    found = WorldState(world="craftworld/v1", position=(120, 70, -40))
    hurt = WorldState(world="craftworld/v1", position=(-30, 60, 10), dead=True)
    store.anchor(_tuple("explore:iron_ore", [], True, post=found, tags=["iron_ore", here]))
    store.anchor(
        _tuple(
            "explore:iron_ore",
            [],
            True,
            post=found.model_copy(update={"position": (9, 9, 9)}),
            tags=["iron_ore", "map:craftworld/v1#1"],
        )
    )  # another seed's map: not this one's
    store.anchor(
        _tuple(
            "mine:stone", [], False, FailureCause.MOB_KILLED, post=hurt, tags=["MOB_KILLED", here]
        )
    )
    memory = Memory(store, METHODS["evolving"], here)
    sg = memory.toward(Subgoal(verb="explore", target="iron_ore"), STATE)
    assert sg.args == {"toward": "120,-40", "avoid": "-24,8"}
    off = Memory(store, METHODS["no-spatial"], here)
    assert off.toward(Subgoal(verb="explore", target="iron_ore"), STATE).args == {}
    assert memory.toward(Subgoal(verb="mine", target="iron_ore"), STATE).args == {}
    store.close()


def test_the_world_explores_toward_a_place_first() -> None:
    world = sim.make("craftworld/v1")
    task = Task(id="t", instruction="x", goal=Goal(item="diamond"), max_subgoals=5)
    start = world.reset(task, 0).position
    east = f"{start[0] + 1000},{start[2]}"
    # a short search (its tick budget runs out on the way) for what is not near the start
    args: dict[str, str | int] = {"toward": east, "max_ticks": 600}
    out = world.execute(Subgoal(verb="explore", target="emerald_ore", args=args))
    x, _, z = out.post_state.position
    assert x - start[0] > 2 * abs(z - start[2]) and x - start[0] > 40, (start, (x, z), out.message)
    world.reset(task, 0)
    args = {"max_ticks": 600}
    free = world.execute(Subgoal(verb="explore", target="emerald_ore", args=args)).post_state
    assert free.position[0] < x - 40, "untold, its first legs go another way"


# ---- every index is a source in an evolving run, and the ledger is shown ---------------------
def test_every_index_is_a_source_in_an_evolving_run(tmp_path: Path) -> None:
    cfg = RunConfig(
        suite=str(resolve_suite("wooden")), seeds=[0, 1], planner="fallible", out=str(tmp_path)
    )
    result = run_suite(cfg)
    sources: set[str] = set()
    for path in (result.run_dir / "trajectory").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            sources |= {item["source"] for item in json.loads(line)["recalled"]}
    assert {"goal", "signature", "spatial", "summary", "recipe"} <= sources, sources
    assert sources & {"tags", "text"}, sources
    store = ExperienceStore(result.run_dir / "knowledge.sqlite")
    ledger = store.ledger()
    assert ledger and any(c["followed"] for c in ledger.values())
    store.close()


def test_knowledge_show_and_the_html_page_show_each_items_ledger(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from agent.cli import app
    from viz.browser import write_knowledge_html

    store = ExperienceStore(tmp_path / "k.sqlite")
    rail = _planted(store)
    _play(store, seed=0)
    store.close()
    shown = CliRunner().invoke(
        app, ["knowledge", "show", str(tmp_path / "k.sqlite")], terminal_width=250
    )
    assert shown.exit_code == 0, shown.output
    assert all(w in shown.output for w in ("ledger", "recalled", "blocks 2", "probes 1"))
    page = write_knowledge_html(tmp_path / "k.sqlite", tmp_path / "html")
    text = Path(page).read_text()
    assert f'id="g{rail.id}"' in text and "blocks 2, probes 1" in text


def test_near_duplicate_skills_merge(tmp_path: Path) -> None:
    from knowledge.distill import DistillReport, RuleDistiller

    store = ExperienceStore(tmp_path / "k.sqlite")
    step = Subgoal(verb="craft", target="stick")
    kept = store.put_skill(
        Skill(name="craft:stick", target="stick", steps=[step], evidence=[1], uses=1)
    )
    twin = Skill(name="obtain:stick", target="stick", steps=[step], evidence=[2], uses=1)
    RuleDistiller()._merge_skill(store, twin, DistillReport())
    (only,) = store.skills()
    assert only.id == kept.id and only.evidence == [1, 2] and only.uses == 2
    store.close()


def test_the_llm_prompt_shows_what_happened_before_only_when_asked() -> None:
    from agent.planner.llm import LLMPlanner
    from knowledge.schema import RecallItem

    world = sim.make("craftworld/v1")
    task = Task(id="t", instruction="Craft a stick.", goal=Goal(item="stick"))
    state = world.reset(task, 0)
    line = "history craft:stick: 3 attempts, 33% ok, most often MISSING_ITEM (2)"
    briefing = Briefing(
        items=[RecallItem(kind="summary", id=1, text=line, score=0.3, source="summary")]
    )

    class Silent:
        backend, model = "fake", "fake"

    for history in (False, True):
        planner = LLMPlanner(Silent(), world, history=history)  # type: ignore[arg-type]
        knowledge = planner._context(task, state, briefing, None)["knowledge"]
        assert (line in knowledge) is history and ("What happened before" in knowledge) is history
