"""The experience store, distillation and recall: tiers, evidence ids, versions, bad files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from knowledge import (
    Diagnosis,
    ExperienceStore,
    ExperienceTuple,
    RecallQuery,
    RuleDistiller,
    StoreError,
    recall,
)
from knowledge.schema import StateDiff
from knowledge.signature import signature
from sim.schema import FailureCause, Subgoal, WorldState


def _tuple(
    step: int,
    verb: str,
    target: str,
    *,
    ok: bool = True,
    cause=FailureCause.NONE,
    details=None,
    gained=None,
    facts=("has:stick",),
    tags=(),
) -> ExperienceTuple:
    pre = WorldState(world="craftworld/v1", inventory={"stick": 2})
    post = WorldState(world="craftworld/v1", inventory={"stick": 2, **(gained or {})}, tick=40)
    return ExperienceTuple(
        run_id="r",
        episode_id="e",
        task_id="t",
        task_goal="wooden_pickaxe",
        step=step,
        pre_state=pre,
        action=Subgoal(verb=verb, target=target),
        diagnosis=Diagnosis(
            success=ok,
            cause=cause,
            details=details or {},
            diff=StateDiff(gained=gained or {}, ticks=40),
            evidence=["" if ok else "it failed"],
        ),
        post_state=post,
        facts=list(facts),
        tags=[verb, target, cause.value, *tags],
    )


def test_signature_is_order_free() -> None:
    assert signature(["a", "b"]) == signature(["b", "a", "a"])
    assert signature(["a"]) != signature(["b"])


def test_anchor_assigns_ids_and_updates_summaries(tmp_path: Path) -> None:
    store = ExperienceStore(tmp_path / "k.sqlite")
    ids = store.anchor_many(
        [
            _tuple(0, "mine", "oak_log"),
            _tuple(1, "mine", "oak_log", ok=False, cause=FailureCause.TARGET_NOT_FOUND),
        ]
    )
    assert ids == [1, 2]
    summ = store.summary("op", "mine:oak_log")
    assert summ is not None
    assert summ["attempts"] == 2 and summ["successes"] == 1
    assert summ["causes"] == {"NONE": 1, "TARGET_NOT_FOUND": 1}
    assert store.get_tuple(2).diagnosis.cause is FailureCause.TARGET_NOT_FOUND
    store.close()
    again = ExperienceStore(tmp_path / "k.sqlite")  # persists across processes
    assert again.stats()["tuples"] == 2


def test_distill_skills_and_guardrails_carry_evidence(tmp_path: Path) -> None:
    store = ExperienceStore(tmp_path / "k.sqlite")
    # earlier experience: crafting a stone pickaxe made `pickaxe>=stone` true
    made = _tuple(
        0,
        "craft",
        "stone_pickaxe",
        gained={"stone_pickaxe": 1},
        tags=("gain:has:stone_pickaxe", "gain:pickaxe>=stone"),
    )
    fail = _tuple(
        1,
        "mine",
        "iron_ore",
        ok=False,
        cause=FailureCause.WRONG_TOOL,
        details={"needs": "pickaxe>=stone"},
    )
    ok = _tuple(2, "craft", "wooden_pickaxe", gained={"wooden_pickaxe": 1})
    store.anchor_many([made, fail, ok])
    report = RuleDistiller().distill(store, [fail, ok], True, "wooden_pickaxe")
    assert report.skills and report.guardrails
    rail = store.guardrails()[0]
    assert rail.forbidden == "mine:iron_ore" and rail.unless == ["pickaxe>=stone"]
    assert rail.evidence == [fail.id]
    # the remedy is induced from experience and names the tuple it rests on
    assert [s.key() for s in rail.remedy] == ["craft:stone_pickaxe"]
    assert rail.remedy_evidence == [made.id]
    assert rail.applies(Subgoal(verb="mine", target="iron_ore"), frozenset({"has:stick"}))
    assert not rail.applies(Subgoal(verb="mine", target="iron_ore"), frozenset({"pickaxe>=stone"}))
    skill = store.find_skill("obtain:wooden_pickaxe")
    assert skill is not None and skill.evidence == [ok.id]
    # the same tuple again (the online pass saw it first): counted once
    RuleDistiller().distill(store, [fail, ok], True, "wooden_pickaxe")
    assert store.guardrails()[0].version == 1
    # the same mistake again, new evidence: merged, not duplicated; version goes up
    again = fail.model_copy(update={"id": None, "step": 3})
    store.anchor(again)
    RuleDistiller().distill(store, [again], False, "wooden_pickaxe")
    assert len(store.guardrails()) == 1
    assert store.guardrails()[0].version == 2
    assert store.guardrails()[0].evidence == [fail.id, again.id]
    assert store.guardrails()[0].confidence > rail.confidence


def test_guardrail_contradicted_by_success_is_retired(tmp_path: Path) -> None:
    store = ExperienceStore(":memory:")
    fail = _tuple(
        0,
        "mine",
        "stone",
        ok=False,
        cause=FailureCause.WRONG_TOOL,
        details={"needs": "pickaxe>=wood"},
        facts=(),
    )
    store.anchor(fail)
    RuleDistiller().distill(store, [fail], False, "cobblestone")
    for i in range(3):
        win = _tuple(i + 1, "mine", "stone", gained={"cobblestone": 1}, facts=())
        store.anchor(win)
        RuleDistiller().distill(store, [win], False, "cobblestone")
    assert store.guardrails() == []
    assert store.guardrails(include_retired=True)[0].violations >= 2


def test_recall_ranks_and_names_evidence(tmp_path: Path) -> None:
    store = ExperienceStore(":memory:")
    ok = _tuple(0, "craft", "wooden_pickaxe", gained={"wooden_pickaxe": 1})
    store.anchor(ok)
    RuleDistiller().distill(store, [ok], True, "wooden_pickaxe")
    brief = recall(store, RecallQuery(goal="wooden_pickaxe", facts=frozenset({"has:stick"})))
    assert brief.items and brief.items[0].kind == "skill"
    assert all(i.evidence for i in brief.items)
    assert {e for i in brief.items for e in i.evidence} <= {t.id for t in store.tuples()}
    # a budget too small for any item recalls nothing rather than overflowing
    assert recall(store, RecallQuery(goal="wooden_pickaxe"), budget_tokens=1).items == []
    # unrelated goals do not recall this skill
    assert not recall(store, RecallQuery(goal="diamond", summaries=False)).skills


def test_bad_store_files_are_refused_clearly(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"junk\.sqlite"):
        ExperienceStore(junk)
    newer = tmp_path / "newer.sqlite"
    ExperienceStore(newer).close()
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE meta SET value='99' WHERE key='schema'")
    with pytest.raises(StoreError, match="newer"):
        ExperienceStore(newer)


def test_online_guardrail_is_not_counted_again_at_episode_end(tmp_path: Path) -> None:
    store = ExperienceStore(":memory:")
    fail = _tuple(
        0,
        "craft",
        "wooden_pickaxe",
        ok=False,
        cause=FailureCause.RECIPE_FAIL,
        details={"needs": "near:crafting_table", "remedy_verb": "place"},
    )
    store.anchor(fail)
    online = RuleDistiller().online(store, fail)
    assert len(online.guardrails) == 1
    conf = store.guardrails()[0].confidence
    RuleDistiller().distill(store, [fail], False, "wooden_pickaxe")
    assert store.guardrails()[0].confidence == conf and store.guardrails()[0].version == 1


def test_task_scope_guardrail_from_damage_at_night_deep_and_unarmed(tmp_path: Path) -> None:
    store = ExperienceStore(":memory:")
    hurt = _tuple(
        0,
        "mine",
        "diamond_ore",
        ok=False,
        cause=FailureCause.DAMAGE,
        facts=("night", "y<16", "has:iron_pickaxe"),
    )
    store.anchor(hurt)
    RuleDistiller().distill(store, [hurt], False, "diamond")
    (rail,) = store.guardrails()
    assert rail.scope == "task" and rail.task_goal == "wooden_pickaxe"  # the tuple's goal
    assert rail.forbidden == "mine:diamond_ore" and rail.when == ["night", "y<16"]
    assert rail.unless == ["sword>=wood"] and rail.remedy == [], "nothing ever armed the agent"
    dig = Subgoal(verb="mine", target="diamond_ore")
    assert rail.applies(dig, frozenset({"night", "y<16"}))
    assert not rail.applies(dig, frozenset({"y<16"}))  # by day: allowed
    assert not rail.applies(dig, frozenset({"night", "y<16", "sword>=wood"}))  # armed: allowed
    # hurt in daylight on the surface: no rule to learn
    calm = _tuple(1, "mine", "stone", ok=False, cause=FailureCause.DAMAGE, facts=())
    store.anchor(calm)
    RuleDistiller().distill(store, [calm], False, "cobblestone")
    assert len(store.guardrails()) == 1
    # once a sword has been made, the same lesson's remedy is what armed the agent then
    sword = _tuple(
        2, "craft", "wooden_sword", gained={"wooden_sword": 1}, tags=("gain:sword>=wood",)
    )
    store.anchor(sword)
    again = hurt.model_copy(update={"id": None, "step": 3})
    store.anchor(again)
    RuleDistiller().distill(store, [again], False, "diamond")
    (rail,) = store.guardrails()
    assert [s.key() for s in rail.remedy] == ["craft:wooden_sword"]
    assert rail.remedy_evidence == [sword.id]


def test_skill_whose_step_fails_loses_confidence_and_retires(tmp_path: Path) -> None:
    store = ExperienceStore(":memory:")
    win = _tuple(0, "craft", "stick", gained={"stick": 4}, facts=("has:oak_planks",))
    store.anchor(win)
    RuleDistiller().distill(store, [win], False, "stick")
    skill = store.find_skill("craft:stick")
    assert skill is not None and not skill.retired
    for i in range(4):
        miss = _tuple(
            i + 1,
            "craft",
            "stick",
            ok=False,
            cause=FailureCause.MISSING_ITEM,
            facts=("has:oak_planks", *skill.preconditions),
        )
        store.anchor(miss)
        RuleDistiller().distill(store, [miss], False, "stick")
    after = store.find_skill("craft:stick")
    assert after is not None and after.confidence < skill.confidence
    assert after.retired, "verification kept failing: retired"
