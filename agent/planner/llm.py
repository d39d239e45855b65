"""The LLM planner: prompts in, schema-constrained JSON out, subgoals back to the loop.

A full plan at task start; a local repair from the failed subgoal, given its diagnosis and the
plan that was left. Recalled skills are offered as callable subgoals (`skill` with the skill's
name, expanded here into its steps: the world never sees `skill`); guardrails are written into
the prompt, and those that forbid an operation outright are also taken out of the grammar.
The reply is data, checked against the whole schema (sizes, enums, bounds) and then step by
step; it is never executed. A reply that is not a valid plan is returned as
`PlanResult([], error=...)` (the loop's PLAN_PARSE_FAIL); a backend that cannot answer at all
raises `agent.llm.LLMError`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from agent import prompts
from agent.llm.base import Completion, LLMClient, Message
from agent.llm.repair import parse_json
from agent.llm.validate import schema_violation
from agent.planner.base import PlanResult
from agent.planner.llm_context import Context, GoalContext, context_for, learned_context
from agent.planner.plan_schema import (
    SKILL_VERB,
    Allowed,
    PlanError,
    Style,
    allowed_targets,
    as_plan,
    narrowed,
    plan_schema,
    to_subgoals,
)
from knowledge.schema import Briefing, Diagnosis, Guardrail, Skill, unpack_counts
from sim.schema import Subgoal, Task, WorldState

if TYPE_CHECKING:
    from sim.base import World

log = logging.getLogger(__name__)
_Known = TypeVar("_Known", Skill, Guardrail)
RecipeMode = Literal["oracle", "learned", "off"]
RECIPE_MODES: tuple[RecipeMode, ...] = ("oracle", "learned", "off")


def recipe_mode(value: object) -> RecipeMode:
    """`planner.recipes`: `oracle` (the world's recipe book: help given, printed in reports),
    `learned` (the recipes this agent has seen, recalled from its store), `off`. The booleans
    of earlier configs read as `oracle` (true) and `off` (false)."""
    if value is True or value == "true":
        return "oracle"
    if value is False or value == "false":
        return "off"
    for mode in RECIPE_MODES:
        if value == mode:
            return mode
    raise ValueError(f"planner.recipes must be one of {', '.join(RECIPE_MODES)}; got {value!r}")


NEARBY_SHOWN = 10  # kinds of nearby blocks named in the prompt (the model's context is small)
MAX_GOAL_COUNT = 16  # count bound with a goal context (at least the goal's own count)


class LLMPlanner:
    """Plans with any `LLMClient`; `name` is `llm:<backend>`.

    `recipes` says where the recipe facts in the prompt come from, and so which names the
    grammar is narrowed to (`narrow`):

    - `learned` (the default): the recipes this agent has seen (`Briefing.recipes`, recalled
      from its store: an agent without memory has none); the grammar admits the goal, those
      recipes' names, what the agent holds and sees, and what the last failure showed;
    - `oracle`: the world family's goal context (`agent.planner.llm_context`): one-step facts
      for the goal's whole requirement tree read from the world's rules, the grammar cut to
      that tree, and the world family's hints in the system prompt. Help given, which every
      report prints;
    - `off`: no recipe facts, and no narrowing.

    `examples` puts the world family's worked exchanges (`agent/prompts/examples_<family>.txt`,
    in an invented domain, so that they teach the form and no recipe) before the request.
    """

    def __init__(
        self,
        client: LLMClient,
        world: World | None = None,
        *,
        verb_targets: Mapping[str, tuple[str, ...]] | None = None,
        world_name: str | None = None,
        max_steps: int = 4,
        max_tokens: int = 128,
        temperature: float = 0.0,
        style: Style = "per_verb",
        context: Context | None = None,
        narrow: bool = True,
        recipes: RecipeMode | bool = "learned",
        examples: bool = True,
        max_count: int = MAX_GOAL_COUNT,
        history: bool = False,
    ) -> None:
        if verb_targets is None:
            if world is None:
                raise ValueError("LLMPlanner needs a world or its verb_targets")
            verb_targets = world.verb_targets()
        self.client = client
        self.name = f"llm:{client.backend}"
        self.verb_targets = dict(verb_targets)
        self.world_name = world_name or (world.id if world is not None else "a world")
        self.world_facts: Callable[[WorldState], frozenset[str]] | None = (
            world.facts if world is not None else None
        )
        self.recipes: RecipeMode = recipe_mode(recipes)
        self.oracle = self.recipes == "oracle"  # given the world's recipe book (the loop asks)
        if context is None and world is not None:
            context = context_for(world)
        self.context = context  # the oracle's goal context (used with recipes="oracle")
        self.single: frozenset[str] = getattr(context, "single", frozenset())
        self.max_steps = max_steps
        self.sampling: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature}
        self.style: Style = style
        self.narrow, self.max_count = narrow, max_count
        # tier-2 and past-attempt lines ("What happened before") in the prompt: off by default.
        # Measured with the bundled SmolLM2-135M (docs/benchmarks.md, issue 30), they cost it
        # 12 points on techtree Wooden and Stone: prompts past its 2048-token context, and a
        # task it solved without them lost. `--option planner.history=true` turns them on.
        self.history = history
        family = self.world_name.split("/")[0]
        hints = f"hints_{family}"  # the world family's rules of thumb: part of the recipe book
        self.system = prompts.render(
            "system",
            world=self.world_name,
            max_steps=max_steps,
            verbs=", ".join(self.verb_targets),
            hints=prompts.load(hints).strip() if self.oracle and prompts.exists(hints) else "",
        )
        # the last failure shown to the model: (state key, text, names it shows, question)
        self._told: tuple[str, str, tuple[str, ...], str] | None = None
        shots = f"examples_{family}"
        self.examples: list[Message] = (
            prompts.dialogue(shots) if examples and prompts.exists(shots) else []
        )

    # ---- the Planner protocol ---------------------------------------------------------------
    def plan(self, task: Task, state: WorldState, briefing: Briefing) -> PlanResult:
        goal = self.goal_context(task, state, briefing)
        context = self._context(task, state, briefing, goal)
        told, self._told = self._told, None
        if told is not None and told[0] == _key(task, state):
            # a fresh plan asked for in the very state a failure left (the loop does that after
            # an unusable reply): that failure and its fix still hold, so they stay in the prompt
            self._told = told
            user = prompts.render(
                "replan", **context, outcome=told[1], remaining="nothing", question=told[3]
            )
            return self._ask(_squeeze(user), task, state, briefing, goal, told[2])
        lines = _squeeze(prompts.render("plan", **context)).splitlines()
        fit = self._fitting_skill(task, state, briefing, set())
        if fit is not None:  # last before the question, where a small model reads a step best
            lines.insert(len(lines) - 1, fit)
        return self._ask("\n".join(lines), task, state, briefing, goal)

    def replan(
        self,
        task: Task,
        state: WorldState,
        briefing: Briefing,
        failed: Subgoal,
        diagnosis: Diagnosis,
        remaining: list[Subgoal],
    ) -> PlanResult:
        d = diagnosis.details
        goal = self.goal_context(task, state, briefing)
        fix: dict[str, Any] | None = None
        extra: tuple[str, ...] = ()
        if diagnosis.success:
            flags = [f for f in ("stagnation", "loop", "deadlock") if getattr(diagnosis, f)]
            outcome = (
                f'The step "{failed.text()}" worked, but: {", ".join(flags) or "no progress"}.'
            )
            if goal is not None and goal.goal_step is not None:
                # going round in circles: the step that makes the goal itself, tried now,
                # either succeeds or fails with a diagnosis that names what is missing
                verb, target, count = goal.goal_step
                fix = {"verb": verb, "target": target, "count": count}
        else:
            outcome, extra = failure_text(failed, diagnosis)
        if fix is not None:
            # written as a plan step: a small model copies it far more readily than prose
            outcome += f"\nTry: {json.dumps(fix)}"
            extra = (*extra, str(fix["target"]))
        wanted = {str(d["needs"]).partition(":")[2]} if d.get("needs") else set()
        fit = self._fitting_skill(task, state, briefing, wanted)
        if fit is not None:
            outcome += f"\n{fit}"
        user = prompts.render(
            "replan",
            **self._context(task, state, briefing, goal),
            outcome=outcome,
            remaining="; ".join(s.text() for s in remaining[:6]) or "nothing",
            question=question(diagnosis),
        )
        user = _squeeze(user)
        self._told = (_key(task, state), outcome, extra, question(diagnosis))
        return self._ask(user, task, state, briefing, goal, extra)

    # ---- the parts --------------------------------------------------------------------------
    def goal_context(
        self, task: Task, state: WorldState, briefing: Briefing | None = None
    ) -> GoalContext | None:
        """What the prompt says of the goal's recipes and the names the grammar admits: the
        world's (`oracle`), what this agent has seen (`learned`), or nothing (`off`)."""
        if self.context is None:  # a world family with no recipes (the household world)
            return None
        if self.recipes == "oracle":
            return self.context(task, state)
        if self.recipes == "learned":
            return learned_context(task, (briefing or Briefing()).recipes, self.single)
        return None

    def _fitting_skill(
        self, task: Task, state: WorldState, briefing: Briefing, wanted: set[str]
    ) -> str | None:
        """A recalled skill that makes the goal (or what was found missing) and whose
        preconditions hold now, offered as the single next step."""
        facts = self.world_facts(state) if self.world_facts is not None else frozenset()
        goal = task.goal.item or task.goal.predicate or ""
        for skill in _learned_order(briefing.skills):
            if skill.retired or skill.target not in {goal, *wanted} or not skill.steps:
                continue
            if all(p in facts for p in skill.preconditions):
                step = {"verb": SKILL_VERB, "target": skill.name, "count": 1}
                return f"A skill that worked from here before: {json.dumps(step)}"
        return None

    def allowed(
        self,
        state: WorldState,
        briefing: Briefing,
        goal: GoalContext | None = None,
        extra: tuple[str, ...] = (),
    ) -> Allowed:
        """What the grammar admits for this call (verbs, targets, skills, less guardrails)."""
        facts = self.world_facts(state) if self.world_facts is not None else None
        targets: Mapping[str, tuple[str, ...]] = self.verb_targets
        if goal is not None and self.narrow:
            held = {k for k, n in state.inventory.items() if n > 0}
            keep = goal.names | held | set(state.nearby_entities) | set(extra)
            if self.recipes == "learned":  # what it sees and what its knowledge names
                keep |= set(state.nearby_blocks) | _knowledge_names(briefing)
            targets = narrowed(self.verb_targets, keep)
        if briefing.closed:  # forbidden here by guardrails the prompt had no room for
            shut = set(briefing.closed)
            targets = {
                v: tuple(t for t in ts if f"{v}:{t}" not in shut) for v, ts in targets.items()
            }
        return allowed_targets(targets, briefing.skills, briefing.guardrails, facts)

    def schema(
        self,
        task: Task,
        state: WorldState,
        briefing: Briefing,
        allowed: Allowed | None = None,
        goal: GoalContext | None = None,
    ) -> dict[str, Any]:
        """The plan schema of one call (`allowed` and `goal` default to this state's)."""
        if goal is None:
            goal = self.goal_context(task, state, briefing)
        if allowed is None:
            allowed = self.allowed(state, briefing, goal)
        if goal is None or not self.narrow:
            return plan_schema(allowed, self.max_steps, self.style, single=self.single)
        top = max(self.max_count, task.goal.count)
        return plan_schema(allowed, self.max_steps, self.style, top, goal.single, goal.caps)

    def _context(
        self, task: Task, state: WorldState, briefing: Briefing, goal: GoalContext | None
    ) -> dict[str, str]:
        target = f"{task.goal.count} {task.goal.item}" if task.goal.item else task.goal.predicate
        # skills and rules in the order they were learned, not by this call's recall score: a
        # reordering changes the prompt from that line on, and llama.cpp's cache then holds
        # only what comes before it (each changed prompt token costs about 4.5 ms to read)
        # only the skills that can start here: the grammar offers no other (a skill's
        # preconditions are checked before it is expanded)
        facts = self.world_facts(state) if self.world_facts is not None else None
        lines = [
            f'Skill "{s.name}": ' + "; ".join(x.text() for x in s.steps)
            for s in _learned_order(briefing.skills)
            if s.steps and not s.retired and (facts is None or set(s.preconditions) <= facts)
        ]
        if lines:
            lines.insert(
                0, f'Known skills (call one as {{"verb": "{SKILL_VERB}", "target": NAME}}):'
            )
        rails = [g.text() for g in _learned_order(briefing.guardrails) if not g.retired]
        if rails:
            lines.append("Rules learned from failures:")
            lines.extend(f"- {r}" for r in rails)
        # tier 2 and tier 1: how the operations ahead have fared, and past attempts like this
        # one (found by this state's signature, this place, the tags or the text)
        seen = [i.text for i in briefing.items if i.kind in ("summary", "experience")]
        if seen and self.history:
            lines.append("What happened before:")
            lines.extend(f"- {h}" for h in seen)
        recipes = ""  # the same lines whether the world's (oracle) or seen (learned)
        if goal is not None and goal.facts:
            recipes = "\n".join(["How to get each item:", *(f"- {f}" for f in goal.facts)])
        return {
            "instruction": task.instruction,
            "goal": str(target),
            "recipes": recipes,
            "state": state_text(state),
            "knowledge": "\n".join(lines),
        }

    def _fit(self, user: str) -> tuple[list[Message] | None, list[str]]:
        """The chat messages for `user`, shortened (`FIT_ORDER`) until the reply fits in the
        model's context where the client can count tokens (`room`); the names of what was
        left out. None and the reason where even the shortest prompt does not fit."""
        examples, dropped = list(self.examples), list[str]()
        room = getattr(self.client, "room", None)
        need = int(self.sampling.get("max_tokens") or 0)
        for part in (None, *FIT_ORDER):
            if part == "examples" and examples:
                examples, dropped = [], [*dropped, "the worked examples"]
            elif part is not None and part != "examples":
                user, cut = _without(user, part)
                dropped += [f'"{part.rstrip(":")}"'] if cut else []
            messages: list[Message] = [
                {"role": "system", "content": self.system},
                *examples,
                {"role": "user", "content": user},
            ]
            left = room(messages) if callable(room) else None
            if left is None or left >= need:
                return messages, dropped
        return None, [
            f"the prompt leaves {left} tokens of the model's context for a reply of up to {need}"
            " even without the past attempts, examples, skills and rules"
        ]

    def _ask(
        self,
        user: str,
        task: Task,
        state: WorldState,
        briefing: Briefing,
        goal: GoalContext | None,
        extra: tuple[str, ...] = (),
    ) -> PlanResult:
        allowed = self.allowed(state, briefing, goal, extra)
        schema = self.schema(task, state, briefing, allowed, goal)
        messages, dropped = self._fit(user)
        if messages is None:
            return PlanResult([], error=dropped[-1])
        done = self.client.complete(messages, schema, **self.sampling)  # LLMError propagates
        result = _accounted(done, messages)
        if dropped:
            result.notes.append("to fit the model's context, left out: " + ", ".join(dropped))
        parsed = done.parsed if done.parsed is not None else parse_json(done.text)
        if parsed is None:
            result.error = f"reply is not JSON: {done.text[:120]!r}"
            return result
        reply = as_plan(parsed)
        # the whole schema, before the reply is read step by step: a server that ignores it
        # can send 200,000 steps where 4 are allowed, or names and counts outside its enums
        broken = schema_violation(reply, schema)
        if broken is not None:
            result.error = f"reply breaks the plan schema: {broken}"
        else:
            try:
                facts = self.world_facts(state) if self.world_facts is not None else None
                result.subgoals, notes, result.expanded = to_subgoals(
                    reply, allowed, briefing.skills, facts
                )
                result.notes += notes
            except PlanError as exc:
                result.error = str(exc)
        if result.error:
            log.info("%s: unusable plan: %s", self.name, result.error)
        return result


