"""The project's shape (issue 29, `../shared/DESIGN.md`, `docs/architecture.md`): no module
imports another module's private names, the packages depend in one direction, and the CLI's
plugins (the visualiser's commands) come through an entry point, not an import of `viz`."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "sim", "knowledge", "viz", "scenarios", "benchmarks")
OURS = (*PACKAGES, "tests")

# what each package may not import, statically (anywhere in a module, lazy imports too):
# "sim depends on nothing of ours; knowledge on nothing of ours but shared schemas (sim.schema);
# agent on sim and knowledge; viz reads recorded runs and sim renderers; scenarios holds data
# and the loaders that agent uses"
FORBIDDEN = {
    "sim": ("agent", "knowledge", "viz", "scenarios", "benchmarks"),
    "knowledge": ("agent", "viz", "scenarios", "benchmarks"),
    "agent": ("viz", "benchmarks"),
    "scenarios": ("agent", "knowledge", "viz", "benchmarks"),
    "viz": ("benchmarks",),
}
# knowledge's one way into sim: the shared schema, never a world
KNOWLEDGE_FROM_SIM = ("sim.schema",)
# the rules of Minecraft that every Minecraft-like world shares (sim/mcrules): worlds depend on
# them, they on no world
WORLDS = ("sim.craftworld", "sim.minecraft", "sim.alfworld")
# scripts that show the whole project at work: they use the agent as any user does
EXCEPTIONS = ("scenarios/examples/",)


def _files() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "node_modules" not in path.parts:
                yield path


def _module(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path, node: ast.ImportFrom, root: Path) -> str:
    """The absolute module a `from ... import` reads (a relative one resolved)."""
    if not node.level:
        return node.module or ""
    package = _module(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])])


def _imports(path: Path, root: Path = ROOT) -> Iterator[tuple[int, str, list[str]]]:
    """(line, module, names) for every import in a file; `import a.b` gives names []."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            yield node.lineno, _imported(path, node, root), [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _dotted(node: ast.expr) -> list[str] | None:
    """`a.b.c` as ["a", "b", "c"]; None for anything but names and attributes."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else [*head, node.attr]
    return None


def private_imports(path: Path, root: Path = ROOT) -> list[str]:
    """`from M import _x` where M is another module of ours, and `M._x` read off a module of
    ours that the file imported (`import a.b` then `a.b._x`; `from a import b` then `b._x`).
    A private attribute of a class or an object (`Anchorer._prepare`) is not a module's."""
    own, shown = _module(path, root), path.relative_to(root)
    found = []
    modules: dict[str, str] = {}  # a local name -> what of ours it stands for
    for line, module, names in _imports(path, root):
        if module.split(".")[0] not in OURS:
            continue
        found += [
            f"{shown}:{line}: from {module} import {name}"
            for name in names
            if _private(name) and module != own
        ]
        modules.update({name: f"{module}.{name}" for name in names})
        if not names:
            modules[module.split(".")[0]] = module.split(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Attribute) or not _private(node.attr):
            continue
        chain = _dotted(node.value)
        if chain is None or chain[0] not in modules:
            continue
        module = ".".join([modules[chain[0]], *chain[1:]])
        if module != own and _is_module(module, root):
            found.append(f"{shown}:{node.lineno}: {module}.{node.attr}")
    return found


def _is_module(dotted: str, root: Path) -> bool:
    """Whether `dotted` names a module or package of ours (not a class or function in one)."""
    where = root.joinpath(*dotted.split("."))
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


def test_no_module_imports_another_modules_private_names() -> None:
    found = [hit for path in _files() for hit in private_imports(path)]
    found += [
        hit for path in sorted((ROOT / "tests").rglob("*.py")) for hit in private_imports(path)
    ]
    assert not found, "private names of another module:\n" + "\n".join(found)


