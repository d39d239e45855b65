"""Recall: rank tier-3 knowledge, tier-2 summaries and tier-1 experiences for a query,
within a token budget.

Skills and guardrails are scored by goal, relevance and the facts that hold; when the query
names a text, a world cell or tags (or asks for experiences), the indices over tier 1 add past
attempts — by condition signature (exact, then subset), by place (the cell and its
neighbours), by tags and by text (vectors, or BM25 without an embedding model) — and knowledge
whose evidence they touch ranks higher. Every recalled item names the tuples it came from, so a
briefing can be audited back to the attempts that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from knowledge.recipes import learned_recipes, recipe_names
from knowledge.schema import (
    Briefing,
    ExperienceTuple,
    Guardrail,
    LearnedRecipe,
    RecallItem,
    Skill,
)
from knowledge.signature import cell_of, signature
from knowledge.store import ExperienceStore

EXPERIENCES = 6  # experiences recalled when the query names a text, cell or tags
EPISODIC_SHOWN = 3  # of them, past attempts that stand in the briefing as lines of their own
# the indices recall may use; a method's ablation turns one off (`agent.methods`)
INDICES = frozenset({"signature", "spatial", "tags", "text", "summaries", "episodic"})
SIGNAL_SOURCE = {"condition": "signature", "place": "spatial", "tags": "tags", "text": "text"}


@dataclass(frozen=True)
class RecallQuery:
    """What the agent is about to do: the task goal, the facts that hold, and the items it
    knows to matter (`relevant`: the plan ahead; a planner given the world's recipe book adds
    the goal's requirement tree). With `recipe` in `kinds`, the recipes the agent has seen for
    the goal are recalled too, and their names count as relevant."""

    goal: str
    facts: frozenset[str] = frozenset()
    relevant: frozenset[str] = frozenset()
    kinds: frozenset[str] = field(default_factory=lambda: frozenset({"skill", "guardrail"}))
    summaries: bool = True
    text: str | None = None
    """Free text (the subgoal or situation): matched by vectors, or BM25 without a model."""
    cell: tuple[int, int] | None = None
    """The world cell (16x16 column, `knowledge.signature.cell_of`) the agent is in."""
    tags: frozenset[str] = frozenset()
    """Semantic tags (verbs, targets, causes, task family) to match."""
    experiences: int | None = None
    """Past attempts to recall; None: `EXPERIENCES` when text, cell or tags are given."""
    also: tuple[str, ...] = ()
    """Items beyond the goal whose learned recipes to recall (the plan ahead, a missing one)."""
    place: str | None = None
    """The map the cell is on (a tag such as `map:craftworld/v1#3`): places on other maps
    (another world, another seed) are not this one's, so the spatial index skips them."""
    ops: tuple[str, ...] = ()
    """Operations ahead (`verb:target`): each gets its tier-2 summary line, if it has one."""
    indices: frozenset[str] = INDICES
    """The indices recall may use (`INDICES`; an ablation leaves one out)."""

    def uses(self, index: str) -> bool:
        return index in self.indices

    def n_experiences(self) -> int:
        if self.experiences is not None:
            return self.experiences
        asked = self.text or self.cell is not None or self.tags
        return EXPERIENCES if asked else 0


def _tokens(text: str) -> int:
    # about four characters a token for English and identifiers; good enough for budgeting
    return len(text) // 4 + 1


def _skill_score(skill: Skill, q: RecallQuery) -> float:
    if skill.target == q.goal:
        base = 1.0
    elif skill.target in q.relevant:
        base = 0.6
    else:
        return 0.0
    held = sum(1 for p in skill.preconditions if p in q.facts)
    frac = held / len(skill.preconditions) if skill.preconditions else 1.0
    return base * skill.confidence * (0.5 + 0.5 * frac)


def _guardrail_score(rail: Guardrail, q: RecallQuery) -> float:
    target = rail.forbidden.partition(":")[2]
    if rail.scope == "task":
        base = 1.0 if rail.task_goal == q.goal else 0.0
    elif target == q.goal or target in q.relevant:
        base = 0.8
    else:
        return 0.0  # still enforced (the loop checks the store), but not told: a short briefing
    if rail.when and not all(f in q.facts for f in rail.when):
        base *= 0.5
    return base * rail.confidence


def _experiences(
    store: ExperienceStore, q: RecallQuery, n: int
) -> list[tuple[float, ExperienceTuple, str]]:
    """Past attempts found by any index, scored by how many indices found them and how well."""
    look, pool = store.lookup, 4 * n
    signals: dict[int, dict[str, float]] = {}

    def note(ids: list[int] | list[tuple[int, float]], signal: str, strength: float = 1.0):
        for hit in ids:
            tid, s = hit if isinstance(hit, tuple) else (hit, strength)
            got = signals.setdefault(tid, {})
            got[signal] = max(got.get(signal, 0.0), s)

    if q.facts and q.uses("signature"):
        note(look.by_signature(q.facts, limit=pool), "condition")
        note(look.by_signature(q.facts, mode="subset", limit=pool), "condition", 0.6)
    if q.cell is not None and q.uses("spatial"):
        note(look.by_cell(q.cell, radius=1, limit=pool), "place")
    if q.tags and q.uses("tags"):
        note(look.by_tags(q.tags, match_all=False, limit=pool), "tags")
    if q.text and q.uses("text"):
        found = look.search(q.text, k=pool)
        top = max((s for _, s in found), default=0.0)
        note([(t, s / top) for t, s in found if top > 0], "text")
    if not signals:
        return []
    out = []
    for tup in store.get_tuples(sorted(signals, reverse=True)):
        got = signals[int(tup.id or 0)]
        if "place" in got and q.place is not None and q.place not in tup.tags:
            del got["place"]  # the same cell on another map is another place
            if not got:
                continue
        if "place" in got and q.cell is not None:
            c = cell_of(tup.pre_state.position)
            got["place"] = 1.0 / (1 + max(abs(c[0] - q.cell[0]), abs(c[1] - q.cell[1])))
        if "tags" in got:
            got["tags"] = len(q.tags & set(tup.tags)) / len(q.tags)
        weights = {"condition": 0.3, "text": 0.3, "place": 0.2, "tags": 0.2}
        parts = {k: weights[k] * v for k, v in got.items()}
        score = sum(parts.values())
        if tup.action.target == q.goal or tup.action.target in q.relevant:
            score *= 1.25
        if not tup.diagnosis.success:
            score *= 1.1  # a failure carries the lesson a success does not
        source = SIGNAL_SOURCE[max(parts, key=lambda k: (parts[k], k))]
        out.append((0.6 * score, tup, source))
    out.sort(key=lambda st: (-st[0], -(st[1].id or 0)))
    return out[:n]


def _experience_item(score: float, tup: ExperienceTuple, source: str) -> RecallItem:
    cx, cz = cell_of(tup.pre_state.position)
    text = f"past attempt {tup.id}: {tup.action.text()} -> {tup.diagnosis.text()} (cell {cx},{cz})"
    return RecallItem(
        kind="experience",
        id=int(tup.id or 0),
        text=text,
        score=score,
        evidence=[int(tup.id or 0)],
        source=source,
    )


def recall(store: ExperienceStore, query: RecallQuery, budget_tokens: int = 600) -> Briefing:
    """A ranked briefing of skills, guardrails, summaries and experiences for `query`, each
    item naming the index that found it (`RecallItem.source`); one budget for all of them."""
    recipes: list[LearnedRecipe] = []
    if "recipe" in query.kinds and query.goal:
        recipes = learned_recipes(store, query.goal, also=query.also)
        # what the agent has seen the goal made of is relevant, whatever the caller knew
        query = replace(query, relevant=query.relevant | recipe_names(recipes))
    n_exp = query.n_experiences()
    experiences = _experiences(store, query, n_exp) if n_exp else []
    seen = {int(t.id or 0) for _, t, _ in experiences}

    def boost(evidence: list[int]) -> float:
        """Knowledge resting on the attempts just recalled is more likely to apply here."""
        return 1.0 + 0.1 * min(3, len(seen.intersection(evidence))) if seen else 1.0

    scored: list[tuple[float, RecallItem, Skill | Guardrail | None]] = []
    if "skill" in query.kinds:
        for skill in store.skills_for({query.goal, *query.relevant}):
            if (s := _skill_score(skill, query)) > 0 and skill.id is not None:
                s *= boost(skill.evidence)
                scored.append((s, _item("skill", skill, s, "goal"), skill))
    closed: set[str] = set()
    if "guardrail" in query.kinds:
        closed = store.shut(query.facts)  # nothing a plan step could lift: out of the grammar
        for rail in store.guardrails_about({query.goal, *query.relevant}, query.goal):
            if (s := _guardrail_score(rail, query)) > 0 and rail.id is not None:
                s *= boost(rail.evidence)
                scored.append((s, _item("guardrail", rail, s, "goal"), rail))
    scored += _kin(store, query, experiences, {(t[1].kind, t[1].id) for t in scored})
    if query.summaries and query.uses("summaries"):
        scored += _op_summaries(store, query)
        if n_exp and query.facts and query.uses("signature"):
            sig = signature(query.facts)
            for summ in store.summaries("signature", prefix=f"{sig}|"):
                if summ["attempts"] > summ["successes"]:
                    op = summ["key"].partition("|")[2]
                    head = f"under these conditions {op}"
                    scored.append(_summary_item(summ, head, 0.35, "signature"))
    if query.uses("episodic"):
        for s, tup, source in experiences[:EPISODIC_SHOWN]:
            scored.append((s, _experience_item(s, tup, source), None))
    scored.sort(key=lambda t: (-t[0], t[1].kind, t[1].id))
    briefing = Briefing(recipes=recipes, closed=sorted(closed))
    for r in recipes:  # outside the budget: they stand in for a recipe book, not knowledge
        item = RecallItem(
            kind="recipe",
            id=r.evidence[-1],
            text=r.text(),
            score=1.0,
            evidence=r.evidence,
            source="recipe",
        )
        briefing.items.append(item)
    used = 0
    for _, item, obj in scored:
        cost = _tokens(item.text)
        if used + cost > budget_tokens:
            continue
        used += cost
        briefing.items.append(item)
        if isinstance(obj, Skill):
            briefing.skills.append(obj)
        elif isinstance(obj, Guardrail):
            briefing.guardrails.append(obj)
    return briefing


def _item(
    kind: Literal["skill", "guardrail"], k: Skill | Guardrail, score: float, source: str
) -> RecallItem:
    return RecallItem(
        kind=kind,
        id=int(k.id or 0),
        text=k.text(),
        score=score,
        evidence=k.evidence,
        source=source,
    )


def _kin(
    store: ExperienceStore,
    q: RecallQuery,
    experiences: list[tuple[float, ExperienceTuple, str]],
    have: set[tuple[str, int]],
) -> list[tuple[float, RecallItem, Skill | Guardrail | None]]:
    """Knowledge of similar tasks: skills and guardrails resting on the past attempts that the
    tags or text index found (the same family, a similar instruction), for a goal the goal
    index knows nothing of (household: where an object kind was found, which receptacle
    opened). Filed under other goals, so a weaker score than the goal's own."""
    hits = [(t, source) for _, t, source in experiences if source in ("tags", "text")]
    if not hits or any(kind != "summary" for kind, _ in have):
        return []
    found = {int(t.id or 0): source for t, source in hits}
    targets = {t.action.target for t, _ in hits} | {t.task_goal for t, _ in hits if t.task_goal}
    out: list[tuple[float, RecallItem, Skill | Guardrail | None]] = []
    pools: list[tuple[Literal["skill", "guardrail"], list[Skill] | list[Guardrail]]] = []
    if "skill" in q.kinds:  # by the targets of those attempts (indexed): never every rule
        pools.append(("skill", store.skills_for(targets)))
    if "guardrail" in q.kinds:
        pools.append(("guardrail", store.guardrails_about(targets, None)))
    for kind, known in pools:
        for k in known:
            hit = next((found[e] for e in reversed(k.evidence) if e in found), None)
            if hit is None or k.id is None or k.retired:
                continue
            if isinstance(k, Guardrail) and k.scope == "task":
                continue  # another task's own rule
            s = 0.4 * k.confidence
            out.append((s, _item(kind, k, s, hit), k))
    return out


def _op_summaries(
    store: ExperienceStore, q: RecallQuery
) -> list[tuple[float, RecallItem, Skill | Guardrail | None]]:
    """One line for each operation ahead that has been tried: how often it worked and how it
    most often failed. Without operations named, the failing ones the goal makes relevant."""
    out: list[tuple[float, RecallItem, Skill | Guardrail | None]] = []
    if q.ops:
        for op in dict.fromkeys(q.ops):
            summ = next((x for x in store.summaries("op", prefix=op) if x["key"] == op), None)
            if summ is not None:
                out.append(_summary_item(summ, f"history {op}", 0.3))
        return out
    for summ in store.summaries("op"):
        target = summ["key"].partition(":")[2]
        failures = summ["attempts"] - summ["successes"]
        if failures and (target == q.goal or target in q.relevant):
            out.append(_summary_item(summ, f"history {summ['key']}", 0.3))
    return out


def _summary_item(
    summ: dict[str, Any], head: str, weight: float, source: str = "summary"
) -> tuple[float, RecallItem, None]:
    """A tier-2 line: attempts, success rate and the most common failure."""
    failures = summ["attempts"] - summ["successes"]
    causes = sorted(summ["causes"].items(), key=lambda kv: (-kv[1], kv[0]))
    worst = next(((c, n) for c, n in causes if c != "NONE"), None)
    tail = f", most often {worst[0]} ({worst[1]})" if worst else ""
    text = f"{head}: {summ['attempts']} attempts, {summ['success_rate']:.0%} ok{tail}"
    s = weight * (0.5 + 0.5 * failures / summ["attempts"])
    item = RecallItem(
        kind="summary",
        id=summ["last_tuple"],
        text=text,
        score=s,
        evidence=[summ["last_tuple"]],
        source=source,
    )
    return (s, item, None)
