"""The `steve` command line: run suites, validate them, look into the knowledge store."""

from __future__ import annotations

import difflib
import logging
import weakref
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agent.llm.cli import llm_app
from agent.options import parse_options, parse_seeds, split_csv

if TYPE_CHECKING:
    from knowledge.store import ExperienceStore

app = typer.Typer(help="steve-evolving: self-evolving embodied agents.", no_args_is_help=True)
suite_app = typer.Typer(
    help="Task suites: list, show, validate, new (a template), import (other formats), schema.",
    no_args_is_help=True,
)
knowledge_app = typer.Typer(
    help="The experience store: stats, show, export and import packs, prune, html.",
    no_args_is_help=True,
)
app.add_typer(suite_app, name="suite")
app.add_typer(knowledge_app, name="knowledge")
app.add_typer(llm_app, name="llm")
console = Console()
err = Console(stderr=True)


def _flags_show_no_type() -> None:
    """Typer 0.2x prints `<bool>` after every flag in --help (`--force --no-force <bool>`,
    even `--help <bool>`), which reads as if the flag took a value, and `--force true` is then
    refused. A flag shows no type; options that take a value keep theirs. Nothing changes on a
    typer without this hook."""
    from typer.core import TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None or getattr(shown, "flags_show_no_type", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else shown(self, ctx)

    display_type_rich.flags_show_no_type = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_show_no_type()


def _version() -> str:
    try:
        return version("steve-evolving")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _version_cb(value: bool) -> None:
    if value:
        console.print(f"steve-evolving {_version()}")
        raise typer.Exit()


@app.callback()
def _every_command(
    version_: Annotated[
        bool,
        typer.Option("--version", callback=_version_cb, is_eager=True, help="Print the version."),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """The options taken before any command: --version, --verbose."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
    )


def _fail(message: str) -> typer.Exit:
    """A user's mistake (a misspelt name, a missing file, a missing extra): the message and
    exit 2, no traceback. The message is plain text, never markup: rich would read the
    `[llm]` of an install hint, or an LLM error's `[openai ...]`, as a tag and drop it."""
    from rich.markup import escape

    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code=2)


@app.command()
def run(
    suite: Annotated[
        str | None, typer.Argument(help="A suite file, or the name of a shipped suite.")
    ] = None,
    planner: Annotated[
        str,
        typer.Option(
            help="symbolic (oracle, not an LLM) | fallible (oracle with seeded misbeliefs)"
            " | local | openai | transformers | cassette"
        ),
    ] = "symbolic",
    method: Annotated[
        str, typer.Option(help="none | static | evolving | no-guardrails | no-skills | ...")
    ] = "evolving",
    knowledge: Annotated[
        str | None, typer.Option(help="Experience store to use and grow (shared across runs).")
    ] = None,
    seeds: Annotated[str | None, typer.Option(help="Comma-separated seeds (override).")] = None,
    tasks: Annotated[str | None, typer.Option(help="Comma-separated task ids to run.")] = None,
    groups: Annotated[str | None, typer.Option(help="Comma-separated task groups.")] = None,
    out: Annotated[str, typer.Option(help="Where run directories go.")] = "runs",
    model: Annotated[
        str | None, typer.Option(help="A GGUF file, a served model name, or a cassette file.")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible endpoint (key: STEVE_API_KEY).")
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="A run directory: run what it has not finished.")
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(help="Planner option KEY=VALUE, e.g. misbeliefs.seed=3 (repeatable)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Episodes in parallel on Ray (the ray extra); knowledge is shared between "
            "waves of this many episodes (docs/ray.md). Default 1: the serial runner.",
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(help="A Ray cluster to run on (e.g. ray://head:10001, or auto)."),
    ] = None,
    batch: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Episodes side by side in this process, their LLM calls decoded as one batch"
            " (docs/llm.md); knowledge is shared between waves of this many. Default: what the"
            " planner's backend suits (printed).",
        ),
    ] = None,
) -> None:
    """Run a suite: a progress bar over episodes, then a table of results. Exits 1 when an
    episode errored (its planner's backend failed), saying how to resume."""
    from agent.llm.base import LLMError
    from agent.runner import (
        PLANNER_KINDS,
        RunConfig,
        check_config,
        load_run_config,
        recorded_episodes,
        run_suite,
    )
    from knowledge.store import StoreError
    from scenarios.loader import SuiteError, resolve_suite
    from sim.registry import UnknownWorldError

    try:
        if resume is not None:
            cfg = load_run_config(resume)
            path = Path(cfg.suite)
            method, planner = cfg.method, cfg.planner
        elif suite is None:
            raise ValueError("name a suite, or --resume a run directory")
        else:
            path = resolve_suite(suite)
            cfg = RunConfig(
                suite=str(path),
                planner=planner,
                method=method,
                knowledge=knowledge,
                out=out,
                seeds=parse_seeds(seeds),
                tasks=split_csv(tasks),
                groups=split_csv(groups),
                model=model,
                base_url=base_url,
                extra=parse_options(option),
            )
        if workers is not None:  # also on --resume: the rest may run on more or fewer
            cfg.workers = workers
        if address is not None:
            cfg.address = address
        if batch is None and resume is not None:
            batch_why = "as the run began"
        else:
            cfg.batch, batch_why = _batch(batch, cfg.planner, cfg.workers, cfg.address)
        check_config(cfg)  # every name typed, before a bar is drawn or a folder made
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            bar = progress.add_task(f"{path.stem} ({method}, {planner})", total=None)

            def tick(result: object, done: int, total: int) -> None:
                progress.update(bar, completed=done, total=total)

            result = run_suite(cfg, on_episode=tick, resume=resume)
    except (SuiteError, StoreError, UnknownWorldError, ValueError, LLMError) as exc:
        raise _fail(str(exc)) from None
    played = result.episodes  # with --resume: the whole run, not only what ran now
    if resume is not None:
        played = recorded_episodes(result.run_dir)
    table = Table(title=f"{result.run_dir.name}")
    longest = max((len(r.task_id) for r in played), default=4)
    table.add_column("task", no_wrap=True, min_width=longest)  # the others may wrap, not this
    for col in ("seed", "success", "steps", "ticks", "LLM calls", "tokens", "wall s"):
        table.add_column(col, justify="right")
    early = []
    for r in played:
        failures = {c: n for c, n in r.causes.items() if c != "NONE"}
        top = max(failures, key=lambda c: failures[c], default="")
        mark = "[green]yes[/]" if r.success else f"[red]no[/] {top}"
        if r.error:
            mark = "[yellow]error[/]"
        if r.milestones_of > 1:  # a goal written as milestones: how many were reached
            mark += f" {r.milestones}/{r.milestones_of}"
        if r.ended_why:  # ended before its budget, with the reason
            mark += f" [dim]({r.ended.replace('_', ' ')})[/]"
            early.append(f"{r.task_id} seed {r.seed}: {r.ended_why}")
        table.add_row(
            r.task_id,
            str(r.seed),
            mark,
            str(r.steps),
            str(r.ticks),
            str(r.llm_calls),
            str(r.prompt_tokens + r.completion_tokens),
            f"{r.wall_s:.2f}",
        )
    console.print(table)
    for line in early:
        console.print(f"ended early: {line}", markup=False, style="dim")
    n = len(played)
    wins = sum(r.success for r in played)
    calls = sum(r.llm_calls for r in played)
    if calls:
        spent = sum(r.llm_latency_s for r in played)
        console.print(f"LLM: {calls} calls, {spent:.1f} s in all, {spent / calls:.2f} s a call")
    console.print(
        f"episodes side by side: {result.batch} ({batch_why})"
        + (", their LLM calls batched (a call's time is its batch's)" if result.batch > 1 else "")
    )
    console.print(
        f"success {wins}/{n}; planner {planner}"
        + (f" [dim]({PLANNER_KINDS[planner]})[/]" if planner in PLANNER_KINDS else "")
    )
    if resume is not None:
        console.print(f"resumed: {len(result.episodes)} played now, {n} in the whole run")
    helpers = {f"{k}={v}" for h in result.helpers.values() for k, v in h.items()}
    console.print(f"help given by the world: {', '.join(sorted(helpers)) or 'none'}")
    if result.recipes is not None:
        console.print(f"recipe facts: {result.recipes}", markup=False)
        console.print(f"help given to the planner: {'; '.join(result.help) or 'none'}")
    for task_id, why in result.skipped:
        console.print(f"[yellow]skipped[/] {task_id}: {why}")
    if result.store_stats:
        console.print("knowledge: " + ", ".join(f"{k} {v}" for k, v in result.store_stats.items()))
    console.print(f"run directory: {result.run_dir}")
    if result.errored or result.stopped is not None:
        said = result.stopped is not None or not result.errored  # the stop names the last
        last = "" if said else f" (last: {result.errored[-1].error})"
        _errored(
            result.stopped,
            f"{len(result.errored)} episode(s) errored{last}",
            f"steve run --resume {result.run_dir}",
        )


