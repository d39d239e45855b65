"""Task suites: the YAML schema users author, its loader with precise errors, importers for
other projects' task formats, a template writer, and the suites shipped with the package
(`scenarios/suites/*.yaml`)."""

from __future__ import annotations

from scenarios.importers import import_tasks
from scenarios.loader import SuiteError, iter_suites, load_suite, resolve_suite, shipped_suites
from scenarios.schema import GoalSpec, GroupDefaults, SuiteDefaults, TaskEntry, TaskSuite
from scenarios.template import write_suite, write_template

__all__ = [
    "GoalSpec",
    "GroupDefaults",
    "SuiteDefaults",
    "SuiteError",
    "TaskEntry",
    "TaskSuite",
    "import_tasks",
    "iter_suites",
    "load_suite",
    "resolve_suite",
    "shipped_suites",
    "write_suite",
    "write_template",
]
