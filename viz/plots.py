"""Plots of recorded runs for reports (matplotlib, files only): `steve plots`.

- `learning_curve.png`: rolling success over the episodes, in the order they were played;
- `success_by_group.png`: success rate per task group, runs side by side;
- `knowledge_growth.png`: skills and guardrails over the episodes;
- `failure_causes.png`: how many attempts failed of each diagnosed cause.

Everything is read from run directories: `episodes.jsonl` and `trajectory/*.jsonl`. Knowledge
growth counts, after each episode, the distinct skills and guardrails the run had produced or
used so far: those its end-of-episode distillation reported (`distilled` in episodes.jsonl),
plus those that show up in its trajectory (recalled, or blocking a subgoal), which is where the
guardrails distilled online, mid-episode, appear; knowledge reported retired is taken off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.record import read_trajectory
from viz.replay import episode_rows


@dataclass
class RunData:
    label: str
    run_dir: Path
    rows: list[dict[str, Any]]
    growth: list[tuple[int, int, int]] = field(default_factory=list)  # skills, rails, retired


def find_runs(paths: list[Path]) -> dict[str, Path]:
    """Run directories by label: a run directory is itself; an eval report folder
    (`steve eval`) gives one run per method (`runs/<method>/`)."""
    out: dict[str, Path] = {}
    for p in paths:
        if (p / "episodes.jsonl").exists():
            out[_label(p, out)] = p
        elif (p / "runs").is_dir():
            for sub in sorted((p / "runs").iterdir()):
                if (sub / "episodes.jsonl").exists():
                    out[_label(sub, out, sub.name)] = sub
        else:
            raise ValueError(f"{p}: neither a run directory nor an eval report folder")
    return out


def _label(p: Path, taken: dict[str, Path], name: str | None = None) -> str:
    """A run's method (`<suite>__<method>__...`), or the name given; the directory name is
    added where two runs would share a label."""
    if name is None:
        parts = p.name.split("__")
        name = parts[1] if len(parts) > 1 else p.name
    return name if name not in taken else f"{name} ({p.name})"


def load_run(label: str, run_dir: Path) -> RunData:
    rows = list(episode_rows(run_dir / "episodes.jsonl").values())
    data = RunData(label, run_dir, rows)
    skills: set[int] = set()
    rails: set[int] = set()
    retired: set[str] = set()
    for row in rows:
        distilled = row.get("distilled") or {}
        skills.update(int(i) for i in distilled.get("skills", []))
        rails.update(int(i) for i in distilled.get("guardrails", []))
        path = run_dir / "trajectory" / f"{row['episode_id']}.jsonl"
        for line in read_trajectory(path, strict=False):
            for item in line.recalled:
                kind = item.kind
                (skills if kind == "skill" else rails if kind == "guardrail" else set()).add(
                    item.id
                )
            if line.guardrail.blocked and line.guardrail.id is not None:
                rails.add(line.guardrail.id)
        retired.update(str(r).partition(":")[0] for r in distilled.get("retired", []))
        gone_s = {int(r.split()[1]) for r in retired if r.startswith("skill ")}
        gone_g = {int(r.split()[1]) for r in retired if r.startswith("guardrail ")}
        data.growth.append((len(skills - gone_s), len(rails - gone_g), len(retired)))
    return data


def rolling(successes: list[bool], window: int) -> list[float]:
    out, run = [], 0
    for i, s in enumerate(successes):
        run += s
        if i >= window:
            run -= successes[i - window]
        out.append(run / min(i + 1, window))
    return out


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curve(runs: list[RunData], path: Path, window: int = 10) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=110)
    for run in runs:
        ok = [bool(r.get("success")) for r in run.rows]
        ax.plot(range(1, len(ok) + 1), rolling(ok, window), label=run.label, lw=1.8)
    ax.set_xlabel("episode, in the order played")
    ax.set_ylabel(f"success (rolling {window})")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    ax.set_title("learning curve")
    return _save(plt, fig, path)


def plot_success_by_group(runs: list[RunData], path: Path) -> Path:
    plt = _pyplot()
    groups = list(dict.fromkeys(r.get("group", "default") for run in runs for r in run.rows))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(groups) * max(1, len(runs))), 3.5))
    width = 0.8 / max(1, len(runs))
    for i, run in enumerate(runs):
        rates, counts = [], []
        for g in groups:
            sub = [bool(r.get("success")) for r in run.rows if r.get("group", "default") == g]
            rates.append(sum(sub) / len(sub) if sub else 0.0)
            counts.append(f"{sum(sub)}/{len(sub)}")
        xs = [j + i * width for j in range(len(groups))]
        bars = ax.bar(xs, rates, width=width, label=run.label)
        ax.bar_label(bars, counts, fontsize="x-small")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(groups))], groups)
    ax.set_ylabel("success rate")
    ax.set_ylim(0, 1.12)
    ax.legend(fontsize="small")
    ax.set_title("success by task group")
    return _save(plt, fig, path)


def plot_knowledge_growth(runs: list[RunData], path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=110)
    for n, run in enumerate(runs):
        color = f"C{n}"
        xs = range(1, len(run.growth) + 1)
        ax.plot(xs, [g[0] for g in run.growth], color=color, lw=1.8, label=f"{run.label} skills")
        ax.plot(
            xs, [g[1] for g in run.growth], color=color, ls="--", label=f"{run.label} guardrails"
        )
        if any(g[2] for g in run.growth):
            ax.plot(
                xs, [g[2] for g in run.growth], color=color, ls=":", label=f"{run.label} retired"
            )
    ax.set_xlabel("episode, in the order played")
    ax.set_ylabel("distinct items (active)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title("knowledge growth")
    return _save(plt, fig, path)


def plot_failure_causes(runs: list[RunData], path: Path) -> Path:
    plt = _pyplot()
    totals: list[dict[str, int]] = []
    for run in runs:
        t: dict[str, int] = {}
        for r in run.rows:
            for cause, k in (r.get("causes") or {}).items():
                if cause != "NONE":
                    t[cause] = t.get(cause, 0) + int(k)
        totals.append(t)
    causes = sorted({c for t in totals for c in t}, key=lambda c: -sum(t.get(c, 0) for t in totals))
    fig, ax = plt.subplots(figsize=(7, max(2.2, 0.35 * len(causes) * max(1, len(runs)) + 1)))
    height = 0.8 / max(1, len(runs))
    for i, (run, t) in enumerate(zip(runs, totals, strict=True)):
        ys = [j + i * height for j in range(len(causes))]
        bars = ax.barh(ys, [t.get(c, 0) for c in causes], height=height, label=run.label)
        ax.bar_label(bars, fontsize="x-small", padding=2)
    ax.set_yticks([j + 0.4 - height / 2 for j in range(len(causes))], causes, fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel("failed subgoal attempts")
    if not causes:
        ax.text(0.5, 0.5, "no failed attempts", ha="center", va="center", transform=ax.transAxes)
    ax.legend(fontsize="small")
    ax.set_title("failure causes (diagnosed)")
    return _save(plt, fig, path)


def _save(plt: Any, fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(paths: list[Path], out: Path, window: int = 10) -> list[Path]:
    """All four plots of these runs (or eval report folders) into `out`."""
    runs = [load_run(label, p) for label, p in find_runs(paths).items()]
    return [
        plot_learning_curve(runs, out / "learning_curve.png", window),
        plot_success_by_group(runs, out / "success_by_group.png"),
        plot_knowledge_growth(runs, out / "knowledge_growth.png"),
        plot_failure_causes(runs, out / "failure_causes.png"),
    ]
