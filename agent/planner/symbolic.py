"""The symbolic planner: not an LLM. It reads the recipe graph and writes the subgoals a
competent player would; an oracle upper bound and an offline fallback, labelled as such.

`agent.planner.fallible.FallibleSymbolicPlanner` overrides its hooks (`_station_for`,
`_tool_for`, `_reorder`) to make it deliberately wrong, for the learning experiments.
"""

from __future__ import annotations

import math

from agent.planner.base import PlanResult
from agent.planner.recipe_graph import SOWN, WOODS, Method, RecipeGraph, graph_for
from knowledge.schema import Briefing, Diagnosis
from sim.craftworld.body import PASSIVE, WATER
from sim.craftworld.palette import NATURAL
from sim.mcrules.rules import Rules
from sim.schema import DAY_TICKS, NIGHT_END, FailureCause, Subgoal, Task, WorldState

STATIONS = ("crafting_table", "furnace")
SWORD = "stone_sword"
NIGHT_SWORD = "wooden_sword"
DUSK = 12_000  # time of day from which a planner expects the night's mobs
HOSTILE_FOES = ("zombie", "skeleton", "spider")  # fought back when they hurt the agent
WALL, WALLS = "dirt", 12  # a farmer walls itself in while its crops grow: three rings of four
WALL_SOURCE = "grass_block"  # dug from the surface, it drops dirt
HUNGRY = 6.0  # food points at or below which the planner eats before anything else
GAME = {"cow": "beef", "pig": "porkchop", "sheep": "mutton"}  # hunted for a meal, cow first
UNSAFE = frozenset({"rotten_flesh", "spider_eye", "poisonous_potato", "chicken", "pufferfish"})
SECOND_TICKS = 20
HARVEST_S = 30  # seconds of daylight a harvest is given before dusk
CROP_WAIT = 300  # seconds between looks at the field (the subgoal limit is 6000 ticks)


