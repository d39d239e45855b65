"""The ALFWorld household world at the level of subgoals, played by the real engine.

A task's goal predicate names a generated task (`pick_cool_then_place_in_recep(apple, fridge)`:
the scene follows from the task, its split and the seed, see `scenes`) or a real game folder
(`game:<path>`). Each subgoal runs one or more of the engine's text commands and fails honestly,
with a trace in the `sim.events` vocabulary of what the player saw (never what to do next):

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
from pathlib import Path
from typing import ClassVar

import numpy as np

from sim import events as ev
from sim.alfworld import gamefiles, scenes, tasks
from sim.alfworld.actions import ACTIONS, Attempt, Failure
from sim.alfworld.rules import Rules
from sim.base import World
from sim.schema import FailureCause, Outcome, Subgoal, Task, WorldState

CACHE_ENV = "STEVE_ALFWORLD_GAMES"
DEFAULT_CACHE = "~/.cache/steve-evolving/alfworld"
COMMAND = "command"  # an engine command and what it answered (this world's own event)


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV, DEFAULT_CACHE)).expanduser()


class AlfWorld(World):
    """ALFWorld's household tasks through the real TextWorld engine."""

    id: ClassVar[str] = "alfworld/v1"
    VERBS: ClassVar[tuple[str, ...]] = tuple(ACTIONS)

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
        try:
            from sim.alfworld.engine import Engine
        except ImportError as exc:
            raise ImportError(
                f"{self.id} needs the alfworld extra ({exc.name} is missing): "
                "`make install-alfworld`, or pip install 'steve-evolving[alfworld]' with this "
                "environment's python first on PATH (fast-downward builds from source)"
            ) from exc

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
            handler = ACTIONS.get(subgoal.verb)
            if handler is None:
                raise Failure(
                    FailureCause.INVALID_ACTION,
                    f"unknown verb {subgoal.verb!r}; verbs: {', '.join(self.VERBS)}",
                    event=ev.INVALID,
                    data={"what": "verb", "name": subgoal.verb, "closest": []},
                )
            message = handler(self, subgoal.target.lower(), attempt) or "ok"
        except Failure as fail:
            cause, message = fail.cause, fail.message
            if fail.event is not None:
                attempt.log(fail.event, **fail.data)
            attempt.log(ev.FAIL, cause=fail.cause.value, message=fail.message)
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

    @property
    def instruction(self) -> str:
        """The task line the engine gives the player."""
        intro = self.engine.intro
        marker = "Your task is to: "
        return intro[intro.find(marker) + len(marker) :].strip() if marker in intro else ""

    def command(self, text: str, attempt: Attempt) -> str:
        """Run one engine command (it must be admissible: every handler checks first)."""
        limit = self.task.max_ticks if self.task is not None else 0
        if self.tick >= limit:
            raise Failure(
                FailureCause.TIMEOUT,
                "the episode's step budget ran out",
                event=ev.BUDGET,
                data={"scope": "episode", "limit": limit},
            )
        if attempt.steps >= self.subgoal_steps:
            raise Failure(
                FailureCause.TIMEOUT,
                f"subgoal ran past {self.subgoal_steps} commands",
                event=ev.BUDGET,
                data={"scope": "subgoal", "limit": self.subgoal_steps},
            )
        if text not in self.engine.admissible:
            raise Failure(
                FailureCause.INVALID_ACTION,
                f"the engine does not admit {text!r}",
                event=ev.INVALID,
                data={"what": "command", "name": text, "closest": []},
            )
        feedback = self.engine.step(text)
        self.tick += 1
        attempt.steps += 1
        if text.startswith("go to "):
            attempt.log(ev.WALK, to=text[6:].replace(" ", "_"), distance=1)
        else:
            attempt.log(COMMAND, text=text, feedback=feedback[:200])
        self.look()
        return feedback

    def look(self) -> None:
        """What the agent sees where it stands becomes known to it."""
        s = self.engine.symbolic()
        if s.location is None:
            return
        if s.location in self.engine.openable and s.location not in s.opened:
            return
        self.seen |= {o for o, r in s.inside.items() if r == s.location}
        if s.location not in self.visited:
            self.visited.append(s.location)


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
