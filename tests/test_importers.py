"""Importers: JARVIS-1 tasks.json, Optimus-1/MineEvolve YAML and MCU task YAML become
validated suites; bad input names the file and the entry."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

import pytest

from scenarios import SuiteError, TaskSuite, import_tasks, load_suite, write_suite
from scenarios.importers import (
    import_jarvis,
    import_mcu,
    import_optimus,
    items_in_text,
    sniff_format,
)

# JARVIS-1 ships a list of entries like these (jarvis/assets/tasks.json), with empty
# inventories; the two inventory shapes it also reads are in `iron_pickaxe`.
JARVIS = [
    {
        "group": "tool",
        "task": "wooden_pickaxe",
        "env": {"biome": "plains", "mobs": [], "init_inventory": {}},
        "task_obj": {"wooden_pickaxe": 1},
    },
    {
        "group": "tool",
        "task": "iron_pickaxe",
        "env": {
            "biome": "forest",
            "mobs": [],
            "init_inventory": {
                "0": {"type": "stick", "quantity": 2},
                "1": {"type": "iron_ingot", "quantity": 1},
                "minecraft:iron_ingot": 2,
                "crafting_table": 1,
            },
        },
        "task_obj": {"iron_pickaxe": 1},
        "instruction": "Craft an iron pickaxe.",
    },
    {"task": "torch", "task_obj": {"torch": 4}, "text": "Make four torches."},
]

OPTIMUS = """\
# @package _global_
defaults:
  - _self_
env:
  name: IronTaskEnv-v0
  max_minutes: 20 #  = max_minutes * 1200 steps
  initial_inventory:
    - {type: "stone_pickaxe", quantity: 1, slot: 0}
  times: 3
  prefer_biome: plains
evaluate: []
all_task:
  - {id: 0, type: craft, instruction: Craft a iron shovel}
  - {id: 1, type: craft, instruction: Craft an iron bars}
  - {id: 5, type: craft, instruction: Smelt and craft a gold ingot}
  - {id: 6, type: mine, instruction: dig down to mine iron ore}
  - {id: 7, type: mine, instruction: chop a tree}
  - {id: 8, type: craft, instruction: Craft four sticks}
  - {id: 9, type: craft, instruction: Craft a bowl from oak planks, goal: bowl}
"""

MCU_CLOCK = """\
custom_init_commands:
- /setblock ~2 ~ ~ minecraft:crafting_table
- /give @s minecraft:gold_ingot 6
- /give @s minecraft:redstone 2
- /give @s minecraft:crafting_table
- /replaceitem entity @s weapon.mainhand minecraft:iron_pickaxe
- /weather thunder
text: craft a clock
thinking: '- In order to craft a clock, you need at least 4 gold ingots and 1 redstone.'
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dedent(text), encoding="utf-8")
    return path


def error_of(path: Path, fmt: str | None = None) -> SuiteError:
    with pytest.raises(SuiteError) as info:
        import_tasks(path, fmt)
    return info.value


def round_trip(suite: TaskSuite, tmp_path: Path) -> None:
    """Written as YAML, the suite loads back equal (and validates against item names)."""
    out = tmp_path / "out" / f"{suite.name}.yaml"
    out.parent.mkdir(exist_ok=True)
    write_suite(suite, out, header="imported for a test")
    assert out.read_text(encoding="utf-8").startswith("# imported for a test\n")
    assert load_suite(out) == suite
    with pytest.raises(FileExistsError, match="already exists"):
        write_suite(suite, out)
    write_suite(suite, out, overwrite=True)


# --- JARVIS-1 --------------------------------------------------------------------------------


def test_jarvis_list_round_trip(tmp_path: Path) -> None:
    path = write(tmp_path, "tasks.json", json.dumps(JARVIS, indent=4))
    assert sniff_format(path) == "jarvis"
    suite = import_tasks(path)
    assert suite.name == "tasks"
    tasks = {task.id: task for task in suite.tasks}
    assert list(tasks) == ["wooden_pickaxe", "iron_pickaxe", "torch"]
    assert tasks["wooden_pickaxe"].instruction == "Obtain a wooden pickaxe."
    assert (tasks["wooden_pickaxe"].group, tasks["wooden_pickaxe"].initial_inventory) == (
        "tool",
        {},
    )
    iron = tasks["iron_pickaxe"]
    assert (iron.goal.item, iron.goal.count, iron.instruction) == (
        "iron_pickaxe",
        1,
        "Craft an iron pickaxe.",
    )
    # Both inventory shapes, `minecraft:` removed, one item's counts summed.
    assert iron.initial_inventory == {"stick": 2, "iron_ingot": 3, "crafting_table": 1}
    torch = tasks["torch"]
    assert (torch.goal.item, torch.goal.count, torch.group) == ("torch", 4, "default")
    assert torch.instruction == "Make four torches."
    # Fields with no place in a suite are listed, not dropped; empty ones (mobs: []) are not.
    assert 'Not imported (unsupported): env.biome="forest"; env.biome="plains"' in (
        suite.description
    )
    assert "mobs" not in suite.description
    round_trip(suite, tmp_path)


