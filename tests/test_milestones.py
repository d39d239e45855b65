"""Long-horizon goals (`all:`, `then:` milestones) and episodes that end before their budget
(a dead end, a goal the world cannot produce): what a suite author writes and what the run,
its records, the report and the viewer say about it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.loop import DEAD_END_REPEATS, Episode, play_oracle
from agent.methods import METHODS
from agent.planner.base import PlanResult
from agent.planner.symbolic import SymbolicPlanner
from scenarios import SuiteError, load_suite
from sim import events as ev
from sim.schema import FailureCause, Goal, Outcome, Subgoal, Task

runner = CliRunner()
EXAMPLE = Path(__file__).parent.parent / "scenarios" / "examples" / "long_horizon.yaml"

SUITE = """\
name: lh
world: craftworld/v1
defaults: {{max_ticks: 12000, max_subgoals: 40, seeds: [0]}}
tasks:
  - id: t
    instruction: Do it.
    goal:
{goal}
"""


def _write(tmp_path: Path, goal: str, name: str = "lh.yaml") -> Path:
    path = tmp_path / name
    path.write_text(SUITE.format(goal=goal))
    return path


def _world() -> Any:
    import sim

    return sim.make("craftworld/v1")


def _said(output: str) -> str:
    return " ".join(output.split())  # rich wraps long lines


# ---- authoring --------------------------------------------------------------------------------
def test_all_and_then_accept_names_and_counts(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "      then:\n        - stick\n"
        "        - {all: [wooden_sword, {item: oak_planks, count: 2}]}",
    )
    goal = load_suite(path).to_tasks()[0][0].goal
    assert goal.text() == "1 stick, then all of 1 wooden_sword, 2 oak_planks"
    assert [m.wanted() for m in goal.milestones()] == [
        {"stick": 1},
        {"wooden_sword": 1, "oak_planks": 2},
    ]


@pytest.mark.parametrize(
    ("goal", "field", "message"),
    [
        ("      then: [stick]", "tasks[0].goal.then", "at least 2"),
        ("      item: stick\n      all: [stick]", "tasks[0].goal", "exactly one of"),
        ("      then: [stick, {item: a, all: [b]}]", "tasks[0].goal.then[1]", "exactly one of"),
        ("      all: []", "tasks[0].goal.all", "at least 1"),
    ],
)
def test_a_malformed_long_goal_names_its_field(
    tmp_path: Path, goal: str, field: str, message: str
) -> None:
    with pytest.raises(SuiteError) as info:
        load_suite(_write(tmp_path, goal))
    errors = info.value.errors or [info.value]
    assert any(e.field == field and message in e.message for e in errors), errors


def test_an_unknown_item_in_a_milestone_is_named_with_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "      then:\n        - stick\n        - {all: [wooden_swrd]}")
    result = runner.invoke(app, ["suite", "validate", str(path)])
    assert result.exit_code == 1
    said = _said(result.output)
    assert "lh.yaml:10" in said and "tasks[0].goal.then[1].all[0]" in said
    assert "wooden_swrd" in said and "wooden_sword" in said  # the suggestion


def test_validate_refuses_a_milestone_the_world_cannot_produce(tmp_path: Path) -> None:
    path = _write(tmp_path, "      then: [wooden_pickaxe, red_sandstone_wall]")
    result = runner.invoke(app, ["suite", "validate", str(path)])
    assert result.exit_code == 1
    assert "no way to obtain red_sandstone_wall" in _said(result.output)


# ---- playing -----------------------------------------------------------------------------------
def test_the_example_suite_reaches_every_milestone_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    result = runner.invoke(
        app, ["run", str(EXAMPLE), "--planner", "symbolic", "--seeds", "0", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "yes 3/3" in result.output  # the milestones reached, in the success column
    (run_dir,) = out.iterdir()
    rows = [json.loads(r) for r in (run_dir / "episodes.jsonl").read_text().splitlines()]
    assert {(r["task_id"], r["milestones"], r["milestones_of"], r["ended"]) for r in rows} == {
        ("pickaxe_ladder", 3, 3, "goal"),
        ("wooden_toolkit", 1, 1, "goal"),
        ("stone_workshop", 3, 3, "goal"),
    }
    lines = [
        json.loads(x)
        for x in (run_dir / "trajectory" / "pickaxe_ladder__s0.jsonl").read_text().splitlines()
    ]
    reached = [x["milestone"]["reached"] for x in lines]
    assert reached == sorted(reached) and reached[0] == 0 and reached[-1] == 3
    # the planner worked on one item at a time, in the order written
    working = [x["milestone"]["working_on"] for x in lines]
    order = list(dict.fromkeys(w for w in working if w))
    assert order[0] == "wooden_pickaxe" and "stone_pickaxe" in order and "iron_pickaxe" in order


def test_milestones_count_in_order_only() -> None:
    """Sticks held from the start do not count before the pickaxe milestone is reached."""
    task = Task(
        id="t",
        instruction="x",
        goal=Goal(then=[Goal(item="wooden_pickaxe"), Goal(item="stick")]),
        initial_inventory={"stick": 4},
    )
    result, lines = play_oracle(_world(), task, 0)
    assert result.success and (result.milestones, result.milestones_of) == (2, 2)
    assert lines[0].milestone.reached == 0


def test_a_budget_that_runs_out_scores_the_milestones_reached() -> None:
    task = Task(
        id="t",
        instruction="x",
        goal=Goal(then=[Goal(item="stick"), Goal(item="iron_pickaxe")]),
        max_subgoals=6,
    )
    result, _ = play_oracle(_world(), task, 0)
    assert not result.success and (result.milestones, result.milestones_of) == (1, 2)
    assert result.ended == "subgoal_budget"


def test_the_viewer_shows_where_the_milestones_stand(tmp_path: Path) -> None:
    from viz.frame import Frame, plan_rows

    task = Task(
        id="t", instruction="x", goal=Goal(then=[Goal(item="stick"), Goal(item="wooden_axe")])
    )
    _, lines = play_oracle(_world(), task, 0)
    frame = Frame(episode_id="t__s0", task_id="t", seed=0, step=0, line=lines[-1])
    assert plan_rows(frame)[0] == ("milestones 2/2 reached", "more")


# ---- ending early ------------------------------------------------------------------------------
def test_a_goal_the_world_cannot_produce_ends_at_once_with_the_reason() -> None:
    task = Task(id="t", instruction="x", goal=Goal(item="red_sandstone_wall"))
    result, lines = play_oracle(_world(), task, 0)
    assert (result.ended, result.steps, lines) == ("unobtainable", 0, [])
    assert "red_sand" in result.ended_why


class Stubborn(SymbolicPlanner):
    """Plans the same impossible step whatever it is told (a model stuck on one idea)."""

    def plan(self, task, state, briefing):  # type: ignore[no-untyped-def]
        return PlanResult([Subgoal(verb="craft", target="iron_pickaxe")], llm_calls=1)

    def replan(self, task, state, briefing, failed, diagnosis, ahead):  # type: ignore[no-untyped-def]
        return self.plan(task, state, briefing)


def test_the_same_failure_in_the_same_state_ends_the_episode_with_its_cause() -> None:

    world = _world()
    task = Task(id="t", instruction="x", goal=Goal(item="iron_pickaxe"), max_subgoals=60)
    lines: list[dict[str, Any]] = []
    episode = Episode(
        world=world,
        task=task,
        seed=0,
        planner=Stubborn(),
        method=METHODS["no-explore"],  # no probes: nothing changes the state
        store=None,
        run_id="t",
        record=lines.append,
    )
    result = episode.run()
    # the first attempt is also the first look at the start cell (new information)
    assert result.ended == "dead_end" and result.steps == DEAD_END_REPEATS + 1
    assert "craft 1 iron_pickaxe" in result.ended_why and "MISSING_ITEM" in result.ended_why
    assert {x.diagnosis.cause.value for x in lines} == {"MISSING_ITEM"}


def test_a_whole_search_that_finds_nothing_twice_is_a_dead_end() -> None:

    world = _world()
    task = Task(id="t", instruction="x", goal=Goal(item="stick"))
    episode = Episode(
        world=world,
        task=task,
        seed=0,
        planner=SymbolicPlanner(),
        method=METHODS["none"],
        store=None,
        run_id="t",
    )
    state = world.reset(task, 0)
    episode._begin(state)
    from agent.diagnosis import History, diagnose

    def searched(moved: int, exhausted: bool) -> Any:
        sg = Subgoal(verb="explore", target="birch_log")
        post = state.model_copy(update={"tick": state.tick + moved})
        event = {"event": ev.SEARCH, "target": "birch_log", "found": False}
        if exhausted:
            event["exhausted"] = True
        fail = {"event": ev.FAIL, "cause": FailureCause.TARGET_NOT_FOUND.value, "message": "x"}
        out = Outcome(
            subgoal=sg,
            success=False,
            cause=FailureCause.TARGET_NOT_FOUND,
            post_state=post,
            trace=[event, fail],
        )
        d = diagnose(state, sg, out, History(), task, lambda s: 0.0, {})
        return sg, d, out

    # a search cut short is not the world's whole search: it never ends the episode
    for _ in range(3):
        sg, d, out = searched(10, exhausted=False)
        assert episode._dead_end(sg, d, out, state.model_copy(update={"tick": 1})) is None
    sg, d, out = searched(10, exhausted=True)
    assert episode._dead_end(sg, d, out, state.model_copy(update={"tick": 2})) is None
    sg, d, out = searched(10, exhausted=True)
    why = episode._dead_end(sg, d, out, state.model_copy(update={"tick": 3}))
    assert why is not None and "no birch_log found after the world's whole search" in why


def test_the_run_table_says_why_an_episode_ended_early(tmp_path: Path) -> None:
    path = _write(tmp_path, "      item: red_sandstone_wall")
    # the run refuses before anything runs; the episode-level check is the one above
    result = runner.invoke(app, ["run", str(path), "--planner", "symbolic", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "no way to obtain red_sandstone_wall" in _said(result.output)
    assert not any(p.is_dir() for p in tmp_path.iterdir())
