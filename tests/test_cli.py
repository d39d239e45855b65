"""The `steve` command line: version, suite validation with precise errors, a short run."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from agent.cli import app
from scenarios.loader import iter_suites

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert "steve-evolving" in result.output


def test_shipped_suites_validate() -> None:
    result = runner.invoke(app, ["suite", "validate", *map(str, iter_suites())])
    assert result.exit_code == 0, result.output
    assert result.output.count("ok") == len(iter_suites())


BAD = """name: bad
tasks:
  - id: one
    instruction: Craft a pickaxe.
    goal: {item: wooden_pikaxe}
"""


def test_unknown_item_names_file_field_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    for args in (["suite", "validate", str(bad)], ["run", str(bad), "--out", str(tmp_path)]):
        result = runner.invoke(app, args)
        assert result.exit_code != 0
        out = " ".join(result.output.split())
        assert "bad.yaml:5" in out and "tasks[0].goal.item" in out, out
        assert "wooden_pickaxe" in out  # the closest valid name
        assert "Traceback" not in result.output
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit
        )


def test_syntax_error_and_unknown_field(tmp_path: Path) -> None:
    bad = tmp_path / "syntax.yaml"
    bad.write_text("name: x\ntasks: [\n")
    result = runner.invoke(app, ["suite", "validate", str(bad)])
    assert result.exit_code == 1 and "syntax.yaml:" in result.output
    extra = tmp_path / "extra.yaml"
    extra.write_text(BAD.replace("wooden_pikaxe", "wooden_pickaxe") + "colour: blue\n")
    result = runner.invoke(app, ["suite", "validate", str(extra)])
    assert result.exit_code == 1 and "extra.yaml:6" in result.output and "colour" in result.output


def test_run_prints_the_table(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["run", "wooden", "--tasks", "craft_stick", "--seeds", "0", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "craft_stick" in result.output and "success 1/1" in result.output
    assert "oracle" in result.output  # the symbolic planner is labelled as such
    assert "help given by the world: none" in result.output  # helpers are always disclosed
    # the batch, chosen for the planner when none is asked for, and why
    assert "episodes side by side: 1 (auto: the symbolic planner makes no" in result.output


def test_the_default_batch_suits_the_backend() -> None:
    """`--batch` left out: what the planner's backend suits here (issue 31, docs/llm.md)."""
    from agent.runspec import auto_batch

    assert auto_batch("symbolic")[0] == 1
    size, why = auto_batch("local")
    assert size == 1 and "compute-bound" in why  # measured: batching does not pay on a CPU
    assert auto_batch("openai")[0] == 1  # measured: llama-cpp-python's server serialises
    assert auto_batch("openai", workers=2)[0] == 1  # Ray plays them side by side instead
    assert auto_batch("cassette")[0] == 1


def test_unknown_suite_and_method_fail_cleanly(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "no_such_suite", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "wooden" in result.output
    result = runner.invoke(app, ["run", "wooden", "--method", "evolvng", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "evolving" in result.output


def test_suite_new_and_import(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    result = runner.invoke(app, ["suite", "new", "mine", "--out", str(path)])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["suite", "validate", str(path)]).exit_code == 0
    again = runner.invoke(app, ["suite", "new", "mine", "--out", str(path)])
    assert again.exit_code == 2 and "mine.yaml" in again.output  # never overwritten silently
    jarvis = tmp_path / "tasks.json"
    jarvis.write_text(
        '[{"task": "get_pickaxe", "task_obj": {"stone_pickaxe": 1}, '
        '"env": {"init_inventory": {"0": {"type": "stick", "quantity": 2}}}}]'
    )
    out = tmp_path / "imported.yaml"
    result = runner.invoke(app, ["suite", "import", str(jarvis), "--out", str(out), "--name", "j"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["suite", "validate", str(out)]).exit_code == 0


def test_knowledge_export_import_round_trip(tmp_path: Path) -> None:
    store = tmp_path / "k.sqlite"
    result = runner.invoke(
        app,
        [
            "run",
            "wooden",
            "--tasks",
            "craft_stick",
            "--seeds",
            "0",
            "--out",
            str(tmp_path),
            "--knowledge",
            str(store),
        ],
    )
    assert result.exit_code == 0, result.output
    pack = tmp_path / "pack.jsonl"
    assert runner.invoke(app, ["knowledge", "export", str(store), str(pack)]).exit_code == 0
    other = tmp_path / "other.sqlite"
    result = runner.invoke(app, ["knowledge", "import", str(other), str(pack)])
    assert result.exit_code == 0, result.output
    shown = runner.invoke(app, ["knowledge", "show", str(other)])
    assert "stick" in shown.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text(pack.read_text()[: len(pack.read_text()) // 2])  # truncated
    before = runner.invoke(app, ["knowledge", "stats", str(other)]).output
    result = runner.invoke(app, ["knowledge", "import", str(other), str(bad)])
    assert result.exit_code == 2 and "bad.jsonl" in result.output
    assert runner.invoke(app, ["knowledge", "stats", str(other)]).output == before
