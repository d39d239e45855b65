"""The ALFWorld household world at the level of subgoals, played by the real engine.

A task's goal predicate names a generated task (`pick_cool_then_place_in_recep(apple, fridge)`:
the scene follows from the task, its split and the seed, see `scenes`) or a real game folder
(`game:<path>`). Each subgoal runs one or more of the engine's text commands and fails honestly,
with a trace in the `sim.events` vocabulary and, where something was missing, the fact it
needed and a remedy:

| verb | target | does |
|---|---|---|
| `go_to` | receptacle | walk there (a type: the next one of that type not yet visited) |
| `open`, `close` | receptacle | walk there, open or close it |
| `take` | object | pick it up from the receptacle here (it must be in view) |
| `put` | receptacle | walk there, put what is held in or on it (open it first) |
| `heat`, `cool`, `clean` | object | treat the held object with the appliance here |
| `use` | lamp | switch on a lamp here |
| `find` | object | search receptacles (opening, and closing again, those it looks in) |

Targets are types (`fridge`, `apple`) or instances (`fridge_1`, `apple_2`). The state lists
the receptacles (open or closed) and the objects the agent has seen; facts say where the agent
is (`at:fridge`), what it holds (`holding:apple`), what is open (`opened:fridge`), what is in
view here (`here:apple`) and object states (`clean:apple`, `hot:egg`, `on:desklamp`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from sim import events as ev
from sim.alfworld import gamefiles, scenes, tasks
from sim.alfworld.rules import Rules
from sim.base import World
from sim.schema import FailureCause, Outcome, Subgoal, Task, WorldState

CACHE_ENV = "STEVE_ALFWORLD_GAMES"
DEFAULT_CACHE = "~/.cache/steve-evolving/alfworld"
APPLIANCE_VERB = {"heat": "microwave", "cool": "fridge", "clean": "sinkbasin"}
PROPERTY_OF = {"heat": "heatable", "cool": "coolable", "clean": "cleanable"}
COMMAND = "command"  # an engine command and what it answered (this world's own event)


class Failure(Exception):
    """Ends an attempt: the cause, the evidence event, the fact that was missing and a remedy."""

    def __init__(
        self,
        cause: FailureCause,
        message: str,
        event: str | None,
        data: dict[str, Any] | None = None,
        needs: str | None = None,
        remedy: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.cause, self.message, self.event, self.data = cause, message, event, data or {}
        self.needs, self.remedy = needs, remedy


@dataclass
class Attempt:
    subgoal: Subgoal
    trace: list[dict[str, Any]] = field(default_factory=list)
    steps: int = 0

    def log(self, event: str, **data: Any) -> None:
        self.trace.append({"event": event, "t": self.steps, **data})


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV, DEFAULT_CACHE)).expanduser()


class AlfWorld(World):
    """ALFWorld's household tasks through the real TextWorld engine."""

    id: ClassVar[str] = "alfworld/v1"
    VERBS: ClassVar[tuple[str, ...]] = (
        "go_to",
        "open",
        "close",
        "take",
        "put",
        "heat",
        "cool",
        "clean",
        "use",
        "find",
    )

    def __init__(
        self,
        games: str | Path | None = None,
        parse_cache: bool = True,
        subgoal_steps: int = 40,
        check: bool = False,
    ) -> None:
        """`games`: where generated games are written (default `$STEVE_ALFWORLD_GAMES`, else
        ~/.cache/steve-evolving/alfworld); `parse_cache`: keep TextWorld's template parses;
        `subgoal_steps`: engine commands one subgoal may use; `check`: have the engine's
        planner solve each newly generated game before it is played."""
        from sim.alfworld.engine import Engine

        self.rules = Rules.load()
        self.games = Path(games).expanduser() if games is not None else cache_dir()
        self.engine = Engine(parse_cache=parse_cache, sas_store=self.games / "sas")
        self.subgoal_steps = subgoal_steps
        self.check = check
        self.task: Task | None = None
        self.spec: tasks.TaskSpec | None = None
        self.tick = 0
        self.seen: set[str] = set()
        self.visited: list[str] = []

    # ---- the World interface ----------------------------------------------------------------
    @property
    def verbs(self) -> tuple[str, ...]:
        return self.VERBS

    def item_names(self) -> tuple[str, ...]:
        r = self.rules
        return tuple(sorted({n.lower() for n in (*r.object_types, *r.receptacle_types)}))

    def verb_targets(self) -> dict[str, tuple[str, ...]]:
        r = self.rules
        recs = tuple(sorted(t.lower() for t in r.receptacle_types))
        objs = tuple(sorted(t.lower() for t in r.object_types))

        def having(prop: str) -> tuple[str, ...]:
            return tuple(sorted(t.lower() for t in r.object_types if r.has(t, prop)))

        return {
            "go_to": recs,
            "open": tuple(sorted(t.lower() for t in r.openable)),
            "close": tuple(sorted(t.lower() for t in r.openable)),
            "take": tuple(sorted(t.lower() for t in r.object_types if r.pickupable(t))),
            "put": recs,
            "heat": having("heatable"),
            "cool": having("coolable"),
            "clean": having("cleanable"),
            "use": having("toggleable"),
            "find": objs,
        }

    def event_causes(self) -> dict[str, FailureCause]:
        return {}

    def reset(self, task: Task, seed: int) -> WorldState:
        if task.goal.predicate is None:
            raise ValueError(f"task {task.id}: an {self.id} task needs a goal predicate")
        if task.helpers:
            raise ValueError(f"task {task.id}: {self.id} gives no help; got {task.helpers}")
        game = self.game_for(task, seed)
        self.task = task
        self.engine.load(game)
        self.tick = 0
        self.seen, self.visited = set(), []
        return self.state()

    def game_for(self, task: Task, seed: int) -> Path:
        """The game file a task is played in: a real game folder, or the generated game of the
        task's split and the seed (written on first use)."""
        predicate = task.goal.predicate or ""
        folder = tasks.game_path(predicate)
        if folder is not None:
            trial = gamefiles.read_trial(folder)
            self.spec = trial.spec()
            return gamefiles.game_for(trial, self.games)
        spec = tasks.parse(predicate, self.rules._lower)
        self.spec = spec
        scene = scenes.layout(spec, task.split, seed, self.rules)
        out = gamefiles.trial_dir(self.games, scene, spec, task.split)
        game = out / gamefiles.GAME_FILE
        if not game.exists():
            gamefiles.write_trial(out, scene, spec, task.split, spec.instruction())
            if self.check:
                from sim.alfworld.generate import solve

                gamefiles.mark_solved(game, solve(game, self.games / "sas"))
        return game

    def execute(self, subgoal: Subgoal) -> Outcome:
        if self.task is None:
            raise RuntimeError("execute() before reset()")
        attempt = Attempt(subgoal)
        cause, message = FailureCause.NONE, "ok"
        try:
            handler = getattr(self, f"_do_{subgoal.verb}", None)
            if subgoal.verb not in self.VERBS or handler is None:
                raise Failure(
                    FailureCause.INVALID_ACTION,
                    f"unknown verb {subgoal.verb!r}; verbs: {', '.join(self.VERBS)}",
                    ev.INVALID,
                    {"what": "verb", "name": subgoal.verb, "closest": []},
                )
            message = handler(subgoal.target.lower(), attempt) or "ok"
        except Failure as fail:
            cause, message = fail.cause, fail.message
            if fail.event is not None:
                attempt.log(fail.event, **fail.data)
            data: dict[str, Any] = {"cause": fail.cause.value, "message": fail.message}
            if fail.needs:
                data["needs"] = fail.needs
            if fail.remedy:
                data["remedy"] = {"verb": fail.remedy[0], "target": fail.remedy[1], "count": 1}
            attempt.log(ev.FAIL, **data)
        return Outcome(
            subgoal=subgoal,
            success=cause is FailureCause.NONE,
            cause=cause,
            message=message,
            ticks=attempt.steps,
            steps=attempt.steps,
            post_state=self.state(),
            trace=attempt.trace,
        )

    def state(self) -> WorldState:
        s = self.engine.symbolic()
        objects: dict[str, list[str]] = {}
        for r in self.engine.receptacles:
            if r in self.engine.openable:
                objects[r] = ["open" if r in s.opened else "closed"]
        for o in sorted(self.seen):
            where = s.inside.get(o)
            states = sorted(s.states.get(o, ()))
            objects[o] = [f"in:{where}" if where else "held", *states]
        return WorldState(
            world=self.id,
            tick=self.tick,
            location=s.location,
            holding=s.holding,
            object_states=objects,
        )

    def goal_reached(self) -> bool:
        return self.task is not None and self.engine.won

    def facts(self, state: WorldState) -> frozenset[str]:
        return household_facts(state)

    def render(self) -> np.ndarray:
        """A schematic: one cell per receptacle (grey; green open, red closed), the agent's
        cell outlined in yellow."""
        s = self.engine.symbolic()
        recs = self.engine.receptacles or ["none"]
        cols = 8
        rows = (len(recs) + cols - 1) // cols
        img = np.zeros((rows * 16, cols * 16, 3), dtype=np.uint8)
        for i, r in enumerate(recs):
            y, x = (i // cols) * 16, (i % cols) * 16
            color = (128, 128, 128)
            if r in self.engine.openable:
                color = (40, 160, 40) if r in s.opened else (160, 40, 40)
            img[y + 2 : y + 14, x + 2 : x + 14] = color
            if r == s.location:
                img[y : y + 16, x : x + 2] = img[y : y + 16, x + 14 : x + 16] = (230, 200, 0)
                img[y : y + 2, x : x + 16] = img[y + 14 : y + 16, x : x + 16] = (230, 200, 0)
        return img

    def describe(self) -> str:
        s = self.state()
        where = s.location or "the middle of the room"
        held = s.holding or "nothing"
        opened = [n for n, st in s.object_states.items() if "open" in st]
        seen = [f"{n} ({', '.join(st)})" for n, st in s.object_states.items() if n in self.seen]
        return (
            f"At {where}; holding {held}. Receptacles: {', '.join(self.engine.receptacles)}. "
            f"Open: {', '.join(opened) or 'none'}. Seen: {'; '.join(seen) or 'nothing yet'}."
        )

    # ---- engine access ----------------------------------------------------------------------
    def expert_plan(self, seconds: float = 30.0) -> list[str] | None:
        """The engine's own plan from here, as text commands: the game's stored walkthrough
        (the engine planner's, checked at generation) before the first command, else a fresh
        plan from the engine's planner, or None if it finds none within `seconds` (its
        optimal search can run away on large scenes). For oracle planners only."""
        if self.tick == 0 and self.engine.walkthrough:
            return list(self.engine.walkthrough)
        from sim.alfworld.bounded import Exceeded, bounded

        try:
            return bounded(self.engine.expert_plan, seconds)
        except Exceeded:
            return None

    def rule_plan(self) -> list[str]:
        """A plan read off the engine's state by the task type's recipe, as the engine's
        commands: for each object still to place, go where it is, open that if closed, take
        it, treat it at the appliance if the task asks, go to the target, open it if closed,
        put it there; for a lamp task, hold the object and switch on the lamp where it stands.
        For oracle planners only (it reads where everything is)."""
        if self.spec is None:
            return []
        e, s, spec = self.engine, self.engine.symbolic(), self.spec
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

    @property
    def instruction(self) -> str:
        """The task line the engine gives the player."""
        intro = self.engine.intro
        marker = "Your task is to: "
        return intro[intro.find(marker) + len(marker) :].strip() if marker in intro else ""

    def _command(self, text: str, attempt: Attempt) -> str:
        """Run one engine command (it must be admissible: every handler checks first)."""
        limit = self.task.max_ticks if self.task is not None else 0
        if self.tick >= limit:
            raise Failure(
                FailureCause.TIMEOUT,
                "the episode's step budget ran out",
                ev.BUDGET,
                {"scope": "episode", "limit": limit},
            )
        if attempt.steps >= self.subgoal_steps:
            raise Failure(
                FailureCause.TIMEOUT,
                f"subgoal ran past {self.subgoal_steps} commands",
                ev.BUDGET,
                {"scope": "subgoal", "limit": self.subgoal_steps},
            )
        if text not in self.engine.admissible:
            raise Failure(
                FailureCause.INVALID_ACTION,
                f"the engine does not admit {text!r}",
                ev.INVALID,
                {"what": "command", "name": text, "closest": []},
            )
        feedback = self.engine.step(text)
        self.tick += 1
        attempt.steps += 1
        if text.startswith("go to "):
            attempt.log(ev.WALK, to=text[6:].replace(" ", "_"), distance=1)
        else:
            attempt.log(COMMAND, text=text, feedback=feedback[:200])
        self._look()
        return feedback

    def _look(self) -> None:
        """What the agent sees where it stands becomes known to it."""
        s = self.engine.symbolic()
        if s.location is None:
            return
        if s.location in self.engine.openable and s.location not in s.opened:
            return
        self.seen |= {o for o, r in s.inside.items() if r == s.location}
        if s.location not in self.visited:
            self.visited.append(s.location)

    def _receptacle(self, target: str, prefer: str = "") -> str:
        """The receptacle a target names: an instance, or of a type the one here, else (for
        `prefer`) an open / closed / unvisited one, else the first."""
        e = self.engine
        if target in e.receptacles:
            return target
        of_type = [r for r in e.receptacles if e.type_of(r) == target]
        if not of_type:
            raise Failure(
                FailureCause.TARGET_NOT_FOUND,
                f"there is no {target} here",
                ev.SEARCH,
                {"target": target, "radius": 0, "found": False},
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
            of_type = [r for r in of_type if r not in self.visited] or of_type
        return of_type[0]

    def _walk(self, receptacle: str, attempt: Attempt) -> None:
        if self.engine.symbolic().location != receptacle:
            self._command(f"go to {self.engine.text(receptacle)}", attempt)

    def _objects(self, target: str) -> list[str]:
        """Instances a target names (an instance, or all of a type)."""
        e = self.engine
        names = [n for n in e.types if n not in e.receptacles]
        return [n for n in names if n == target or e.type_of(n) == target]

    def _in_view(self, target: str) -> list[str]:
        s = self.engine.symbolic()
        if s.location is None:
            return []
        if s.location in self.engine.openable and s.location not in s.opened:
            return []
        return [o for o in self._objects(target) if s.inside.get(o) == s.location]

    # ---- the verbs --------------------------------------------------------------------------
    def _do_go_to(self, target: str, attempt: Attempt) -> str:
        r = self._receptacle(target, prefer="unvisited")
        self._walk(r, attempt)
        return f"at {r}"

    def _do_open(self, target: str, attempt: Attempt) -> str:
        r = self._receptacle(target, prefer="closed")
        if r not in self.engine.openable:
            raise Failure(
                FailureCause.INVALID_ACTION,
                f"{r} does not open",
                ev.INVALID,
                {"what": "open", "name": r, "closest": []},
            )
        self._walk(r, attempt)
        if r not in self.engine.symbolic().opened:
            self._command(f"open {self.engine.text(r)}", attempt)
        return f"{r} is open"

    def _do_close(self, target: str, attempt: Attempt) -> str:
        r = self._receptacle(target, prefer="open")
        if r not in self.engine.openable:
            raise Failure(
                FailureCause.INVALID_ACTION,
                f"{r} does not close",
                ev.INVALID,
                {"what": "close", "name": r, "closest": []},
            )
        self._walk(r, attempt)
        if r in self.engine.symbolic().opened:
            self._command(f"close {self.engine.text(r)}", attempt)
        return f"{r} is closed"

    def _do_take(self, target: str, attempt: Attempt) -> str:
        s = self.engine.symbolic()
        if s.holding is not None:
            if s.holding == target or self.engine.type_of(s.holding) == target:
                return f"already holding {s.holding}"
            raise Failure(
                FailureCause.INVALID_ACTION,
                f"hands full: holding {s.holding}",
                ev.INVALID,
                {"what": "hands_full", "name": s.holding, "closest": []},
                needs="hands:empty",
            )
        if not self._objects(target):
            raise Failure(
                FailureCause.OBJECT_NOT_FOUND,
                f"there is no {target} in this room",
                ev.OBJECT_NOT_FOUND,
                {"object": target, "where": None},
            )
        view = self._in_view(target)
        if not view:
            here = s.location
            inside = [o for o in self._objects(target) if here and s.inside.get(o) == here]
            if here and inside and here in self.engine.openable and here not in s.opened:
                kind = self.engine.type_of(here)
                raise Failure(
                    FailureCause.RECEPTACLE_CLOSED,
                    f"{here} is closed",
                    ev.RECEPTACLE_CLOSED,
                    {"receptacle": here, "verb": "take"},
                    needs=f"here:{target}",
                    remedy=("open", kind),
                )
            raise Failure(
                FailureCause.OBJECT_NOT_FOUND,
                f"no {target} in view at {here or 'the middle of the room'}",
                ev.OBJECT_NOT_FOUND,
                {"object": target, "where": here},
                needs=f"here:{target}",
                remedy=("find", target),
            )
        obj, here = view[0], str(s.location)  # in view: the agent is at a receptacle
        self._command(f"take {self.engine.text(obj)} from {self.engine.text(here)}", attempt)
        return f"holding {obj}"

    def _do_put(self, target: str, attempt: Attempt) -> str:
        held = self.engine.symbolic().holding
        if held is None:
            raise Failure(
                FailureCause.NOT_HOLDING,
                "holding nothing to put",
                ev.NOT_HOLDING,
                {"verb": "put"},
                needs="hands:full",
            )
        r = self._receptacle(target, prefer="open")
        self._walk(r, attempt)
        if r in self.engine.openable and r not in self.engine.symbolic().opened:
            raise Failure(
                FailureCause.RECEPTACLE_CLOSED,
                f"{r} is closed",
                ev.RECEPTACLE_CLOSED,
                {"receptacle": r, "verb": "put"},
                needs=f"opened:{target}",
                remedy=("open", target),
            )
        if not self.engine.can_hold(r, held):
            raise Failure(
                FailureCause.INVALID_ACTION,
                f"a {self.engine.type_of(held)} does not go in {r}",
                ev.INVALID,
                {"what": "placement", "name": f"{held}->{r}", "closest": []},
            )
        self._command(f"move {self.engine.text(held)} to {self.engine.text(r)}", attempt)
        return f"{held} in {r}"

    def _treat(self, verb: str, target: str, attempt: Attempt) -> str:
        s = self.engine.symbolic()
        held = s.holding
        if held is None or not (held == target or self.engine.type_of(held) == target):
            raise Failure(
                FailureCause.NOT_HOLDING,
                f"not holding {target}" + (f" (holding {held})" if held else ""),
                ev.NOT_HOLDING,
                {"verb": verb, "object": target},
                needs=f"holding:{target}",
                remedy=("take", target),
            )
        if PROPERTY_OF[verb] not in self.engine.props.get(held, set()):
            raise Failure(
                FailureCause.INVALID_ACTION,
                f"{held} cannot be {verb}ed",
                ev.INVALID,
                {"what": verb, "name": held, "closest": []},
            )
        appliance = APPLIANCE_VERB[verb]
        here = s.location
        if here is None or self.engine.type_of(here) != appliance:
            raise Failure(
                FailureCause.WRONG_APPLIANCE,
                f"cannot {verb} with {here or 'nothing'}: needs a {appliance}",
                ev.WRONG_APPLIANCE,
                {"verb": verb, "at": here, "needs": appliance},
                needs=f"at:{appliance}",
                remedy=("go_to", appliance),
            )
        e = self.engine
        self._command(f"{verb} {e.text(held)} with {e.text(here)}", attempt)
        return f"{held} is {verb}ed"

    def _do_heat(self, target: str, attempt: Attempt) -> str:
        return self._treat("heat", target, attempt)

    def _do_cool(self, target: str, attempt: Attempt) -> str:
        return self._treat("cool", target, attempt)

    def _do_clean(self, target: str, attempt: Attempt) -> str:
        return self._treat("clean", target, attempt)

    def _do_use(self, target: str, attempt: Attempt) -> str:
        lamps = [o for o in self._objects(target) if "toggleable" in self.engine.props.get(o, ())]
        if not lamps:
            raise Failure(
                FailureCause.OBJECT_NOT_FOUND,
                f"there is no {target} to switch on in this room",
                ev.OBJECT_NOT_FOUND,
                {"object": target, "where": None},
            )
        view = [o for o in self._in_view(target) if o in lamps]
        if not view:
            here = self.engine.symbolic().location
            raise Failure(
                FailureCause.OBJECT_NOT_FOUND,
                f"no {target} in view at {here or 'the middle of the room'}",
                ev.OBJECT_NOT_FOUND,
                {"object": target, "where": here},
                needs=f"here:{target}",
                remedy=("find", target),
            )
        self._command(f"use {self.engine.text(view[0])}", attempt)
        return f"{view[0]} is on"

    def _do_find(self, target: str, attempt: Attempt) -> str:
        s = self.engine.symbolic()
        if s.holding is not None and target in (s.holding, self.engine.type_of(s.holding)):
            return f"holding {s.holding}"
        if self._in_view(target):
            return f"{target} in view at {s.location}"
        e = self.engine
        wanted = self._objects(target)
        kinds = {e.types[o] for o in wanted} or {f"{target}type"}
        likely = [r for r in e.receptacles if any(e.can_hold(r, o) for o in wanted)]
        if not wanted:
            likely = [r for r in e.receptacles if any((e.types[r], k) in e.fits for k in kinds)]
        order = [r for r in likely if r != s.location] + [
            r for r in e.receptacles if r not in likely and r != s.location
        ]
        for r in order:
            self._walk(r, attempt)
            opened = r in e.openable and r not in e.symbolic().opened
            if opened:
                self._command(f"open {e.text(r)}", attempt)
            if self._in_view(target):
                attempt.log(ev.SEARCH, target=target, radius=len(order), found=True)
                return f"{target} in view at {r}"
            if opened:  # leave what was searched as it was found
                self._command(f"close {e.text(r)}", attempt)
        raise Failure(
            FailureCause.OBJECT_NOT_FOUND,
            f"searched {len(order)} receptacles: no {target}",
            ev.OBJECT_NOT_FOUND,
            {"object": target, "where": None, "searched": len(order)},
        )


def household_facts(state: WorldState) -> frozenset[str]:
    """The facts of a household state, for condition signatures and guardrails: each about an
    instance (`opened:fridge_1`) and its type (`opened:fridge`, some fridge is open)."""
    facts: set[str] = set()
    if state.location:
        facts |= {f"at:{state.location}", f"at:{tasks.kind_of(state.location)}"}
    if state.holding:
        facts |= {f"holding:{state.holding}", f"holding:{tasks.kind_of(state.holding)}"}
        facts.add("hands:full")
    else:
        facts.add("hands:empty")
    here_open = True
    for name, states in state.object_states.items():
        kind = tasks.kind_of(name)
        if "open" in states:
            facts |= {f"opened:{name}", f"opened:{kind}"}
        if name == state.location and "closed" in states:
            here_open = False
        for st in ("clean", "hot", "cool", "on"):
            if st in states:
                facts |= {f"{st}:{name}", f"{st}:{kind}"}
    if state.location and here_open:
        for name, states in state.object_states.items():
            if f"in:{state.location}" in states:
                facts |= {f"here:{name}", f"here:{tasks.kind_of(name)}"}
    return frozenset(facts)


# ---- the engine's commands as subgoals ------------------------------------------------------
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