def _errored(stopped: str | None, summary: str, resume: str) -> None:
    """Say what errored and how to go on, and exit 1 (a run with errored episodes is not a
    finished run). The texts quote the backend's errors: never rich markup."""
    from rich.markup import escape

    if stopped is not None:
        err.print(f"[bold red]{escape(stopped)}[/]", highlight=False)
    err.print(
        f"[yellow]{escape(summary)}[/]; when the endpoint is back, go on with: {escape(resume)}",
        highlight=False,
    )
    raise typer.Exit(code=1)


@app.command("eval")
def eval_(
    suite: Annotated[
        str | None, typer.Argument(help="A suite file, or the name of a shipped suite.")
    ] = None,
    method: Annotated[
        str, typer.Option(help="Comma-separated methods to compare (none,static,evolving,...).")
    ] = "none,static,evolving",
    planner: Annotated[
        str | None,
        typer.Option(
            help="local (the default: the bundled model) | openai | transformers | cassette |"
            " fallible (seeded misbeliefs) | symbolic (an oracle that never errs)"
        ),
    ] = None,
    seeds: Annotated[str | None, typer.Option(help="Comma-separated seeds (override).")] = None,
    tasks: Annotated[str | None, typer.Option(help="Comma-separated task ids.")] = None,
    groups: Annotated[str | None, typer.Option(help="Comma-separated task groups.")] = None,
    order: Annotated[
        str, typer.Option(help="seed: the suite once per seed; task: each task over its seeds.")
    ] = "seed",
    knowledge: Annotated[
        Path | None, typer.Option(help="A knowledge pack or store every method starts from.")
    ] = None,
    out: Annotated[str, typer.Option(help="Where report folders go.")] = "reports",
    name: Annotated[str | None, typer.Option(help="The report folder's name.")] = None,
    model: Annotated[str | None, typer.Option(help="Model for LLM planners.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint.")] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(help="Planner option KEY=VALUE, e.g. misbeliefs.seed=3 (repeatable)."),
    ] = None,
    tail: Annotated[int, typer.Option(help="Compare success over the last N episodes.")] = 20,
    resume: Annotated[
        Path | None, typer.Option(help="A report folder: run what it has not finished.")
    ] = None,
    batch: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Episodes side by side, their LLM calls decoded as one batch (docs/llm.md);"
            " knowledge is shared between waves of this many. Default: what the planner's"
            " backend suits (printed).",
        ),
    ] = None,
) -> None:
    """Compare methods over one experience stream: a Markdown report with CSV and PNG plots."""
    from agent.evaluate import EvalConfig, evaluate
    from agent.llm.base import LLMError
    from knowledge.store import StoreError
    from scenarios.loader import SuiteError, resolve_suite
    from sim.registry import UnknownWorldError

    try:
        if resume is None and suite is None:
            raise ValueError("name a suite, or --resume a report folder")
        planner = planner or (_eval_planner() if resume is None else "symbolic")
        batch, batch_why = _batch(batch, planner)
        cfg = EvalConfig(
            suite=str(resolve_suite(suite)) if suite else "",
            methods=split_csv(method) or [],
            planner=planner,
            seeds=parse_seeds(seeds),
            tasks=split_csv(tasks),
            groups=split_csv(groups),
            order=order,
            out=out,
            name=name,
            knowledge=str(knowledge) if knowledge else None,
            model=model,
            base_url=base_url,
            extra=parse_options(option),
            batch=batch,
            tail=tail,
        )
        if resume is None:
            from agent.evaluate import check_eval

            check_eval(cfg)  # every name typed, before a bar is drawn or a folder made
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            bars: dict[str, Any] = {}

            def tick(m: str, r: object, done: int, total: int) -> None:
                if m not in bars:
                    bars[m] = progress.add_task(m, total=total)
                progress.update(bars[m], completed=done, total=total)

            result = evaluate(cfg, resume=resume, on_episode=tick)
    except (SuiteError, StoreError, UnknownWorldError, ValueError, LLMError) as exc:
        raise _fail(str(exc)) from None
    table = Table(title=f"last {tail} episodes")
    table.add_column("method")
    table.add_column("episodes", justify="right")
    table.add_column("success (all)", justify="right")
    table.add_column(f"success (last {tail})", justify="right")
    for m, rows in result.rows.items():
        wins = sum(r.success for r in rows)
        table.add_row(m, str(len(rows)), f"{wins}/{len(rows)}", f"{100 * result.tail[m]:.0f}%")
    console.print(table)
    console.print(f"episodes side by side: {cfg.batch} ({batch_why})")
    console.print(f"report: {result.report_dir / 'report.md'}")
    if result.errored or result.stopped is not None:
        _errored(
            result.stopped,
            f"{result.errored} episode(s) errored",
            f"steve eval --resume {result.report_dir}",
        )


