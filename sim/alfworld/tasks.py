"""The six ALFWorld task types as goal predicates, and how far a state is along one.

A household task's goal is a predicate, `<task_type>(<object>, <receptacle>)`, with ALFRED's
task-type names and the lower-case type names the player sees:

    pick_and_place_simple(pen, drawer)           put a pen in drawer
    look_at_obj_in_light(book, desklamp)         look at book under the desklamp
    pick_clean_then_place_in_recep(apple, fridge)
    pick_heat_then_place_in_recep(egg, countertop)
    pick_cool_then_place_in_recep(tomato, diningtable)
    pick_two_obj_and_place(cd, shelf)

or `game:<path>`: a real ALFWorld game folder (what `alfworld-download` writes), whose own
`traj_data.json` says the task; a relative path is read under `$ALFWORLD_DATA`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from sim.schema import WorldState

PICK = "pick_and_place_simple"
LOOK = "look_at_obj_in_light"
CLEAN = "pick_clean_then_place_in_recep"
HEAT = "pick_heat_then_place_in_recep"
COOL = "pick_cool_then_place_in_recep"
TWO = "pick_two_obj_and_place"
TASK_TYPES = (PICK, LOOK, CLEAN, HEAT, COOL, TWO)

# the appliance each state-changing task needs, and the object state it leaves
APPLIANCE = {CLEAN: "SinkBasin", HEAT: "Microwave", COOL: "Fridge"}
STATE = {CLEAN: "clean", HEAT: "hot", COOL: "cool"}
PROPERTY = {CLEAN: "cleanable", HEAT: "heatable", COOL: "coolable"}
VERB = {CLEAN: "clean", HEAT: "heat", COOL: "cool"}
# where each task type can be set (ALFRED's GOALS_VALID)
ROOMS = {
    PICK: ("Kitchen", "LivingRoom", "Bedroom", "Bathroom"),
    TWO: ("Kitchen", "LivingRoom", "Bedroom", "Bathroom"),
    LOOK: ("LivingRoom", "Bedroom"),
    CLEAN: ("Kitchen", "Bathroom"),
    HEAT: ("Kitchen",),
    COOL: ("Kitchen",),
}
# ALFRED's instruction templates (alfworld.gen.goal_library), `{obj}`/`{recep}` in lower case
TEMPLATES = {
    PICK: ("put a {obj} in {recep}", "put some {obj} on {recep}"),
    LOOK: ("look at {obj} under the {recep}", "examine the {obj} with the {recep}"),
    CLEAN: ("put a clean {obj} in {recep}", "clean some {obj} and put it in {recep}"),
    HEAT: ("put a hot {obj} in {recep}", "heat some {obj} and put it in {recep}"),
    COOL: ("put a cool {obj} in {recep}", "cool some {obj} and put it in {recep}"),
    TWO: ("put two {obj} in {recep}", "find two {obj} and put them in {recep}"),
}
GAME_PREFIX = "game:"
_PREDICATE = re.compile(r"^\s*([a-z_]+)\s*\(\s*([A-Za-z]+)\s*,\s*([A-Za-z]+)\s*\)\s*$")


class PredicateError(ValueError):
    """A goal predicate this world cannot read."""


@dataclass(frozen=True)
class TaskSpec:
    """One household task: its type, the object type and the receptacle type (for
    `look_at_obj_in_light`, the lamp), in the catalogue's spelling (`Apple`, `SinkBasin`)."""

    kind: str
    obj: str
    recep: str

    @property
    def count(self) -> int:
        return 2 if self.kind == TWO else 1

    @property
    def lamp(self) -> str | None:
        return self.recep if self.kind == LOOK else None

    @property
    def appliance(self) -> str | None:
        return APPLIANCE.get(self.kind)

    def predicate(self) -> str:
        return f"{self.kind}({self.obj.lower()}, {self.recep.lower()})"

    def instruction(self, variant: int = 0) -> str:
        templates = TEMPLATES[self.kind]
        text = templates[variant % len(templates)]
        return text.format(obj=self.obj.lower(), recep=self.recep.lower()) + "."

    def key(self) -> str:
        """ALFRED's folder name for the task: `pick_heat_then_place_in_recep-Egg-None-Fridge`."""
        return f"{self.kind}-{self.obj}-None-{self.recep}"

    def pddl_params(self) -> dict[str, str | bool]:
        return {
            "object_target": self.obj,
            "parent_target": "" if self.kind == LOOK else self.recep,
            "toggle_target": self.recep if self.kind == LOOK else "",
            "mrecep_target": "",
            "object_sliced": False,
        }

    def goal_pddl(self) -> str:
        """The `(:goal ...)` section (and the problem's closing parenthesis), from the engine's
        own goal library."""
        from alfworld.gen.goal_library import gdict

        text: str = gdict[self.kind]["pddl"]
        obj, recep = self.obj, "" if self.kind == LOOK else self.recep
        toggle = self.recep if self.kind == LOOK else ""
        return text.format(obj=obj, recep=recep, toggle=toggle, mrecep="").replace("#", "-")

    def names(self) -> frozenset[str]:
        """The lower-case type names the task involves (what recall should look for)."""
        names = {self.obj.lower(), self.recep.lower()}
        if self.appliance:
            names.add(self.appliance.lower())
        return frozenset(names)


