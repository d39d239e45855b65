"""The experience space's records: tuples (tier 1), summaries (tier 2), skills and guardrails
(tier 3), and the briefing that recall hands to the planner.

World-facing types (`WorldState`, `Subgoal`, `FailureCause`) are the shared schema of `sim`;
nothing here imports a world.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sim.schema import FailureCause, Subgoal, WorldState

__all__ = [
    "Briefing",
    "Diagnosis",
    "ExperienceTuple",
    "FailureCause",
    "Guardrail",
    "LearnedRecipe",
    "RecallItem",
    "Skill",
    "StateDiff",
]


# A stored record is written as JSON, where NaN and infinities become null, which no float field
# reads back: so the records a store keeps refuse them when made, and tier-3 knowledge, which is
# updated in place (confidence, evidence), also when a field is assigned.
_STORED = ConfigDict(extra="forbid", allow_inf_nan=False)
_KNOWLEDGE = ConfigDict(extra="forbid", allow_inf_nan=False, validate_assignment=True)

# How much a skill or guardrail is trusted: recall multiplies its score by it, distillation
# moves it towards 0.99 on success and down on failure, prune retires it below a threshold.
_Confidence = Annotated[
    float, Field(ge=0.0, le=1.0, description="Trust in [0, 1], moved by experience.")
]


class StateDiff(BaseModel):
    """What changed between the pre and post state of one attempt."""

    model_config = _STORED

    gained: dict[str, int] = Field(default_factory=dict)
    lost: dict[str, int] = Field(default_factory=dict)
    equipped: tuple[str | None, str | None] | None = None
    durability_used: dict[str, int] = Field(default_factory=dict)
    moved: float = 0.0
    health_delta: float = 0.0
    food_delta: float = 0.0
    ticks: int = 0
    location: tuple[str | None, str | None] | None = None
    holding: tuple[str | None, str | None] | None = None
    object_states: dict[str, list[str]] = Field(
        default_factory=dict, description="Household objects whose states changed (new states)."
    )

    def text(self) -> str:
        parts = []
        if self.gained:
            parts.append("+" + ",".join(f"{n} {k}" for k, n in sorted(self.gained.items())))
        if self.lost:
            parts.append("-" + ",".join(f"{n} {k}" for k, n in sorted(self.lost.items())))
        if self.equipped:
            parts.append(f"equipped {self.equipped[0]}->{self.equipped[1]}")
        if self.moved:
            parts.append(f"moved {self.moved:.0f}")
        if self.health_delta:
            parts.append(f"health {self.health_delta:+.0f}")
        if self.location:
            parts.append(f"at {self.location[1]}")
        if self.holding:
            parts.append(f"holding {self.holding[1]}")
        parts.append(f"{self.ticks} ticks")
        return "; ".join(parts)


class Diagnosis(BaseModel):
    """A fine-grained account of one subgoal attempt: why it failed and how far it got."""

    model_config = _STORED

    success: bool
    cause: FailureCause = FailureCause.NONE
    evidence: list[str] = Field(default_factory=list, description="What the cause rests on.")
    diff: StateDiff = Field(default_factory=StateDiff)
    subgoal_progress: float = Field(0.0, ge=0.0, le=1.0)
    task_progress: float = Field(0.0, ge=0.0, le=1.0)
    task_progress_delta: float = 0.0
    budget_used: float = Field(0.0, description="Fraction of the episode's tick budget used.")
    resource_delta: int = Field(0, description="Items gained minus items lost.")
    moved: float = Field(0.0, description="Distance travelled during the attempt (blocks).")
    new_cells: int = Field(0, description="World cells (16x16 columns) first visited now.")
    steps: int = Field(0, description="Low-level actions the attempt took.")
    stagnation: bool = False
    loop: bool = False
    deadlock: bool = False
    details: dict[str, str | int | float] = Field(
        default_factory=dict, description="World facts the cause rests on (e.g. needed tool)."
    )

    def text(self) -> str:
        head = "ok" if self.success else self.cause.value
        flags = [f for f in ("stagnation", "loop", "deadlock") if getattr(self, f)]
        tail = f" [{', '.join(flags)}]" if flags else ""
        return f"{head}: {self.diff.text()}; task {self.task_progress:.0%}{tail}"


def pack_counts(items: dict[str, Any]) -> str:
    """`{"oak_planks": 3, "stick": 2}` as `oak_planks=3,stick=2`: counts in a diagnosis's flat
    `details` (what a crafting grid showed, what burned)."""
    return ",".join(f"{k}={int(v)}" for k, v in sorted(items.items()))


def unpack_counts(text: str | int | float | None) -> dict[str, int]:
    """The inverse of `pack_counts`."""
    out: dict[str, int] = {}
    for part in str(text or "").split(","):
        name, _, n = part.partition("=")
        if name and n.lstrip("-").isdigit():
            out[name] = int(n)
    return out


class ExperienceTuple(BaseModel):
    """Tier 1 evidence: one subgoal attempt, `(pre_state, action, diagnosis, post_state)`."""

    model_config = _STORED

    id: int | None = Field(None, description="Assigned by the store when anchored.")
    run_id: str
    episode_id: str
    task_id: str
    task_goal: str = Field("", description="The task's goal item or predicate.")
    task_family: str = Field("", description="The task's family (its suite group), if known.")
    step: int
    pre_state: WorldState
    action: Subgoal
    diagnosis: Diagnosis
    post_state: WorldState
    facts: list[str] = Field(
        default_factory=list, description="Condition facts of the pre state (sorted)."
    )
    signature: str = Field("", description="Canonical hash of `facts`.")
    tags: list[str] = Field(default_factory=list)
    created_at: float = 0.0


class Skill(BaseModel):
    """Tier 3, success track: a reusable way to reach a post-condition."""

    model_config = _KNOWLEDGE

    id: int | None = None
    name: str = Field(description="Canonical key, e.g. 'obtain:wooden_pickaxe'.")
    target: str = Field(description="The item or predicate the skill produces.")
    preconditions: list[str] = Field(
        default_factory=list, description="Facts that must hold to start (e.g. has:stick)."
    )
    steps: list[Subgoal]
    verification: dict[str, int] = Field(
        default_factory=dict, description="Post-condition: inventory at least these counts."
    )
    confidence: _Confidence = 0.5
    uses: int = 0
    successes: int = 0
    evidence: list[int] = Field(default_factory=list, description="Ids of source tuples.")
    version: int = 1
    retired: bool = False

    def text(self) -> str:
        steps = "; ".join(s.text() for s in self.steps)
        pre = ", ".join(self.preconditions) or "nothing"
        return f"skill {self.name} (needs {pre}): {steps} [conf {self.confidence:.2f}]"


class Guardrail(BaseModel):
    """Tier 3, failure track: an operation that is risky under a condition, and the remedy."""

    model_config = _KNOWLEDGE

    id: int | None = None
    scope: Literal["subgoal", "task"] = "subgoal"
    task_goal: str | None = Field(None, description="For task scope: the goal it applies to.")
    root_cause: FailureCause
    forbidden: str = Field(description="Operation key `verb:target` that is forbidden.")
    when: list[str] = Field(default_factory=list, description="Applies when all these hold.")
    unless: list[str] = Field(
        default_factory=list, description="Lifted when all these hold (e.g. pickaxe>=stone)."
    )
    remedy: list[Subgoal] = Field(
        default_factory=list,
        description="What to do first: induced from experience (the action that made the "
        "missing condition true before), never written by a world.",
    )
    remedy_evidence: list[int] = Field(
        default_factory=list, description="Ids of the tuples the remedy was induced from."
    )
    reason: str = ""
    confidence: _Confidence = 0.5
    blocks: int = 0
    violations: int = Field(0, description="Times the forbidden operation later succeeded.")
    evidence: list[int] = Field(default_factory=list)
    version: int = 1
    retired: bool = False

    def applies_now(self, facts: frozenset[str] | set[str]) -> bool:
        """Whether this guardrail forbids its operation in a state with these facts."""
        if self.retired or not all(f in facts for f in self.when):
            return False
        return not (self.unless and all(f in facts for f in self.unless))

    def applies(self, subgoal: Subgoal, facts: frozenset[str] | set[str]) -> bool:
        """Whether this guardrail forbids `subgoal` in a state with these facts."""
        if self.retired or subgoal.key() != self.forbidden:
            return False
        if not all(f in facts for f in self.when):
            return False
        return not (self.unless and all(f in facts for f in self.unless))

    def text(self) -> str:
        cond = f" unless {' & '.join(self.unless)}" if self.unless else ""
        when = f" when {' & '.join(self.when)}" if self.when else ""
        fix = "; ".join(s.text() for s in self.remedy) or "replan"
        return f"do not {self.forbidden}{when}{cond} ({self.root_cause.value}): first {fix}"


class LearnedRecipe(BaseModel):
    """How the agent has seen an item obtained: by an attempt that gained it (`seen="worked"`)
    or by a crafting grid that showed the recipe when ingredients were short (`"shown"`).
    What the `learned` recipe facts in a planner's prompt are made of; never the world's rules."""

    model_config = ConfigDict(extra="forbid")

    item: str
    verb: str = Field(description="craft | smelt | mine | attack | ... (the attempt's verb)")
    source: str = Field(description="The attempt's target: the item, block or mob.")
    makes: int = Field(1, ge=1, description="Items one unit of the attempt gave.")
    inputs: dict[str, int] = Field(default_factory=dict, description="Consumed per unit.")
    station: str | None = Field(None, description="A station the grid asked for.")
    tool: str | None = Field(None, description="What was held when mining it worked.")
    seen: Literal["worked", "shown"] = "worked"
    evidence: list[int] = Field(default_factory=list)

    def names(self) -> set[str]:
        return {self.item, self.source, *self.inputs, *(n for n in (self.station, self.tool) if n)}

    def text(self) -> str:
        """One line in the format of the oracle's recipe facts (so that the two prompts differ
        in where the facts come from, not in how they read)."""
        if self.verb == "craft":
            parts = " + ".join(f"{n} {i}" for i, n in sorted(self.inputs.items()))
            at = f", at a placed {self.station}" if self.station else ""
            return f"{self.item}: craft {self.makes} {self.item} from {parts or 'nothing'}{at}"
        if self.verb == "smelt":
            src = next(iter(sorted(self.inputs)), "?")
            return f"{self.item}: smelt {self.makes} {self.item} from 1 {src} at a placed furnace"
        if self.verb == "mine":
            held = f" with {self.tool} equipped" if self.tool else ""
            return f"{self.item}: mine {self.source}{held}"
        return f"{self.item}: {self.verb} {self.source}"


class RecallItem(BaseModel):
    """One recalled piece of knowledge, with the tuples it came from."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["skill", "guardrail", "summary", "experience", "recipe"]
    id: int
    text: str
    score: float
    evidence: list[int] = Field(default_factory=list)
    source: str = Field(
        "",
        description="Which index found it: goal (tier 3 by the goal and the plan ahead), "
        "signature, spatial, tags, text (tier 1), summary (tier 2) or recipe.",
    )


class Briefing(BaseModel):
    """What recall hands the planner: ranked, token-budgeted, auditable."""

    model_config = ConfigDict(extra="forbid")

    skills: list[Skill] = Field(default_factory=list)
    guardrails: list[Guardrail] = Field(default_factory=list)
    recipes: list[LearnedRecipe] = Field(
        default_factory=list, description="How the goal's items were seen obtained, goal first."
    )
    closed: list[str] = Field(
        default_factory=list,
        description="Operations an active guardrail forbids here outright (no lifting fact): "
        "taken out of the plan grammar, whether or not the guardrail fitted in the prompt.",
    )
    items: list[RecallItem] = Field(default_factory=list)

    def text(self) -> str:
        return "\n".join(f"- {i.text}" for i in self.items)