def question(diagnosis: Diagnosis) -> str:
    """The request that closes a replan prompt: it names what is missing (the diagnosis's
    finding, not a way to it)."""
    kind, _, name = str(diagnosis.details.get("needs", "")).partition(":")
    if not diagnosis.success and kind == "has" and name:
        return f"Plan the steps that get {name}, then continue toward the goal."
    return "Plan the steps that fix this, then continue toward the goal."


def failure_text(failed: Subgoal, diagnosis: Diagnosis) -> tuple[str, tuple[str, ...]]:
    """What the model is told of a failure: the cause, the missing fact, and what was seen
    (what a crafting grid showed and lacked; what dropped nothing with what in hand), never
    a fix. Returns the text and the names it mentions (the grammar admits them)."""
    d = diagnosis.details
    text = f'The step "{failed.text()}" failed ({diagnosis.cause.value})'
    names: list[str] = []
    needs = str(d.get("needs", ""))
    if needs:
        text += f": it needs {needs}"
        names.append(needs.partition(":")[2])
    seen = []
    if d.get("ingredients"):
        shown = unpack_counts(d["ingredients"])
        lacked = unpack_counts(d.get("missing"))
        grid = " + ".join(f"{n} {i}" for i, n in shown.items())
        station = f", at a {d['station']}" if d.get("station") else ""
        seen.append(f"the recipe showed {grid}{station}")
        if lacked:
            seen.append("it lacked " + ", ".join(f"{n} {i}" for i, n in lacked.items()))
        names += [*shown, *([str(d["station"])] if d.get("station") else [])]
    elif d.get("context") and diagnosis.cause.value == "WRONG_TOOL":
        held = str(d["context"]).partition(":")[2] if ":" in str(d["context"]) else ""
        hand = "bare hands" if d["context"] == "hands:empty" else held
        seen.append(f"{failed.target} dropped nothing with {hand}")
    elif diagnosis.evidence and not needs:
        seen.append(_clip(diagnosis.evidence[0]))
    if seen:
        text += " (" + "; ".join(seen) + ")"
    return text + ".", tuple(n for n in dict.fromkeys(names) if n)


