"""What a run is, before it is played: its config (saved as config.yaml), the planners and
distillers it may name, the checks that refuse a mistyped name before anything runs, the
experience stream's order, where the run directory goes and what a resumed run has left.
The runner (`agent.runner`), its pools (`agent.pool`, `agent.parallel`) and the live viewer
build on it.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from agent.loop import EpisodeResult
from agent.methods import get_method
from agent.planner.base import Planner
from knowledge.distill import Distiller, RuleDistiller
from scenarios.loader import load_suite
from scenarios.schema import TaskSuite
from sim.base import World
from sim.schema import Task

if TYPE_CHECKING:
    from agent.llm.base import LLMClient

log = logging.getLogger(__name__)
# errored episodes in a row that stop a run: its planner's endpoint is down or broken, and
# each further episode would only wait out the same timeout (`--resume` plays the rest)
ERRORED_IN_A_ROW = 3


@dataclass
class RunConfig:
    """Everything a run depends on; saved as config.yaml in the run directory."""

    suite: str
    planner: str = "symbolic"
    method: str = "evolving"
    knowledge: str | None = None  # a store shared across runs; default: inside the run dir
    seeds: list[int] | None = None  # override the suite's seeds
    tasks: list[str] | None = None  # run only these task ids
    groups: list[str] | None = None  # run only the tasks of these groups
    order: str = "task"  # "task": each task over its seeds; "seed": the suite once per seed
    name: str | None = None  # the run directory's name (default: suite, method, seeds, time)
    distiller: str = "rules"  # "rules" (offline) or "llm" (the experience extractor)
    out: str = "runs"
    model: str | None = None
    base_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    workers: int = 1  # more: episodes run in parallel on Ray (agent.parallel)
    address: str | None = None  # a Ray cluster to run on (default: a local instance)
    wave: int | None = None  # episodes per knowledge snapshot (default: workers, or batch)
    batch: int = 1  # more: episodes side by side in threads, their LLM calls batched


PLANNERS: dict[str, Callable[[RunConfig, World], Planner]] = {}


def _symbolic(cfg: RunConfig, world: World) -> Planner:
    from agent.planner.symbolic import SymbolicPlanner

    return SymbolicPlanner()


LLM_BACKENDS = ("local", "openai", "transformers", "cassette")


def llm_client(cfg: RunConfig) -> LLMClient:
    """The LLM client a run's planner talks to (`--planner` names the backend)."""
    from agent.llm import make_client

    opts = dict(cfg.extra.get("llm", {}))  # e.g. {"cassette": PATH, "adapter": PATH}
    return make_client(cfg.planner, model=cfg.model, base_url=cfg.base_url, **opts)


def _llm(cfg: RunConfig, world: World, client: LLMClient | None = None) -> Planner:
    from agent.planner.llm import LLMPlanner

    client = client if client is not None else llm_client(cfg)
    # e.g. {"examples": False, "max_steps": 2}: what a trained adapter was trained with
    return LLMPlanner(client, world, **cfg.extra.get("planner", {}))


def _fallible(cfg: RunConfig, world: World) -> Planner:
    from agent.planner.fallible import FallibleSymbolicPlanner, Misbeliefs

    misbeliefs = Misbeliefs(**cfg.extra.get("misbeliefs", {}))
    if world.id.partition("/")[0] == "alfworld":
        from agent.planner.household import FallibleHouseholdPlanner

        return FallibleHouseholdPlanner(world, misbeliefs, **cfg.extra.get("household", {}))
    return FallibleSymbolicPlanner(misbeliefs)


PLANNERS["symbolic"] = _symbolic
PLANNERS["fallible"] = _fallible
for _backend in LLM_BACKENDS:
    PLANNERS[_backend] = _llm


PLANNER_KINDS = {
    "symbolic": "oracle (not an LLM)",
    "fallible": "oracle with seeded misbeliefs (a test fixture, not an LLM)",
}


def _household(cfg: RunConfig, world: World) -> Planner:
    from agent.planner.household import HouseholdPlanner

    return HouseholdPlanner(world, **cfg.extra.get("household", {}))  # e.g. source=rules


