"""Shared test setup: nothing a test run derives from a model lands in the user's cache."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from agent.cli import app, load_commands

# the commands of the `steve.commands` entry points (the visualiser's watch, replay, plots, ...),
# as the `steve` console script adds them: tests invoke `agent.cli.app` with typer's CliRunner
load_commands(app)


@pytest.fixture(autouse=True, scope="session")
def _private_model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`$STEVE_CACHE` (dequantized models, saved prompt states) in a folder of this session,
    unless the caller chose one."""
    if "STEVE_CACHE" in os.environ:
        yield
        return
    os.environ["STEVE_CACHE"] = str(tmp_path_factory.mktemp("steve-cache"))
    try:
        yield
    finally:
        os.environ.pop("STEVE_CACHE", None)
