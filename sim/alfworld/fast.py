"""TextWorld's PDDL environment, made cheaper to load, reset and step without changing what it
says (`benchmarks/alfworld_bench.py` checks the transcripts are identical and times each part).

- **Grammar parsed once.** A game's grammar is ALFWorld's bundled one with its task line
  filled in (`add_task_to_grammar`); that grammar is parsed once and each game gets a copy
  with its own task rule (`game_logic`). Any other grammar is parsed whole, once per text.
- **Translation once per problem.** TextWorld translates the PDDL problem to fast-downward's
  SAS form when a game is loaded and again on every reset; a problem's translation is kept
  (`translate`: in memory, and on disk as SAS text when given a folder), and a reset right
  after a load reuses the state the load built.
- **The planner's translation only when planning.** Every state also builds an optimised
  translation for the expert planner (as long again); `LazyState` builds it the first time a
  plan is asked for.
- **Templates and conditions parsed once** (`speedups(parse=True)`). Each step derives the
  text of every applicable command from grammar templates and conditions, and TextWorld
  parses each one anew every time; their parses are kept (and copied where derivation
  changes them).
- **Contexts copied shallowly** (`speedups(context=True)`). Each derivation deep-copies its
  context's variables; only the dicts are ever changed, never their values.

The last two replace functions of TextWorld's modules, so they are process-wide switches.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import re
import sys
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import fast_downward
import textworld
import textworld.envs.pddl.pddl as tw_pddl
import textworld.envs.pddl.textgen as tw_textgen
from textworld.core import GameState
from textworld.envs.pddl import logic as pddl_logic
from textworld.logic import Proposition, Rule, Variable

KEEP = 8  # translations kept (a few games' worth)
_TRANSLATIONS: OrderedDict[tuple[str, str, bool], tuple[Any, str]] = OrderedDict()
_LOGICS: OrderedDict[tuple[str, str], Any] = OrderedDict()
_TASK_LINE = re.compile(r'"rhs": "Your task is to: (.*?)\."')
_PLACEHOLDER = "UNKNOWN GOAL"

_ORIGINAL_PARSE = tw_textgen._parse_and_convert
_ORIGINAL_QUERY = Rule.__dict__["parse_conjunctive_query"]
_ORIGINAL_COPY = tw_textgen.copy_context
_PARSES: dict[tuple[str, str], Any] = {}


@contextmanager
def argv_kept() -> Iterator[None]:
    """fast-downward's translator overwrites `sys.argv`; put it back."""
    saved = list(sys.argv)
    try:
        yield
    finally:
        sys.argv[:] = saved


def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    cache[key] = value
    while len(cache) > KEEP:
        cache.popitem(last=False)


def translate(
    domain: str, problem: str, optimize: bool, store: Path | None = None
) -> tuple[Any, str]:
    """fast-downward's translation of a problem: the parsed task and its SAS text. Kept in
    memory for the last few problems and, with `store`, on disk as SAS text (the task itself
    is parsed again, which takes milliseconds: the grounding is what costs)."""
    key = (domain, problem, optimize)
    hit = _TRANSLATIONS.get(key)
    if hit is not None:
        _TRANSLATIONS.move_to_end(key)
        return hit
    path = None
    if store is not None:
        digest = hashlib.sha256(f"{domain}\0{problem}".encode()).hexdigest()[:32]
        path = store / f"{digest}{'.opt' if optimize else ''}.sas"
    if path is not None and path.exists():
        hit = (_parse_task(domain, problem), path.read_text())
    else:
        with argv_kept():
            hit = fast_downward.pddl2sas(domain, problem, optimize=optimize)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(hit[1])
            tmp.replace(path)
    _remember(_TRANSLATIONS, key, hit)
    return hit


def _parse_task(domain: str, problem: str) -> Any:
    """The task as `fast_downward.pddl2sas` returns it, without the translation."""
    with argv_kept():
        sys.argv = ["translate.py", "domain", "task"]  # its options module parses argv
        from fast_downward.translate import normalize
        from fast_downward.translate.pddl_parser import lisp_parser, parsing_functions

        task = parsing_functions.parse_task(
            lisp_parser.parse_nested_list(domain.split("\n")),
            lisp_parser.parse_nested_list(problem.split("\n")),
        )
        normalize.normalize(task)
    return task