def test_jarvis_object_keyed_by_task_name(tmp_path: Path) -> None:
    entries = {
        "stone_pickaxe": {"task_obj": {"stone_pickaxe": 1}, "env": {"init_inventory": {}}},
        "furnace": {"task_obj": {"furnace": 1}, "env": {"init_inventory": {"cobblestone": 4}}},
    }
    path = write(tmp_path, "jarvis.json", json.dumps(entries))
    suite = import_jarvis(path, name="mine")
    assert suite.name == "mine"
    assert [(t.id, t.goal.item) for t in suite.tasks] == [
        ("stone_pickaxe", "stone_pickaxe"),
        ("furnace", "furnace"),
    ]
    assert suite.tasks[1].initial_inventory == {"cobblestone": 4}
    round_trip(suite, tmp_path)


def test_jarvis_unknown_goal_item_names_file_entry_and_line(tmp_path: Path) -> None:
    bad = [*JARVIS[:1], {**JARVIS[1], "task_obj": {"iron_pikaxe": 1}}]
    path = write(tmp_path, "tasks.json", json.dumps(bad, indent=4))
    error = error_of(path)
    assert error.path == str(path)
    assert error.field == "[1].task_obj.iron_pikaxe"
    assert (
        error.line
        == json.dumps(bad, indent=4).splitlines().index('            "iron_pikaxe": 1') + 1
    )
    assert error.message.startswith(
        "entry 1 (task 'iron_pickaxe'): unknown item 'iron_pikaxe' (did you mean: iron_pickaxe"
    )
    assert str(error).startswith(f"{path}:{error.line}: [1].task_obj.iron_pikaxe: entry 1")


def test_jarvis_unknown_inventory_item(tmp_path: Path) -> None:
    entries = {"chest": {"task_obj": {"chest": 1}, "env": {"init_inventory": {"oak_plank": 8}}}}
    error = error_of(write(tmp_path, "t.json", json.dumps(entries)), "jarvis")
    assert error.field == "chest.env.init_inventory.oak_plank"
    assert error.message.startswith("task 'chest': unknown item 'oak_plank' (did you mean:")


def test_jarvis_missing_and_malformed_fields(tmp_path: Path) -> None:
    path = write(tmp_path, "t.json", json.dumps({"chest": {"env": {}}}))
    error = error_of(path, "jarvis")
    assert (error.path, error.field) == (str(path), "chest")
    assert error.message == "task 'chest': missing required field 'task_obj' (the goal)"

    two = {"bed": {"task_obj": {"white_bed": 1, "white_wool": 3}}}
    error = error_of(write(tmp_path, "t2.json", json.dumps(two)), "jarvis")
    assert error.field == "bed.task_obj"
    assert "exactly one {item: count}" in error.message

    error = error_of(write(tmp_path, "t3.json", json.dumps([{"task_obj": {"chest": 1}}])), "jarvis")
    assert (error.field, error.message) == (
        "[0]",
        "entry 0: missing required field 'task' (the task's name)",
    )

    zero = {"chest": {"task_obj": {"chest": 0}}}
    error = error_of(write(tmp_path, "t4.json", json.dumps(zero)), "jarvis")
    assert "a count must be a whole number >= 1, not 0" in error.message


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "t.json", '[\n  {"task": "chest",\n  }\n]\n')
    error = error_of(path, "jarvis")
    assert (error.path, error.line) == (str(path), 3)
    assert error.message.startswith("invalid JSON")


# --- Optimus-1 / MineEvolve ------------------------------------------------------------------


