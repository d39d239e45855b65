"""Finding out what the agent does not know: probes for a missing fact.

When an attempt fails for want of a fact (`has:stick`, `near:crafting_table`) or under a
condition (`hands:empty`: stone dropped nothing) and neither memory nor the model offers a way,
the loop asks the `Explorer` for the next operation that could produce it, the way a player
would try things: mine the block of that name if one is in sight, craft it, smelt it, mine
the other blocks in sight, hunt the mobs in sight, look further; for a place (`near:`), put
one down or walk to one; for a condition, hold something else. Only operations the world
offers are proposed, each once per fact and episode; one that worked is offered again first
for the rest of the episode (what a player remembers while playing; across episodes only a
store remembers).

The order is ranked by the agent's own experience where it has a store: operations that made
nothing of the kind before (a craft with no recipe, a block that never dropped it) go last,
and tools the agent has held (items with a durability bar) are the things to hold. Whatever
works is anchored like any attempt, so the next episode recalls it as a remedy or a recipe
(`knowledge.induce`, `knowledge.recipes`) and needs no probing.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field

from knowledge.induce import durable_items
from knowledge.store import ExperienceStore
from sim.schema import FailureCause, Subgoal, WorldState

PROBES = 10  # operations tried per fact and episode before the agent gives up on it


@dataclass
class Explorer:
    """Probes for missing facts within one episode (the state of what was tried)."""

    verbs: Mapping[str, tuple[str, ...]]
    store: ExperienceStore | None = None
    tried: dict[str, list[str]] = field(default_factory=dict)
    pending: dict[str, list[Subgoal]] = field(default_factory=dict)
    worked: dict[str, list[Subgoal]] = field(default_factory=dict)

    def next(
        self, fact: str, failed: Subgoal, state: WorldState, *, context: bool = False
    ) -> list[Subgoal] | None:
        """The next probe for `fact`: a missing fact, or (`context`) the condition `failed`
        was tried under. A probe that made the fact true earlier in this episode comes first
        again; otherwise the next one not yet tried; None when none is left."""
        if fact in self.worked:
            return list(self.worked[fact])
        done = self.tried.setdefault(fact, [])
        if len(done) >= PROBES:
            return None
        for probe in self.candidates(fact, failed, state, context=context):
            key = probe[-1].key()  # what it tries (making a tool first is the way to it)
            if key in done or key == failed.key():
                continue
            done.append(key)
            self.pending[fact] = probe
            return probe
        return None

    def settle(self, facts: frozenset[str]) -> None:
        """After an attempt: the probes whose fact now holds worked (kept for this episode)."""
        for fact, probe in list(self.pending.items()):
            if fact in facts:
                self.worked[fact] = probe
                del self.pending[fact]

    def candidates(
        self, fact: str, failed: Subgoal, state: WorldState, *, context: bool = False
    ) -> list[list[Subgoal]]:
        out: list[list[Subgoal]] = []
        if context:  # it failed under this condition (`op|kind`): change it
            kind = fact.rpartition("|")[2]
            name = ""
            if kind == "hold":
                out = self._hold_something_else(state)
            elif kind == "at":
                out = [[_sg("go_to", r)] for r in self.verbs.get("go_to", ()) if r != name]
        elif fact.startswith("has:"):
            out = self._obtain(fact[4:], state)
        else:
            out = self._make_true(fact, state)
        return [p for p in out if all(self._offered(s) for s in p)]

    def _make_true(self, fact: str, state: WorldState) -> list[list[Subgoal]]:
        kind, _, name = fact.partition(":")
        if kind == "near":
            return [[_sg("place", name)], [_sg("move_to", name)], [_sg("explore", name)]]
        if kind == "equipped":
            return [[_sg("equip", name)]]
        if fact == "has_fuel":
            return [[_sg("mine", b)] for b in self._blocks_in_sight(state, "")]
        if kind == "opened":
            return [[_sg("open", name)]]
        if kind in ("here", "holding"):
            return [[_sg("find", name)], [_sg("take", name)]]
        return []

    # ---- the kinds of probes -------------------------------------------------------------
    def _obtain(self, item: str, state: WorldState) -> list[list[Subgoal]]:
        """Ways an item might be had: its namesake block, a craft, a smelt, the other blocks
        in sight (most alike in name first), the mobs in sight, a search further out."""
        out = []
        if state.nearby_blocks.get(item):
            out.append([_sg("mine", item)])
        out += [[_sg("craft", item)], [_sg("smelt", item)]]
        out += [[_sg("mine", b)] for b in self._blocks_in_sight(state, item) if b != item]
        out += [[_sg("attack", m)] for m in sorted(state.nearby_entities)]
        out.append([_sg("explore", item)])
        fruitless = self._fruitless(item)
        return sorted(out, key=lambda p: p[0].key() in fruitless)  # stable: the rest keep order

    def _hold_something_else(self, state: WorldState) -> list[list[Subgoal]]:
        """For a block that dropped nothing: hold each tool the agent has (an item with a
        durability bar), else make one it has held before."""
        held = [i for i in state.durability if state.count(i) > 0 and i != state.equipped]
        out = [[_sg("equip", t)] for t in sorted(held)]
        if self.store is not None:
            for tool in durable_items(self.store):
                if tool not in held and tool != state.equipped:
                    out.append([_sg("craft", tool), _sg("equip", tool)])
        return out

    def _blocks_in_sight(self, state: WorldState, like: str) -> list[str]:
        names = sorted(state.nearby_blocks, key=lambda b: (-state.nearby_blocks[b], b))
        if not like:
            return names
        return sorted(names, key=lambda b: -difflib.SequenceMatcher(None, b, like).ratio())

    def _fruitless(self, item: str) -> set[str]:
        """Operations experience says do not give `item`: a craft or smelt with no recipe
        (a failure no fact lifts), a block mined that never dropped it."""
        if self.store is None:
            return set()
        out = set()
        for verb in ("craft", "smelt"):
            for cause in (FailureCause.RECIPE_FAIL, FailureCause.SMELT_FAIL):
                ids = self.store.lookup.by_tags([verb, item, cause.value], limit=4)
                for t in self.store.get_tuples(ids):
                    if t.action.key() == f"{verb}:{item}" and not t.diagnosis.details.get("needs"):
                        out.add(t.action.key())
        return out

    def _offered(self, sg: Subgoal) -> bool:
        return sg.verb in self.verbs and sg.target in self.verbs[sg.verb]


def _sg(verb: str, target: str) -> Subgoal:
    return Subgoal(verb=verb, target=target, count=1)