def _parsed_logic(domain: str, grammar: str) -> Any:
    key = (domain, grammar)
    logic = _LOGICS.get(key)
    if logic is None:
        with argv_kept():
            logic = pddl_logic.GameLogic(domain=domain, grammar=grammar)
        _remember(_LOGICS, key, logic)
    return logic


@functools.cache
def _bundled_grammar() -> str:
    from alfworld.info import ALFRED_TWL2_PATH

    return Path(ALFRED_TWL2_PATH).read_text()


def clear_caches() -> None:
    """Forget the translations, game logics and bundled grammar kept in memory, as a fresh
    process starts (the translations on disk stay): for timing a first reset."""
    _TRANSLATIONS.clear()
    _LOGICS.clear()
    _bundled_grammar.cache_clear()


def game_logic(domain: str, grammar: str) -> Any:
    """The game logic (domain and grammar, parsed): a copy of the bundled grammar's with this
    game's task rule, or (for any other grammar) a parse of its own."""
    template = _bundled_grammar()
    m = _TASK_LINE.search(grammar)
    if m is None or template.replace(_PLACEHOLDER, m.group(1)) != grammar:
        return _parsed_logic(domain, grammar)
    base = _parsed_logic(domain, template)
    logic = copy.copy(base)
    logic.grammar = tw_textgen.ContextSensitiveGrammar()
    logic.grammar.update(base.grammar)
    task = json.loads(f'"Your task is to: {m.group(1)}."')
    rhs = _ORIGINAL_PARSE(task, rule_name="symbols")
    logic.grammar._rules["task"] = [tw_textgen.ProductionRule(lhs="task", rhs=rhs)]
    return logic


class LazyState(pddl_logic.PddlState):
    """TextWorld 1.7's `PddlState`, its translation kept per problem and the planner's
    optimised translation deferred to the first `replan` (this constructor is TextWorld's,
    less that translation)."""

    def __init__(
        self, downward_lib: Any, pddl_problem: str, logic: Any, store: Path | None = None
    ) -> None:
        self._store = store
        self._facts: defaultdict[str, set[Any]] = defaultdict(set)
        self._vars_by_name: dict[str, Any] = {}
        self._vars_by_type: defaultdict[str, set[Any]] = defaultdict(set)
        self._var_counts: Counter[Any] = Counter()
        self._logic = logic
        self.downward_lib = downward_lib
        self.pddl_problem = pddl_problem
        self._replan_loaded = False
        self.task, self.sas = translate(logic.domain, pddl_problem, False, store)
        self._actions = {a.name: a for a in self.task.actions}
        for type_ in self.task.types:
            with suppress(ValueError):  # already known
                self._logic.types.add(textworld.logic.Type(type_.name, type_.supertype_names))
        self.downward_lib.load_sas(self.sas.encode("utf-8"))
        self.name2type = {o.name: o.type_name for o in self.task.objects}
        facts = [_atom2proposition(atom, self.name2type) for atom in self.task.init]
        self.add_facts([f for f in facts if f is not None])
        atoms = (pddl_logic.Atom * self.downward_lib.get_state_size())()
        self.downward_lib.get_state(atoms)
        state = [atom.get_fact(self.name2type) for atom in atoms]
        self.add_facts([f for f in state if not f.is_negation])

    def replan(self, infos: Any) -> list[str]:
        if not self._replan_loaded:
            _, sas_replan = translate(self._logic.domain, self.pddl_problem, True, self._store)
            self.downward_lib.load_sas_replan(sas_replan.encode("utf-8"))
            self._replan_loaded = True
        with argv_kept():
            plan: list[str] = super().replan(infos)
        return plan


