"""The low-level trace vocabulary that worlds write and diagnosis reads.

A world records what happened during a subgoal as a list of events (`Outcome.trace`), each a
dict with an `event` name from this module and its data. Diagnosis attributes a failure cause
from these events alone (plus the state difference), so any world that speaks this vocabulary
gets fine-grained diagnosis with no code of its own; a world with events of its own registers
their meaning through `World.event_causes()`.

The world's own verdict (`Outcome.cause`, and the `fail` event's `cause`) is ground truth for
testing attribution, and is never read by diagnosis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.schema import FailureCause

# progress events
DIG = "dig"  # block, pos, tool, drops, harvestable: bool (false: it dropped nothing)
WALK = "walk"  # to, distance
TUNNEL = "tunnel"
SHAFT = "shaft"
CLIMB = "climb"
CRAFT = "craft"  # item, times, recipe
SMELT = "smelt"  # item, runs, fuel
PLACE = "place"
TILL = "till"  # block, pos, tool, hydrated, tilled: bool (false: what was in hand does not till)
SOW = "sow"  # seed, crop, pos, chance (of growing at each random tick)
EQUIP = "equip"
KILL = "kill"  # mob, drops
EAT = "eat"
WAIT = "wait"
# hazards and the body
DAMAGE = "damage"  # source, damage
DEATH = "death"  # source (a mob name, lava, hunger, fall)
MOB_SPAWN = "mob_spawn"
STARVING = "starving"
TOOL_BROKE = "tool_broke"  # item
# evidence of failure (the last one before `fail` decides the cause)
SEARCH = "search"  # target, radius, found: bool; exhausted: the world searched all it can
MISSING = "missing"  # item, need, have [verb, target, ingredients, makes, missing, station]
NO_STATION = "no_station"  # station, verb
NO_RECIPE = "no_recipe"  # item, verb
NO_FUEL = "no_fuel"  # need_ticks, have_ticks
HAZARD = "hazard"  # kind (lava, undiggable, bedrock), pos
STUCK = "stuck"  # why
BUDGET = "budget"  # scope: subgoal | episode, limit
INVALID = "invalid"  # what (verb, item, block, mob), name, closest
NOT_HUNGRY = "not_hungry"
GUI_ERROR = "gui_error"  # window, error (real Minecraft)
BLOCKED = "blocked"  # guardrail, message (written by the loop, not by worlds)
PARSE_FAIL = "parse_fail"  # error (written by the loop)
# household worlds
OBJECT_NOT_FOUND = "object_not_found"
NOT_HOLDING = "not_holding"
RECEPTACLE_CLOSED = "receptacle_closed"  # receptacle, kind, verb
WRONG_APPLIANCE = "wrong_appliance"  # verb, at, kind (where the agent stood; nothing happened)
# the end of a failed attempt: cause (ground truth for tests) and message, neither read by
# diagnosis. A world writes what a player observes, never what to do next: no event carries a
# remedy or the fact that was missing (tests/test_honest_worlds.py reads every failure)
FAIL = "fail"


class Failure(Exception):
    """Ends an attempt with an honest cause and the evidence a player would see.

    `event` and `data` are that evidence (a `sim.events` name and what was observed: the
    ingredients the crafting grid lacked, the station it asks for, a block that dropped
    nothing, a search radius); None where the evidence is already in the trace (a death, a
    hazard). A failure never says what to do next, nor which fact was missing: diagnosis
    works that out from the evidence, and remedies are learned from experience."""

    def __init__(
        self,
        cause: FailureCause,
        message: str,
        *,
        event: str | None,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.cause, self.message = cause, message
        self.event, self.data = event, data or {}