# the symbolic (oracle) planner of each world family; CraftWorld's by default
SYMBOLIC: dict[str, Callable[[RunConfig, World], Planner]] = {"alfworld": _household}


def _symbolic_for(cfg: RunConfig, world: World) -> Planner:
    return SYMBOLIC.get(world.id.partition("/")[0], _symbolic)(cfg, world)


PLANNERS["symbolic"] = _symbolic_for
PLANNERS["household"] = _household
PLANNER_KINDS["household"] = "oracle: the ALFWorld engine's own planner (not an LLM)"

# the `--option` sections each planner reads (`agent.options`; world.* and distiller.* are read
# whatever the planner): a planner registered without an entry reads none, so an option given
# to a planner that ignores it is refused rather than silently dropped
READS: dict[str, tuple[str, ...]] = {
    "fallible": ("misbeliefs",),
    "household": ("household",),
    **{backend: ("llm", "planner") for backend in LLM_BACKENDS},
}
SYMBOLIC_READS = {"alfworld": ("household",)}  # as `SYMBOLIC`: the symbolic planner per family
FALLIBLE_READS = {"alfworld": ("misbeliefs", "household")}  # the fallible fixture per family


def make_distiller(cfg: RunConfig, planner: Planner) -> Distiller:
    """`rules`, or `llm`: the experience extractor, on the planner's own LLM client when it
    has one, else on the backend in `extra["distiller"]` (default: the bundled local model)."""
    if cfg.distiller == "rules":
        return RuleDistiller()
    if cfg.distiller != "llm":
        raise ValueError(f"unknown distiller {cfg.distiller!r}; available: rules, llm")
    from agent.extractor import LLMDistiller

    client = getattr(planner, "client", None)
    if client is None:
        from agent.llm import make_client

        opts = dict(cfg.extra.get("distiller", {}))
        client = make_client(opts.pop("backend", "local"), **opts)
    return LLMDistiller(client)


def recipes_of(cfg: RunConfig) -> str | None:
    """Where an LLM planner's recipe facts come from (`planner.recipes`: learned by default,
    oracle, off); None for a planner that is not an LLM (the symbolic ones are oracles)."""
    if PLANNERS.get(cfg.planner) is not _llm:
        return None
    from agent.planner.llm import recipe_mode

    return recipe_mode(cfg.extra.get("planner", {}).get("recipes", "learned"))


def help_given(cfg: RunConfig) -> list[str]:
    """Help the planner is given beyond what the agent observes and learns: named options,
    printed in every run summary and report (the world's own helpers are per task)."""
    if recipes_of(cfg) == "oracle":
        return [
            "planner.recipes=oracle (the world's recipe book: the goal's requirement tree as "
            "one-step facts and as the grammar, and the world's hints)"
        ]
    return []


def make_planner(cfg: RunConfig, world: World, client: LLMClient | None = None) -> Planner:
    """The run's planner on `world`; an LLM planner on `client` where one is given (a client
    shared by episodes played side by side), else on a client of its own."""
    if cfg.planner not in PLANNERS:
        raise ValueError(f"unknown planner {cfg.planner!r}; available: {', '.join(PLANNERS)}")
    if client is not None and cfg.planner in LLM_BACKENDS:
        return _llm(cfg, world, client)
    return PLANNERS[cfg.planner](cfg, world)


def auto_batch(planner: str, workers: int = 1, address: str | None = None) -> tuple[int, str]:
    """The batch a run gets when none is asked for: what the planner's backend and this
    machine suit, with the reason printed beside it (issue 31; figures in docs/llm.md)."""
    if workers > 1 or address:
        return 1, "Ray workers play the episodes side by side"
    if planner not in LLM_BACKENDS:
        return 1, f"the {planner} planner makes no model calls to batch"
    if planner == "openai":
        return 1, (
            "a served model may batch concurrent requests (vLLM; --batch N sends N); the"
            " one measured here, llama-cpp-python's server, does not"
        )
    if planner == "transformers":
        import torch

        if torch.cuda.is_available():
            return 8, "transformers on a GPU batches generation (not measured here: no GPU lent)"
        return 1, "transformers on the CPU: batching not measured here; --batch N to try"
    if planner == "local":
        return 1, (
            "llama.cpp on the CPU is compute-bound: batching measured 0.82-1.06x (docs/llm.md)"
        )
    return 1, f"the {planner} backend answers one request at a time"


