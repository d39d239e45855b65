"""Plans for oracle planners: the engine's commands as subgoals, and a plan read off the
engine's state by the task type's recipe. The agent never sees either; the household planner
(`agent.planner.household`) is labelled an oracle in every report."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sim.alfworld import tasks
from sim.schema import Subgoal

if TYPE_CHECKING:
    from sim.alfworld.world import AlfWorld


def rule_plan(w: AlfWorld) -> list[str]:
    """A plan read off the engine's state by the task type's recipe, as the engine's
    commands: for each object still to place, go where it is, open that if closed, take
    it, treat it at the appliance if the task asks, go to the target, open it if closed,
    put it there; for a lamp task, hold the object and switch on the lamp where it stands.
    For oracle planners only (it reads where everything is)."""
    if w.spec is None:
        return []
    e, s, spec = w.engine, w.engine.symbolic(), w.spec
    obj, recep, need = spec.obj.lower(), spec.recep.lower(), tasks.STATE.get(spec.kind)
    where, held, opened = s.location, s.holding, set(s.opened)
    plan: list[str] = []

    def go(r: str) -> None:
        nonlocal where
        if where != r:
            plan.append(f"go to {e.text(r)}")
            where = r
        if r in e.openable and r not in opened:
            plan.append(f"open {e.text(r)}")
            opened.add(r)

    def take(o: str) -> None:
        nonlocal held
        if held != o:
            go(s.inside[o])
            plan.append(f"take {e.text(o)} from {e.text(s.inside[o])}")
            held = o

    objects = [o for o in e.types if o not in e.receptacles and e.type_of(o) == obj]
    if spec.kind == tasks.LOOK:
        lamp = next((o for o in e.types if e.type_of(o) == recep and o in s.inside), None)
        if lamp is None or not objects or (held is not None and held not in objects):
            return []
        take(held if held in objects else objects[0])
        go(s.inside[lamp])
        plan.append(f"use {e.text(lamp)}")
        return plan
    targets = [r for r in e.receptacles if e.type_of(r) == recep]
    done = [
        o
        for o in objects
        if s.inside.get(o) in targets and (need is None or need in s.states.get(o, ()))
    ]
    placed = {o: s.inside[o] for o in done}
    todo = sorted(
        (o for o in objects if o not in done), key=lambda o: (o != held, o not in s.inside)
    )
    for o in todo[: max(0, spec.count - len(done))]:
        if held is not None and held != o:
            return []  # hands full with something else: leave it to the engine's planner
        take(o)
        if need is not None and need not in s.states.get(o, ()):
            appliance = next(
                r for r in e.receptacles if e.type_of(r) == str(spec.appliance).lower()
            )
            if where != appliance:
                plan.append(f"go to {e.text(appliance)}")
                where = appliance
            plan.append(f"{tasks.VERB[spec.kind]} {e.text(o)} with {e.text(appliance)}")
        target = next(iter(placed.values()), targets[0])  # two go in the same one
        go(target)
        plan.append(f"move {e.text(o)} to {e.text(target)}")
        held = None
        placed[o] = target
    return plan


_ID = r"([a-z]+) (\d+)"
_COMMANDS: list[tuple[re.Pattern[str], str, int]] = [
    (re.compile(rf"^go to {_ID}$"), "go_to", 1),
    (re.compile(rf"^open {_ID}$"), "open", 1),
    (re.compile(rf"^close {_ID}$"), "close", 1),
    (re.compile(rf"^take {_ID} from {_ID}$"), "take", 1),
    (re.compile(rf"^(?:move|put) {_ID} (?:to|in|on|into) {_ID}$"), "put", 3),
    (re.compile(rf"^heat {_ID} with {_ID}$"), "heat", 1),
    (re.compile(rf"^cool {_ID} with {_ID}$"), "cool", 1),
    (re.compile(rf"^clean {_ID} with {_ID}$"), "clean", 1),
    (re.compile(rf"^use {_ID}$"), "use", 1),
]
WALKING = ("open", "close", "put")  # verbs that walk to their target themselves


def subgoals_for(commands: list[str]) -> list[Subgoal]:
    """The subgoals that carry out a sequence of the engine's text commands (`go to fridge 1`
    -> `go_to fridge_1`); looking, examining and the inventory are dropped, and a walk right
    before a verb that walks to the same place itself is folded into it."""
    out: list[Subgoal] = []
    for command in commands:
        for pattern, verb, group in _COMMANDS:
            m = pattern.match(command.strip())
            if m is not None:
                target = f"{m.group(group)}_{m.group(group + 1)}"
                out.append(Subgoal(verb=verb, target=target))
                break
    folded: list[Subgoal] = []
    for i, sg in enumerate(out):
        nxt = out[i + 1] if i + 1 < len(out) else None
        if (
            sg.verb == "go_to"
            and nxt is not None
            and (nxt.verb, nxt.target) in {(v, sg.target) for v in WALKING}
        ):
            continue
        folded.append(sg)
    return folded
