"""Prompts as package data: `<name>.txt` files here, loaded by name and filled with
`string.Template` (`$name` placeholders, so JSON braces need no escaping)."""

from __future__ import annotations

import functools
from importlib import resources
from string import Template


@functools.cache
def load(name: str) -> str:
    """The text of prompt `name` (the file `<name>.txt` in this package)."""
    path = resources.files(__name__).joinpath(f"{name}.txt")
    if not path.is_file():
        raise FileNotFoundError(f"no prompt {name!r} in {__name__}")
    return path.read_text(encoding="utf-8")


def exists(name: str) -> bool:
    return resources.files(__name__).joinpath(f"{name}.txt").is_file()


def render(name: str, **values: object) -> str:
    """Prompt `name` with its `$placeholders` filled; a missing value is a KeyError."""
    return Template(load(name)).substitute({k: str(v) for k, v in values.items()}).strip()
