"""Methods as configuration: the full method, its baselines and its ablations."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace

from knowledge.recall import INDICES


@dataclass(frozen=True)
class Method:
    """Which parts of the knowledge loop are on."""

    name: str
    memory: bool = True  # anchor tuples and distil at all
    skills: bool = True  # recall and offer skills
    guardrails: bool = True  # distil, recall and enforce guardrails
    inject: bool = True  # put the briefing into the planner's prompt
    recall_each_subgoal: bool = True  # recall again before each subgoal (else once per task)
    binary_diagnosis: bool = False  # diagnosis reduced to success / UNKNOWN
    explore: bool = True  # probe for a missing fact the planner does not find (agent.explore)
    off: frozenset[str] = field(default_factory=frozenset)  # recall's indices left out

    @property
    def indices(self) -> frozenset[str]:
        """The indices recall uses (`knowledge.recall.INDICES`, less those turned off)."""
        return INDICES - self.off


EVOLVING = Method("evolving")
METHODS: dict[str, Method] = {
    "none": Method("none", memory=False, skills=False, guardrails=False, inject=False),
    "static": Method("static", guardrails=False, recall_each_subgoal=False),
    "evolving": EVOLVING,
    "no-guardrails": replace(EVOLVING, name="no-guardrails", guardrails=False),
    "no-skills": replace(EVOLVING, name="no-skills", skills=False),
    "no-injection": replace(EVOLVING, name="no-injection", inject=False),
    "binary-diagnosis": replace(EVOLVING, name="binary-diagnosis", binary_diagnosis=True),
    "no-explore": replace(EVOLVING, name="no-explore", explore=False),
    # one index of the experience space off in recall (and in the decisions it informs)
    "no-signature": replace(EVOLVING, name="no-signature", off=frozenset({"signature"})),
    "no-spatial": replace(EVOLVING, name="no-spatial", off=frozenset({"spatial"})),
    "no-summaries": replace(EVOLVING, name="no-summaries", off=frozenset({"summaries"})),
    "no-episodic": replace(EVOLVING, name="no-episodic", off=frozenset({"episodic"})),
}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        close = difflib.get_close_matches(name, METHODS, n=2)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(f"unknown method {name!r}{hint}; known: {', '.join(METHODS)}") from None
