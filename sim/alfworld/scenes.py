"""Seeded household scenes: floor plans (which receptacles a room has) and object layouts.

Floor plans are numbered as in AI2-THOR (kitchens 1-30, living rooms 201-230, bedrooms
301-330, bathrooms 401-430); plans 1-24 of each room are the `seen` split and 25-30 the
`unseen` one, so unseen tasks are played in layouts no seen task used. A task's floor plan and
its object layout both follow from the task and the episode seed, deterministically.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from sim.alfworld.rules import BASINS, Rules
from sim.alfworld.tasks import LOOK, ROOMS, TaskSpec

ROOM_BASE = {"Kitchen": 0, "LivingRoom": 200, "Bedroom": 300, "Bathroom": 400}
SPLITS = {"seen": range(1, 25), "unseen": range(25, 31)}
LAMP_HOLDERS = ("Desk", "SideTable", "Dresser")
P_PRESENT = 0.6  # chance that each of a room's other object types is in a scene
MAX_COPIES = 3


def stable_hash(text: str) -> int:
    """A hash that is the same in every process (Python's `hash` of a str is salted)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


@dataclass(frozen=True)
class FloorPlan:
    """The receptacles of one room layout: `(type, count)` in a fixed order."""

    room: str
    number: int
    receptacles: tuple[tuple[str, int], ...]

    def count(self, rtype: str) -> int:
        return dict(self.receptacles).get(rtype, 0)

    @property
    def size(self) -> int:
        return sum(n for _, n in self.receptacles)


def floor_plan(room: str, index: int, rules: Rules | None = None) -> FloorPlan:
    """Floor plan `index` (1-30) of a room type; the same numbers give the same layout."""
    rules = rules or Rules.load()
    spec = rules.rooms[room]
    rng = np.random.default_rng([ROOM_BASE[room] + 1, index])
    counts = tuple((t, int(rng.integers(lo, hi + 1))) for t, (lo, hi) in spec.receptacles.items())
    return FloorPlan(room, ROOM_BASE[room] + index, tuple((t, n) for t, n in counts if n > 0))


def eligible(spec: TaskSpec, plan: FloorPlan, rules: Rules) -> bool:
    """Whether a task can be set in a floor plan: the room suits the task type and holds the
    object, and the plan has the target receptacle (or a lamp's stand) and the appliance."""
    if plan.room not in ROOMS[spec.kind] or spec.obj not in rules.rooms[plan.room].objects:
        return False
    if spec.kind == LOOK:
        if spec.recep not in rules.rooms[plan.room].objects:
            return False
        stands = [t for t in LAMP_HOLDERS if plan.count(t)]
        if not stands:
            return False
    elif not plan.count(spec.recep) or not rules.can_hold(spec.recep, spec.obj):
        return False
    if spec.appliance and not plan.count(spec.appliance):
        return False
    # somewhere to start from: a receptacle that holds the object and is not the target
    return any(
        rules.can_hold(t, spec.obj) and (spec.kind == LOOK or t != spec.recep)
        for t, _ in plan.receptacles
    )


def plans_for(spec: TaskSpec, split: str, rules: Rules | None = None) -> list[FloorPlan]:
    """The floor plans of a split in which the task can be set."""
    rules = rules or Rules.load()
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    return [
        plan
        for room in ROOMS[spec.kind]
        for index in SPLITS[split]
        if eligible(spec, plan := floor_plan(room, index, rules), rules)
    ]


def receptacle_id(rtype: str, n: int) -> str:
    """The PDDL id of a receptacle; sinks and bathtubs are named as ALFWorld's demangler
    expects (`Sink_bar_1_bar_SinkBasin` shows as "sinkbasin 1")."""
    basin = BASINS.get(rtype)
    return f"{basin}_bar_{n}_bar_{rtype}" if basin else f"{rtype}_bar_{n}"


@dataclass
class Scene:
    """A populated floor plan: receptacles `(pddl id, type)` and objects `(pddl id, type,
    receptacle id)`."""

    plan: FloorPlan
    receptacles: list[tuple[str, str]] = field(default_factory=list)
    objects: list[tuple[str, str, str]] = field(default_factory=list)
    seed: int = 0

    def types_of(self, rtype: str) -> list[str]:
        return [rid for rid, t in self.receptacles if t == rtype]


def layout(spec: TaskSpec, split: str, seed: int, rules: Rules | None = None) -> Scene:
    """The scene of a task in a split for an episode seed: the floor plan is drawn from the
    split's eligible plans, then objects are placed where they fit. The task's object is never
    placed where the task wants it (the goal never holds at the start)."""
    rules = rules or Rules.load()
    plans = plans_for(spec, split, rules)
    if not plans:
        raise ValueError(f"no {split} floor plan can host {spec.predicate()}")
    salt = stable_hash(f"{spec.predicate()}/{split}")
    plan = plans[(salt + seed) % len(plans)]
    rng = np.random.default_rng([plan.number, seed, salt])
    scene = Scene(plan, seed=seed)
    for rtype, n in plan.receptacles:
        scene.receptacles += [(receptacle_id(rtype, i), rtype) for i in range(1, n + 1)]

    room = rules.rooms[plan.room]
    copies: dict[str, int] = {}
    for otype in room.objects:
        if rng.random() < P_PRESENT:
            copies[otype] = int(rng.integers(1, MAX_COPIES + 1))
    copies[spec.obj] = max(copies.get(spec.obj, 0), spec.count + int(rng.integers(0, 2)))
    if spec.kind == LOOK:
        copies[spec.recep] = 1

    used_stands: set[str] = set()
    for otype, n in copies.items():
        for i in range(1, n + 1):
            where = _spot(scene, spec, otype, rules, rng, used_stands)
            if where is None:
                continue
            if otype in rules.fixed:
                used_stands.add(where)
            scene.objects.append((f"{otype}_bar_{i}", otype, where))
    return scene


def _spot(
    scene: Scene,
    spec: TaskSpec,
    otype: str,
    rules: Rules,
    rng: np.random.Generator,
    used_stands: set[str],
) -> str | None:
    """A receptacle for one object: one it fits in, not the task's target for the task's
    object, one lamp per stand."""
    options = [
        rid
        for rid, rtype in scene.receptacles
        if rules.can_hold(rtype, otype)
        and not (otype == spec.obj and spec.kind != LOOK and rtype == spec.recep)
        and not (otype in rules.fixed and (rtype not in LAMP_HOLDERS or rid in used_stands))
    ]
    if not options:
        return None
    return options[int(rng.integers(len(options)))]