def test_the_check_sees_private_imports(tmp_path: Path) -> None:
    """The check above finds what it is meant to (a check that finds nothing proves nothing)."""
    for name in ("agent/__init__.py", "agent/runner.py", "scenarios/__init__.py"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("")
    (tmp_path / "scenarios" / "loader.py").write_text("_own = 1\nprint(_own)\n")
    probe = tmp_path / "agent" / "probe.py"
    probe.write_text(
        "from agent.runner import (RunConfig, _hidden)\n"
        "from .runner import _also\n"
        "from . import runner\n"
        "from agent import __version__\n"
        "from agent.probe import _mine\n"
        "import scenarios.loader\n"
        "scenarios.loader._line\n"
        "runner.RunConfig._method\n"
        "runner._state\n"
    )
    found = [hit.split(": ", 1)[1] for hit in private_imports(probe, tmp_path)]
    assert found == [
        "from agent.runner import _hidden",
        "from agent.runner import _also",
        "scenarios.loader._line",
        "agent.runner._state",
    ]
    assert private_imports(tmp_path / "scenarios" / "loader.py", tmp_path) == []


def test_packages_depend_in_one_direction() -> None:
    wrong = []
    for path in _files():
        shown = path.relative_to(ROOT).as_posix()
        package = shown.split("/")[0]
        if shown.startswith(EXCEPTIONS):
            continue
        for line, module, _ in _imports(path):
            top = module.split(".")[0]
            if top in FORBIDDEN.get(package, ()):
                wrong.append(f"{shown}:{line}: {package} imports {module}")
            elif package == "knowledge" and top == "sim" and module not in KNOWLEDGE_FROM_SIM:
                wrong.append(f"{shown}:{line}: knowledge imports {module} (only sim.schema)")
    assert not wrong, "\n".join(wrong)


def test_the_minecraft_rules_depend_on_no_world() -> None:
    paths = sorted((ROOT / "sim" / "mcrules").rglob("*.py"))
    assert paths, "sim/mcrules has no modules"
    wrong = [
        f"{path.relative_to(ROOT).as_posix()}:{line}: imports {module}"
        for path in paths
        for line, module, names in _imports(path)
        if any(m.startswith(WORLDS) for m in (module, *(f"{module}.{n}" for n in names)))
    ]
    assert not wrong, "\n".join(wrong)


RUNNERS = (
    "agent.runner",
    "agent.runspec",
    "agent.pool",
    "agent.parallel",
    "agent.loop",
    "agent.record",
)


def test_no_import_cycle_through_the_runners() -> None:
    """The runner, the Ray pool, the run's description, the loop and the record import one
    another one way only, lazy imports (inside functions) included: the runner and the Ray
    pool once imported each other. (One lazy cycle is known elsewhere in agent: the LLM
    backends' registry, agent.llm.base <-> agent.llm.backends, which registers on first use.)"""
    import networkx as nx

    graph = nx.DiGraph()
    for path in sorted((ROOT / "agent").rglob("*.py")):
        me = _module(path)
        for _, module, names in _imports(path):
            for target in (module, *(f"{module}.{n}" for n in names)):
                file = ROOT / (target.replace(".", "/") + ".py")  # a module, not a package:
                if target.startswith("agent.") and file.is_file() and target != me:
                    graph.add_edge(me, target)  # (a package's __init__ re-exports its parts)
    cycles = [" -> ".join(c) for c in nx.simple_cycles(graph) if set(c) & set(RUNNERS)]
    assert not cycles, "\n".join(cycles[:10])
    for pool in ("agent.pool", "agent.parallel"):  # the runner drives the pools, not back
        assert not nx.has_path(graph, pool, "agent.runner"), f"{pool} reaches agent.runner"


def test_steve_lists_the_plugin_commands() -> None:
    """The installed console script finds the visualiser's commands through the
    `steve.commands` entry point (pyproject.toml; re-install after changing it)."""
    steve = Path(sys.executable).parent / "steve"
    assert steve.exists(), f"{steve}: the package is not installed (make install)"
    out = subprocess.run(
        [str(steve), "--help"], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    for command in ("run", "watch", "replay", "export-video", "plots"):
        assert f" {command} " in out, f"`steve --help` does not list {command}:\n{out}"
    knowledge = subprocess.run(
        [str(steve), "knowledge", "--help"], capture_output=True, text=True, timeout=120
    ).stdout
    assert " html " in knowledge, knowledge


def test_load_commands_adds_each_command_once() -> None:
    import typer

    from agent.cli import load_commands

    app, knowledge = typer.Typer(), typer.Typer()
    app.add_typer(knowledge, name="knowledge")
    load_commands(app)
    load_commands(app)
    names = [c.callback.__name__ for c in app.registered_commands if c.callback is not None]
    assert names.count("watch") == 1 and "replay" in names, names
    assert [c.name for c in knowledge.registered_commands] == ["html"]
