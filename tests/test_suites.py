"""Task suites: the shipped ones load, and every kind of mistake names its field and line."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from textwrap import dedent

import minecraft_data
import pytest

from scenarios import (
    SuiteError,
    TaskSuite,
    iter_suites,
    load_suite,
    resolve_suite,
    write_template,
)
from scenarios.loader import SUITES_DIR
from sim.schema import Task

ITEMS: set[str] = set(minecraft_data("1.16.5").items_name)
# The 70-task tech tree of Optimus-1 / Steve-Evolving: tasks per group.
TECHTREE_GROUPS = {
    "wooden": 11,
    "stone": 10,
    "iron": 16,
    "gold": 7,
    "redstone": 6,
    "diamond": 7,
    "armor": 13,
}

GOOD = """\
name: t
defaults:
  max_ticks: 1000
  max_subgoals: 10
  seeds: [3, 4]
tasks:
  - id: plain
    instruction: Craft a stick.
    goal: {item: stick}
  - id: custom
    instruction: Craft two wooden pickaxes.
    group: wooden
    goal: {item: wooden_pickaxe, count: 2}
    initial_inventory: {oak_log: 3}
    max_ticks: 50
    max_subgoals: 5
    seeds: [9]
    split: unseen
    helpers: {ores_nearby: true}
  - id: later
    instruction: Craft a chest.
    goal: {item: chest}
    skip: chests are not implemented yet
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(dedent(text), encoding="utf-8")
    return path


def error_of(path: Path, known_items: set[str] | None = None) -> SuiteError:
    with pytest.raises(SuiteError) as info:
        load_suite(path, known_items=known_items)
    error = info.value
    assert error.path == str(path)
    assert error.errors[0] is error
    return error


# --- shipped suites ------------------------------------------------------------------------


def test_shipped_suites_are_found() -> None:
    assert {p.stem for p in iter_suites()} >= {"wooden", "stone"}


def test_other_worlds_suites_resolve_by_name() -> None:
    root = SUITES_DIR
    assert resolve_suite("wooden") == root / "wooden.yaml", "CraftWorld's keeps the bare name"
    assert resolve_suite("minecraft/wooden") == root / "minecraft" / "wooden.yaml"
    assert resolve_suite("alfworld_seen") == root / "alfworld" / "alfworld_seen.yaml"
    assert resolve_suite("alfworld/alfworld_unseen") == root / "alfworld" / "alfworld_unseen.yaml"
    with pytest.raises(SuiteError, match="alfworld_seen") as err:
        resolve_suite("alfworld_sen")
    assert "minecraft/wooden" in str(err.value)


@pytest.mark.parametrize("path", iter_suites(), ids=lambda p: p.stem)
def test_shipped_suite_loads_with_known_items(path: Path) -> None:
    suite = load_suite(path, known_items=ITEMS)
    assert suite.name == path.stem
    assert suite.world == "craftworld/v1"
    assert suite.item_names() <= ITEMS
    tasks = suite.to_tasks()
    assert len(tasks) == len(suite.runnable()) >= 6
    # Single-group suites are named after their group; the tech tree spans seven, the survival
    # suite one per source of its items.
    groups = {
        "techtree": set(TECHTREE_GROUPS),
        "survival": {"books", "dyes", "dyed", "decor", "farming", "sea", "wild"},
    }.get(path.stem, {path.stem})
    for task, seeds in tasks:
        assert task.group in groups
        assert task.instruction.endswith(".")
        assert task.initial_inventory == {}
        assert seeds


def test_shipped_suite_defaults() -> None:
    wooden = load_suite(resolve_suite("wooden"))
    assert (wooden.defaults.max_ticks, wooden.defaults.max_subgoals) == (12000, 40)
    assert wooden.defaults.seeds == [0, 1]
    assert 6 <= len(wooden.tasks) <= 11
    assert "wooden_pickaxe" in wooden.item_names()
    stone = load_suite(resolve_suite("stone"))
    assert stone.defaults.max_ticks == 24000
    assert {"stone_pickaxe", "furnace", "cobblestone"} <= stone.item_names()


