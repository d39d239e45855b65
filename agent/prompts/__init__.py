"""Prompts as package data: `<name>.txt` files here, loaded by name and filled with
`string.Template` (`$name` placeholders, so JSON braces need no escaping).

Every value put into a prompt is capped at `VALUE_CHARS` (a task's instruction is free text
a suite author writes; a 1 MB one must not go to the model whole): longer ones are clipped
with a visible marker that says how much was cut."""

from __future__ import annotations

import functools
from importlib import resources
from string import Template

VALUE_CHARS = 4000  # the most of any one value a prompt takes (about 1,000 tokens)


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
    """Prompt `name` with its `$placeholders` filled, each value clipped to `VALUE_CHARS`;
    a missing value is a KeyError."""
    return Template(load(name)).substitute({k: clip(str(v)) for k, v in values.items()}).strip()


def clip(text: str, limit: int = VALUE_CHARS) -> str:
    """`text`, or its first `limit` characters and a marker of how many were cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]} … [clipped {len(text) - limit:,} chars]"


def dialogue(name: str) -> list[dict[str, str]]:
    """Prompt `name` read as chat turns: lines `[user]`, `[assistant]` or `[system]` open a
    turn (worked examples put before a request)."""
    turns: list[dict[str, str]] = []
    for line in load(name).splitlines():
        role = line.strip()[1:-1] if line.strip() in ("[user]", "[assistant]", "[system]") else ""
        if role:
            turns.append({"role": role, "content": ""})
        elif turns:
            turns[-1]["content"] += line + "\n"
        elif line.strip():
            raise ValueError(f"prompt {name!r}: text before the first [role] line")
    for turn in turns:
        turn["content"] = turn["content"].strip()
    return turns
