"""Guardrails and skills are found through indices, never by reading every rule (issue 27).

The timing lives in `benchmarks/guardrail_scale.py`; here: the indexed lookups return exactly
what a full scan would, an episode and its distillation never scan, and `knowledge show` pages.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sim
from agent.cli import app
from agent.loop import Episode
from agent.methods import METHODS
from agent.planner.symbolic import SymbolicPlanner
from knowledge.recall import RecallQuery, recall
from knowledge.schema import Guardrail, Skill
from knowledge.store import ExperienceStore
from sim.schema import FailureCause, Goal, Subgoal, Task

NAMES = ["stick", "oak_planks", "furnace", "iron_ingot", "stone", "coal"]


def _rails(n: int, names: list[str]) -> list[Guardrail]:
    rng = random.Random(0)
    out = []
    for i in range(n):
        op = f"{rng.choice(['craft', 'mine', 'smelt'])}:{rng.choice(names)}"
        kind = rng.randrange(4)
        out.append(
            Guardrail(
                scope="task" if kind == 3 else "subgoal",
                task_goal=rng.choice(names) if kind == 3 else None,
                root_cause=FailureCause.MISSING_ITEM,
                forbidden=op,
                unless=[f"has:{rng.choice(names)}{i}"] if kind == 0 else [],
                when=[f"near:{rng.choice(names)}"] if kind == 1 else [],
                evidence=[1],
            )
        )
    return out


def _filled(n: int, names: list[str] = NAMES) -> ExperienceStore:
    store = ExperienceStore(":memory:")
    with store.batch():
        for rail in _rails(n, names):
            store.put_guardrail(rail)
        for name in names:
            store.put_skill(Skill(name=f"obtain:{name}", target=name, steps=[], evidence=[1]))
    return store


def test_indexed_lookups_return_what_a_full_scan_would() -> None:
    store = _filled(400)
    every = store.guardrails()
    for name in NAMES:
        for verb in ("craft", "mine", "smelt"):
            op = f"{verb}:{name}"
            assert store.guardrails_for(op) == [g for g in every if g.forbidden == op]
    targets, goal = {"stick", "coal"}, "furnace"
    expect = [
        g
        for g in every
        if g.forbidden.partition(":")[2] in targets or (g.scope == "task" and g.task_goal == goal)
    ]
    got = store.guardrails_about(targets, goal)
    assert got == [g for g in expect if g in got] and all(g in got for g in expect)
    for facts in ({"near:stick"}, {"near:coal", "near:furnace"}, set()):
        shut = {
            g.forbidden
            for g in every
            if g.scope == "subgoal" and not g.unless and all(f in facts for f in g.when)
        }
        assert store.shut(facts) == shut
    lifted = [g for g in every if g.unless and g.unless[0] in {"has:stick0", "has:coal4"}]
    assert store.guardrails_lifted_by(["has:stick0", "has:coal4"]) == lifted
    assert [s.target for s in store.skills_for({"stick", "coal"})] == ["stick", "coal"]


def test_recall_with_indices_matches_the_scan_it_replaced() -> None:
    store = _filled(300)
    query = RecallQuery(
        goal="furnace", facts=frozenset({"near:stone"}), relevant=frozenset({"coal"})
    )
    briefing = recall(store, query)
    every = store.guardrails()
    closed = {
        g.forbidden
        for g in every
        if g.scope == "subgoal" and not g.unless and g.applies_now(query.facts)
    }
    assert set(briefing.closed) == closed
    assert briefing.guardrails and all(
        g.forbidden.partition(":")[2] in ("furnace", "coal") or g.task_goal == "furnace"
        for g in briefing.guardrails
    )


def test_an_episode_and_its_distillation_never_read_every_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = _filled(2000, [f"unseen_{n}" for n in NAMES])  # none blocks the stick

    def scan(*args: object, **kwargs: object) -> list[Guardrail]:
        raise AssertionError("a full scan of the guardrails")

    monkeypatch.setattr(store, "guardrails", scan)
    monkeypatch.setattr(store, "skills", scan)
    world = sim.make("craftworld/v1")
    task = Task(id="craft_stick", instruction="craft a stick", goal=Goal(item="stick"))
    result = Episode(
        world=world,
        task=task,
        seed=0,
        planner=SymbolicPlanner(),
        method=METHODS["evolving"],
        store=store,
        run_id="r",
    ).run()
    assert result.success


def test_knowledge_show_prints_a_page_and_says_how_to_get_the_next(tmp_path: Path) -> None:
    path = tmp_path / "k.sqlite"
    store = ExperienceStore(path)
    with store.batch():
        for i in range(120):
            store.put_guardrail(
                Guardrail(
                    root_cause=FailureCause.MISSING_ITEM,
                    forbidden=f"craft:thing{i}",
                    evidence=[1],
                    remedy=[Subgoal(verb="mine", target="stone")] if i == 0 else [],
                    remedy_evidence=[1] if i == 0 else [],
                )
            )
    store.close()
    runner = CliRunner()
    first = runner.invoke(app, ["knowledge", "show", str(path)], terminal_width=200)
    assert first.exit_code == 0, first.output
    assert "thing0 " in first.output and "thing49 " in first.output
    assert "thing50 " not in first.output
    assert "items 1-50 of 120" in first.output and "--page 2" in first.output
    last = runner.invoke(app, ["knowledge", "show", str(path), "--page", "3"], terminal_width=200)
    assert "thing119 " in last.output and "items 101-120 of 120" in last.output
    assert "--page 4" not in last.output
    past = runner.invoke(app, ["knowledge", "show", str(path), "--page", "4"])
    assert past.exit_code != 0 and "past the end" in past.output
