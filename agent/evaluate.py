"""Evaluation: methods side by side over the same experience stream, written up as a report.

reports/<name>/
    eval.yaml             the evaluation's configuration (enough to repeat it)
    runs/<method>/        one run directory per method (see `agent.runner`), resumable
    episodes.csv          one row per episode and method, in stream order
    summary.csv           success per method and group/split, with 95% intervals
    curve.csv, curve.png  the learning curve: rolling success over the stream
    groups.png            success per group, methods side by side
    report.md             all of it, with the failure modes each method kept repeating

Each method starts from an empty store (or the same `knowledge` pack copied per method), so
the methods see the same tasks in the same order and differ only in what they learn.
"""

from __future__ import annotations

import csv
import math
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from agent.loop import EpisodeResult
from agent.methods import get_method
from agent.record import EARLY_ENDINGS, read_episodes, read_trajectory
from agent.runner import (
    PLANNER_KINDS,
    RunConfig,
    check_config,
    help_given,
    recipes_of,
    run_suite,
    stream,
)
from scenarios.loader import load_suite

TAIL = 20  # the final rates compare the last TAIL episodes of the stream
WINDOW = 10  # the learning curve's rolling window
# said in every report of the symbolic planner, lest its 100% be read as the method's result
SYMBOLIC_NOTE = (
    "- **the symbolic planner never errs** (an oracle with the world's recipe book): memory"
    " has nothing to correct, so the methods cannot differ here. This checks the loop's"
    " mechanics; evidence for the method needs an LLM planner (`fallible` seeds mistakes)."
)


@dataclass
class EvalConfig:
    """What to compare, and on which stream; saved as eval.yaml."""

    suite: str
    methods: list[str] = field(default_factory=lambda: ["none", "static", "evolving"])
    planner: str = "symbolic"
    seeds: list[int] | None = None
    tasks: list[str] | None = None
    groups: list[str] | None = None
    order: str = "seed"  # the suite once per seed: a curriculum, repeated
    out: str = "reports"
    name: str | None = None
    knowledge: str | None = None  # a pack or store every method starts from (copied)
    model: str | None = None
    base_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    batch: int = 1  # episodes side by side, their LLM calls batched (RunConfig.batch)
    tail: int = TAIL
    window: int = WINDOW


@dataclass
class Row:
    """One episode of one method, in stream order."""

    method: str
    index: int
    task_id: str
    group: str
    split: str
    seed: int
    success: bool
    steps: int
    ticks: int
    replans: int
    blocked: int
    llm_calls: int
    tokens: int
    llm_s: float
    wall_s: float
    error: str
    top_cause: str
    milestones: int = 0  # reached, in order (a plain goal is one milestone)
    milestones_of: int = 1
    ended: str = ""  # why the episode stopped (agent.record.ENDINGS); empty in older runs


@dataclass
class EvalResult:
    report_dir: Path
    rows: dict[str, list[Row]]
    tail: dict[str, float]
    modes: dict[str, Counter[str]]
    stopped: str | None = None  # why a method's run stopped early (the later methods never ran)

    @property
    def errored(self) -> int:
        return sum(bool(r.error) for rows in self.rows.values() for r in rows)