def batch_on_ray(batch: int) -> str:
    """Why `--batch` and Ray workers do not go together (yet)."""
    return (
        f"--batch {batch} plays episodes side by side in this process; with --workers or"
        " --address (Ray) it is not supported yet: choose one"
    )


def check_config(cfg: RunConfig) -> None:
    """Refuse, before anything is made or written, a run whose settings name what does not
    exist: a planner, method, distiller, order, task, group, task helper, world option (the
    suite's or `--option world.*`) or `--option` key or value, each with the closest names,
    and a suite whose goals its world cannot reach (`agent.feasibility`).
    Unchecked, a misspelt task ran nothing and reported success 0/0, and a misspelt option was
    silently ignored. Raises ValueError listing every problem (SuiteError for a suite file
    that cannot be read, UnknownWorldError for its world)."""
    from agent.feasibility import suite_problems
    from agent.options import check_extra, check_world, hint
    from scenarios.loader import field_line
    from sim.registry import entry_point

    problems = []
    if cfg.planner not in PLANNERS:
        problems.append(f"planner {cfg.planner!r}: no such planner{hint(cfg.planner, PLANNERS)}")
    try:
        get_method(cfg.method)
    except ValueError as exc:
        problems.append(str(exc))
    if cfg.distiller not in ("rules", "llm"):
        problems.append(f"distiller {cfg.distiller!r}: no such distiller; known: rules, llm")
    if cfg.order not in ("task", "seed"):
        problems.append(f"order {cfg.order!r}: must be 'task' or 'seed'")
    suite = load_suite(cfg.suite)
    entry = entry_point(suite.world)
    problems += _selection_problems(cfg, suite)
    if cfg.batch > 1 and (cfg.workers > 1 or cfg.address):
        problems.append(batch_on_ray(cfg.batch))
    for key, value in suite.world_options.items():  # where in the file: the suite's line
        at = f"{cfg.suite}:{field_line(cfg.suite, ('world_options', key)) or '?'}: world_options"
        problems += check_world(entry, suite.world, {key: value}, at)
    known = getattr(entry, "HELPERS", None)  # None: a factory, whose help is not known
    for i, task in enumerate(suite.tasks if isinstance(known, dict) else []):
        for key in sorted(set(task.helpers) - set(known or ())) if task.skip is None else ():
            line = field_line(cfg.suite, ("tasks", i, "helpers", key)) or "?"
            problems.append(
                f"{cfg.suite}:{line}: tasks[{i}].helpers.{key}: {suite.world} gives no"
                f" helper {key!r}{hint(key, known or ())}"
            )
    problems += suite_problems(cfg.suite, suite)  # goals the world cannot reach
    family = suite.world.partition("/")[0]
    reads = READS.get(cfg.planner, ())
    if cfg.planner == "symbolic":
        reads = SYMBOLIC_READS.get(family, ())
    if cfg.planner == "fallible":
        reads = FALLIBLE_READS.get(family, reads)
    readers = {
        **READS,
        **{f"symbolic on {fam} worlds": rs for fam, rs in SYMBOLIC_READS.items()},
        **{f"fallible on {fam} worlds": rs for fam, rs in FALLIBLE_READS.items()},
    }
    world = (suite.world, entry)
    problems += check_extra(cfg.extra, cfg.planner, reads, readers, world, cfg.distiller)
    if problems:
        raise ValueError("\n".join(problems))