def _batch(
    asked: int | None, planner: str, workers: int = 1, address: str | None = None
) -> tuple[int, str]:
    """The batch a run plays with, and why: the one asked for, else what the planner's
    backend suits (`agent.runspec.auto_batch`)."""
    if asked is not None:
        return asked, "--batch"
    from agent.runspec import auto_batch

    size, why = auto_batch(planner, workers, address)
    return size, f"auto: {why}"


def _eval_planner() -> str:
    """`steve eval`'s planner when none is named: the bundled model where it is installed.
    Never the symbolic oracle: it never errs, so every method scores the same, which a new
    user would read as the method's result."""
    from agent.llm.local import INSTALL_HINT, available

    if available():
        return "local"
    raise ValueError(
        "name a planner: the bundled model (--planner local, the default) is not installed"
        f" ({INSTALL_HINT}); or --planner openai --model M --base-url URL, transformers,"
        " cassette; fallible (an oracle with seeded mistakes, to check the loop) or symbolic"
        " (an oracle that never errs: every method scores the same)"
    )


@app.command()
def train(
    config: Annotated[
        Path | None, typer.Option(help="A training config (YAML; agent/rl/configs/).")
    ] = None,
    steps: Annotated[int | None, typer.Option(min=0, help="Override the config's steps.")] = None,
    out: Annotated[str | None, typer.Option(help="Where training directories go.")] = None,
    name: Annotated[str | None, typer.Option(help="The training directory's name.")] = None,
    resume: Annotated[
        Path | None,
        typer.Option(help="A training directory: go on from its last checkpoint (its config)."),
    ] = None,
) -> None:
    """GRPO for the LLM planner (and the extractor, when co-evolving): the rl extra."""
    if (config is None) == (resume is None):
        raise _fail("give --config FILE for a new run, or --resume RUN_DIR to go on with one")
    try:
        from agent.rl.config import ConfigError, load_config
        from agent.rl.trainer import train as run_training

        if resume is not None:  # the run's own config; only --steps may change
            where = {"out": str(resume.parent), "name": resume.name}
            cfg = load_config(resume / "config.yaml", steps=steps, **where)
        elif config is not None:
            cfg = load_config(config, steps=steps, out=out, name=name)
    except ImportError as exc:
        raise _fail(str(exc)) from None
    except ConfigError as exc:
        raise _fail(str(exc)) from None

    def show(step: int, m: dict[str, float]) -> None:
        keys = ("train/reward", "train/success", "planner/grad_norm", "reward/extractor")
        shown = ", ".join(f"{k} {m[k]:.3f}" for k in keys if k in m)
        console.print(f"step {step}/{cfg.steps}: {shown}, {m['time/step_s']:.1f}s")

    try:
        result = run_training(cfg, on_step=show, resume=resume is not None)
    except (ImportError, ValueError) as exc:
        raise _fail(str(exc)) from None
    console.print(f"training directory: {result.run_dir}")
    console.print(
        f"adapter: {result.adapter} (steve run SUITE --planner transformers"
        f" --option llm.adapter={result.adapter} ...)"
    )


