"""Condition signatures: a canonical hash of the symbolic facts that matter."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def canonical(facts: Iterable[str]) -> list[str]:
    """Facts sorted and de-duplicated: the canonical form a signature is taken of."""
    return sorted(set(facts))


def signature(facts: Iterable[str]) -> str:
    """A short stable hash of a fact set; equal sets give equal signatures in any order."""
    text = "\n".join(canonical(facts))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