def test_optimus_round_trip(tmp_path: Path) -> None:
    path = write(tmp_path, "iron.yaml", OPTIMUS)
    assert sniff_format(path) == "optimus"
    suite = import_tasks(path)
    assert suite.name == "iron"
    # `type: craft` is what the agent does: the group is the file's (Optimus-1 names files
    # after their group).
    assert {task.group for task in suite.tasks} == {"iron"}
    goals = {task.id: (task.goal.item, task.goal.count) for task in suite.tasks}
    assert goals == {
        "iron_0": ("iron_shovel", 1),  # longest match: not "iron" + "shovel"
        "iron_1": ("iron_bars", 1),
        "iron_5": ("gold_ingot", 1),
        "iron_6": ("iron_ore", 1),
        "iron_7": ("oak_log", 1),  # "chop a tree"
        "iron_8": ("stick", 4),  # plural and count
        "iron_9": ("bowl", 1),  # an explicit goal wins over the instruction's two items
    }
    assert suite.tasks[0].instruction == "Craft a iron shovel"
    assert all(task.initial_inventory == {"stone_pickaxe": 1} for task in suite.tasks)
    assert suite.defaults.max_ticks == 20 * 1200
    assert suite.defaults.seeds == [0, 1, 2]
    assert 'defaults=["_self_"]' in suite.description
    assert 'env.name="IronTaskEnv-v0"; env.prefer_biome="plains"' in suite.description
    round_trip(suite, tmp_path)


def test_optimus_mapping_with_groups_in_type(tmp_path: Path) -> None:
    text = """\
    all_task:
      pick: {type: wooden, instruction: craft a wooden pickaxe}
      furnace: {type: stone, instruction: Craft a furnace., group: smelting}
    """
    suite = import_optimus(write(tmp_path, "mineevolve.yaml", text))
    assert [(t.id, t.group, t.goal.item) for t in suite.tasks] == [
        ("pick", "wooden", "wooden_pickaxe"),
        ("furnace", "smelting", "furnace"),
    ]
    assert suite.defaults.max_ticks == 36000  # no env: the schema's defaults
    round_trip(suite, tmp_path)


def test_optimus_goal_not_derivable_names_the_entry(tmp_path: Path) -> None:
    path = write(tmp_path, "w.yaml", OPTIMUS.replace("chop a tree", "dance at dawn"))
    error = error_of(path)
    assert (error.path, error.field, error.line) == (str(path), "all_task[4].instruction", 17)
    assert error.message.startswith(
        "entry all_task[4] (id 7): cannot derive a goal: the instruction 'dance at dawn' names "
        "no known item"
    )


def test_optimus_ambiguous_instruction_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "w.yaml", OPTIMUS.replace(", goal: bowl}", "}"))
    error = error_of(path)
    assert (error.field, error.line) == ("all_task[6].instruction", 19)
    assert "names several items (bowl, oak_planks)" in error.message


def test_optimus_missing_field_and_unknown_goal(tmp_path: Path) -> None:
    path = write(tmp_path, "w.yaml", OPTIMUS.replace(" instruction: Craft a iron shovel", ""))
    error = error_of(path)
    assert (error.field, error.line) == ("all_task[0]", 13)
    assert error.message == "entry all_task[0] (id 0): missing required field 'instruction'"

    path = write(tmp_path, "w2.yaml", OPTIMUS.replace("goal: bowl", "goal: bowel"))
    error = error_of(path)
    assert (error.field, error.line) == ("all_task[6].goal", 19)
    assert error.message.startswith("entry all_task[6] (id 9): unknown item 'bowel'")


def test_goal_already_held_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "w.yaml", OPTIMUS.replace("chop a tree", "get a stone pickaxe"))
    error = error_of(path)
    assert error.field == "all_task[4]"
    assert "the goal (1 stone_pickaxe) is already held at the start" in error.message


def test_duplicate_ids_are_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "w.yaml", OPTIMUS.replace("{id: 1,", "{id: 0,"))
    error = error_of(path)
    assert (error.field, error.line) == ("all_task[1]", 14)
    assert "duplicate task id 'w_0' (first used by entry all_task[0] (id 0))" in error.message


# --- MCU -------------------------------------------------------------------------------------


def test_mcu_file_round_trip(tmp_path: Path) -> None:
    path = write(tmp_path, "craft_to_clock.yaml", MCU_CLOCK)
    assert sniff_format(path) == "mcu"
    suite = import_tasks(path)
    ((task, _),) = suite.to_tasks()
    assert (task.id, task.instruction, task.group) == ("craft_to_clock", "craft a clock", "mcu")
    assert (task.goal.item, task.goal.count) == ("clock", 1)  # from the file name
    assert task.initial_inventory == {
        "gold_ingot": 6,
        "redstone": 2,
        "crafting_table": 1,
        "iron_pickaxe": 1,
    }
    # The commands a server would run are listed, never silently dropped.
    assert "craft_to_clock: /setblock ~2 ~ ~ minecraft:crafting_table" in suite.description
    assert "craft_to_clock: /weather thunder" in suite.description
    assert "the slot of /replaceitem entity @s weapon.mainhand" in suite.description
    assert "thinking" in suite.description
    round_trip(suite, tmp_path)