def _selection_problems(cfg: RunConfig, suite: TaskSuite) -> list[str]:
    """The named tasks and groups, against the suite's; and that they select some episode."""
    from agent.options import hint
    from scenarios.loader import shipped_suites

    problems = []
    ids, skipped = [t.id for t in suite.tasks], dict(suite.skipped())
    groups = sorted({t.group for t in suite.tasks})
    here = Path(cfg.suite).resolve()  # a shipped suite by the name the user types
    shown = next((n for n, p in shipped_suites().items() if p.resolve() == here), cfg.suite)
    lists = f"; `steve suite show {shown}` lists them"
    for task in cfg.tasks or []:
        if task in skipped:
            problems.append(f"task {task!r} is skipped in {shown}: {skipped[task]}")
        elif task not in ids:
            close = hint(task, ids, every=False)
            problems.append(f"task {task!r}: no such task in {shown}{close}{lists}")
    for group in cfg.groups or []:
        if group not in groups:
            problems.append(f"group {group!r}: no such group in {shown}{hint(group, groups)}")
    if not problems and cfg.order in ("task", "seed") and not stream(suite.to_tasks(), cfg):
        chosen = ", ".join(
            f"{k} {','.join(map(str, v))}"
            for k, v in (("tasks", cfg.tasks), ("groups", cfg.groups), ("seeds", cfg.seeds))
            if v is not None
        )
        problems.append(f"{shown}: nothing to run ({chosen or 'no task'}: no episode){lists}")
    return problems


@dataclass
class RunPlace:
    """Where a run writes and what it still has to play (all of it, or on `--resume` what did
    not finish), with the config it records."""

    run_dir: Path
    run_id: str
    pairs: list[tuple[Task, int]]
    done: set[str]
    store_path: Path
    config: dict[str, Any]


def place_run(cfg: RunConfig, suite: TaskSuite, method: str, resume: str | Path | None) -> RunPlace:
    """The run directory, the episodes left to play and the config to record: the same for
    the serial and the parallel runner."""
    pairs = stream(suite.to_tasks(), cfg)
    seeds = sorted({s for _, s in pairs})
    done: set[str] = set()
    if resume is not None:  # the same run: skip what finished, retry what errored
        run_dir, run_id = Path(resume), Path(resume).name
        done = finished_episodes(run_dir)
        pairs = [(t, s) for t, s in pairs if f"{t.id}__s{s}" not in done]
    else:
        run_id = cfg.name or run_name(suite.name, method, seeds)
        run_dir = Path(cfg.out) / run_id
    store_path = Path(cfg.knowledge) if cfg.knowledge else run_dir / "knowledge.sqlite"
    config = {
        **asdict(cfg),
        "run_id": run_id,
        "world": suite.world,
        "store": str(store_path),
        "planner_kind": PLANNER_KINDS.get(cfg.planner, "llm"),
        "helpers": {t.id: t.helpers for t, _ in pairs if t.helpers},
        "recipes": recipes_of(cfg),
        "help": help_given(cfg),
    }
    return RunPlace(run_dir, run_id, pairs, done, store_path, config)


@dataclass
class RunResult:
    run_dir: Path
    episodes: list[EpisodeResult]
    skipped: list[tuple[str, str]]
    store_stats: dict[str, int]
    helpers: dict[str, dict[str, Any]] = field(default_factory=dict)
    help: list[str] = field(default_factory=list)  # given to the planner (`help_given`)
    recipes: str | None = None  # an LLM planner's recipe facts: learned, oracle or off
    stopped: str | None = None  # why the run stopped before its last episode (else None)
    timing: dict[str, float] = field(default_factory=dict)  # ray_init_s, start_s, rollout_s
    retried: dict[str, int] = field(default_factory=dict)  # episode id -> attempts beyond one
    workers: int = 1
    batch: int = 1

    @property
    def errored(self) -> list[EpisodeResult]:
        return [r for r in self.episodes if r.error]