def evaluate(
    cfg: EvalConfig,
    resume: str | Path | None = None,
    on_episode: Callable[[str, EpisodeResult, int, int], None] | None = None,
) -> EvalResult:
    """Run every method over the stream (only what is unfinished, with `resume`), then write
    the report from what is on disk. A method's run that stops early (its endpoint errs
    episode after episode) stops the evaluation there; `resume` goes on from it."""
    if resume is not None:
        report_dir = Path(resume)
        saved = yaml.safe_load((report_dir / "eval.yaml").read_text())
        cfg = EvalConfig(**{k: saved[k] for k in EvalConfig.__dataclass_fields__ if k in saved})
    check_eval(cfg, new=resume is None)
    if resume is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = cfg.name or f"{Path(cfg.suite).stem}__{cfg.planner}__{stamp}"
        report_dir = Path(cfg.out) / name
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / "eval.yaml").write_text(yaml.safe_dump(asdict(cfg), sort_keys=False))
    for n, method in enumerate(cfg.methods):
        run_dir = report_dir / "runs" / method
        store = None
        if cfg.knowledge:  # each method grows its own copy of the starting knowledge
            store = run_dir / "knowledge.sqlite"
            if not (run_dir / "config.yaml").exists():
                run_dir.mkdir(parents=True, exist_ok=True)
                _seed_store(Path(cfg.knowledge), store)
        run_cfg = _run_config(cfg, method, report_dir, store)

        def tick(r: EpisodeResult, done: int, total: int, method: str = method) -> None:
            if on_episode is not None:
                on_episode(method, r, done, total)

        again = run_dir if (run_dir / "config.yaml").exists() else None
        done = run_suite(run_cfg, on_episode=tick, resume=again)
        if done.stopped is not None:  # the endpoint is down: the next method would wait too
            result = write_report(report_dir, replace(cfg, methods=cfg.methods[: n + 1]))
            result.stopped = f"{method}: {done.stopped}"
            return result
    return write_report(report_dir, cfg)


def check_eval(cfg: EvalConfig, *, new: bool = True) -> None:
    """Refuse an evaluation that names what does not exist (a method, a task, an option, ...:
    `agent.runner.check_config`), names a method twice (its runs would share one folder) or
    starts (`new`; a resumed one has its copies) from knowledge that is not there, before the
    report folder is made. Raises ValueError."""
    if not cfg.methods:
        raise ValueError("name at least one method to evaluate")
    problems = []
    for method in dict.fromkeys(cfg.methods):
        if cfg.methods.count(method) > 1:
            problems.append(f"method {method!r} is named twice")
        try:
            get_method(method)
        except ValueError as exc:
            problems.append(str(exc))
    if new and cfg.knowledge and not Path(cfg.knowledge).is_file():
        problems.append(f"knowledge {cfg.knowledge}: no such pack or store")
    try:  # the first method's run stands for all: they differ only in the method
        check_config(_run_config(cfg, cfg.methods[0], Path(cfg.out), None))
    except ValueError as exc:
        problems += [p for p in str(exc).splitlines() if p not in problems]
    if problems:
        raise ValueError("\n".join(problems))


def _run_config(cfg: EvalConfig, method: str, report_dir: Path, store: Path | None) -> RunConfig:
    return RunConfig(
        suite=cfg.suite,
        planner=cfg.planner,
        method=method,
        knowledge=str(store) if store else None,
        seeds=cfg.seeds,
        tasks=cfg.tasks,
        groups=cfg.groups,
        order=cfg.order,
        out=str(report_dir / "runs"),
        name=method,
        model=cfg.model,
        base_url=cfg.base_url,
        extra=cfg.extra,
        batch=cfg.batch,
    )


def _seed_store(source: Path, store: Path) -> None:
    """Start a method's store from a knowledge pack (JSON/JSONL) or a copy of a store."""
    if source.suffix == ".sqlite":
        shutil.copyfile(source, store)
        return
    from knowledge.packs import import_pack
    from knowledge.store import ExperienceStore

    s = ExperienceStore(store)
    try:
        import_pack(s, source)
    finally:
        s.close()