class SymbolicPlanner:
    """Plans from the recipe graph; uses recalled skills only to explain itself."""

    name = "symbolic"

    def __init__(self, version: str = "1.16.5", arm: bool = True) -> None:
        self.version = version
        self.arm = arm  # craft a sword before going underground, and fight back when hurt

    def graph(self, state: WorldState) -> RecipeGraph:
        logs = {w: state.nearby_blocks.get(f"{w}_log", 0) for w in WOODS}
        have = {w: state.inventory.get(f"{w}_log", 0) for w in WOODS}
        wood = max(WOODS, key=lambda w: (have[w], logs[w], w == "oak"))
        return graph_for(self.version, NATURAL, PASSIVE + WATER, wood)

    def plan(self, task: Task, state: WorldState, briefing: Briefing) -> PlanResult:
        if task.goal.item is None:
            return PlanResult([], error=f"symbolic planner needs an item goal, got {task.goal}")
        g = self.graph(state)
        try:
            subgoals = self._linearize(g, task.goal.item, task.goal.count, state)
        except KeyError as exc:
            return PlanResult([], error=f"no way to obtain {exc.args[0]} in this world")
        notes = [f"recalled {i.kind} {i.id}" for i in briefing.items]
        return PlanResult(self._meal(task, state) + subgoals, notes=notes)

    def replan(
        self,
        task: Task,
        state: WorldState,
        briefing: Briefing,
        failed: Subgoal,
        diagnosis: Diagnosis,
        remaining: list[Subgoal],
    ) -> PlanResult:
        if diagnosis.success and remaining:
            # the step worked (the loop asks on stagnation or a revisited state): the rest of
            # a plan from the recipe graph still holds, and a fresh one would only repeat it
            meal = self._meal(task, state)
            return PlanResult(meal + list(remaining), notes=["kept the remaining plan"])
        hurt_by = str(diagnosis.details.get("hurt_by", ""))
        if diagnosis.cause is FailureCause.DAMAGE and hurt_by in HOSTILE_FOES and self.arm:
            # hurt by a mob: draw the best weapon held (or make a wooden sword first: bare
            # hands take twenty blows to a zombie's five), deal with it, then carry on
            fight = [Subgoal(verb="attack", target=hurt_by)]
            weapon = self._weapon(state)
            if weapon is None:
                g = self.graph(state)
                try:
                    fight[:0] = self._linearize(g, NIGHT_SWORD, 1, state, arm=False)
                    weapon = NIGHT_SWORD
                except KeyError:
                    pass  # nothing to make one from: fight with what is at hand
            if weapon is not None and weapon != state.equipped:
                fight.insert(len(fight) - 1, Subgoal(verb="equip", target=weapon))
            held = dict(state.inventory)
            if weapon is not None:
                held[weapon] = max(held.get(weapon, 0), 1)
            armed = state.model_copy(
                update={"equipped": weapon or state.equipped, "inventory": held}
            )
            result = self.plan(task, armed, briefing)
            result.subgoals[:0] = fight
            return result
        result = self.plan(task, state, briefing)
        # the oracle knows where things are found: a natural block not found nearby is
        # searched for further out (stations are made, and the fresh plan places one)
        kind, _, name = str(diagnosis.details.get("needs", "")).partition(":")
        if diagnosis.cause is FailureCause.TARGET_NOT_FOUND and kind == "near" and name in NATURAL:
            result.subgoals.insert(0, Subgoal(verb="explore", target=name))
        elif (
            diagnosis.cause is FailureCause.TARGET_NOT_FOUND
            and failed.verb == "attack"
            and failed.target in PASSIVE + WATER
        ):
            # the animals near are hunted out (or there were none): look further afield
            # rather than ask for them here again (a white bed needs three sheep)
            result.subgoals.insert(0, Subgoal(verb="explore", target=failed.target))
        return result

    def _meal(self, task: Task, state: WorldState) -> list[Subgoal]:
        """Hungry (food at or below `HUNGRY`): eat the most filling safe food held (not the
        goal), else hunt an animal in sight (a cow if none is) and eat its meat."""
        if state.food > HUNGRY:
            return []
        foods = Rules.load(self.version).foods
        held = [
            i
            for i in sorted(state.inventory)
            if i in foods and i not in UNSAFE and i != task.goal.item
        ]
        if held:
            best = max(held, key=lambda i: foods[i].food_points)
            need = math.ceil((20 - state.food) / max(foods[best].food_points, 1))
            return [Subgoal(verb="eat", target=best, count=min(state.inventory[best], need))]
        animal = next((a for a in GAME if state.nearby_entities.get(a)), "cow")
        return [Subgoal(verb="attack", target=animal), Subgoal(verb="eat", target=GAME[animal])]

    def _weapon(self, state: WorldState) -> str | None:
        rules = Rules.load(self.version)
        swords = [i for i in state.inventory if rules.tool_kind(i) == "sword"]
        return max(swords, key=rules.tool_tier, default=None)

    def _linearize(
        self, g: RecipeGraph, goal: str, count: int, state: WorldState, arm: bool = True
    ) -> list[Subgoal]:
        held = dict(state.inventory)
        # a placed station serves as a station, but is no ingredient
        standing = [s for s in STATIONS if state.nearby_blocks.get(s)]
        growing = {crop: state.nearby_blocks.get(crop, 0) for crop in SOWN}
        runs = g.expand(goal, count, held, placed=standing, growing=growing)
        rules = Rules.load(self.version)
        deep = any(
            rules.tool_tier(m.tool) >= 2
            for i in runs
            if (m := g.methods[i]).kind == "mine" and m.tool is not None
        )
        # a field sown, the farmer waits walled in: no sword (making one walks it out at dusk)
        waiting = any(
            (m := g.methods[i]).kind == "farm" and not m.sow(runs[i], growing.get(i, 0))
            for i in runs
        )
        night = DUSK <= state.time_of_day < NIGHT_END
        arms: dict[str, int] = {}
        if arm and self.arm and not waiting and self._weapon(state) is None:
            if night:
                arms[NIGHT_SWORD] = 1  # mobs are out: a sword before anything else
            if deep:
                arms[SWORD] = 1  # ores that need a stone pickaxe lie deep, where it is dark
        arms.pop(goal, None)
        if arms:
            runs = g.expand(goal, count, held, also=arms, placed=standing, growing=growing)
        order = g.ordered(runs)
        out: list[Subgoal] = []
        equipped = state.equipped
        placed = {s: state.nearby_blocks.get(s, 0) > 0 for s in STATIONS}
        # a station in sight may still be out of reach: walk to it before its first use
        at = dict.fromkeys(STATIONS, False)
        for item in order:
            m = g.methods[item]
            times = runs[item]
            if m.kind == "mine":
                tool = self._tool_for(m)
                if tool and equipped != tool:
                    out.append(Subgoal(verb="equip", target=tool))
                    equipped = tool
                out.append(Subgoal(verb="mine", target=m.source, count=times))
                at = dict.fromkeys(STATIONS, False)
            elif m.kind == "farm":
                # sow a field and wall in beside it; then wait and harvest by day. The plan
                # ends at the field: the next is made when this is done, so a wait is sized
                # from the clock as it then reads (a failed harvest, nothing ripe yet, replans
                # the same way)
                sow = m.sow(times, growing.get(item, 0))
                if sow:
                    # the wall's dirt first, from the surface (digging for dirt leaves a pit)
                    short = WALLS - state.inventory.get(WALL, 0)
                    if short > 0:
                        out.append(Subgoal(verb="mine", target=WALL_SOURCE, count=short))
                    if m.tool and equipped != m.tool:
                        out.append(Subgoal(verb="equip", target=m.tool))
                    out.append(Subgoal(verb="plant", target=m.source, count=sow))
                    out.append(Subgoal(verb="place", target=WALL, count=WALLS))
                    return out
                # a wait by day ends before dusk, one by night at dawn: harvests are by day,
                # and the walls stay shut at night
                tod = state.time_of_day
                day_left = (DUSK - tod) // SECOND_TICKS - HARVEST_S
                dark = night or day_left <= 0
                to_dawn = (NIGHT_END - tod) % DAY_TICKS // SECOND_TICKS + 1
                wait = min(CROP_WAIT, to_dawn if dark else day_left)
                out.append(Subgoal(verb="wait", target="seconds", count=wait))
                if not dark:
                    out.append(Subgoal(verb="mine", target=item, count=times))
                return out
            elif m.kind == "hunt":
                out.append(Subgoal(verb="attack", target=m.source, count=times))
                at = dict.fromkeys(STATIONS, False)
            else:
                station = self._station_for(item, m)
                if station is not None and not at[station]:
                    verb = "move_to" if placed[station] else "place"
                    out.append(Subgoal(verb=verb, target=station))
                    placed[station] = at[station] = True
                verb = "smelt" if m.kind == "smelt" else "craft"
                out.append(Subgoal(verb=verb, target=item, count=times * m.per))
        return self._reorder(out, g)

    # ---- hooks a deliberately fallible planner overrides ------------------------------------
    def _station_for(self, item: str, m: Method) -> str | None:
        """The station that making `item` needs at hand, if any."""
        if m.kind == "smelt":
            return "furnace"
        return "crafting_table" if m.recipe is not None and m.recipe.needs_table else None

    def _tool_for(self, m: Method) -> str | None:
        """The tool to hold while mining with method `m`."""
        return m.tool

    def _reorder(self, subgoals: list[Subgoal], g: RecipeGraph) -> list[Subgoal]:
        """The final order of the steps (the recipe graph's topological order)."""
        return subgoals