def _atom2proposition(atom: Any, name2type: dict[str, str]) -> Proposition | None:
    """TextWorld's conversion of an initial-state atom to a fact (None for costs, distances)."""
    tr = fast_downward.translate
    if isinstance(atom, tr.pddl.conditions.Atom):
        if atom.predicate == "=":
            return None
        return Proposition(atom.predicate, [Variable(a, name2type[a]) for a in atom.args])
    if isinstance(atom, tr.pddl.f_expression.Assign):
        if atom.fluent.symbol == "total-cost":
            return None
        name = f"{atom.expression.value}"
        if str.isdigit(name):
            return None
        return Proposition(name, [Variable(a, name2type[a]) for a in atom.fluent.args])
    return None


class FastPddlEnv(tw_pddl.PddlEnv):
    """TextWorld's `PddlEnv` (load and reset are its own, with the savings above);
    `sas_store` is a folder where translations are kept across processes."""

    sas_store: Path | None = None

    def load(self, filename_or_data: Any) -> None:
        if isinstance(filename_or_data, dict):
            data, self._game_file = filename_or_data, None
        else:
            data = json.loads(Path(filename_or_data).read_text())
            self._game_file = filename_or_data
        self._game_data = data
        self.walkthrough = data.get("walkthrough", None)
        self._logic = game_logic(data["pddl_domain"], data["grammar"])
        self._pddl_state = LazyState(
            self.downward_lib, data["pddl_problem"], self._logic, self.sas_store
        )
        self._entity_infos = self._get_entity_infos()
        self._fresh = True

    def reset(self) -> Any:
        if not getattr(self, "_fresh", False):
            problem = self._game_data["pddl_problem"]
            self._pddl_state = LazyState(self.downward_lib, problem, self._logic, self.sas_store)
        self._fresh = False
        self.prev_state = None
        self.state = GameState()
        self._last_action = None
        self._moves = 0
        context = {
            "state": self._pddl_state,
            "facts": list(self._pddl_state.facts),
            "variables": {},
            "mapping": {},
            "entity_infos": self._entity_infos,
        }
        self.state.feedback = self._logic.grammar.derive("#intro#", context)
        self.state.raw = self.state.feedback
        self._gather_infos()
        if "walkthrough" in self.request_infos.extras:
            self.state["extra.walkthrough"] = self.walkthrough or self._pddl_state.replan(
                self._entity_infos
            )
        return self.state

    def step(self, command: str) -> Any:
        self._fresh = False
        return super().step(command)


# ---- process-wide switches ------------------------------------------------------------------
def _cached_parse(text: str, **kwargs: Any) -> Any:
    if kwargs.get("trace"):
        return _ORIGINAL_PARSE(text, **kwargs)
    key = (text, str(kwargs.get("rule_name")))
    parsed = _PARSES.get(key)
    if parsed is None:
        parsed = _PARSES[key] = _ORIGINAL_PARSE(text, **kwargs)
    # derivation sets each symbol's context: hand out a copy, keep the parse pristine
    return copy.deepcopy(parsed)


@functools.cache
def _cached_query(expr: str) -> Any:
    return _ORIGINAL_QUERY.__func__(Rule, expr)


def _query(cls: Any, expr: str) -> Any:
    return _cached_query(expr)


def _shallow_context(context: dict[str, Any]) -> dict[str, Any]:
    return {
        "state": context["state"],
        "facts": context["facts"],
        "variables": dict(context["variables"]),
        "mapping": dict(context["mapping"]),
        "entity_infos": context["entity_infos"],
    }


def speedups(parse: bool = True, context: bool = True) -> None:
    """Turn the parse cache and the shallow context copies on or off (for the whole process:
    they replace TextWorld module functions)."""
    tw_textgen._parse_and_convert = _cached_parse if parse else _ORIGINAL_PARSE
    Rule.parse_conjunctive_query = classmethod(_query) if parse else _ORIGINAL_QUERY
    tw_textgen.copy_context = _shallow_context if context else _ORIGINAL_COPY


def speedups_on() -> dict[str, bool]:
    return {
        "parse": tw_textgen._parse_and_convert is _cached_parse,
        "context": tw_textgen.copy_context is _shallow_context,
    }
