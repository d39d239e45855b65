"""The verbs of the household world: each runs one subgoal through the engine's text commands
and fails honestly, with the evidence a player sees (a closed receptacle, empty hands, an object
not in view, an appliance that does nothing) and never what to do next."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sim import events as ev
from sim.events import Failure
from sim.schema import FailureCause, Subgoal

if TYPE_CHECKING:
    from sim.alfworld.world import AlfWorld

APPLIANCE_VERB = {"heat": "microwave", "cool": "fridge", "clean": "sinkbasin"}
PROPERTY_OF = {"heat": "heatable", "cool": "coolable", "clean": "cleanable"}


@dataclass
class Attempt:
    subgoal: Subgoal
    trace: list[dict[str, Any]] = field(default_factory=list)
    steps: int = 0

    def log(self, event: str, **data: Any) -> None:
        self.trace.append({"event": event, "t": self.steps, **data})


# ---- resolving targets ----------------------------------------------------------------
def _receptacle(w: AlfWorld, target: str, prefer: str = "") -> str:
    """The receptacle a target names: an instance, or of a type the one here, else (for
    `prefer`) an open / closed / unvisited one, else the first."""
    e = w.engine
    if target in e.receptacles:
        return target
    of_type = [r for r in e.receptacles if e.type_of(r) == target]
    if not of_type:
        raise Failure(
            FailureCause.TARGET_NOT_FOUND,
            f"there is no {target} here",
            event=ev.SEARCH,
            data={"target": target, "radius": 0, "found": False},
        )
    s = e.symbolic()
    if s.location in of_type:
        return str(s.location)
    if prefer == "open":
        opened = [r for r in of_type if r not in e.openable or r in s.opened]
        of_type = opened or of_type
    elif prefer == "closed":
        of_type = [r for r in of_type if r not in s.opened] or of_type
    elif prefer == "unvisited":
        of_type = [r for r in of_type if r not in w.visited] or of_type
    return of_type[0]


def _walk(w: AlfWorld, receptacle: str, attempt: Attempt) -> None:
    if w.engine.symbolic().location != receptacle:
        w.command(f"go to {w.engine.text(receptacle)}", attempt)


def _objects(w: AlfWorld, target: str) -> list[str]:
    """Instances a target names (an instance, or all of a type)."""
    e = w.engine
    names = [n for n in e.types if n not in e.receptacles]
    return [n for n in names if n == target or e.type_of(n) == target]


def _in_view(w: AlfWorld, target: str) -> list[str]:
    s = w.engine.symbolic()
    if s.location is None:
        return []
    if s.location in w.engine.openable and s.location not in s.opened:
        return []
    return [o for o in _objects(w, target) if s.inside.get(o) == s.location]


def go_to(w: AlfWorld, target: str, attempt: Attempt) -> str:
    r = _receptacle(w, target, prefer="unvisited")
    _walk(w, r, attempt)
    return f"at {r}"


def open_(w: AlfWorld, target: str, attempt: Attempt) -> str:
    r = _receptacle(w, target, prefer="closed")
    if r not in w.engine.openable:
        raise Failure(
            FailureCause.INVALID_ACTION,
            f"{r} does not open",
            event=ev.INVALID,
            data={"what": "open", "name": r, "closest": []},
        )
    _walk(w, r, attempt)
    if r not in w.engine.symbolic().opened:
        w.command(f"open {w.engine.text(r)}", attempt)
    return f"{r} is open"


def close(w: AlfWorld, target: str, attempt: Attempt) -> str:
    r = _receptacle(w, target, prefer="open")
    if r not in w.engine.openable:
        raise Failure(
            FailureCause.INVALID_ACTION,
            f"{r} does not close",
            event=ev.INVALID,
            data={"what": "close", "name": r, "closest": []},
        )
    _walk(w, r, attempt)
    if r in w.engine.symbolic().opened:
        w.command(f"close {w.engine.text(r)}", attempt)
    return f"{r} is closed"


def take(w: AlfWorld, target: str, attempt: Attempt) -> str:
    s = w.engine.symbolic()
    if s.holding is not None:
        if s.holding == target or w.engine.type_of(s.holding) == target:
            return f"already holding {s.holding}"
        raise Failure(
            FailureCause.INVALID_ACTION,
            f"hands full: holding {s.holding}",
            event=ev.INVALID,
            data={"what": "hands_full", "name": s.holding, "closest": []},
        )
    if not _objects(w, target):
        raise Failure(
            FailureCause.OBJECT_NOT_FOUND,
            f"there is no {target} in this room",
            event=ev.OBJECT_NOT_FOUND,
            data={"object": target, "where": None},
        )
    view = _in_view(w, target)
    if not view:
        here = s.location
        inside = [o for o in _objects(w, target) if here and s.inside.get(o) == here]
        if here and inside and here in w.engine.openable and here not in s.opened:
            kind = w.engine.type_of(here)
            raise Failure(
                FailureCause.RECEPTACLE_CLOSED,
                f"{here} is closed",
                event=ev.RECEPTACLE_CLOSED,
                data={"receptacle": here, "kind": kind, "verb": "take"},
            )
        raise Failure(
            FailureCause.OBJECT_NOT_FOUND,
            f"no {target} in view at {here or 'the middle of the room'}",
            event=ev.OBJECT_NOT_FOUND,
            data={"object": target, "where": here},
        )
    obj, here = view[0], str(s.location)  # in view: the agent is at a receptacle
    w.command(f"take {w.engine.text(obj)} from {w.engine.text(here)}", attempt)
    return f"holding {obj}"


def put(w: AlfWorld, target: str, attempt: Attempt) -> str:
    held = w.engine.symbolic().holding
    if held is None:
        raise Failure(
            FailureCause.NOT_HOLDING,
            "holding nothing to put",
            event=ev.NOT_HOLDING,
            data={"verb": "put"},
        )
    r = _receptacle(w, target, prefer="open")
    _walk(w, r, attempt)
    if r in w.engine.openable and r not in w.engine.symbolic().opened:
        raise Failure(
            FailureCause.RECEPTACLE_CLOSED,
            f"{r} is closed",
            event=ev.RECEPTACLE_CLOSED,
            data={"receptacle": r, "kind": w.engine.type_of(r), "verb": "put"},
        )
    if not w.engine.can_hold(r, held):
        raise Failure(
            FailureCause.INVALID_ACTION,
            f"a {w.engine.type_of(held)} does not go in {r}",
            event=ev.INVALID,
            data={"what": "placement", "name": f"{held}->{r}", "closest": []},
        )
    w.command(f"move {w.engine.text(held)} to {w.engine.text(r)}", attempt)
    return f"{held} in {r}"


def _treat(w: AlfWorld, verb: str, target: str, attempt: Attempt) -> str:
    s = w.engine.symbolic()
    held = s.holding
    if held is None or not (held == target or w.engine.type_of(held) == target):
        raise Failure(
            FailureCause.NOT_HOLDING,
            f"not holding {target}" + (f" (holding {held})" if held else ""),
            event=ev.NOT_HOLDING,
            data={"verb": verb, "object": target},
        )
    if PROPERTY_OF[verb] not in w.engine.props.get(held, set()):
        raise Failure(
            FailureCause.INVALID_ACTION,
            f"{held} cannot be {verb}ed",
            event=ev.INVALID,
            data={"what": verb, "name": held, "closest": []},
        )
    appliance = APPLIANCE_VERB[verb]
    here = s.location
    if here is None or w.engine.type_of(here) != appliance:
        raise Failure(
            FailureCause.WRONG_APPLIANCE,
            f"nothing happens: cannot {verb} with {here or 'nothing'}",
            event=ev.WRONG_APPLIANCE,
            data={"verb": verb, "at": here, "kind": w.engine.type_of(here) if here else None},
        )
    e = w.engine
    w.command(f"{verb} {e.text(held)} with {e.text(here)}", attempt)
    return f"{held} is {verb}ed"


def heat(w: AlfWorld, target: str, attempt: Attempt) -> str:
    return _treat(w, "heat", target, attempt)


def cool(w: AlfWorld, target: str, attempt: Attempt) -> str:
    return _treat(w, "cool", target, attempt)


def clean(w: AlfWorld, target: str, attempt: Attempt) -> str:
    return _treat(w, "clean", target, attempt)


def use(w: AlfWorld, target: str, attempt: Attempt) -> str:
    lamps = [o for o in _objects(w, target) if "toggleable" in w.engine.props.get(o, ())]
    if not lamps:
        raise Failure(
            FailureCause.OBJECT_NOT_FOUND,
            f"there is no {target} to switch on in this room",
            event=ev.OBJECT_NOT_FOUND,
            data={"object": target, "where": None},
        )
    view = [o for o in _in_view(w, target) if o in lamps]
    if not view:
        here = w.engine.symbolic().location
        raise Failure(
            FailureCause.OBJECT_NOT_FOUND,
            f"no {target} in view at {here or 'the middle of the room'}",
            event=ev.OBJECT_NOT_FOUND,
            data={"object": target, "where": here},
        )
    w.command(f"use {w.engine.text(view[0])}", attempt)
    return f"{view[0]} is on"


def find(w: AlfWorld, target: str, attempt: Attempt) -> str:
    s = w.engine.symbolic()
    if s.holding is not None and target in (s.holding, w.engine.type_of(s.holding)):
        return f"holding {s.holding}"
    if _in_view(w, target):
        return f"{target} in view at {s.location}"
    e = w.engine
    wanted = _objects(w, target)
    kinds = {e.types[o] for o in wanted} or {f"{target}type"}
    likely = [r for r in e.receptacles if any(e.can_hold(r, o) for o in wanted)]
    if not wanted:
        likely = [r for r in e.receptacles if any((e.types[r], k) in e.fits for k in kinds)]
    order = [r for r in likely if r != s.location] + [
        r for r in e.receptacles if r not in likely and r != s.location
    ]
    for r in order:
        _walk(w, r, attempt)
        opened = r in e.openable and r not in e.symbolic().opened
        if opened:
            w.command(f"open {e.text(r)}", attempt)
        if _in_view(w, target):
            attempt.log(ev.SEARCH, target=target, radius=len(order), found=True)
            return f"{target} in view at {r}"
        if opened:  # leave what was searched as it was found
            w.command(f"close {e.text(r)}", attempt)
    raise Failure(
        FailureCause.OBJECT_NOT_FOUND,
        f"searched {len(order)} receptacles: no {target}",
        event=ev.OBJECT_NOT_FOUND,
        data={"object": target, "where": None, "searched": len(order)},
    )


Action = Callable[["AlfWorld", str, Attempt], str]
ACTIONS: dict[str, Action] = {
    "go_to": go_to,
    "open": open_,
    "close": close,
    "take": take,
    "put": put,
    "heat": heat,
    "cool": cool,
    "clean": clean,
    "use": use,
    "find": find,
}
