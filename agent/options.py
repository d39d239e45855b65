"""The settings `--option SECTION.KEY=VALUE` may give (a run's `extra`), checked before it runs.

Each section is passed as keyword arguments to one constructor: `misbeliefs.*` to the
fallible planner's `Misbeliefs`, `planner.*` to `LLMPlanner`, `household.*` to
`HouseholdPlanner`, `llm.*` to the backend's client (and a cassette around it), `distiller.*`
to the experience extractor's backend, `world.*` to the world (found through `sim.registry`).
The keys are those constructors' parameters, read with `inspect.signature` and never listed
by hand, so they cannot drift from what the code takes. A value is checked against its
parameter's annotation where that is a plain type (bool, int, float, str, a `Literal`) and
left to the constructor otherwise. Unchecked, a misspelt key was silently ignored (a section
nobody reads) or failed deep in a run as a TypeError.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import sys
import types
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

# the fixed sections: the constructor each is passed to, and the parameters the runner fills
SECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "misbeliefs": ("agent.planner.fallible:Misbeliefs", ()),
    "planner": ("agent.planner.llm:LLMPlanner", ("client", "world")),
    "household": ("agent.planner.household:HouseholdPlanner", ("world",)),
}
# the cassette that `make_client` wraps around any backend: option key -> its parameter
CASSETTE = {"cassette": "path", "cassette_mode": "mode"}
FLAGS = ("model", "base_url")  # the LLM's, given as --model and --base-url, never llm.*
EVERY_SECTION = ("distiller", "household", "llm", "misbeliefs", "planner", "world")
Params = dict[str, Any]  # keyword -> its annotation (a type, or None where it is not known)


def load(spec: str) -> Callable[..., Any]:
    """`module:attr`, imported (not called)."""
    module, _, attr = spec.partition(":")
    target: Callable[..., Any] = getattr(importlib.import_module(module), attr)
    return target


def parameters(target: Callable[..., Any], filled: Collection[str] = ()) -> Params | None:
    """The keyword parameters of a class or function with their annotations, less those the
    caller fills itself; None where it takes `**kwargs` (any key goes)."""
    sig = inspect.signature(target)
    home = vars(sys.modules[target.__module__]) if target.__module__ in sys.modules else {}
    out: Params = {}
    for name, p in sig.parameters.items():
        if p.kind is p.VAR_KEYWORD:
            return None
        if p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY) or name in filled:
            continue
        out[name] = _resolve(p.annotation, home)
    return out


def _resolve(annotation: Any, home: dict[str, Any]) -> Any:
    """A parameter's annotation as a type; the modules here postpone annotations, so it is
    text, read in the namespace of the module that wrote it (None where a name in it exists
    only for the type checker)."""
    if annotation is inspect.Parameter.empty:
        return None
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, dict(home))  # our own modules' annotations, never user input
    except Exception:
        return None


def llm_params(backend: str) -> Params | None:
    """`llm.*` keys of a backend: its client's parameters (less `model` and `base_url`, which
    are `--model` and `--base-url`) and the cassette's. A cassette replays without building
    its backend, so `cassette` takes any backend's keys (those it was recorded with)."""
    from agent.llm.backends import CLIENT_CLASSES
    from agent.llm.cassette import CassetteClient

    tape = parameters(CassetteClient) or {}
    out: Params = {key: tape.get(param) for key, param in CASSETTE.items()}
    names = list(CLIENT_CLASSES) if backend == "cassette" else [backend]
    for name in names:
        if name not in CLIENT_CLASSES:
            return None  # a backend registered elsewhere: its keys are not known here
        params = parameters(load(CLIENT_CLASSES[name]), filled=("model", "base_url"))
        if params is None:
            return None
        out.update(params)
    return out


def check_extra(
    extra: Mapping[str, Any],
    planner: str,
    reads: Collection[str],
    readers: Mapping[str, Collection[str]],
    world: tuple[str, Callable[..., Any]],
    distiller: str,
) -> list[str]:
    """What is wrong with a run's options: a section that does not exist or that its planner
    does not read (`reads`; `readers` says which planners read what), a key its constructor
    does not take, a value of the wrong kind. `world` is the world's id and class."""
    problems = []
    for section, values in extra.items():
        if not isinstance(values, Mapping):
            problems.append(
                f"option {section}={values!r}: options are SECTION.KEY=VALUE (e.g."
                f" misbeliefs.seed=3); sections: {', '.join(EVERY_SECTION)}"
            )
        elif section == "world":
            problems += check_world(world[1], world[0], values, "option world")
        elif section == "distiller":
            if distiller == "llm":
                problems += _check_distiller(values)
            else:
                problems.append(
                    f"option distiller.*: read only by the llm distiller, not {distiller!r}"
                )
        elif section not in EVERY_SECTION:
            problems.append(f"option {section}.*: no such section{hint(section, EVERY_SECTION)}")
        elif section not in reads:
            by = sorted(p for p, r in readers.items() if section in r)
            problems.append(
                f"option {section}.*: planner {planner!r} does not read it (read by planner"
                f" {', '.join(by) or 'none'})"
            )
        elif section == "llm":
            flags = [
                f"option llm.{k}: give it as --{k.replace('_', '-')}" for k in FLAGS if k in values
            ]
            rest = {k: v for k, v in values.items() if k not in FLAGS}
            problems += flags + check_section(
                section, rest, llm_params(planner), f"backend {planner!r}"
            )
        else:
            spec, filled = SECTIONS[section]
            owner = spec.rpartition(":")[2]
            problems += check_section(section, values, parameters(load(spec), filled), owner)
    return problems