@suite_app.command("validate")
def suite_validate(files: Annotated[list[Path], typer.Argument(help="Suite YAML files.")]) -> None:
    """Check suite files: syntax, fields, types, item names and that each task's goal can be
    reached in the suite's world; errors give file:line: field.

    Every file is checked, whatever an earlier one holds; the exit status is 1 if any failed.
    """
    from rich.markup import escape

    import sim
    from agent.feasibility import suite_problems
    from scenarios.loader import SuiteError, load_suite
    from sim.registry import UnknownWorldError

    bad = 0
    for f in files:
        unchecked = ""
        try:
            # Fields first (the world id among them), then the items against that world.
            suite = load_suite(f)
            try:
                world = sim.make(suite.world)
            except ImportError as exc:  # the world's extra is not installed here
                unchecked = f" (fields only; item names and goals not checked: {exc})"
                problems = []
            else:
                suite = load_suite(f, known_items=world.item_names())
                problems = suite_problems(f, suite)
        except SuiteError as exc:
            bad += 1
            for e in exc.errors or [exc]:
                err.print(f"[red]{escape(str(e))}[/]", highlight=False)
            continue
        except UnknownWorldError as exc:
            bad += 1
            err.print(f"[red]{escape(f'{f}: world: {exc}')}[/]", highlight=False)
            continue
        except Exception as exc:  # a validator reports each file and goes on to the next
            bad += 1
            logging.getLogger(__name__).debug("validating %s", f, exc_info=True)
            err.print(f"[red]{escape(f'{f}: cannot check: {exc!r}')}[/]", highlight=False)
            continue
        if problems:  # tasks that cannot succeed in this world: the run would burn its budget
            bad += 1
            for p in problems:
                err.print(f"[red]{escape(p)}[/]", highlight=False)
            continue
        console.print(
            f"[green]ok[/] {escape(str(f))}: {len(suite.runnable())} tasks, "
            f"{len(suite.skipped())} skipped"
            + (f"[yellow]{escape(unchecked)}[/]" if unchecked else "")
        )
    if bad:
        raise typer.Exit(code=1)