def test_resolve_suite(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    assert resolve_suite(str(path)) == path
    assert resolve_suite("wooden").name == "wooden.yaml"
    with pytest.raises(SuiteError) as info:
        resolve_suite("woden")
    assert "did you mean: wooden" in str(info.value)
    assert "shipped: " in str(info.value) and "stone" in str(info.value)


# --- defaults, overrides, skipping ---------------------------------------------------------


def test_to_tasks_applies_defaults_and_overrides(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, GOOD), known_items=ITEMS)
    tasks = dict((task.id, (task, seeds)) for task, seeds in suite.to_tasks())
    assert set(tasks) == {"plain", "custom"}

    plain, plain_seeds = tasks["plain"]
    assert isinstance(plain, Task)
    assert (plain.max_ticks, plain.max_subgoals, plain_seeds) == (1000, 10, [3, 4])
    assert (plain.group, plain.split, plain.helpers) == ("default", "seen", {})
    assert (plain.goal.item, plain.goal.count, plain.goal.predicate) == ("stick", 1, None)

    custom, custom_seeds = tasks["custom"]
    assert (custom.max_ticks, custom.max_subgoals, custom_seeds) == (50, 5, [9])
    assert custom.goal.count == 2
    assert custom.initial_inventory == {"oak_log": 3}
    assert (custom.group, custom.split, custom.helpers) == (
        "wooden",
        "unseen",
        {"ores_nearby": True},
    )


def test_skipped_tasks_are_listed_not_run(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, GOOD))
    assert suite.skipped() == [("later", "chests are not implemented yet")]
    assert [t.id for t in suite.runnable()] == ["plain", "custom"]
    assert "later" not in {task.id for task, _ in suite.to_tasks()}
    # A skipped task's items are still checked: a typo is a typo.
    assert "chest" in suite.item_names()


def test_suite_defaults_when_unset(tmp_path: Path) -> None:
    suite = load_suite(
        write(tmp_path, "name: t\ntasks: [{id: a, instruction: A., goal: {item: stick}}]\n")
    )
    ((task, seeds),) = suite.to_tasks()
    assert (task.max_ticks, task.max_subgoals, seeds) == (36000, 60, [0])
    assert isinstance(suite, TaskSuite)


