"""The closed loop of one episode, readable top to bottom like the method's figure:

recall -> plan -> guard -> execute -> diagnose -> anchor -> replan, and distil at the end.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.adapters import TaskAdapter, adapter_for
from agent.diagnosis import History, diagnose
from agent.followed import trace
from agent.llm.base import LLMError
from agent.memory import Memory, map_tag
from agent.methods import Method
from agent.planner.base import Planner, PlanResult
from agent.prompts import clip
from agent.record import (
    EpisodeRecord,
    GuardVerdict,
    MilestoneRecord,
    OutcomeRecord,
    PlanCost,
    PlanRecord,
    TrajectoryLine,
)
from agent.repair import Repairer
from knowledge.distill import Distiller, DistillReport, RuleDistiller
from knowledge.induce import DURABLE, gain_tags
from knowledge.recall import RecallQuery, recall
from knowledge.schema import Briefing, Diagnosis, ExperienceTuple, Guardrail
from knowledge.signature import cell_of, signature
from knowledge.store import ExperienceStore
from sim import events as ev
from sim.base import World
from sim.schema import FailureCause, Goal, Outcome, Subgoal, Task, WorldState

Record = Callable[[TrajectoryLine], None]
RECALL_BUDGET = 600  # tokens
OPS_AHEAD = 4  # operations of the plan ahead whose tier-2 summaries recall shows
REPLY_CHARS = 8000  # of a model's reply kept in the trajectory (a valid plan is far shorter)


EpisodeResult = EpisodeRecord  # what `Episode.run` returns: one line of episodes.jsonl
DEAD_END_REPEATS = 4  # the same failed attempt, in the same state, this many times
SEARCH_EXHAUSTED_REPEATS = 2  # the world's whole search for one target came back empty


@dataclass
class _Play:
    """What one episode carries from step to step."""

    res: EpisodeResult
    state: WorldState
    t0: float
    briefing: Briefing = field(default_factory=Briefing)
    planned: PlanResult = field(default_factory=lambda: PlanResult(subgoals=[]))
    plan: list[Subgoal] = field(default_factory=list)
    pending: PlanResult | None = None  # a plan not yet written to the trajectory
    history: History = field(default_factory=History)
    tuples: list[ExperienceTuple] = field(default_factory=list)
    causes: Counter[str] = field(default_factory=Counter)
    probe: Guardrail | None = None  # a guardrail on probation whose step is let through now

    @property
    def episode_id(self) -> str:
        return self.res.episode_id


@dataclass
class Episode:
    """Everything one episode needs; `run()` plays it. The one way every player makes an
    episode (the runners, the live viewer, RL rollouts, `play_oracle`); the adapter defaults to
    the world's own (`agent.adapters.adapter_for`)."""

    world: World
    task: Task
    seed: int
    planner: Planner
    method: Method
    store: ExperienceStore | None
    run_id: str
    record: Record = lambda _: None
    distiller: Distiller = field(default_factory=RuleDistiller)
    adapter: TaskAdapter = None  # type: ignore[assignment]  # set in __post_init__

    def __post_init__(self) -> None:
        if self.adapter is None:
            self.adapter = adapter_for(self.world, self.task)

    def run(self) -> EpisodeResult:
        """Play the episode: each line of the loop is one step of the method's figure."""
        p = self._start()
        if (why := self._unobtainable()) is not None:  # the world cannot produce the goal
            return self._ended(p, "unobtainable", why)
        try:
            p.briefing = self._recall(p.state)  # recall
            self._plan(p)  # plan
            while self._goes_on(p):
                step = self._next(p)  # the plan's next subgoal, or a fresh plan
                if step is None:
                    continue
                subgoal, rail, outcome = step  # guarded, else executed
                diagnosis = self._diagnose(p, subgoal, outcome)  # diagnose
                tup = self._anchor(p.episode_id, p.res.steps, p.state, subgoal, diagnosis, outcome)
                self._keep_score(p, subgoal, tup, outcome)  # the knowledge used: its ledger
                pre, advanced = self._advance_to(p, tup, outcome)  # and the episode's score
                if self._stops(p, subgoal, diagnosis, outcome, pre):
                    break
                if advanced:  # a milestone (or an item of one) reached: plan for the next
                    p.plan, p.planned = [], PlanResult(subgoals=[])
                    continue
                self._learn_online(p, subgoal, tup, diagnosis)  # constraints, updated now
                self._repair_or_replan(p, subgoal, diagnosis, rail)  # replan
        except LLMError as exc:  # the endpoint is down: this episode errs, the run goes on
            return self._errored(p, str(exc))
        return self._finish(p)

    # ---- the loop's steps -----------------------------------------------------------------
    def _start(self) -> _Play:
        episode_id = f"{self.task.id}__s{self.seed}"
        res = EpisodeResult(
            episode_id=episode_id, task_id=self.task.id, group=self.task.group, seed=self.seed
        )
        self._repairer = Repairer(self.world, self.task, self.method, self._memory())
        self._mem = Memory(self._memory(), self.method, map_tag(self.world.id, self.seed))
        state = self.world.reset(self.task, self.seed)
        self._begin(state)
        return _Play(res=res, state=state, t0=time.perf_counter())

    def _plan(self, p: _Play) -> None:
        """A full plan for the goal in hand (the first, or after the plan ran out)."""
        p.planned = self.planner.plan(self._stage, p.state, self._inject(p.briefing))
        self._took(p, p.planned, p.briefing)
        p.plan, p.pending = list(p.planned.subgoals), p.planned

    def _goes_on(self, p: _Play) -> bool:
        if p.res.ended or p.state.dead or self._done():
            return False
        return p.res.steps < self.task.max_subgoals

    def _next(self, p: _Play) -> tuple[Subgoal, Guardrail | None, Outcome] | None:
        """The next attempt and its outcome: an unusable reply is a diagnosed failure; a plan
        that ran out before the goal is planned afresh (None: nothing attempted, or the
        planner has nothing more to offer, which ends the episode); else the plan's next
        subgoal, recalled for, guarded and, unless a guardrail forbids it, executed."""
        if p.planned.error is not None:
            subgoal = Subgoal(verb="plan", target=self._stage.goal.item or "goal")
            return subgoal, None, self._parse_failure(subgoal, p.state, p.planned.error)
        if not p.plan:
            self._plan(p)
            p.res.replans += 1
            if not p.plan and p.planned.error is None:
                p.res.ended = "no_plan"  # the planner has nothing more to offer
            return None
        subgoal = p.plan.pop(0)
        if self.method.recall_each_subgoal and p.res.steps:
            p.briefing = self._recall(p.state, [subgoal, *p.plan])  # recall before each
        rail = self._guard(subgoal, p.state, p.briefing)  # guard
        if rail is not None and self._mem.probes(rail):  # on probation: this one goes through
            p.probe, rail = rail, None
        if rail is not None:
            p.res.blocked += 1
            return subgoal, rail, self._blocked(subgoal, p.state, rail)
        return subgoal, None, self.world.execute(self._mem.toward(subgoal, p.state))  # execute

    def _diagnose(self, p: _Play, subgoal: Subgoal, outcome: Outcome) -> Diagnosis:
        diagnosis = diagnose(
            p.state,
            subgoal,
            outcome,
            p.history,
            self._stage,
            self.adapter.progress,
            self.world.event_causes(),
        )
        return _binary(diagnosis) if self.method.binary_diagnosis else diagnosis

    def _advance_to(
        self, p: _Play, tup: ExperienceTuple, outcome: Outcome
    ) -> tuple[WorldState, bool]:
        """Keep the attempt (its tuple, its cause, its trajectory line) and move to its post
        state; returns the pre state and whether a milestone (or an item of one) was reached."""
        p.tuples.append(tup)
        p.causes[tup.diagnosis.cause.value] += 1
        line = _trajectory_line(tup, outcome, p.briefing, p.pending)
        line.memory, self._mem.verdicts = self._mem.verdicts, []
        if p.probe is not None:  # let through: no block, the guardrail on probation named
            line.guardrail = GuardVerdict(probe=True, id=p.probe.id, reason=p.probe.text())
            p.probe = None
        p.pending = None
        p.res.steps += 1
        pre, p.state = p.state, outcome.post_state
        advanced = self._advance(p.state)
        line.milestone = self._milestone_line()
        self.record(line)
        return pre, advanced

    def _stops(
        self,
        p: _Play,
        subgoal: Subgoal,
        diagnosis: Diagnosis,
        outcome: Outcome,
        pre: WorldState,
    ) -> bool:
        """Whether the episode ends after this attempt: the goal, death, the tick budget, or
        a dead end (recorded with its reason)."""
        if self._done() or p.state.dead:
            return True
        if p.state.tick >= self.task.max_ticks:  # the world fails every attempt from now on
            p.res.ended = "tick_budget"
            return True
        if (why := self._dead_end(subgoal, diagnosis, outcome, pre)) is not None:
            p.res.ended, p.res.ended_why = "dead_end", why
            return True
        return False

    def _learn_online(
        self, p: _Play, subgoal: Subgoal, tup: ExperienceTuple, diagnosis: Diagnosis
    ) -> None:
        """A failure under a method with guardrails is distilled now, and recall runs again
        so the replan sees the new guardrail."""
        if diagnosis.success or not self._learns_online():
            return
        online = self.distiller.online(self.store, tup)  # type: ignore[arg-type]
        self._account(p.res, online)
        if online.guardrails:
            p.res.online_guardrails += len(online.guardrails)
            p.briefing = self._recall(p.state, [subgoal, *p.plan])

    def _repair_or_replan(
        self, p: _Play, subgoal: Subgoal, diagnosis: Diagnosis, rail: Guardrail | None
    ) -> None:
        """A way to what was missing (memory, else probing) or out of a circle; else, after a
        failure, stagnation or a loop, the planner's replan."""
        repair = self._repairer.after(subgoal, diagnosis, p.state, p.plan, rail)
        if repair is not None:
            p.plan = repair
            self._mem.replaced()
            return
        if diagnosis.success and not diagnosis.stagnation and not diagnosis.loop:
            return
        if p.planned.error is not None:
            p.planned = self.planner.plan(self._stage, p.state, self._inject(p.briefing))
        else:
            # on a deadlock (the same cause three times) the rest of the plan is dropped: a
            # full plan, not a repair, but told of this failure (told an older one, a model
            # answers an older question, in a loop)
            ahead = [] if diagnosis.deadlock else p.plan
            p.planned = self.planner.replan(
                self._stage, p.state, self._inject(p.briefing), subgoal, diagnosis, ahead
            )
        self._took(p, p.planned, p.briefing)
        p.res.replans += 1
        p.plan, p.pending = list(p.planned.subgoals), p.planned

    def _finish(self, p: _Play) -> EpisodeResult:
        """Score the episode and distil what it showed (methods with memory)."""
        res = p.res
        res.success = self._done()
        res.milestones, res.milestones_of = self._reached, len(self._stages)
        res.ended = res.ended or _ending(res, p.state, self.task.max_subgoals)
        res.remedies, res.probes = self._repairer.remedies, self._repairer.probes
        res.ticks = p.state.tick
        res.causes = dict(p.causes)
        res.recalled = len(p.briefing.items)
        self._mem.flush()
        if self.store is not None and self.method.memory:  # distil
            tuples = p.tuples
            if not self.method.guardrails:  # successes only: no failure distillation
                tuples = [t for t in tuples if t.diagnosis.success]
            report = self.distiller.distill(self.store, tuples, res.success, self._goal_name())
            res.distilled = report.as_dict()
            self._account(res, report)
        res.wall_s = round(time.perf_counter() - p.t0, 4)
        if self.store is not None and self.method.memory:
            self.store.record_episode(res.episode_id, self.run_id, self.task.id, res.row())
        return res

    def _errored(self, p: _Play, error: str) -> EpisodeResult:
        """An episode cut short by its planner's backend: marked errored (`--resume` retries
        it), nothing distilled from it; the tuples already anchored stay."""
        res = p.res
        res.error = error
        res.success = False
        res.ended = "error"
        res.ticks = p.state.tick
        res.wall_s = round(time.perf_counter() - p.t0, 4)
        return res

    # ---- the goal and its milestones ------------------------------------------------------
    def _begin(self, state: WorldState) -> None:
        """Start keeping score: the goal's milestones (one for a plain goal), those the start
        already holds marked reached."""
        self._stages = self.task.goal.milestones()
        self._reached = 0
        self._stage = self.task
        self._dead: Counter[tuple[str, ...]] = Counter()
        self._advance(state)

    def _done(self) -> bool:
        return self._reached == len(self._stages)

    def _advance(self, state: WorldState) -> bool:
        """Mark the milestones `state` reaches, in order (the last one is the world's to judge:
        it holds at the end); returns whether the goal the planner works on changed."""
        before = self._stage.goal
        while not self._done():
            last = self._reached == len(self._stages) - 1
            milestone = self._stages[self._reached]
            if not (self.world.goal_reached() if last else milestone.held(state.count)):
                break
            self._reached += 1
        self._stage = self._stage_task(state)
        if self._stage.goal == before:
            return False
        self.adapter = adapter_for(self.world, self._stage)
        self._repairer.task = self._stage
        return True

    def _stage_task(self, state: WorldState) -> Task:
        """The task as the planner sees it: the goal itself, or for a goal of several items
        (`all`, milestones), the first item of the current milestone not yet held."""
        goal = self.task.goal
        if goal.item is not None or goal.predicate is not None:
            return self.task
        milestone = self._stages[min(self._reached, len(self._stages) - 1)]
        wanted = milestone.wanted()
        item = next((i for i, n in wanted.items() if state.count(i) < n), next(iter(wanted)))
        return self.task.model_copy(update={"goal": Goal(item=item, count=wanted[item])})

    def _goal_name(self) -> str:
        """What knowledge is filed under: the item (or predicate) the planner works on."""
        goal = self._stage.goal
        return goal.item or goal.predicate or goal.text()

    def _milestone_line(self) -> MilestoneRecord:
        return MilestoneRecord(
            reached=self._reached,
            of=len(self._stages),
            working_on=self._goal_name() if not self._done() else None,
        )

    # ---- ending early ---------------------------------------------------------------------
    def _unobtainable(self) -> str | None:
        """Why the world cannot produce the goal at all (its recipe graph says so), or None."""
        from agent.feasibility import obstacle

        version = getattr(getattr(self.world, "rules", None), "version", "1.16.5")
        return obstacle(self.world.id, self.task, {"version": version})

    def _dead_end(
        self, subgoal: Subgoal, diagnosis: Diagnosis, outcome: Outcome, pre: WorldState
    ) -> str | None:
        """Why the episode cannot progress, or None: the same attempt failed the same way in the
        same state `DEAD_END_REPEATS` times (nothing it does next tells it anything new), or
        the world's whole search for a target came back empty `SEARCH_EXHAUSTED_REPEATS` times.
        What the agent sees decides, never the world's verdict on the task."""
        if diagnosis.success:
            return None
        cause = diagnosis.cause.value
        if diagnosis.new_cells:  # it went somewhere it had not been: that is new
            return self._searched(outcome, subgoal)
        if any(e.get("event") == ev.SEARCH and e.get("growing") for e in outcome.trace):
            return None  # the target is there, growing: time alone changes this state
        key = ("same", subgoal.key(), cause, pre.inventory_key(), *sorted(self.world.facts(pre)))
        self._dead[key] += 1
        if self._dead[key] >= DEAD_END_REPEATS:
            return (
                f"{subgoal.text()} failed {DEAD_END_REPEATS} times with {cause} in the same "
                "state: nothing new to learn from trying again"
            )
        return self._searched(outcome, subgoal)

    def _searched(self, outcome: Outcome, subgoal: Subgoal) -> str | None:
        for e in outcome.trace:
            if e.get("event") == ev.SEARCH and e.get("exhausted") and not e.get("found", True):
                target = str(e.get("target", subgoal.target))
                self._dead["search", target] += 1
                if self._dead["search", target] >= SEARCH_EXHAUSTED_REPEATS:
                    return (
                        f"no {target} found after the world's whole search, "
                        f"{SEARCH_EXHAUSTED_REPEATS} times"
                    )
        return None

    def _ended(self, p: _Play, ended: str, why: str) -> EpisodeResult:
        """An episode that ends before its first step, with the reason."""
        p.res.ended, p.res.ended_why = ended, why
        p.res.milestones_of = len(self._stages)
        p.res.ticks = p.state.tick
        p.res.wall_s = round(time.perf_counter() - p.t0, 4)
        return p.res

    # ---- the steps ------------------------------------------------------------------------
    def _memory(self) -> ExperienceStore | None:
        return self.store if self.method.memory else None

    def _recall(self, state: WorldState, ahead: list[Subgoal] | None = None) -> Briefing:
        """Knowledge for the task and for the subgoals ahead (what the plan will do next is
        relevant even where the goal's requirement tree does not name it, e.g. a sword), and
        the recipes the agent has seen for the goal. The goal's requirement tree counts as
        relevant only for a planner that was given the world's recipe book."""
        if self.store is None or not self.method.memory:
            return Briefing()
        kinds = {
            k
            for k, on in (
                ("skill", self.method.skills),
                ("guardrail", self.method.guardrails),
                ("recipe", self.method.skills or self.method.guardrails),
            )
            if on
        }
        if getattr(self.planner, "oracle", True):  # told the world's recipe book
            targets = tuple(dict.fromkeys(s.target for s in ahead or []))
            known = self.adapter.relevant() | set(targets)
        else:  # what this episode found missing; the rest is what the recipes seen name
            targets = tuple(reversed(self._repairer.wanted[-4:]))
            known = frozenset(targets)
        nxt = ahead[0] if ahead else None
        query = RecallQuery(
            goal=self._goal_name(),
            facts=self.world.facts(state),
            relevant=frozenset(known),
            kinds=frozenset(kinds),
            also=targets,
            # the indices over past attempts: this state's signature, this place on this map,
            # the goal's and the next step's tags, the next step's text
            cell=cell_of(state.position),
            place=self._mem.map,
            tags=frozenset(
                t for t in (self._goal_name(), self.task.group, nxt and nxt.target) if t
            ),
            text=nxt.text() if nxt is not None else self.task.instruction,
            ops=tuple(s.key() for s in (ahead or [])[:OPS_AHEAD]),
            indices=self.method.indices,
        )
        return recall(self.store, query, RECALL_BUDGET)

    def _learns_online(self) -> bool:
        return self.store is not None and self.method.memory and self.method.guardrails

    def _inject(self, briefing: Briefing) -> Briefing:
        return briefing if self.method.inject else Briefing()

    def _guard(self, subgoal: Subgoal, state: WorldState, briefing: Briefing) -> Guardrail | None:
        """The active guardrail that forbids this subgoal here: from the briefing, else from
        the store (enforcement does not depend on what fitted in the prompt's budget)."""
        if not self.method.guardrails:
            return None
        facts = self.world.facts(state)
        found = next((g for g in briefing.guardrails if g.applies(subgoal, facts)), None)
        if found is None and self.store is not None and self.method.memory:
            goal = self._goal_name()
            found = next(
                (
                    g
                    for g in self.store.guardrails_for(subgoal.key())
                    if (g.scope == "subgoal" or g.task_goal == goal) and g.applies(subgoal, facts)
                ),
                None,
            )
        return found

    def _blocked(self, subgoal: Subgoal, state: WorldState, rail: Guardrail) -> Outcome:
        event: dict[str, Any] = {
            "event": ev.BLOCKED,
            "cause": FailureCause.BLOCKED_BY_GUARDRAIL.value,
            "message": f"guardrail {rail.id}: {rail.text()}",
            "guardrail": rail.id,
        }
        if rail.unless:
            event["needs"] = rail.unless[0]
        elif rail.when:
            event["context"] = rail.when[0]
        if rail.remedy:
            r = rail.remedy[0]
            event["remedy"] = {"verb": r.verb, "target": r.target, "count": r.count}
        return Outcome(
            subgoal=subgoal,
            success=False,
            cause=FailureCause.BLOCKED_BY_GUARDRAIL,
            message=event["message"],
            post_state=state,
            trace=[event],
        )

    def _parse_failure(self, subgoal: Subgoal, state: WorldState, error: str) -> Outcome:
        trace: list[dict[str, Any]] = [
            {"event": ev.PARSE_FAIL, "error": error},
            {"event": ev.FAIL, "cause": FailureCause.PLAN_PARSE_FAIL.value, "message": error},
        ]
        return Outcome(
            subgoal=subgoal,
            success=False,
            cause=FailureCause.PLAN_PARSE_FAIL,
            message=error,
            post_state=state,
            trace=trace,
        )

    def _anchor(
        self,
        episode_id: str,
        step: int,
        pre: WorldState,
        subgoal: Subgoal,
        diagnosis: Diagnosis,
        outcome: Outcome,
    ) -> ExperienceTuple:
        facts = sorted(self.world.facts(pre))
        after = self.world.facts(outcome.post_state)
        # what the attempt made true (remedies are induced from these), and the tools it got
        tags = gain_tags(facts, after) + [
            f"{DURABLE}{i}" for i in diagnosis.diff.gained if i in outcome.post_state.durability
        ]
        tup = ExperienceTuple(
            run_id=self.run_id,
            episode_id=episode_id,
            task_id=self.task.id,
            task_goal=self._goal_name(),
            task_family=self.task.group,
            step=step,
            pre_state=pre,
            action=subgoal,
            diagnosis=diagnosis,
            post_state=outcome.post_state,
            facts=facts,
            signature=signature(facts),
            tags=[
                subgoal.verb,
                subgoal.target,
                diagnosis.cause.value,
                self.task.group,
                self._mem.map,
                *tags,
            ],
        )
        if self.store is not None and self.method.memory:
            self.store.anchor(tup)
        return tup

    def _took(self, p: _Play, planned: PlanResult, briefing: Briefing) -> None:
        """Account a plan, and note which of the items it was shown it followed."""
        self._account(p.res, planned)
        shown = self._inject(briefing)
        planned.followed = trace(shown, planned.subgoals, planned.notes)
        self._mem.planned(planned, shown, p.state)

    def _keep_score(
        self, p: _Play, subgoal: Subgoal, tup: ExperienceTuple, outcome: Outcome
    ) -> None:
        """The ledger of the knowledge this attempt was made with, a probe's verdict, a
        skill's check once its steps have run; written to the store now."""
        self._mem.recalled(p.briefing)
        self._mem.attempted(subgoal, tup.diagnosis.success, outcome.post_state)
        if p.probe is not None:
            self._mem.probed(p.probe, tup)
        self._mem.flush()

    @staticmethod
    def _account(res: EpisodeResult, planned: PlanResult | DistillReport) -> None:
        res.llm_calls += planned.llm_calls
        res.prompt_tokens += planned.prompt_tokens
        res.completion_tokens += planned.completion_tokens
        res.llm_latency_s = round(res.llm_latency_s + planned.latency_s, 4)


