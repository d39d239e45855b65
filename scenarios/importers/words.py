"""Finding the Minecraft items a phrase names ("Craft a wooden pickaxe" -> `wooden_pickaxe`),
for formats whose goal is only written in words (Optimus-1 / MineEvolve instructions, MCU file
names)."""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Mapping

from scenarios.importers.base import Builder, Source, minecraft_items
from scenarios.loader import Loc

# Words that mean an item without naming it (Optimus-1's "chop a tree"). Real item names
# always win: they are looked up first, and the longest match wins.
ALIASES: Mapping[str, str] = {
    "tree": "oak_log",
    "log": "oak_log",
    "wood": "oak_log",
    "planks": "oak_planks",
    "redstone_dust": "redstone",
}
_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip


def items_in_text(text: str, known: Collection[str] | None = None) -> list[tuple[str, int]]:
    """The items a phrase names, in order, each once, with the count written before it.

    Words are matched against item names (spaces or underscores, any case), the longest name
    first at each word (`diamond pickaxe` is `diamond_pickaxe`, not `diamond`), a trailing
    plural allowed (`four sticks`), then the words in `ALIASES`. A number word or digits just
    before a name is its count (else 1). `known` defaults to Minecraft 1.16.5's items.
    """
    index = _index(frozenset(known) if known is not None else minecraft_items())
    words = re.findall(r"[a-z0-9]+", text.lower())
    longest = max((len(k) for k in index), default=0)
    found: dict[str, int] = {}
    i = 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            name = _lookup(index, words[i : i + n])
            if name is not None:
                before = words[i - 1] if i else ""
                count = _count(before)
                found.setdefault(name, max(count, 1))
                i += n
                break
        else:
            i += 1
    return list(found.items())


def _count(word: str) -> int:
    """The count a word before an item name gives: digits, a number word, else 1."""
    if word.isdigit():
        # Digits past any real count are capped (`int` refuses 4,300 digits), so the count
        # check still reports them as too many.
        return int(word) if len(word) <= 18 else 10**18
    return _NUMBERS.get(word, 1)


@functools.cache
def _index(known: frozenset[str]) -> dict[tuple[str, ...], str]:
    index = {tuple(alias.split("_")): item for alias, item in ALIASES.items() if item in known}
    index.update({tuple(name.split("_")): name for name in known})  # names beat aliases
    return index


def _lookup(index: Mapping[tuple[str, ...], str], words: list[str]) -> str | None:
    *head, last = words
    stems = [last]
    if last.endswith("ies"):
        stems.append(last[:-3] + "y")
    if last.endswith("es"):
        stems.append(last[:-2])
    if last.endswith("s"):
        stems.append(last[:-1])
    for stem in stems:
        name = index.get((*head, stem))
        if name is not None:
            return name
    return None


def goal_from_words(
    b: Builder, src: Source, loc: Loc, text: str, who: str, source: str
) -> tuple[str, int] | None:
    """The one item `text` names, with its count; None if it names none; an error naming the
    candidates if it names several (the goal is then ambiguous, never guessed)."""
    found = items_in_text(text, b.known)
    if len(found) > 1:
        names = ", ".join(name for name, _ in found)
        raise src.error(
            loc,
            f"{who}: {source} {text!r} names several items ({names}); give the entry a "
            "'goal' (an item name or {item, count})",
        )
    if not found:
        return None
    name, count = found[0]
    return name, b.count(src, loc, count, who)