# what a prompt too long for the model's context loses, in this order: the past attempts, the
# worked examples, then the skills and the rules (the grammar still offers the skills' names
# and enforcement still holds the rules)
FIT_ORDER = ("What happened before:", "examples", "Known skills", "Rules learned from failures:")


def _without(text: str, header: str) -> tuple[str, bool]:
    """`text` less the section that opens with a line starting `header` (that line and the
    `- ` or `Skill "` lines after it)."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(header)), None)
    if start is None:
        return text, False
    end = start + 1
    while end < len(lines) and lines[end].startswith(("- ", 'Skill "')):
        end += 1
    return "\n".join(lines[:start] + lines[end:]), True


def _key(task: Task, state: WorldState) -> str:
    return f"{task.id}|{state.model_dump_json()}"


def _clip(text: str, n: int = 120) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _squeeze(text: str) -> str:
    """A prompt without the blank lines its empty parts leave."""
    return "\n".join(line for line in text.splitlines() if line.strip())


def _accounted(done: Completion, messages: list[Message]) -> PlanResult:
    prompt = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)
    return PlanResult(
        [],
        prompt=prompt,
        reply=done.text,
        llm_calls=1,
        prompt_tokens=done.prompt_tokens,
        completion_tokens=done.completion_tokens,
        latency_s=done.latency_s,
    )


def state_text(state: WorldState) -> str:
    """A short, world-neutral description of a state for the prompt."""
    parts = []
    inv = ", ".join(f"{n} {k}" for k, n in sorted(state.inventory.items()) if n > 0)
    parts.append(f"inventory: {inv or 'nothing'}")
    if state.equipped:
        parts.append(f"holding {state.equipped}")
    if state.nearby_blocks:
        near = sorted(state.nearby_blocks.items(), key=lambda kv: (-kv[1], kv[0]))[:NEARBY_SHOWN]
        parts.append("nearby: " + ", ".join(k for k, _ in near))
    if state.nearby_entities:
        parts.append("mobs: " + ", ".join(sorted(state.nearby_entities)))
    if state.health < 20 or state.food < 20:
        parts.append(f"health {state.health:g}/20, food {state.food:g}/20")
    if state.is_night:
        parts.append("night")
    if state.location:
        parts.append(f"at {state.location}")
    if state.holding:
        parts.append(f"holding {state.holding}")
    return "; ".join(parts)


def _knowledge_names(briefing: Briefing) -> set[str]:
    """The names recalled skills and guardrails mention (their steps, operations, remedies)."""
    names = {s.target for k in briefing.skills for s in k.steps}
    for g in briefing.guardrails:
        names.add(g.forbidden.partition(":")[2])
        names.update(s.target for s in g.remedy)
    return names


def _learned_order(items: Iterable[_Known]) -> list[_Known]:
    """Oldest first (by store id); items not yet stored keep their order, after the rest."""
    return sorted(items, key=lambda k: (k.id is None, k.id or 0))