# --- one test per mistake: the exact field and line ------------------------------------------


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        name: t
        tasks:
          - id: a
           instruction: badly indented
        """,
    )
    error = error_of(path)
    assert (error.field, error.line) == ("", 4)
    assert error.message.startswith("invalid YAML")
    assert str(error).startswith(f"{path}:4: invalid YAML")


def test_unknown_top_level_field(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "max_tick: 5\n")
    error = error_of(path)
    assert (error.field, error.line) == ("max_tick", 24)
    assert error.message.startswith("unknown field 'max_tick' (allowed: defaults, description,")


def test_unknown_field_inside_a_task(tmp_path: Path) -> None:
    text = GOOD.replace("    max_subgoals: 5\n", "    max_subgoal: 5\n")
    error = error_of(write(tmp_path, text))
    assert (error.field, error.line) == ("tasks[1].max_subgoal", 16)
    assert error.message == "unknown field 'max_subgoal' (did you mean: max_subgoals)"
    assert str(error).endswith(":16: tasks[1].max_subgoal: " + error.message)


def test_wrong_type(tmp_path: Path) -> None:
    text = GOOD.replace(
        "{item: wooden_pickaxe, count: 2}", '{item: wooden_pickaxe, count: "three"}'
    )
    error = error_of(write(tmp_path, text))
    assert (error.field, error.line) == ("tasks[1].goal.count", 13)
    assert "valid integer" in error.message and "'three'" in error.message


def test_negative_count(tmp_path: Path) -> None:
    text = GOOD.replace("initial_inventory: {oak_log: 3}", "initial_inventory: {oak_log: -2}")
    error = error_of(write(tmp_path, text))
    assert (error.field, error.line) == ("tasks[1].initial_inventory.oak_log", 14)
    assert "greater than or equal to 1" in error.message and "-2" in error.message


def test_duplicate_task_id(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, GOOD.replace("id: later", "id: plain")))
    assert (error.field, error.line) == ("tasks[2].id", 20)
    assert error.message == "duplicate task id 'plain' (first used by tasks[0])"


def test_unknown_item_with_suggestion(tmp_path: Path) -> None:
    text = GOOD.replace("item: wooden_pickaxe,", "item: wooden_pikaxe,")
    path = write(tmp_path, text)
    load_suite(path)  # without known_items, names are not checked
    error = error_of(path, known_items=ITEMS)
    assert (error.field, error.line) == ("tasks[1].goal.item", 13)
    assert error.message.startswith("unknown item 'wooden_pikaxe' (did you mean: wooden_pickaxe")
    assert str(error).startswith(f"{path}:13: tasks[1].goal.item: unknown item 'wooden_pikaxe'")


def test_unknown_items_are_all_reported(tmp_path: Path) -> None:
    text = GOOD.replace("{oak_log: 3}", "{oak_logg: 3}").replace("item: chest", "item: chset")
    error = error_of(write(tmp_path, text), known_items=ITEMS)
    found = [(e.field, e.line) for e in error.errors]
    assert found == [("tasks[1].initial_inventory.oak_logg", 14), ("tasks[2].goal.item", 22)]
    assert "oak_log" in error.message


def test_missing_required_field(tmp_path: Path) -> None:
    text = GOOD.replace("    instruction: Craft two wooden pickaxes.\n", "")
    error = error_of(write(tmp_path, text))
    # The field is absent, so the line is that of the task mapping lacking it.
    assert (error.field, error.line) == ("tasks[1].instruction", 10)
    assert error.message == "missing required field 'instruction'"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    error = error_of(path)
    assert (error.field, error.line) == ("", None)
    assert str(error) == f"{path}: no such suite file"


def test_empty_tasks_list(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "name: t\n\ntasks: []\n"))
    assert (error.field, error.line) == ("tasks", 3)
    assert "at least 1 item" in error.message


# --- further strictness ----------------------------------------------------------------------


def test_all_errors_are_kept_in_file_order(tmp_path: Path) -> None:
    text = GOOD.replace("seeds: [3, 4]", "seeds: [-1]").replace("group: wooden", "grup: wooden")
    error = error_of(write(tmp_path, text))
    assert [(e.field, e.line) for e in error.errors] == [
        ("defaults.seeds[0]", 5),
        ("tasks[1].grup", 12),
    ]


def test_goal_needs_exactly_one_of_item_and_predicate(tmp_path: Path) -> None:
    text = GOOD.replace("goal: {item: stick}", "goal: {item: stick, predicate: p}")
    error = error_of(write(tmp_path, text))
    assert (error.field, error.line) == ("tasks[0].goal", 9)
    assert error.message == "a goal needs exactly one of 'item', 'all', 'then' and 'predicate'"


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    error = error_of(
        write(
            tmp_path, GOOD.replace("    max_ticks: 50\n", "    max_ticks: 50\n    max_ticks: 60\n")
        )
    )
    assert (error.field, error.line) == ("tasks[1].max_ticks", 16)
    assert error.message == "duplicate key 'max_ticks'"


def test_python_tags_are_refused(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "name: !!python/object/apply:os.getcwd []\ntasks: []\n"))
    assert (error.field, error.line) == ("", 1)
    assert "constructor" in error.message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "- a\n- b\n"))
    assert (error.line, error.message) == (
        1,
        "the top level must be a mapping (name, tasks, ...), not a list",
    )


def test_world_id_must_be_versioned(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, GOOD.replace("name: t\n", "name: t\nworld: craftworld\n")))
    assert (error.field, error.line) == ("world", 2)


def test_suite_error_pickles(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "name: t\n\ntasks: []\n"))
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error)
    assert (copy.field, copy.line, len(copy.errors)) == ("tasks", 3, 1)


# --- per-group defaults ------------------------------------------------------------------------

GROUPED = """\
name: g
defaults: {max_ticks: 100, max_subgoals: 10, seeds: [0]}
groups:
  iron: {max_ticks: 500, seeds: [7, 8]}
tasks:
  - {id: plain, instruction: A., group: wooden, goal: {item: stick}}
  - {id: grouped, instruction: B., group: iron, goal: {item: iron_ingot}}
  - {id: own, instruction: C., group: iron, goal: {item: iron_ingot}, max_ticks: 900}