def _check_distiller(values: Mapping[str, Any]) -> list[str]:
    """`distiller.*`: `backend` (default local) and that backend's `llm.*` keys, with its own
    `model` and `base_url` (the planner's are not its)."""
    from agent.llm import backends  # noqa: F401 - registers the built-in backends
    from agent.llm.base import BACKENDS

    backend = values.get("backend", "local")
    if backend not in BACKENDS:
        close = hint(str(backend), BACKENDS)
        return [f"option distiller.backend={backend!r}: no such LLM backend{close}"]
    params = llm_params(backend)
    if params is not None:
        params |= {"backend": str, "model": str | None, "base_url": str | None}
    return check_section("distiller", values, params, f"backend {backend!r}")


def check_section(
    section: str, values: Mapping[str, Any], params: Params | None, owner: str
) -> list[str]:
    """What is wrong with one section's keys and values (`owner` says who takes them, e.g.
    "backend 'openai'"); empty when nothing is."""
    if params is None:
        return []
    problems = []
    for key, value in values.items():
        label = f"option {section}.{key}"
        if key not in params:
            problems.append(f"{label}: {owner} takes no option {key!r}{hint(key, params)}")
            continue
        expected = params[key]
        if expected is not None and fits(value, expected) is False:
            problems.append(f"{label}={value!r}: expected {describe(expected)}")
    return problems


def check_world(
    entry: Callable[..., Any], world_id: str, values: Mapping[str, Any], label: str
) -> list[str]:
    """World options (the suite's `world_options`, `--option world.*`) against the world's
    constructor; `label` places each key (`option world` or `suite.yaml:4: world_options`)."""
    params = parameters(entry)
    problems = []
    for key, value in values.items():
        if params is None:
            break
        if key not in params:
            problems.append(f"{label}.{key}: {world_id} takes no option {key!r}{hint(key, params)}")
        elif params[key] is not None and fits(value, params[key]) is False:
            problems.append(f"{label}.{key}={value!r}: expected {describe(params[key])}")
    return problems


def hint(name: str, known: Collection[str], *, every: bool = True) -> str:
    """The closest known names for an error message, and (with `every`) all of them."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    did = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"{did}; known: {', '.join(sorted(known)) or 'none'}" if every else did


def fits(value: Any, tp: Any) -> bool | None:
    """Whether a YAML value suits an annotation: True, False, or None where only the
    constructor can tell (a class, a protocol, a generic)."""
    if tp is Any:
        return True
    origin = get_origin(tp)
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        verdicts = [fits(value, arg) for arg in get_args(tp)]
        return None if None in verdicts and True not in verdicts else any(verdicts)
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp in (str, Path):
        return isinstance(value, str)
    return None


def describe(tp: Any) -> str:
    """An annotation in words, for an error message."""
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(dict.fromkeys(describe(a) for a in get_args(tp)))
    words = {
        type(None): "null",
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: """a string (one YAML reads as a number is quoted: --option "KEY='1.16'")""",
        Path: "a path",
    }
    return words.get(tp, getattr(tp, "__name__", str(tp)))


# the command line's values, read alike by every command (`steve run`, `steve eval`, `steve watch`)


def split_csv(value: str | None) -> list[str] | None:
    """`--tasks a,b` -> ["a", "b"]: comma-separated, blanks dropped; None where none is given."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def parse_seeds(value: str | None) -> list[int] | None:
    """`--seeds 0,1,2`; a typo is named (int() would say "invalid literal for base 10")."""
    out = []
    for part in split_csv(value) or []:
        try:
            out.append(int(part))
        except ValueError:
            raise ValueError(
                f"--seeds {value}: {part!r} is not a seed (comma-separated integers)"
            ) from None
    return out or None


def parse_options(pairs: list[str] | None) -> dict[str, Any]:
    """`--option misbeliefs.seed=3` -> {"misbeliefs": {"seed": 3}} (values read as YAML)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise ValueError(f"--option {pair!r}: expected KEY=VALUE, e.g. misbeliefs.seed=3")
        *path, last = key.split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):  # `--option llm=1 --option llm.x=2`
                raise ValueError(f"--option {pair!r}: {part} is given a value of its own too")
        node[last] = yaml.safe_load(value)
    return out