def play_oracle(
    world: World, task: Task, seed: int, run_id: str = "oracle"
) -> tuple[EpisodeResult, list[TrajectoryLine]]:
    """One episode with the symbolic planner and no memory, and its trajectory lines: what
    the world's own tests and success-rate benchmarks measure."""
    from agent.methods import METHODS
    from agent.planner.symbolic import SymbolicPlanner

    lines: list[TrajectoryLine] = []
    episode = Episode(
        world=world,
        task=task,
        seed=seed,
        planner=SymbolicPlanner(),
        method=METHODS["none"],
        store=None,
        run_id=run_id,
        record=lines.append,
    )
    return episode.run(), lines


def _ending(res: EpisodeResult, state: WorldState, max_subgoals: int) -> str:
    if res.success:
        return "goal"
    if state.dead:
        return "died"
    return "subgoal_budget" if res.steps >= max_subgoals else "no_plan"


def _binary(d: Diagnosis) -> Diagnosis:
    """The ablation: only success or failure survives."""
    cause = FailureCause.NONE if d.success else FailureCause.UNKNOWN
    return Diagnosis(success=d.success, cause=cause, diff=d.diff, budget_used=d.budget_used)


def _trajectory_line(
    tup: ExperienceTuple, outcome: Outcome, briefing: Briefing, planned: PlanResult | None
) -> TrajectoryLine:
    blocked = next((e for e in outcome.trace if e.get("event") == ev.BLOCKED), None)
    plan = None
    if planned is not None:
        # the plan once, on the line of its first step (later lines are its next steps, in
        # order, until a line carries the next plan); a reply is clipped as a prompt's values
        # are: a server that ignores the schema must not fill the disk
        plan = PlanRecord(
            subgoals=[s.text() for s in planned.subgoals],
            prompt=planned.prompt,
            reply=clip(planned.reply, REPLY_CHARS) if planned.reply is not None else None,
            error=planned.error,
            notes=planned.notes,
            followed=planned.followed,  # each item shown: did the plan do what it said
            llm=PlanCost(
                calls=planned.llm_calls,
                prompt_tokens=planned.prompt_tokens,
                completion_tokens=planned.completion_tokens,
                latency_s=planned.latency_s,
            )
            if planned.llm_calls
            else None,  # what this plan cost (the episode's totals are in its row)
        )
    return TrajectoryLine(
        tuple_id=tup.id,
        step=tup.step,
        subgoal=tup.action,
        pre_state=tup.pre_state,
        facts=tup.facts,
        recalled=list(briefing.items),
        guardrail=GuardVerdict(
            blocked=True, id=blocked.get("guardrail"), reason=blocked.get("message")
        )
        if blocked is not None
        else GuardVerdict(),
        outcome=OutcomeRecord(
            success=outcome.success,
            cause=outcome.cause,
            message=outcome.message,
            ticks=outcome.ticks,
            steps=outcome.steps,
            trace=outcome.trace,
        ),
        diagnosis=tup.diagnosis,
        post_state=tup.post_state,
        plan=plan,
    )