def test_mcu_directory_and_goal_fields(tmp_path: Path) -> None:
    write(tmp_path, "mcu/craft_to_clock.yaml", MCU_CLOCK)
    write(
        tmp_path,
        "mcu/smelt_beef.yml",
        """\
        custom_init_commands:
        - /give @s minecraft:beef 15
        - /give @s minecraft:coal 20
        text: Smelt raw food items to create cooked food using a furnace.
        goal: {item: cooked_beef, count: 3}
        group: food
        """,
    )
    write(
        tmp_path,
        "mcu/make_light.yaml",
        "text: Light up the surroundings.\ntask: place two torches\n",
    )
    suite = import_mcu(tmp_path / "mcu")
    assert sniff_format(tmp_path / "mcu") == "mcu"
    assert suite.name == "mcu"
    assert [(t.id, t.group, t.goal.item, t.goal.count) for t in suite.tasks] == [
        ("craft_to_clock", "mcu", "clock", 1),
        ("make_light", "mcu", "torch", 2),
        ("smelt_beef", "food", "cooked_beef", 3),
    ]
    round_trip(suite, tmp_path)


def test_mcu_unknown_item_in_give_names_file_and_command(tmp_path: Path) -> None:
    path = write(tmp_path, "smelt_beef.yaml", MCU_CLOCK.replace("redstone 2", "raw_beef 15"))
    error = error_of(path)
    assert (error.path, error.field, error.line) == (str(path), "custom_init_commands[2]", 4)
    assert error.message.startswith("task 'smelt_beef': unknown item 'raw_beef'")


def test_mcu_goal_errors(tmp_path: Path) -> None:
    # The file name names an item the agent is given: the goal was surely something else.
    path = write(tmp_path, "use_gold_ingot.yaml", MCU_CLOCK)
    error = error_of(path)
    assert error.path == str(path)
    assert "the goal (1 gold_ingot) is already held at the start (6" in error.message

    path = write(tmp_path, "find_village.yaml", "text: Explore to find a village.\n")
    error = error_of(path)
    assert error.message.startswith("task 'find_village': cannot derive a goal")

    path = write(tmp_path, "find_village.yaml", "custom_init_commands: []\n")
    error = error_of(path, "mcu")
    assert error.message == "task 'find_village': missing required field 'text' (the instruction)"

    path = write(
        tmp_path, "give.yaml", "text: t\ngoal: clock\ncustom_init_commands: [/give @s dirt x]\n"
    )
    error = error_of(path)
    assert error.field == "custom_init_commands[0]"
    assert "not a whole number >= 1" in error.message


# --- sniffing and formats ----------------------------------------------------------------------


def test_import_tasks_reads_steve_suites_and_names_formats(tmp_path: Path) -> None:
    shipped = Path(__file__).parents[1] / "scenarios" / "suites" / "wooden.yaml"
    assert sniff_format(shipped) == "steve"
    assert import_tasks(shipped, name="w2").name == "w2"

    path = write(tmp_path, "iron.yaml", OPTIMUS)
    assert import_tasks(path, "MineEvolve") == import_tasks(path, "optimus")
    error = error_of(path, "minedojo")
    assert error.message.startswith("unknown format 'minedojo' (known: jarvis, optimus, mcu")

    error = error_of(write(tmp_path, "x.yaml", "foo: 1\n"))
    assert error.message.startswith("cannot tell the task format")
    assert error_of(tmp_path / "missing.json").message == "no such file"


# --- words to items ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Craft a wooden pickaxe", [("wooden_pickaxe", 1)]),
        ("craft_diamond_pickaxe", [("diamond_pickaxe", 1)]),
        ("Craft a redstone torch", [("redstone_torch", 1)]),
        ("Mine 8 cobblestone", [("cobblestone", 8)]),
        ("Craft four sticks and two chests", [("stick", 4), ("chest", 2)]),
        ("Collect three sweet berries", [("sweet_berries", 3)]),
        ("chop a tree", [("oak_log", 1)]),
        ("chop an oak log", [("oak_log", 1)]),
        ("Look at the sky", []),
    ],
)
def test_items_in_text(text: str, found: list[tuple[str, int]]) -> None:
    assert items_in_text(text) == found