# ---- reading what ran ------------------------------------------------------------------------
def load_rows(report_dir: Path, cfg: EvalConfig) -> dict[str, list[Row]]:
    """Every method's episodes in stream order (the last line of an episode wins)."""
    suite = load_suite(Path(cfg.suite))
    order = stream(suite.to_tasks(), _run_config(cfg, "", report_dir, None))
    out: dict[str, list[Row]] = {}
    for method in cfg.methods:
        last = {r.episode_id: r for r in read_episodes(report_dir / "runs" / method)}
        rows: list[Row] = []
        for task, seed in order:
            r = last.get(f"{task.id}__s{seed}")
            if r is None:
                continue  # not played yet (or cut short by a kill: --resume runs it again)
            fails = {c: n for c, n in r.causes.items() if c != "NONE"}
            rows.append(
                Row(
                    method=method,
                    index=len(rows),
                    task_id=task.id,
                    group=task.group,
                    split=task.split,
                    seed=seed,
                    success=r.success,
                    steps=r.steps,
                    ticks=r.ticks,
                    replans=r.replans,
                    blocked=r.blocked,
                    llm_calls=r.llm_calls,
                    tokens=r.prompt_tokens + r.completion_tokens,
                    llm_s=r.llm_latency_s,
                    wall_s=r.wall_s,
                    error=r.error or "",
                    top_cause=max(fails, key=lambda c: fails[c], default=""),
                    milestones=r.milestones,
                    milestones_of=r.milestones_of,
                    ended=r.ended,
                )
            )
        out[method] = rows
    return out


def failure_modes(run_dir: Path, episode_ids: list[str]) -> Counter[str]:
    """How many failed attempts each failure mode (`CAUSE verb:target`) had in these
    episodes (a guardrail's block counts: the mistake was made, but never reached the world)."""
    modes: Counter[str] = Counter()
    for eid in episode_ids:
        for step in read_trajectory(run_dir / "trajectory" / f"{eid}.jsonl", strict=False):
            d, sg = step.diagnosis, step.subgoal
            if not d.success:
                modes[f"{d.cause.value} {sg.verb}:{sg.target}"] += 1
    return modes


