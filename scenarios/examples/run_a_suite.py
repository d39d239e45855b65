"""Run a suite, then read what the agent learned.

    python scenarios/examples/run_a_suite.py [--out DIR]

Runs the shipped Wooden suite (11 tasks, seed 0) with the full method (`evolving`) and the
symbolic planner, which needs no model: swap in `planner="local"` for the bundled LLM (after
`make install-llm`) or `planner="openai"` with `model=` and `base_url=` for a served one.

Everything the run did is in its run directory: `config.yaml` (enough to repeat it),
`episodes.jsonl` (one line per episode), `trajectory/*.jsonl` (one line per subgoal attempt)
and `knowledge.sqlite` (the experience store). The same from the shell:

    steve run wooden --seeds 0
    steve knowledge show runs/<run>/knowledge.sqlite
"""

from __future__ import annotations

import argparse

from agent.runner import RunConfig, run_suite
from knowledge.store import ExperienceStore
from scenarios.loader import resolve_suite


def main(out: str = "runs") -> None:
    cfg = RunConfig(suite=str(resolve_suite("wooden")), method="evolving", seeds=[0], out=out)
    result = run_suite(cfg)
    for r in result.episodes:
        print(f"{r.task_id:<24} {'ok' if r.success else 'failed':<7} {r.steps:>3} subgoals")
    wins = sum(r.success for r in result.episodes)
    print(f"success {wins}/{len(result.episodes)}; run directory {result.run_dir}")

    store = ExperienceStore(result.run_dir / "knowledge.sqlite")
    try:
        for skill in store.skills()[:5]:  # each skill names the tuples it came from
            print(f"{skill.text()}  evidence {skill.evidence[:5]}")
    finally:
        store.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs")
    main(ap.parse_args().out)