def run_name(suite: str, method: str, seeds: list[int]) -> str:
    """A new run's id (and folder name): suite, method, seeds, the time, and four random hex
    digits, so that two runs started in the same second (a cluster's jobs, sharing a store)
    never share an id: episodes and the rollback of a resumed run are keyed by it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{suite}__{method}__{'-'.join(map(str, seeds))}__{stamp}-{secrets.token_hex(2)}"


def finished_episodes(run_dir: Path) -> set[str]:
    """Episode ids in a run directory that ended without an error (the last line wins)."""
    last: dict[str, dict[str, Any]] = {}
    path = run_dir / "episodes.jsonl"
    if not path.exists():
        return set()
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot be read as the run's episode lines ({exc})") from None
    for n, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines):
                continue  # the last line cut short by a kill: that episode runs again
            raise ValueError(
                f"{path}:{n}: not an episode line (damaged; move the file aside to rerun every"
                " episode of the run)"
            ) from None
        if not isinstance(row, dict) or not isinstance(row.get("episode_id"), str):
            raise ValueError(f"{path}:{n}: an episode line needs an 'episode_id'")
        last[row["episode_id"]] = row
    return {eid for eid, row in last.items() if not row.get("error")}


def load_run_config(run_dir: Path) -> RunConfig:
    """The config a run was started with, to resume it; a damaged one is a ValueError that
    names the file and the field."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise ValueError(f"{run_dir}: not a run directory (no config.yaml)")
    try:
        raw = yaml.safe_load(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError) as exc:
        raise ValueError(f"{path}: not a readable run config ({type(exc).__name__})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a run config is a mapping of settings")
    fields = {k: raw[k] for k in RunConfig.__dataclass_fields__ if k in raw}
    if not isinstance(fields.get("suite"), str):
        raise ValueError(f"{path}: 'suite' must name the suite file the run played")
    try:
        return RunConfig(**fields)
    except TypeError as exc:
        raise ValueError(f"{path}: {exc}") from None


def stop_reason(results: list[EpisodeResult], left: int) -> str | None:
    """Why the run stops before its next episode: the last `ERRORED_IN_A_ROW` episodes all
    errored (else None)."""
    last = results[-ERRORED_IN_A_ROW:]
    if len(last) < ERRORED_IN_A_ROW or not all(r.error for r in last):
        return None
    return (
        f"stopped after {ERRORED_IN_A_ROW} errored episodes in a row, with {left} not played"
        f" (last error: {last[-1].error})"
    )


def stream(tasks: list[tuple[Task, list[int]]], cfg: RunConfig) -> list[tuple[Task, int]]:
    """The episodes of a run in the order they are played (the experience stream)."""
    if cfg.order not in ("task", "seed"):
        raise ValueError(f"order must be 'task' or 'seed', got {cfg.order!r}")
    chosen = [
        (task, cfg.seeds if cfg.seeds is not None else seeds)
        for task, seeds in tasks
        if (cfg.tasks is None or task.id in cfg.tasks)
        and (cfg.groups is None or task.group in cfg.groups)
    ]
    if cfg.order == "task":
        return [(task, seed) for task, seeds in chosen for seed in seeds]
    every = sorted({s for _, seeds in chosen for s in seeds})
    return [(task, seed) for seed in every for task, seeds in chosen if seed in seeds]


def world_options(path: Path, cfg: RunConfig) -> dict[str, Any]:
    """The suite's `world_options`, overridden by `--option world.KEY=VALUE` (e.g. the host
    and port of a Minecraft server)."""
    raw = _raw_suite(path)
    options = raw.get("world_options") if isinstance(raw, dict) else None
    return {**(options if isinstance(options, dict) else {}), **cfg.extra.get("world", {})}


def suite_world_id(path: Path) -> str:
    """The suite's world id, read before full validation so items can be checked against it."""
    from scenarios.schema import TaskSuite

    raw = _raw_suite(path)
    default = TaskSuite.model_fields["world"].default
    return str(raw.get("world", default)) if isinstance(raw, dict) else str(default)


def _raw_suite(path: Path) -> Any:
    """The suite file's plain data, or None where it cannot be read (a binary or absurdly
    nested file): `load_suite` then reports it with file and line, before anything runs."""
    from scenarios.loader import SuiteError, read_raw

    try:
        return read_raw(path)
    except SuiteError:
        return None
