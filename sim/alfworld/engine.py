"""The real ALFWorld engine, one game at a time: TextWorld's PDDL environment behind ALFWorld's
own wrappers (`AlfredDemangler` names things as the player sees them, `AlfredInfos`), played by
text command, with the state read back from the engine's facts in the world's terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import textworld
from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos
from textworld.logic import Proposition

from sim.alfworld.fast import FastPddlEnv, argv_kept, speedups


@dataclass
class Symbolic:
    """The engine's state in the world's terms: instance names like `fridge_1`."""

    location: str | None = None
    holding: str | None = None
    opened: set[str] = field(default_factory=set)
    inside: dict[str, str] = field(default_factory=dict)  # object -> receptacle
    states: dict[str, set[str]] = field(default_factory=dict)  # object -> clean, hot, cool, on


_STATE_FACTS = {"isclean": "clean", "ishot": "hot", "iscool": "cool", "istoggled": "on"}


class Engine:
    """One ALFWorld game at a time, played by text command."""

    def __init__(
        self,
        parse_cache: bool = True,
        shallow_context: bool = True,
        sas_store: Path | None = None,
    ) -> None:
        speedups(parse=parse_cache, context=shallow_context)
        infos = textworld.EnvInfos(won=True, admissible_commands=True)
        pddl_env = FastPddlEnv(infos)
        pddl_env.sas_store = sas_store
        self.env = AlfredInfos(AlfredDemangler(pddl_env))
        self.game: Path | None = None
        self.state: Any = None
        self.names: dict[str, str] = {}  # pddl id -> instance name (`fridge_1`)
        self.types: dict[str, str] = {}  # instance name -> PDDL type (`FridgeType`)
        self.receptacles: list[str] = []
        self.openable: set[str] = set()
        self.props: dict[str, set[str]] = {}
        self.fits: set[tuple[str, str]] = set()  # (rtype, otype) pairs
        self.intro = ""
        self.walkthrough: list[str] | None = None
        self._symbolic: Symbolic | None = None

    @property
    def raw(self) -> Any:
        return self.env.unwrapped

    def load(self, game: Path) -> str:
        """Load a game file and reset it; returns the opening text."""
        with argv_kept():
            self.env.load(str(game))
        self.game = game
        self.walkthrough = self.raw.walkthrough
        return self.reset()

    def reset(self) -> str:
        with argv_kept():
            self.state = self.env.reset()
        infos = self.raw._entity_infos
        self.names = {k: _instance(v.name) for k, v in infos.items() if v.name}
        self._static()
        self._symbolic = None
        self.intro = str(self.state.feedback)
        return self.intro

    def step(self, command: str) -> str:
        self.state, _, _ = self.env.step(command)
        self._symbolic = None
        return str(self.state.feedback)

    @property
    def admissible(self) -> list[str]:
        return list(self.state["admissible_commands"])

    @property
    def won(self) -> bool:
        return bool(self.state["won"])

    def facts(self) -> list[Proposition]:
        return list(self.state["_facts"])

    def expert_plan(self) -> list[str]:
        """The engine's planner (fast-downward, as ALFWorld's `AlfredExpert` of type `planner`
        uses it) from the current state: text commands."""
        plan: list[str] = self.raw._pddl_state.replan(self.raw._entity_infos)
        return plan

    def _static(self) -> None:
        """What does not change in a game: receptacles, types, what opens, object properties."""
        self.types, self.receptacles, self.openable = {}, [], set()
        self.props, self.fits = {}, set()
        for fact in self.raw._pddl_state.facts:
            args = [v.name for v in fact.arguments]
            if fact.name in ("receptacletype", "objecttype"):
                name = self.names.get(args[0])
                if name is not None:
                    self.types[name] = args[1]
                    if fact.name == "receptacletype":
                        self.receptacles.append(name)
            elif fact.name == "openable":
                self.openable.add(self.names[args[0]])
            elif fact.name in ("pickupable", "cleanable", "heatable", "coolable", "toggleable"):
                self.props.setdefault(self.names[args[0]], set()).add(fact.name)
            elif fact.name == "cancontain":
                self.fits.add((args[0], args[1]))
        self.receptacles.sort(key=_order)

    def symbolic(self) -> Symbolic:
        """The current state from the engine's facts (computed once per step; do not mutate)."""
        if self._symbolic is None:
            self._symbolic = self._read_symbolic()
        return self._symbolic

    def _read_symbolic(self) -> Symbolic:
        s = Symbolic()
        at_loc = None
        where: dict[str, str] = {}
        for fact in self.facts():
            name, args = fact.name, [v.name for v in fact.arguments]
            if name == "atlocation":
                at_loc = args[1]
            elif name == "receptacleatlocation":
                where[args[1]] = self.names[args[0]]
            elif name == "holds":
                s.holding = self.names[args[1]]
            elif name == "opened":
                s.opened.add(self.names[args[0]])
            elif name == "inreceptacle":
                s.inside[self.names[args[0]]] = self.names[args[1]]
            elif name in _STATE_FACTS:
                s.states.setdefault(self.names[args[0]], set()).add(_STATE_FACTS[name])
        s.location = where.get(at_loc) if at_loc is not None else None
        return s

    def type_of(self, instance: str) -> str:
        """The PDDL type of an instance without `Type` (`FridgeType` -> `fridge`, lower case)."""
        return self.types.get(instance, "").lower().removesuffix("type")

    def can_hold(self, receptacle: str, obj: str) -> bool:
        return (self.types.get(receptacle, "").lower(), self.types.get(obj, "").lower()) in {
            (r.lower(), o.lower()) for r, o in self.fits
        }

    def text(self, instance: str) -> str:
        """How the player names an instance: `fridge_1` -> `fridge 1`."""
        base, _, num = instance.rpartition("_")
        return f"{base} {num}" if base and num.isdigit() else instance


def _instance(display: str) -> str:
    """`fridge 1` -> `fridge_1`; lower case, one underscore before the number."""
    parts = display.strip().lower().split()
    return "_".join(parts)


def _order(name: str) -> tuple[str, int]:
    base, _, num = name.rpartition("_")
    return (base, int(num)) if num.isdigit() else (name, 0)
