"""Does experience stand in for the recipe book? The issue-26 measurement, with a real model.

Each part plays one experience stream per method, every method from an empty store, through
`steve eval`, and prints success over the stream's second half, subgoals per success, LLM
calls per episode, and the failure modes the baseline kept repeating that evolving stopped.

- `model` (the headline): the bundled SmolLM2-135M (`--planner local`) with `learned` recipe
  facts, methods none, static and evolving, on the Wooden and Stone groups of `techtree`
  (21 tasks) once per seed; then `none` again with the `oracle` recipe facts (the world's
  recipe book: help given, labelled so). Experience stands in for the book when evolving on
  learned recipes comes near none on the oracle's.
- `fallible`: the same comparison for the `fallible` fixture (the symbolic planner with seeded
  misbeliefs; it measures the loop's mechanics, not a model) on Wooden, Stone and Iron.
- `household`: the bundled model on `alfworld_seen`, then `alfworld_unseen` starting from the
  store each method grew on seen (needs `make install-alfworld`).

    python benchmarks/experience.py               # the model part (23 min on 2 quiet cores)
    python benchmarks/experience.py --part fallible --draws 0,1,2
    python benchmarks/experience.py --part household --household-tasks 12

Run it on a quiet machine if timings matter (llama.cpp's threads spin: another busy process
slows every plan call); the success figures do not depend on timing (greedy decoding).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

from agent.evaluate import EvalConfig, EvalResult, Row, evaluate

TECHTREE = "scenarios/suites/techtree.yaml"
SEEN = "scenarios/suites/alfworld/alfworld_seen.yaml"
UNSEEN = "scenarios/suites/alfworld/alfworld_unseen.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--part", default="model", choices=["model", "fallible", "household"])
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--groups", default=None, help="default: wooden,stone (fallible: +iron)")
    ap.add_argument("--tasks", default=None, help="comma-separated task ids (default: all)")
    ap.add_argument("--methods", default="none,static,evolving")
    ap.add_argument("--planner", default="local", help="model part: the LLM backend")
    ap.add_argument("--model", default=None)
    ap.add_argument("--no-oracle", action="store_true", help="model part: skip none+oracle")
    ap.add_argument("--draws", default="0,1,2", help="fallible part: misbelief seeds")
    ap.add_argument("--household-tasks", type=int, default=12, help="per split (0: all 60)")
    ap.add_argument("--out", default="reports/experience")
    args = ap.parse_args()
    print(f"# python benchmarks/experience.py {' '.join(sys.argv[1:])}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.1f}")
    {"model": model, "fallible": fallible, "household": household}[args.part](args)


def _csv(text: str | None) -> list[str] | None:
    return [t for t in text.split(",") if t] if text else None


def model(args: argparse.Namespace) -> None:
    """The bundled model on learned recipes, for each method; then none on the oracle's."""
    common = {
        "suite": TECHTREE,
        "planner": args.planner,
        "seeds": [int(s) for s in args.seeds.split(",")],
        "groups": _csv(args.groups) or ["wooden", "stone"],
        "tasks": _csv(args.tasks),
        "model": args.model,
        "out": args.out,
    }
    stamp = time.strftime("%Y%m%d-%H%M%S")
    learned = evaluate(
        EvalConfig(
            **common,
            methods=args.methods.split(","),
            name=f"learned__{stamp}",
            extra={"planner": {"recipes": "learned"}},
        )
    )
    results = {f"{m} (learned)": rows for m, rows in learned.rows.items()}
    if not args.no_oracle:
        oracle = evaluate(
            EvalConfig(
                **common,
                methods=["none"],
                name=f"oracle__{stamp}",
                extra={"planner": {"recipes": "oracle"}},
            )
        )
        results["none (oracle recipes: help given)"] = oracle.rows["none"]
    _table(results)
    _modes(learned, "none", "evolving")
    _modes(learned, "static", "evolving")
    print(f"reports: {learned.report_dir}" + ("" if args.no_oracle else f", {oracle.report_dir}"))