# ---- statistics ------------------------------------------------------------------------------
def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a success rate k/n."""
    if n == 0:
        return (0.0, 0.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def seed_interval(rows: list[Row], resamples: int = 2000) -> tuple[float, float, str]:
    """A 95% interval of the success rate across seeds (a bootstrap over per-seed rates), or
    over episodes (Wilson) when there is one seed."""
    by_seed: dict[int, list[bool]] = {}
    for r in rows:
        by_seed.setdefault(r.seed, []).append(r.success)
    if len(by_seed) < 2:
        k = sum(r.success for r in rows)
        lo, hi = wilson(k, len(rows))
        return lo, hi, "wilson"
    rates = np.array([np.mean(v) for v in by_seed.values()])
    rng = np.random.default_rng(0)
    means = rng.choice(rates, size=(resamples, len(rates))).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5)), "seeds"


def rolling(successes: list[bool], window: int) -> list[float]:
    out, run = [], 0
    for i, s in enumerate(successes):
        run += s
        if i >= window:
            run -= successes[i - window]
        out.append(run / min(i + 1, window))
    return out


# ---- writing the report ----------------------------------------------------------------------
def write_report(report_dir: Path, cfg: EvalConfig) -> EvalResult:
    rows = load_rows(report_dir, cfg)
    _write_csv(report_dir / "episodes.csv", [asdict(r) for rs in rows.values() for r in rs])
    summary = _summary(rows)
    _write_csv(report_dir / "summary.csv", summary)
    curve = []
    for method, rs in rows.items():
        roll = rolling([r.success for r in rs], cfg.window)
        done = 0
        for r, rate in zip(rs, roll, strict=True):
            done += r.success
            curve.append(
                {
                    "method": method,
                    "episode": r.index + 1,
                    "task_id": r.task_id,
                    "success": int(r.success),
                    f"rolling_{cfg.window}": round(rate, 4),
                    "cumulative": round(done / (r.index + 1), 4),
                }
            )
    _write_csv(report_dir / "curve.csv", curve)
    _plot_curve(report_dir / "curve.png", rows, cfg)
    _plot_groups(report_dir / "groups.png", rows)
    tail = {m: _rate(rs[-cfg.tail :]) for m, rs in rows.items()}
    modes = {}
    for method, rs in rows.items():
        late = [f"{r.task_id}__s{r.seed}" for r in rs[len(rs) // 2 :]]
        modes[method] = failure_modes(report_dir / "runs" / method, late)
    helpers: set[str] = set()  # the world's help, per task, as each run's config records it
    for method in rows:
        saved = report_dir / "runs" / method / "config.yaml"
        if saved.exists():
            recorded = yaml.safe_load(saved.read_text()).get("helpers") or {}
            helpers |= {f"{k}={v}" for h in recorded.values() for k, v in h.items()}
    md = _markdown(cfg, rows, summary, tail, modes, sorted(helpers))
    (report_dir / "report.md").write_text(md)
    return EvalResult(report_dir, rows, tail, modes)


def _rate(rows: list[Row]) -> float:
    return sum(r.success for r in rows) / len(rows) if rows else 0.0


def _summary(rows: dict[str, list[Row]]) -> list[dict[str, Any]]:
    out = []
    for method, rs in rows.items():
        parts: dict[str, list[Row]] = {"all": rs}
        for r in rs:
            parts.setdefault(f"group:{r.group}", []).append(r)
            parts.setdefault(f"split:{r.split}", []).append(r)
        for r in rs:
            parts.setdefault(f"task:{r.task_id}", []).append(r)
        for part, sub in parts.items():
            lo, hi, how = seed_interval(sub)
            out.append(
                {
                    "method": method,
                    "part": part,
                    "episodes": len(sub),
                    "successes": sum(r.success for r in sub),
                    "success_rate": round(_rate(sub), 4),
                    "ci_low": round(lo, 4),
                    "ci_high": round(hi, 4),
                    "ci_over": how,
                    "mean_steps": round(float(np.mean([r.steps for r in sub])), 2),
                    # the share of milestones reached (equal to success for plain goals)
                    "milestone_rate": round(
                        float(np.mean([r.milestones / r.milestones_of for r in sub])), 4
                    ),
                    "ended_early": sum(r.ended in EARLY_ENDINGS for r in sub),
                    "errored": sum(bool(r.error) for r in sub),
                    "llm_calls": sum(r.llm_calls for r in sub),
                    "tokens": sum(r.tokens for r in sub),
                    "llm_s": round(sum(r.llm_s for r in sub), 2),
                    "wall_s": round(sum(r.wall_s for r in sub), 2),
                }
            )
    return out


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        if not rows:
            return
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def _plot_curve(path: Path, rows: dict[str, list[Row]], cfg: EvalConfig) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=120)
    for method, rs in rows.items():
        xs = [r.index + 1 for r in rs]
        ax.plot(xs, rolling([r.success for r in rs], cfg.window), label=method, lw=1.8)
    ax.set_xlabel("episode in the experience stream")
    ax.set_ylabel(f"success (rolling {cfg.window})")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title(f"{Path(cfg.suite).stem}: planner {cfg.planner}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_groups(path: Path, rows: dict[str, list[Row]]) -> None:
    plt = _pyplot()
    groups = list(dict.fromkeys(r.group for rs in rows.values() for r in rs))
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(groups) * len(rows) / 2), 3.5), dpi=120)
    width = 0.8 / max(1, len(rows))
    for i, (method, rs) in enumerate(rows.items()):
        rates = [_rate([r for r in rs if r.group == g]) for g in groups]
        xs = [j + i * width for j in range(len(groups))]
        ax.bar(xs, rates, width=width, label=method)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(groups))], groups)
    ax.set_ylabel("success rate")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _markdown(
    cfg: EvalConfig,
    rows: dict[str, list[Row]],
    summary: list[dict[str, Any]],
    tail: dict[str, float],
    modes: dict[str, Counter[str]],
    helpers: list[str],
) -> str:
    kind = PLANNER_KINDS.get(cfg.planner, "LLM")
    n = max((len(rs) for rs in rows.values()), default=0)
    probe = RunConfig(suite=cfg.suite, planner=cfg.planner, extra=cfg.extra)
    given = help_given(probe)
    recipes = recipes_of(probe)
    lines = [
        f"# Evaluation: {Path(cfg.suite).stem}",
        "",
        f"- planner: `{cfg.planner}` ({kind}); model: {cfg.model or 'default'}",
        *([SYMBOLIC_NOTE] if cfg.planner == "symbolic" else []),
        *([f"- recipe facts in the prompt: {recipes}"] if recipes is not None else []),
        f"- help given to the planner: {'; '.join(given) or 'none'}",
        f"- help given by the world: {', '.join(helpers) or 'none'}",
        f"- methods: {', '.join(cfg.methods)}; stream: {n} episodes in {cfg.order} order;"
        f" seeds {cfg.seeds or 'as in the suite'}; groups {cfg.groups or 'all'}",
        f"- starting knowledge: {cfg.knowledge or 'none (each method starts empty)'}",
        "- reproduce: `steve eval --resume <this folder>` reruns what is unfinished; the"
        " settings are in eval.yaml",
        "",
        f"## Success over the last {cfg.tail} episodes",
        "",
        "| method | success | vs " + " | vs ".join(rows) + " |",
        "|---|---|" + "---|" * len(rows),
    ]
    for m in rows:
        diffs = " | ".join(f"{100 * (tail[m] - tail[o]):+.0f} pts" for o in rows)
        lines.append(f"| {m} | {100 * tail[m]:.0f}% | {diffs} |")
    lines += [
        "",
        "## Success by part (95% interval across seeds, or Wilson with one seed)",
        "",
        "Milestones: the share of each goal's milestones reached in order (a plain goal is one"
        " milestone, so it equals success). Ended early: episodes stopped before their budget"
        " at a dead end (the same failure in the same state, or a whole search that found"
        " nothing) or with a goal the world cannot produce.",
        "",
        "| method | part | episodes | success | 95% interval | milestones | mean steps |"
        " LLM calls | tokens | LLM s | wall s | errored | ended early |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        if s["part"].startswith("task:"):
            continue  # per task: the compact table below
        lines.append(
            f"| {s['method']} | {s['part']} | {s['episodes']} | {100 * s['success_rate']:.0f}% |"
            f" {100 * s['ci_low']:.0f}-{100 * s['ci_high']:.0f}% ({s['ci_over']}) |"
            f" {100 * s['milestone_rate']:.0f}% | {s['mean_steps']} | {s['llm_calls']} |"
            f" {s['tokens']} | {s['llm_s']} | {s['wall_s']} | {s['errored']} |"
            f" {s['ended_early']} |"
        )
    tasks = list(dict.fromkeys(r.task_id for rs in rows.values() for r in rs))
    lines += [
        "",
        "## Success per task (successes / episodes)",
        "",
        "| task | " + " | ".join(rows) + " |",
        "|---|" + "---|" * len(rows),
    ]
    for task in tasks:
        cells = []
        for rs in rows.values():
            mine = [r.success for r in rs if r.task_id == task]
            cells.append(f"{sum(mine)}/{len(mine)}")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Learning curve",
        "",
        "![learning curve](curve.png)",
        "",
        "![success per group](groups.png)",
        "",
        "## Failure modes in the second half of the stream",
        "",
        "Failed attempts per failure mode (`CAUSE verb:target`); a mode that one method keeps"
        " repeating and another does not is a mistake the other learned to avoid"
        " (BLOCKED_BY_GUARDRAIL: stopped by a guardrail before it reached the world).",
        "",
    ]
    every = Counter[str]()
    for c in modes.values():
        every.update(c)
    if every:
        lines += ["| failure mode | " + " | ".join(rows) + " |", "|---|" + "---|" * len(rows)]
        for mode, _ in every.most_common(15):
            lines.append(f"| {mode} | " + " | ".join(str(modes[m][mode]) for m in rows) + " |")
    else:
        lines.append("No failures in the second half.")
    lines.append("")
    return "\n".join(lines)
