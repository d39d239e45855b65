"""Co-evolution: the planner (solver) and the experience extractor, each from its own signal.

As in Evolving-RL and Complementary RL, one loop updates both models:

1. **Probe.** The solver plays the task with an empty store; its failed attempts are the
   experience to extract. The probe is also the first run *without* experience.
2. **Extract.** The extractor (`agent.extractor.LLMDistiller`, on its own LoRA policy) writes
   guardrails from those failures `group_size` times, sampled, each into a fresh store.
3. **Judge.** The solver plays the same task and seed once per store, recalling and
   enforcing what was extracted (nothing else is learned during these runs).
4. **Rewards.** The solver's reward is each run's task outcome (shaped, `agent.rl.reward`),
   with the extracted experience in context; the extractor's is the improvement its
   experience brought: the judged run's reward minus the mean of the runs without.
   Both groups get GRPO advantages and both policies take an update in the same step.

A probe that did not fail leaves nothing to extract: that step trains the solver only.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace

from agent.extractor import LLMDistiller
from agent.methods import EVOLVING
from agent.rl.config import TrainConfig
from agent.rl.policy import Policy
from agent.rl.reward import Rollout
from agent.rl.rollout import Keep, play
from knowledge.schema import ExperienceTuple
from knowledge.store import ExperienceStore
from sim.base import World
from sim.schema import Task

# recall, inject and enforce what the store holds; learn nothing while the episode runs
JUDGED = replace(EVOLVING, name="judged", explore=False)  # the guardrails alone, no probing


@dataclass
class CoevolveResult:
    """The solver's group (runs with and without experience) and the extractor's group (one
    sample per extraction, rewarded by the improvement its judged run showed)."""

    solver: list[Rollout]
    extractor: list[Rollout]
    metrics: dict[str, float] = field(default_factory=dict)


def coevolve_step(
    planner: Policy, extractor: Policy, world: World, task: Task, seed: int, cfg: TrainConfig
) -> CoevolveResult:
    co, solve = cfg.coevolve, planner.recorder(cfg.temperature)
    game = (solve, world, task, seed, cfg.planner, cfg.reward)

    def run(store: ExperienceStore | None = None) -> Rollout:
        # without experience: an empty store all the same, so the tuples get ids to cite
        keep, held = Keep(), store if store is not None else ExperienceStore(":memory:")
        try:
            r = play(*game, store=held, method=JUDGED, distiller=keep)
        finally:
            if store is None:
                held.close()
        r.info["tuples"] = keep.tuples
        return r

    without = [run() for _ in range(co.baseline_runs)]
    baseline = statistics.fmean(r.reward for r in without)
    tuples: list[ExperienceTuple] = without[0].info.pop("tuples")
    failed = [t for t in tuples if not t.diagnosis.success][: co.max_failures]
    worked = [t for t in tuples if t.diagnosis.success]
    metrics = {"reward/solver_without": baseline, "coevolve/failures": float(len(failed))}
    if not failed:
        return CoevolveResult(without, [], metrics)
    judged: list[Rollout] = []
    samples: list[Rollout] = []
    for _ in range(co.group_size):
        store = ExperienceStore(":memory:")
        try:
            ids = store.anchor_many(t.model_copy(update={"id": None}) for t in worked + failed)
            write = extractor.recorder(cfg.temperature)
            distiller = LLMDistiller(write, max_tokens=co.max_tokens)
            goal = task.goal.item or task.goal.predicate or ""
            report = distiller.distill(store, store.get_tuples(ids), without[0].success, goal)
            r = run(store)
        finally:
            store.close()
        judged.append(r)
        sample = Rollout(
            task_id=task.id,
            seed=seed,
            turns=write.turns,
            success=r.success,
            steps=r.steps,
            max_subgoals=r.max_subgoals,
            reward=r.reward - baseline,
            info={"guardrails": len(report.guardrails), "fallbacks": distiller.fallbacks},
        )
        samples.append(sample)
    for r in judged + without:
        r.info.pop("tuples", None)
    metrics.update(
        {
            "reward/solver": statistics.fmean(r.reward for r in judged),
            "reward/extractor": statistics.fmean(s.reward for s in samples),
            "success/solver_with": statistics.fmean(float(r.success) for r in judged),
            "success/solver_without": statistics.fmean(float(r.success) for r in without),
            "extractor/guardrails": statistics.fmean(s.info["guardrails"] for s in samples),
            "extractor/fallbacks": statistics.fmean(s.info["fallbacks"] for s in samples),
        }
    )
    return CoevolveResult(judged + without, samples, metrics)