def parse(predicate: str, canonical: dict[str, str] | None = None) -> TaskSpec:
    """A task spec from `<task_type>(<object>, <receptacle>)`; `canonical` maps lower-case type
    names to the catalogue's spelling (`sinkbasin` -> `SinkBasin`)."""
    m = _PREDICATE.match(predicate)
    if m is None:
        raise PredicateError(
            f"goal predicate {predicate!r}: expected '<task_type>(<object>, <receptacle>)' "
            f"or '{GAME_PREFIX}<path>'"
        )
    kind, obj, recep = m.groups()
    if kind not in TASK_TYPES:
        raise PredicateError(f"unknown task type {kind!r}; known: {', '.join(TASK_TYPES)}")
    if canonical is not None:
        missing = [n for n in (obj, recep) if n.lower() not in canonical]
        if missing:
            raise PredicateError(f"goal predicate {predicate!r}: unknown type(s) {missing}")
        obj, recep = canonical[obj.lower()], canonical[recep.lower()]
    return TaskSpec(kind, obj, recep)


def game_path(predicate: str) -> Path | None:
    """The game folder a `game:<path>` predicate names (None for a generated task)."""
    if not predicate.startswith(GAME_PREFIX):
        return None
    path = Path(os.path.expandvars(predicate[len(GAME_PREFIX) :].strip())).expanduser()
    if not path.is_absolute():
        root = os.environ.get("ALFWORLD_DATA", str(Path("~/.cache/alfworld").expanduser()))
        path = Path(root) / path
    return path


# ---- reading a WorldState in household terms ------------------------------------------------
def kind_of(name: str) -> str:
    """The type of an instance name: `sinkbasin_1` -> `sinkbasin` (a type is its own type)."""
    base, _, num = name.rpartition("_")
    return base if base and num.isdigit() else name


def location_of(state: WorldState, obj: str) -> str | None:
    for s in state.object_states.get(obj, ()):
        if s.startswith("in:"):
            return s[3:]
    return None


def progress(spec: TaskSpec, state: WorldState) -> float:
    """How far along the task a state is, 0..1, by stages: hold the object, change its state
    (clean, hot, cool) where the task asks, put it in place (twice for two), or hold it where
    the lamp is on."""
    obj, recep = spec.obj.lower(), spec.recep.lower()
    need = STATE.get(spec.kind)
    stages = 2 + (need is not None)

    def score(name: str) -> float:
        states = state.object_states.get(name, [])
        treated = need is None or need in states
        held = state.holding == name
        where = location_of(state, name)
        if spec.kind == LOOK:
            lit = any(
                kind_of(n) == recep
                and "on" in s
                and location_of(state, n) is not None
                and location_of(state, n) == state.location
                for n, s in state.object_states.items()
            )
            return 1.0 if held and lit else 0.5 if held else 0.0
        if where is not None and kind_of(where) == recep and treated:
            return 1.0
        if held:
            return (1 + (need is not None and treated)) / stages
        return 0.0

    scores = sorted(
        (score(n) for n in {*state.object_states, state.holding or ""} if kind_of(n) == obj),
        reverse=True,
    )
    best = scores[: spec.count] + [0.0] * spec.count
    return round(sum(best[: spec.count]) / spec.count, 4)