"""


def test_group_defaults_sit_between_task_and_suite(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, GROUPED), known_items=ITEMS)
    budgets = {
        task.id: (task.max_ticks, task.max_subgoals, seeds) for task, seeds in suite.to_tasks()
    }
    assert budgets == {
        "plain": (100, 10, [0]),  # no group defaults: the suite's
        "grouped": (500, 10, [7, 8]),  # the group's, and the suite's for what it leaves unset
        "own": (900, 10, [7, 8]),  # the task's own wins
    }


def test_unused_group_key_is_an_error(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, GROUPED.replace("  iron: {", "  irn: {")))
    assert (error.field, error.line) == ("groups.irn", 4)
    assert error.message == "no task has group 'irn' (groups used: iron, wooden)"


def test_unknown_field_in_group_defaults(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, GROUPED.replace("max_ticks: 500", "max_tick: 500")))
    assert (error.field, error.line) == ("groups.iron.max_tick", 4)
    assert error.message == "unknown field 'max_tick' (did you mean: max_ticks)"


# --- the 70-task tech tree -----------------------------------------------------------------


@pytest.fixture(scope="module")
def techtree() -> TaskSuite:
    return load_suite(resolve_suite("techtree"), known_items=ITEMS)


def test_techtree_has_70_tasks_in_seven_groups(techtree: TaskSuite) -> None:
    assert len(techtree.tasks) == 70
    counts = {group: 0 for group in TECHTREE_GROUPS}
    for task in techtree.tasks:
        counts[task.group] += 1
    assert counts == TECHTREE_GROUPS
    assert set(techtree.groups) == set(TECHTREE_GROUPS)
    # Every task starts from an empty inventory and asks for one item, with no world help.
    for task in techtree.tasks:
        assert (task.initial_inventory, task.helpers, task.goal.count) == ({}, {}, 1)
        assert task.goal.item is not None


def test_techtree_goals_are_obtainable_or_skipped_with_a_reason(techtree: TaskSuite) -> None:
    from agent.planner.recipe_graph import graph_for
    from sim.craftworld.body import PASSIVE
    from sim.craftworld.palette import NATURAL

    graph = graph_for("1.16.5", NATURAL, PASSIVE, "oak")
    for task in techtree.tasks:
        if task.skip is None:
            assert task.goal.item in graph.methods, f"{task.id}: {task.goal.item} unobtainable"
        else:
            assert task.skip.strip(), f"{task.id} is skipped without a reason"
    assert len(techtree.runnable()) + len(techtree.skipped()) == 70
    assert all(reason.strip() for _, reason in techtree.skipped())


def test_techtree_budgets_grow_with_the_tier(techtree: TaskSuite) -> None:
    budgets = {task.id: (task.max_ticks, task.max_subgoals) for task, _ in techtree.to_tasks()}
    assert budgets["craft_wooden_pickaxe"] == (12000, 40)
    assert budgets["craft_stone_pickaxe"] == (24000, 60)
    assert budgets["craft_iron_pickaxe"] == (60000, 100)
    assert budgets["craft_golden_pickaxe"] == budgets["craft_compass"] == (90000, 120)
    assert budgets["craft_diamond_pickaxe"] == (120000, 150)
    # Armor is budgeted per material.
    assert budgets["craft_iron_helmet"] == budgets["craft_shield"] == (60000, 100)
    assert budgets["craft_golden_helmet"] == (90000, 120)
    assert budgets["craft_diamond_helmet"] == (120000, 150)


# --- the template for new suites -----------------------------------------------------------


def test_template_validates_and_keeps_its_comments(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    write_template(path, "my-suite")
    suite = load_suite(path, known_items=ITEMS)
    assert suite.name == "my-suite"
    assert suite.to_tasks()
    text = path.read_text(encoding="utf-8")
    assert text.count("#") > 20  # the field-by-field comments, as in wooden.yaml
    assert "name: my-suite" in text and "# skip: null" in text


def test_template_never_overwrites_silently(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("keep me\n", encoding="utf-8")
    with pytest.raises(FileExistsError, match=re.escape(str(path))):
        write_template(path, "mine")
    assert path.read_text(encoding="utf-8") == "keep me\n"
    write_template(path, "mine", overwrite=True)
    assert load_suite(path).name == "mine"


def test_template_rejects_a_bad_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid suite name"):
        write_template(tmp_path / "x.yaml", "my suite")
    assert not (tmp_path / "x.yaml").exists()
