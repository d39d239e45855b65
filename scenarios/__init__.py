"""Task suites: the YAML schema users author, its loader with precise errors, and the suites
shipped with the package (`scenarios/suites/*.yaml`)."""

from __future__ import annotations

from scenarios.loader import SuiteError, iter_suites, load_suite, resolve_suite
from scenarios.schema import GoalSpec, SuiteDefaults, TaskEntry, TaskSuite

__all__ = [
    "GoalSpec",
    "SuiteDefaults",
    "SuiteError",
    "TaskEntry",
    "TaskSuite",
    "iter_suites",
    "load_suite",
    "resolve_suite",
]
