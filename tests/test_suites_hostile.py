"""Hostile and absurd suite files (issue 27): binary files, absurd budgets, `true` as a count,
nesting 100,000 deep, alias bombs, oversize files. Each is refused with an error naming the
file (and the line and field where there is one); none ends in a traceback, and the CLI checks
every file it is given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from agent.cli import app
from scenarios import SuiteError, import_tasks, load_suite
from scenarios.loader import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, shipped_suites
from scenarios.schema import MAX_COUNT, MAX_SEED, MAX_SEEDS, MAX_SUBGOALS, MAX_TICKS

runner = CliRunner()

GOOD = """\
name: good
defaults: {max_ticks: 1000, max_subgoals: 10, seeds: [0]}
tasks:
  - id: stick
    instruction: Craft a stick.
    goal: {item: stick, count: 1}
"""
DEEP = 100_000


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> SuiteError:
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert info.value.path == str(path)
    return info.value


def import_error_of(path: Path, fmt: str | None = None) -> SuiteError:
    with pytest.raises(SuiteError) as info:
        import_tasks(path, fmt, known_items={"stick", "oak_log", "diamond"})
    assert info.value.path == str(path)
    return info.value


def said(result: Result, text: str) -> bool:
    """Whether the output holds `text`; whitespace is ignored, as rich wraps and folds lines."""
    return "".join(text.split()) in "".join(result.output.split())


def assert_clean_exit(result: Result, code: int = 1) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )


# --- the CLI checks every file ---------------------------------------------------------------


def test_validate_checks_every_file_past_a_binary_one(tmp_path: Path) -> None:
    first = write(tmp_path, "first.yaml", GOOD)
    binary = write(tmp_path, "image.yaml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    typo = write(tmp_path, "typo.yaml", GOOD + "colour: blue\n")
    deep = write(tmp_path, "deep.yaml", "name: x\ntasks: " + "[" * DEEP + "]" * DEEP + "\n")
    last = write(tmp_path, "last.yaml", GOOD.replace("name: good", "name: last"))
    files = [first, binary, typo, deep, last]
    result = runner.invoke(app, ["suite", "validate", *map(str, files)])
    assert_clean_exit(result)
    assert said(result, f"ok {first}") and said(result, f"ok {last}")
    assert said(result, f"{binary}:1: not a UTF-8 text file (byte 0x89 at offset 0)")
    assert said(result, f"{typo}:7: colour: unknown field 'colour'")
    assert said(result, f"{deep}:2: tasks[0]")
    assert said(result, f"nested more than {MAX_DEPTH} levels")


def test_validate_reports_a_directory_and_a_missing_file(tmp_path: Path) -> None:
    good = write(tmp_path, "good.yaml", GOOD)
    result = runner.invoke(
        app, ["suite", "validate", str(tmp_path), str(tmp_path / "nope.yaml"), str(good)]
    )
    assert_clean_exit(result)
    assert said(result, f"{tmp_path}: a directory, not a suite file")
    assert said(result, "nope.yaml: no such suite file")
    assert said(result, f"ok {good}")


def test_every_shipped_suite_still_validates() -> None:
    # `shipped_suites` includes the other worlds' suites in subfolders (alfworld, minecraft).
    for path in set(shipped_suites().values()):
        suite = load_suite(path)
        for _, seeds in suite.to_tasks():
            assert len(seeds) <= MAX_SEEDS


# --- strict, bounded numbers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    [
        "defaults: {{max_subgoals: {v}}}",
        "defaults: {{max_ticks: {v}}}",
        "groups: {{default: {{max_subgoals: {v}}}}}",
    ],
)
@pytest.mark.parametrize("value", ["1000000000000", "1.0e+12", "1e12", "1.0e+23", "true"])
def test_absurd_budgets_are_refused(tmp_path: Path, where: str, value: str) -> None:
    text = GOOD.replace("defaults: {max_ticks: 1000, max_subgoals: 10, seeds: [0]}", "")
    path = write(tmp_path, "suite.yaml", text + where.format(v=value) + "\n")
    error = error_of(path)
    assert error.line == 7
    assert error.field.endswith(("max_subgoals", "max_ticks"))
    assert "less than or equal to" in error.message or "valid integer" in error.message


def test_task_budgets_and_seeds_are_bounded(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "suite.yaml",
        GOOD
        + f"""\
  - id: big
    instruction: Craft a stick.
    goal: {{item: stick}}
    max_ticks: {MAX_TICKS + 1}
    max_subgoals: {MAX_SUBGOALS + 1}
    seeds: [{MAX_SEED + 1}]