@suite_app.command("new")
def suite_new(
    name: Annotated[str, typer.Argument(help="Suite name (letters, digits, _ . -).")],
    out: Annotated[Path | None, typer.Option(help="Where to write it (default NAME.yaml).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented suite template to fill in."""
    from scenarios.template import write_schema_beside, write_template

    path = out or Path(f"{name}.yaml")
    try:
        write_template(path, name, overwrite=force)
        schema = write_schema_beside(path)
    except (FileExistsError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    console.print(f"wrote {path}; check it with: steve suite validate {path}")
    if schema is not None:
        console.print(f"wrote {schema} (the suite format, for editors: named on its first line)")


@suite_app.command("schema")
def suite_schema_cmd(
    out: Annotated[Path | None, typer.Option(help="Write it here (default: print it).")] = None,
) -> None:
    """The suite format as a JSON Schema, for editors and other tools."""
    from scenarios.template import schema_text

    text = schema_text()
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _fail(f"{out}: {exc.strerror or exc}") from None
    console.print(f"wrote {out}")


@suite_app.command("import")
def suite_import(
    file: Annotated[Path, typer.Argument(help="JARVIS-1 JSON, Optimus or MCU YAML.")],
    out: Annotated[Path | None, typer.Option(help="Where to write the suite.")] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="jarvis | optimus | mineevolve | mcu | steve")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Name of the new suite.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Import tasks from another project's format into a suite file."""
    from rich.markup import escape

    from scenarios.importers import import_tasks
    from scenarios.loader import SuiteError
    from scenarios.template import write_suite

    try:
        suite = import_tasks(file, fmt, name=name)
    except SuiteError as exc:
        for e in exc.errors or [exc]:
            err.print(f"[red]{escape(str(e))}[/]", highlight=False)
        raise typer.Exit(code=1) from None
    path = out or Path(f"{suite.name}.yaml")
    if path.resolve() == file.resolve():  # `import optimus.yaml` would write optimus.yaml
        raise _fail(
            f"{path} is the file being imported; write the suite elsewhere with --out FILE"
            " (--force never overwrites the input)"
        )
    try:
        write_suite(suite, path, overwrite=force, header=f"Imported from {file}.")
    except (OSError, ValueError) as exc:  # FileExistsError, a missing folder, a full disk
        raise _fail(str(exc)) from None
    console.print(f"wrote {path}: {len(suite.runnable())} tasks, {len(suite.skipped())} skipped")


@suite_app.command("show")
def suite_show(
    suite: Annotated[str, typer.Argument(help="A suite file, or the name of a shipped suite.")],
) -> None:
    """A suite's tasks (id, group, goal, budgets, seeds) and groups: the names that --tasks
    and --groups take."""
    from rich.markup import escape

    from scenarios.loader import SuiteError, load_suite, resolve_suite

    try:
        path = resolve_suite(suite)
        s = load_suite(path)
    except SuiteError as exc:
        raise _fail(str(exc)) from None
    console.print(f"[bold]{escape(s.name)}[/] v{s.version} ({escape(str(path))}), world {s.world}")
    if s.description.strip():
        console.print(escape(s.description.strip()), highlight=False)
    tasks = Table("task", "group", "goal", "max ticks", "max subgoals", "seeds", "split")
    groups: dict[str, list[str]] = {}
    for t in s.tasks:
        ticks, subgoals, seeds = s.budget(t)
        goal = t.goal.predicate or f"{t.goal.count} {t.goal.item}"
        skip = f" [yellow](skipped: {escape(t.skip)})[/]" if t.skip else ""
        shown = ",".join(map(str, seeds[:6])) + (",..." if len(seeds) > 6 else "")
        row = (t.group, goal, str(ticks), str(subgoals), shown, t.split)
        tasks.add_row(escape(t.id) + skip, *map(escape, row))
        groups.setdefault(t.group, []).append(t.id)
    console.print(tasks)
    table = Table("group", "tasks", "max ticks", "max subgoals", "seeds (unless a task's own)")
    for g, ids in groups.items():
        own, default = s.groups.get(g), s.defaults
        seeds = own.seeds if own and own.seeds is not None else default.seeds
        table.add_row(
            escape(g),
            str(len(ids)),
            str(own.max_ticks if own and own.max_ticks else default.max_ticks),
            str(own.max_subgoals if own and own.max_subgoals else default.max_subgoals),
            ",".join(map(str, seeds[:6])) + (",..." if len(seeds) > 6 else ""),
        )
    console.print(table)
    console.print(
        f"{len(s.runnable())} tasks, {len(s.skipped())} skipped; run some with:"
        f" steve run {escape(suite)} --tasks ID,... or --groups NAME,..."
    )


@suite_app.command("list")
def suite_list() -> None:
    """The suites shipped with the package."""
    from scenarios.loader import load_suite, shipped_suites

    table = Table("suite", "tasks", "world", "description")
    seen: set[Path] = set()
    for name, path in shipped_suites().items():
        if path in seen:  # listed under its first (shortest) name only
            continue
        seen.add(path)
        s = load_suite(path)
        table.add_row(name, str(len(s.tasks)), s.world, s.description.strip()[:60])
    console.print(table)


@knowledge_app.command("stats")
def knowledge_stats(
    store: Annotated[Path, typer.Argument(help="A knowledge.sqlite file.")],
) -> None:
    """Counts of tuples, summaries, skills and guardrails."""
    from knowledge.store import ExperienceStore, StoreError

    if not store.exists():
        raise _fail(f"{store}: no such store")
    try:
        stats = ExperienceStore(store).stats()
    except StoreError as exc:
        raise _fail(str(exc)) from None
    for k, v in stats.items():
        console.print(f"{k:>12} {v}")


@knowledge_app.command("show")
def knowledge_show(
    store: Annotated[Path, typer.Argument(help="A knowledge.sqlite file.")],
    page: Annotated[
        int, typer.Option(min=1, help="Which page (skills first, then guardrails).")
    ] = 1,
    per_page: Annotated[int, typer.Option(min=1, max=10_000, help="Rows a page.")] = 50,
    kind: Annotated[
        str | None, typer.Option(help="skill | guardrail: only that kind (default both).")
    ] = None,
) -> None:
    """Skills and guardrails with their confidence, ledger (recalled, shown, followed,
    blocks, probes, outcomes) and evidence, a page at a time."""
    from rich.markup import escape

    if kind not in (None, "skill", "guardrail"):
        close = difflib.get_close_matches(kind, ["skill", "guardrail"], n=1, cutoff=0.5)
        did = f" (did you mean {close[0]}?)" if close else ""
        raise _fail(f"--kind {kind!r}: skill or guardrail{did}")
    db = _open_store(store)
    n_skills, n_rails = db.active_counts()
    n_skills = 0 if kind == "guardrail" else n_skills
    n_rails = 0 if kind == "skill" else n_rails
    total = n_skills + n_rails
    start = (page - 1) * per_page
    if start >= max(total, 1) and page > 1:
        raise _fail(f"{store}: page {page} is past the end ({total} items, {per_page} a page)")
    skills = db.skills(limit=per_page, offset=start) if start < n_skills else []
    left = per_page - len(skills)
    rails = db.guardrails(limit=left, offset=max(0, start - n_skills)) if n_rails and left else []
    from knowledge.store import ledger_text

    ledger = db.ledger()
    table = Table("kind", "id", "v", "conf", "knowledge", "ledger", "evidence (tuple ids)")
    for s in skills:
        table.add_row(
            "skill",
            str(s.id),
            str(s.version),
            f"{s.confidence:.2f}",
            escape(s.text()),  # "[conf 0.50]" is no markup tag
            ledger_text(ledger.get(("skill", int(s.id or 0)))),
            ",".join(map(str, s.evidence[-8:])),
        )
    for g in rails:
        learned = f"; remedy from {','.join(map(str, g.remedy_evidence[-8:]))}" if g.remedy else ""
        table.add_row(
            "guardrail",
            str(g.id),
            str(g.version),
            f"{g.confidence:.2f}",
            escape(g.text()),
            ledger_text(ledger.get(("guardrail", int(g.id or 0)))),
            ",".join(map(str, g.evidence[-8:])) + learned,
        )
    console.print(table)
    end = start + len(skills) + len(rails)
    if end < total or page > 1:
        also = f" --kind {kind}" if kind else ""
        more = f"; next: steve knowledge show {store}{also} --page {page + 1}"
        more = more if end < total else ""
        console.print(f"items {start + 1}-{end} of {total} (page {page}){more}")


def _open_store(store: Path, *, create: bool = False) -> ExperienceStore:
    from knowledge.store import ExperienceStore, StoreError

    if not create and not store.exists():
        raise _fail(f"{store}: no such store")
    try:
        return ExperienceStore(store)
    except StoreError as exc:
        raise _fail(str(exc)) from None


@knowledge_app.command("export")
def knowledge_export(
    store: Annotated[Path, typer.Argument(help="A knowledge.sqlite file.")],
    pack: Annotated[Path, typer.Argument(help="The knowledge pack to write (JSONL).")],
    tuples: Annotated[bool, typer.Option(help="Include every tuple, not only cited ones.")] = False,
) -> None:
    """Export skills and guardrails (and the tuples they cite) as a versioned pack."""
    from knowledge.packs import export_pack

    counts = export_pack(_open_store(store), pack, include_tuples=tuples)
    console.print(f"wrote {pack}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@knowledge_app.command("import")
def knowledge_import(
    store: Annotated[Path, typer.Argument(help="The store to merge into (created if absent).")],
    pack: Annotated[Path, typer.Argument(help="A knowledge pack written by export.")],
) -> None:
    """Validate a pack whole, then merge it into the store in one transaction."""
    from knowledge.packs import PackError, import_pack

    db = _open_store(store, create=True)
    try:
        report = import_pack(db, pack)
    except (PackError, OSError) as exc:  # the message quotes the pack (`_fail` escapes it)
        raise _fail(str(exc)) from None
    console.print(", ".join(f"{k} {v}" for k, v in report.items()))


@knowledge_app.command("prune")
def knowledge_prune(
    store: Annotated[Path, typer.Argument(help="A knowledge.sqlite file.")],
    min_confidence: Annotated[float, typer.Option(help="Retire knowledge below this.")] = 0.2,
    delete_retired: Annotated[bool, typer.Option(help="Delete retired knowledge.")] = False,
) -> None:
    """Retire low-confidence knowledge (cited evidence is never deleted) and compact."""
    from knowledge.packs import prune

    report = prune(_open_store(store), min_confidence=min_confidence, delete_retired=delete_retired)
    console.print(", ".join(f"{k} {v}" for k, v in report.items()))


COMMANDS_GROUP = "steve.commands"  # the entry points that add commands to `steve`
_loaded: weakref.WeakSet[typer.Typer] = weakref.WeakSet()  # the apps `load_commands` filled


def load_commands(app: typer.Typer) -> None:
    """Add the commands that installed packages declare under the `steve.commands` entry
    point group (pyproject.toml: the visualiser's `viz = "viz.cli:register"`: watch, replay,
    export-video, plots, knowledge html). Each entry point is a function called with the app.
    Once per app: a second call adds nothing. One that cannot be loaded (an optional
    dependency missing) is logged at debug level and left out: the core commands still work.
    The core never imports a plugin, so `agent` does not depend on `viz`."""
    from importlib.metadata import entry_points

    if app in _loaded:
        return
    _loaded.add(app)
    for ep in entry_points(group=COMMANDS_GROUP):
        try:
            ep.load()(app)
        except Exception as exc:  # a plugin's failure is the plugin's, not the CLI's
            logging.getLogger(__name__).debug("steve: cannot load commands %s: %s", ep.value, exc)


def main() -> None:
    """The `steve` console script: the core commands, those of installed plugins, then run."""
    load_commands(app)
    app()


if __name__ == "__main__":
    main()