def fallible(args: argparse.Namespace) -> None:
    """The fixture with remedies gone: three misbelief draws by default."""
    for draw in [int(d) for d in args.draws.split(",")]:
        result = evaluate(
            EvalConfig(
                suite=TECHTREE,
                methods=args.methods.split(","),
                planner="fallible",
                seeds=[int(s) for s in args.seeds.split(",")],
                groups=_csv(args.groups) or ["wooden", "stone", "iron"],
                tasks=_csv(args.tasks),
                out=args.out,
                name=f"fallible__draw{draw}__{time.strftime('%Y%m%d-%H%M%S')}",
                extra={"misbeliefs": {"seed": draw}},
            )
        )
        print(f"\n## fallible (a fixture, not a model), misbelief draw {draw}")
        _table(result.rows)
        _modes(result, "none", "evolving")
        print(f"report: {result.report_dir}")


def household(args: argparse.Namespace) -> None:
    """Seen then unseen household tasks; each method carries its store from seen to unseen."""
    from scenarios.loader import load_suite

    n = args.household_tasks
    seeds = [int(s) for s in args.seeds.split(",")][:1]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out)
    rows: dict[str, list[Row]] = {}
    for method in args.methods.split(","):
        store: str | None = None
        for split, path in (("seen", SEEN), ("unseen", UNSEEN)):
            tasks = [task.id for task, _ in load_suite(path).to_tasks()]
            picked = _spread(tasks, n) if n else None
            result = evaluate(
                EvalConfig(
                    suite=path,
                    methods=[method],
                    planner=args.planner,
                    seeds=seeds,
                    tasks=picked,
                    out=str(out),
                    name=f"household__{method}__{split}__{stamp}",
                    knowledge=store,
                    model=args.model,
                )
            )
            rows.setdefault(f"{method} {split}", []).extend(result.rows[method])
            grown = result.report_dir / "runs" / method / "knowledge.sqlite"
            if method != "none" and grown.exists():
                store = str(out / f"household__{method}__{stamp}.sqlite")
                shutil.copy(grown, store)
    _table(rows, half=False)


def _spread(ids: list[str], n: int) -> list[str]:
    """n task ids spread evenly over the suite (its task types come in blocks)."""
    step = max(1, len(ids) // n)
    return ids[::step][:n]


def _table(results: dict[str, list[Row]], half: bool = True) -> None:
    head = f"{'method':<36} {'episodes':>8} {'all':>6} {'2nd half':>9} {'subgoals/success':>17}"
    print("\n" + head + f" {'ticks/success':>14} {'LLM calls/ep':>13} {'errored':>8}")
    for name, rows in results.items():
        late = rows[len(rows) // 2 :] if half else rows
        wins = [r for r in rows if r.success]
        per_success = sum(r.steps for r in wins) / len(wins) if wins else float("nan")
        ticks = sum(r.ticks for r in wins) / len(wins) if wins else float("nan")
        calls = sum(r.llm_calls for r in rows) / max(1, len(rows))
        print(
            f"{name:<36} {len(rows):>8} {_pct(rows):>6} {_pct(late):>9} {per_success:>17.1f}"
            f" {ticks:>14.0f} {calls:>13.1f} {sum(bool(r.error) for r in rows):>8}"
        )


def _pct(rows: list[Row]) -> str:
    return f"{100 * sum(r.success for r in rows) / len(rows):.0f}%" if rows else "-"


def _modes(result: EvalResult, base: str, better: str) -> None:
    """The failure modes `base` kept repeating in the second half that `better` never made."""
    if base not in result.modes or better not in result.modes:
        return
    kept: Counter[str] = result.modes[base]
    gone = [(m, n) for m, n in kept.most_common() if n >= 3 and result.modes[better][m] == 0]
    shown = ", ".join(f"{m} x{n}" for m, n in gone[:5]) or "none"
    print(f"{base} kept repeating, {better} never (2nd half): {shown}")


if __name__ == "__main__":
    main()