""",
    )
    error = error_of(path)
    fields = {(e.field, e.line) for e in error.errors}
    assert fields == {
        ("tasks[1].max_ticks", 10),
        ("tasks[1].max_subgoals", 11),
        ("tasks[1].seeds[0]", 12),
    }
    many = write(tmp_path, "many.yaml", GOOD.replace("seeds: [0]", f"seeds: {list(range(1001))}"))
    assert error_of(many).field == "defaults.seeds"


def test_the_bounds_themselves_are_accepted(tmp_path: Path) -> None:
    text = GOOD.replace(
        "defaults: {max_ticks: 1000, max_subgoals: 10, seeds: [0]}",
        f"defaults: {{max_ticks: {MAX_TICKS}, max_subgoals: {MAX_SUBGOALS}, "
        f"seeds: [0, {MAX_SEED}]}}",
    ).replace("count: 1", f"count: {MAX_COUNT}")
    suite = load_suite(write(tmp_path, "suite.yaml", text))
    assert suite.budget(suite.tasks[0]) == (MAX_TICKS, MAX_SUBGOALS, [0, MAX_SEED])


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("count: 1", "count: true", "tasks[0].goal.count"),
        ("count: 1", "count: 2.0", "tasks[0].goal.count"),
        ("count: 1", "count: '3'", "tasks[0].goal.count"),
        ("count: 1", f"count: {MAX_COUNT + 1}", "tasks[0].goal.count"),
        ("seeds: [0]", "seeds: [true]", "defaults.seeds[0]"),
        ("name: good", "name: good\nversion: true", "version"),
    ],
)
def test_counts_must_be_strict_integers(tmp_path: Path, old: str, new: str, field: str) -> None:
    error = error_of(write(tmp_path, "suite.yaml", GOOD.replace(old, new)))
    assert error.field == field
    assert error.line is not None
    assert "valid integer" in error.message or "less than or equal to" in error.message


def test_inventory_counts_are_strict(tmp_path: Path) -> None:
    text = GOOD + "    initial_inventory: {oak_log: true, stick: 100000}\n"
    error = error_of(write(tmp_path, "suite.yaml", text))
    assert [(e.field, e.line) for e in error.errors] == [
        ("tasks[0].initial_inventory.oak_log", 7),
        ("tasks[0].initial_inventory.stick", 7),
    ]


# --- nesting, size, aliases, unreadable values ---------------------------------------------


def test_yaml_nested_100k_deep_is_refused_by_load_and_import(tmp_path: Path) -> None:
    path = write(tmp_path, "deep.yaml", "name: x\ntasks: " + "[" * DEEP + "]" * DEEP + "\n")
    error = error_of(path)
    assert error.line == 2 and error.field.startswith("tasks[0][0]")
    assert f"nested more than {MAX_DEPTH} levels deep" in error.message
    for fmt in (None, "optimus", "mcu", "steve"):
        assert f"nested more than {MAX_DEPTH}" in import_error_of(path, fmt).message
    block = "".join("  " * (i + 1) + f"k{i}:\n" for i in range(MAX_DEPTH + 5))
    error = error_of(write(tmp_path, "block.yaml", "name: x\nworld_options:\n" + block))
    assert error.field.startswith("world_options.k0.k1") and error.line is not None


def test_json_nested_100k_deep_is_refused_by_import(tmp_path: Path) -> None:
    path = write(tmp_path, "tasks.json", "[" * DEEP + "]" * DEEP)
    for fmt in (None, "jarvis"):
        error = import_error_of(path, fmt)
        assert error.line == 1 and f"nested more than {MAX_DEPTH} levels deep" in error.message
    objects = write(tmp_path, "objects.json", '{"a":\n' * DEEP + "1" + "}" * DEEP)
    assert import_error_of(objects).line == MAX_DEPTH + 1


def test_json_brackets_inside_strings_do_not_nest(tmp_path: Path) -> None:
    entry = {"task": "stick", "task_obj": {"stick": 1}, "text": "[[[{{" * 100 + '\\"]'}
    path = write(tmp_path, "tasks.json", json.dumps([entry]))
    suite = import_tasks(path, known_items={"stick"})
    assert suite.tasks[0].goal.item == "stick"


def test_cli_import_refuses_deep_files_cleanly(tmp_path: Path) -> None:
    deep_yaml = write(tmp_path, "deep.yaml", "all_task: " + "[" * DEEP + "]" * DEEP)
    deep_json = write(tmp_path, "deep.json", "[" * DEEP + "]" * DEEP)
    binary = write(tmp_path, "tasks.json", b"\xff\xfe\x00[")
    for path in (deep_yaml, deep_json, binary):
        out = tmp_path / "out.yaml"
        result = runner.invoke(app, ["suite", "import", str(path), "--out", str(out)])
        assert_clean_exit(result)
        assert said(result, f"{path}:1:")
        assert not out.exists()


def test_oversize_file_is_refused(tmp_path: Path) -> None:
    padding = "# " + "x" * 78 + "\n"
    big = GOOD + padding * (MAX_FILE_BYTES // len(padding) + 1)
    for name in ("big.yaml", "big.json"):
        path = write(tmp_path, name, big)
        message = f"larger than {MAX_FILE_BYTES // 2**20} MiB"
        if name.endswith(".yaml"):
            assert message in error_of(path).message
        assert message in import_error_of(path).message
    result = runner.invoke(app, ["suite", "validate", str(tmp_path / "big.yaml")])
    assert_clean_exit(result)
    # Just under the limit is read as usual.
    under = write(tmp_path, "under.yaml", GOOD + padding * (MAX_FILE_BYTES // len(padding) - 3))
    assert load_suite(under).name == "good"


def test_alias_bomb_and_alias_loop_are_refused(tmp_path: Path) -> None:
    levels = "".join(f"  l{i + 1}: &l{i + 1} [{', '.join([f'*l{i}'] * 10)}]\n" for i in range(8))
    bomb = write(tmp_path, "bomb.yaml", GOOD + "world_options:\n  l0: &l0 [x]\n" + levels)
    error = error_of(bomb)
    assert f"more than {MAX_NODES:,} values" in error.message
    assert error.field.startswith("world_options.l") and error.line is not None
    loop = write(tmp_path, "loop.yaml", GOOD + "world_options: &w {again: *w}\n")
    error = error_of(loop)
    assert (error.field, error.line) == ("world_options.again", 7)
    assert "alias refers to a value that contains it" in error.message
    # Aliases as people use them still work.
    shared = GOOD.replace("goal: {item: stick, count: 1}", "goal: &g {item: stick, count: 1}")
    shared += "  - {id: again, instruction: Craft a stick., goal: *g}\n"
    assert len(load_suite(write(tmp_path, "shared.yaml", shared)).tasks) == 2


@pytest.mark.parametrize(
    ("value", "reason"),
    [("1" * 5000, "Exceeds the limit (4300 digits)"), ("2020-13-01", "month must be in 1..12")],
)
def test_values_python_cannot_build_are_refused(tmp_path: Path, value: str, reason: str) -> None:
    error = error_of(write(tmp_path, "suite.yaml", GOOD + f"description: {value}\n"))
    assert (
        error.line == 7 and reason in error.message and "set_int_max_str_digits" not in str(error)
    )


# --- importers: counts and budgets ---------------------------------------------------------


def test_jarvis_counts_are_bounded(tmp_path: Path) -> None:
    for count, message in [
        (10**12, f"a count must be at most {MAX_COUNT:,}"),
        (True, "a count must be a whole number >= 1"),
        (1.5, "a count must be a whole number >= 1"),
    ]:
        path = write(
            tmp_path, "tasks.json", json.dumps([{"task": "s", "task_obj": {"stick": count}}])
        )
        error = import_error_of(path, "jarvis")
        assert error.field == "[0].task_obj.stick" and message in error.message
    huge = write(
        tmp_path, "huge.json", '[{"task": "s", "task_obj": {"stick": ' + "9" * 5000 + "}}]"
    )
    assert "invalid JSON" in import_error_of(huge).message


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ("times: 1000000000000", f"a count must be at most {MAX_SEEDS:,}"),
        ("max_minutes: .inf", "max_minutes must be > 0"),
        ("max_minutes: .nan", "max_minutes must be > 0"),
        ("max_minutes: 1.0e+20", f"max_minutes must be at most {MAX_TICKS // 1200:,}"),
    ],
)
def test_optimus_env_is_bounded(tmp_path: Path, env: str, message: str) -> None:
    text = f"env:\n  {env}\nall_task:\n  - id: 1\n    instruction: Chop a tree.\n"
    error = import_error_of(write(tmp_path, "wooden.yaml", text), "optimus")
    assert error.line == 2 and error.field.startswith("env.") and message in error.message


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("/give @p diamond 99999999999999999999", f"is more than {MAX_COUNT:,}"),
        ("/give @p diamond 20000", f"a count must be at most {MAX_COUNT:,}"),
        ("/give @p diamond ²", "is not a whole number >= 1"),
    ],
)
def test_mcu_give_counts_are_bounded(tmp_path: Path, command: str, message: str) -> None:
    text = f"text: Chop a tree.\ncustom_init_commands:\n  - {command}\n"
    error = import_error_of(write(tmp_path, "chop_tree.yaml", text), "mcu")
    assert error.line == 3 and error.field == "custom_init_commands[0]"
    assert message in error.message


def test_optimus_instruction_count_is_bounded(tmp_path: Path) -> None:
    text = "all_task:\n  - id: 1\n    instruction: Obtain " + "9" * 5000 + " diamonds.\n"
    error = import_error_of(write(tmp_path, "diamond.yaml", text), "optimus")
    assert error.field == "all_task[0].instruction" and "at most" in error.message


@pytest.mark.parametrize(
    "body", [b"\x89PNG\r\n\x1a\n\x00binary", b"name: x\ntasks: " + b"[" * 100_000]
)
def test_run_refuses_a_binary_or_deep_suite_before_anything_runs(
    tmp_path: Path, body: bytes
) -> None:
    suite = tmp_path / "bad.yaml"
    suite.write_bytes(body)
    result = runner.invoke(app, ["run", str(suite), "--out", str(tmp_path / "runs")])
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "bad.yaml" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
