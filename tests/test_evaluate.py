"""The fallible planner, online guardrails, and the evaluation harness (steve eval)."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sim
from agent.cli import app
from agent.evaluate import EvalConfig, evaluate, rolling, seed_interval, wilson
from agent.loop import Episode
from agent.methods import METHODS
from agent.planner.fallible import FallibleSymbolicPlanner, Misbeliefs
from agent.planner.symbolic import SymbolicPlanner
from agent.runner import RunConfig, run_suite
from knowledge.schema import Briefing, Guardrail
from sim.schema import FailureCause, Goal, Subgoal, Task

SUITE = """
name: tiny
world: craftworld/v1
defaults: {max_ticks: 12000, max_subgoals: 25, seeds: [0]}
tasks:
  - {id: pickaxe, instruction: Craft a wooden pickaxe., goal: {item: wooden_pickaxe}}
  - {id: sword, instruction: Craft a wooden sword., goal: {item: wooden_sword}}
  - {id: axe, instruction: Craft a wooden axe., goal: {item: wooden_axe}}
"""
ONLY_STATION = {"no_station": 1.0, "low_tool": 0.0, "early": 0.0}


def _suite(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(SUITE)
    return path


def _texts(subgoals: list[Subgoal]) -> list[str]:
    return [s.text() for s in subgoals]


def _task(item: str) -> Task:
    return Task(id=item, instruction=f"get {item}", goal=Goal(item=item), max_subgoals=40)


def _rail(forbidden: str, unless: str, cause: FailureCause) -> Guardrail:
    return Guardrail(id=1, root_cause=cause, forbidden=forbidden, unless=[unless])


@pytest.fixture(scope="module")
def start():
    world = sim.make("craftworld/v1")
    task = _task("iron_ingot")
    return task, world.reset(task, 0)


def test_fallible_planner_repeats_a_missing_station_until_a_guardrail_says_otherwise(
    start,
) -> None:
    task, state = start
    task = _task("wooden_pickaxe")
    good = _texts(SymbolicPlanner().plan(task, state, Briefing()).subgoals)
    planner = FallibleSymbolicPlanner(Misbeliefs(**ONLY_STATION))
    bad = _texts(planner.plan(task, state, Briefing()).subgoals)
    assert "place 1 crafting_table" in good and "place 1 crafting_table" not in bad
    assert _texts(planner.plan(task, state, Briefing()).subgoals) == bad, "the same mistake"
    told = Briefing(
        guardrails=[_rail("craft:wooden_pickaxe", "near:crafting_table", FailureCause.RECIPE_FAIL)]
    )
    fixed = planner.plan(task, state, told)
    assert _texts(fixed.subgoals) == good
    assert any("briefing corrected" in n for n in fixed.notes)


def test_fallible_planner_wrong_tool_tier_and_wrong_order(start) -> None:
    task, state = start
    low = FallibleSymbolicPlanner(Misbeliefs(no_station=0, low_tool=1.0, early=0))
    steps = _texts(low.plan(task, state, Briefing()).subgoals)
    assert "equip wooden_pickaxe" not in steps and "mine 13 stone" in steps, "stone by hand"
    mine = steps.index("mine 1 iron_ore")
    assert steps[mine - 1] == "equip 1 wooden_pickaxe", "iron ore with a wooden pickaxe"
    told = Briefing(guardrails=[_rail("mine:iron_ore", "pickaxe>=stone", FailureCause.WRONG_TOOL)])
    fixed = _texts(low.plan(task, state, told).subgoals)
    assert fixed[fixed.index("mine 1 iron_ore") - 1] == "equip 1 stone_pickaxe"

    early = FallibleSymbolicPlanner(Misbeliefs(no_station=0, low_tool=0, early=1.0))
    steps = _texts(early.plan(_task("stick"), state, Briefing()).subgoals)
    assert steps.index("craft 4 stick") < steps.index("craft 4 oak_planks")
    assert steps.index("craft 4 oak_planks") < steps.index("mine 1 oak_log")


def test_misbeliefs_are_a_fixed_draw_per_seed() -> None:
    a, b = Misbeliefs(seed=0), Misbeliefs(seed=1)
    items = [f"item{i}" for i in range(200)]
    drawn = [a.holds("low_tool", i) for i in items]
    assert drawn == [a.holds("low_tool", i) for i in items]
    assert drawn != [b.holds("low_tool", i) for i in items]
    assert 0.35 < sum(drawn) / len(drawn) < 0.65  # about the rate, 0.5


def test_evolving_learns_within_the_episode_where_none_repeats_the_mistake(
    tmp_path: Path,
) -> None:
    runs = {}
    for method in ("none", "static", "evolving", "no-explore"):
        cfg = RunConfig(
            suite=str(_suite(tmp_path)),
            planner="fallible",
            method=method,
            tasks=["pickaxe"],
            out=str(tmp_path / "runs"),
            name=method,
            extra={"misbeliefs": ONLY_STATION},
        )
        runs[method] = run_suite(cfg).episodes[0]
    none = runs["none"]
    # without memory the planner repeats its mistake until the agent probes for the fact
    # the diagnosis found missing (the world names no fix): found, at a price
    assert none.success and none.causes.get("RECIPE_FAIL") == 2 and none.probes == 1
    ev = runs["evolving"]
    assert ev.success and ev.online_guardrails >= 1 and ev.probes == 0
    assert ev.causes.get("RECIPE_FAIL") == 1, "one failure, then the guardrail"
    assert ev.steps < none.steps
    # the guardrail, not probing, is what turns the planner (no probes, same result)
    assert runs["no-explore"].success and runs["no-explore"].steps == ev.steps
    config = (tmp_path / "runs" / "evolving" / "config.yaml").read_text()
    assert "seeded misbeliefs" in config, "labelled as the fixture it is"


def test_without_memory_or_probing_the_mistake_repeats_to_the_end() -> None:
    world = sim.make("craftworld/v1")
    task = Task(id="p", instruction="x", goal=Goal(item="wooden_pickaxe"), max_subgoals=12)
    blind = replace(METHODS["none"], name="none-no-explore", explore=False)
    episode = Episode(
        world=world,
        task=task,
        seed=0,
        planner=FallibleSymbolicPlanner(Misbeliefs(**ONLY_STATION)),
        method=blind,
        store=None,
        run_id="r",
    )
    result = episode.run()
    assert not result.success and result.causes.get("RECIPE_FAIL", 0) >= 3


def test_intervals_and_rolling_rates() -> None:
    lo, hi = wilson(8, 10)
    assert 0.49 < lo < 0.5 and 0.94 < hi < 0.95
    assert wilson(0, 0) == (0.0, 0.0)
    assert rolling([True, False, True, True], 2) == [1.0, 0.5, 0.5, 1.0]


def _rows_for(seeds_ok: dict[int, list[bool]]):
    from agent.evaluate import Row

    return [
        Row("m", i, "t", "g", "seen", seed, ok, 1, 1, 0, 0, 0, 0, 0.0, 0.0, "", "")
        for seed, oks in seeds_ok.items()
        for i, ok in enumerate(oks)
    ]


def test_seed_interval_bootstraps_over_seeds_or_falls_back_to_wilson() -> None:
    lo, hi, how = seed_interval(_rows_for({0: [True, True], 1: [False, True], 2: [True, False]}))
    assert how == "seeds" and 0.5 <= lo <= hi <= 1.0
    lo, hi, how = seed_interval(_rows_for({0: [True, False, True]}))
    assert how == "wilson" and lo < 2 / 3 < hi


def test_eval_writes_a_report_and_resumes(tmp_path: Path) -> None:
    cfg = EvalConfig(
        suite=str(_suite(tmp_path)),
        methods=["none", "evolving"],
        planner="fallible",
        seeds=[0],
        out=str(tmp_path / "reports"),
        name="r",
        extra={"misbeliefs": ONLY_STATION},
        tail=3,
    )
    result = evaluate(cfg)
    rep = result.report_dir
    for name in ("report.md", "episodes.csv", "summary.csv", "curve.csv", "curve.png"):
        assert (rep / name).stat().st_size > 0, name
    import matplotlib.image

    assert matplotlib.image.imread(rep / "curve.png").shape[2] in (3, 4)
    assert matplotlib.image.imread(rep / "groups.png").ndim == 3
    episodes = list(csv.DictReader((rep / "episodes.csv").open()))
    assert len(episodes) == 6 and {e["method"] for e in episodes} == {"none", "evolving"}
    steps = {m: sum(r.steps for r in rows) for m, rows in result.rows.items()}
    assert steps["evolving"] < steps["none"], "the mistake is made once, not in every episode"
    summary = {(s["method"], s["part"]): s for s in csv.DictReader((rep / "summary.csv").open())}
    assert summary[("evolving", "all")]["successes"] == "3"
    assert float(summary[("none", "all")]["ci_low"]) <= float(
        summary[("none", "all")]["success_rate"]
    )
    md = (rep / "report.md").read_text()
    assert "oracle with seeded misbeliefs" in md and "![learning curve](curve.png)" in md
    assert "RECIPE_FAIL craft:" in md, "the mistake none kept repeating is named"
    assert "| pickaxe | 1/1 | 1/1 |" in md, "success per task, methods side by side"
    # a killed run: the last episode of one method lost; resume runs only that one
    path = rep / "runs" / "none" / "episodes.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:10])
    again = evaluate(EvalConfig(suite=""), resume=rep)
    new = path.read_text().splitlines()
    assert len(new) == 3 and all(json.loads(line) for line in new)
    assert json.loads(new[-1])["episode_id"] == json.loads(lines[-1])["episode_id"]
    assert [r.success for r in again.rows["none"]] == [r.success for r in result.rows["none"]]


def test_eval_cli_names_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    suite, out = [str(_suite(tmp_path))], ["--planner", "fallible", "--out", str(tmp_path)]
    bad = runner.invoke(app, ["eval", *suite, "--method", "none,evolvng", *out])
    assert bad.exit_code == 2 and "evolvng" in bad.output and "evolving" in bad.output
    bad = runner.invoke(app, ["eval", *suite, "--option", "misbeliefs.seed", *out])
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.output
    assert not list(tmp_path.glob("*/report.md")), "nothing ran"
    args = ["--method", "evolving", "--planner", "fallible", "--tasks", "sword"]
    args += ["--option", "misbeliefs.seed=3", "--out", str(tmp_path / "rep"), "--name", "x"]
    ok = runner.invoke(app, ["eval", *suite, *args])
    assert ok.exit_code == 0, ok.output
    assert "misbeliefs:\n    seed: 3" in (tmp_path / "rep" / "x" / "eval.yaml").read_text()


TECHTREE = str(Path(__file__).resolve().parent.parent / "scenarios" / "suites" / "techtree.yaml")


@pytest.mark.slow
def test_the_closed_loop_beats_static_and_none_on_the_wooden_to_iron_stream(
    tmp_path: Path,
) -> None:
    """Issue 7's bar, over three misbelief draws of the fallible planner so that no single
    lucky draw decides: on streams of >= 50 episodes (wooden, stone, iron; seeds 0 and 1),
    evolving's last-20 success, averaged over the draws, is >= 15 points above static and
    >= 30 above none, and never below either in any draw; guardrails stop a failure mode
    static keeps repeating; a learning curve is written."""
    tails: dict[str, list[float]] = {"none": [], "static": [], "evolving": []}
    kept = []
    for draw in (0, 1, 2):
        cfg = EvalConfig(
            suite=TECHTREE,
            methods=list(tails),
            planner="fallible",
            seeds=[0, 1],
            groups=["wooden", "stone", "iron"],
            out=str(tmp_path),
            name=f"draw{draw}",
            extra={"misbeliefs": {"seed": draw}},
        )
        result = evaluate(cfg)
        assert len(result.rows["evolving"]) >= 50
        for method, rate in result.tail.items():
            tails[method].append(rate)
        assert result.tail["evolving"] >= max(result.tail["static"], result.tail["none"])
        evolving = result.modes["evolving"]
        kept += [
            mode
            for mode, n in result.modes["static"].items()
            if n >= 3 and not mode.startswith("BLOCKED") and evolving[mode] == 0
        ]
        for name in ("curve.csv", "curve.png", "report.md"):
            assert (result.report_dir / name).stat().st_size > 0
    mean = {m: sum(v) / len(v) for m, v in tails.items()}
    assert mean["evolving"] >= mean["static"] + 0.15, tails
    assert mean["evolving"] >= mean["none"] + 0.30, tails
    assert kept, "a mistake static keeps making and evolving stopped making"


@pytest.mark.slow
def test_eval_on_wooden_and_stone_symbolic_is_perfect_and_fallible_orders_methods(
    tmp_path: Path,
) -> None:
    """Issue 8's bar: 100% with the symbolic planner; the method ordering with the fallible
    one."""
    base = {"suite": TECHTREE, "seeds": [0], "groups": ["wooden", "stone"], "out": str(tmp_path)}
    oracle = evaluate(EvalConfig(methods=["evolving"], name="oracle", **base))  # type: ignore[arg-type]
    rows = oracle.rows["evolving"]
    assert len(rows) == 21 and all(r.success for r in rows)
    fallible = evaluate(
        EvalConfig(methods=["none", "static", "evolving"], planner="fallible", name="f", **base)  # type: ignore[arg-type]
    )
    rate = {m: sum(r.success for r in rs) / len(rs) for m, rs in fallible.rows.items()}
    assert rate["evolving"] > rate["static"] >= rate["none"], rate


def test_a_blocking_guardrail_applies_its_remedy_then_retries_the_step(tmp_path: Path) -> None:
    """The planner does not see the guardrail (no-injection) and plans the mistake; the loop
    blocks it, does the guardrail's remedy, then the blocked step: no replanning call."""
    from knowledge.store import ExperienceStore

    store = ExperienceStore(tmp_path / "k.sqlite")
    store.put_guardrail(
        Guardrail(
            root_cause=FailureCause.RECIPE_FAIL,
            forbidden="craft:wooden_pickaxe",
            unless=["near:crafting_table"],
            remedy=[Subgoal(verb="place", target="crafting_table")],
            remedy_evidence=[1],
        )
    )
    world = sim.make("craftworld/v1")
    task = _task("wooden_pickaxe")
    lines: list[dict] = []
    result = Episode(
        world=world,
        task=task,
        seed=0,
        planner=FallibleSymbolicPlanner(Misbeliefs(**ONLY_STATION)),
        method=METHODS["no-injection"],
        store=store,
        run_id="r",
        record=lambda line: lines.append(line.row()),  # as written
    ).run()
    assert result.success and result.blocked == 1 and result.replans == 0
    steps = [(x["subgoal"]["verb"], x["subgoal"]["target"]) for x in lines]
    i = steps.index(("craft", "wooden_pickaxe"))
    assert steps[i : i + 3] == [
        ("craft", "wooden_pickaxe"),  # blocked
        ("place", "crafting_table"),  # the remedy
        ("craft", "wooden_pickaxe"),  # the step again, now allowed
    ]
