"""Jump-forward decoding for plan-shaped JSON schemas: what the schema forces is written
without asking the model, and only real choices cost a forward pass each.

Two thirds of a plan reply's tokens are structure the grammar leaves no choice about
(`{"plan": [{"verb": "`, `", "target": "`, the rest of `oak_planks` once `oak_p` is written).
Sampling them one at a time costs a forward pass each; here each forced run is tokenized and
evaluated in one batch, like the prompt. The pieces:

- `Automaton`: the schema compiled to a byte-level automaton (an NFA built by Thompson's
  construction, determinized lazily as decoding visits its states) whose sentences are the
  JSON texts the schema admits, written the way `json.dumps` writes them (`", "` and `": "`,
  no other whitespace). `forced(state)` is the text every sentence continues with.
- `TokenTrie`: the model's vocabulary as a byte trie, walked together with the automaton to
  list the tokens allowed in a state (a few dozen, never the whole vocabulary).

It covers what plans use (objects with required properties in order, arrays with min/max items,
enum, const, anyOf/oneOf, integers, booleans, null) and raises `Unsupported` for the rest (free
strings, numbers): those schemas keep llama.cpp's grammar sampler. Nothing here imports
llama.cpp; `agent.llm.local` drives the model.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from typing import Any

from agent.llm.gbnf import SMALL_RANGE, Unsupported

MAX_NODES = 200_000  # a schema whose automaton would be larger keeps llama.cpp's grammar
DIGITS = b"0123456789"
Frag = tuple[int, int]  # (entry node, exit node) of an NFA fragment


class Automaton:
    """The texts a JSON schema admits, as a lazily determinized byte automaton.

    States are small ints; `start` is the first. `moves(s)` maps each allowed next byte to the
    state after it, `accepting(s)` says whether the text so far is a whole sentence.
    """

    def __init__(self, schema: dict[str, Any], max_nodes: int = MAX_NODES) -> None:
        self._edges: list[dict[int, list[int]]] = []
        self._eps: list[list[int]] = []
        self._max_nodes = max_nodes
        entry, self._exit = self._visit(schema)
        self._sets: list[frozenset[int]] = []
        self._ids: dict[frozenset[int], int] = {}
        self._moves: dict[int, dict[int, int]] = {}
        self.start = self._state(self._closure([entry]))

    # ---- building the NFA (Thompson's construction) ----------------------------------------
    def _node(self) -> int:
        if len(self._edges) >= self._max_nodes:
            raise Unsupported(f"the schema's automaton passes {self._max_nodes} nodes")
        self._edges.append({})
        self._eps.append([])
        return len(self._edges) - 1

    def _lit(self, text: bytes) -> Frag:
        first = node = self._node()
        for b in text:
            nxt = self._node()
            self._edges[node][b] = [nxt]
            node = nxt
        return first, node

    def _bytes(self, allowed: bytes) -> Frag:
        """One byte out of `allowed`."""
        a, z = self._node(), self._node()
        for b in allowed:
            self._edges[a][b] = [z]
        return a, z

    def _seq(self, frags: Sequence[Frag]) -> Frag:
        for (_, z), (a, _) in itertools.pairwise(frags):
            self._eps[z].append(a)
        return frags[0][0], frags[-1][1]

    def _alt(self, frags: Sequence[Frag]) -> Frag:
        a, z = self._node(), self._node()
        for fa, fz in frags:
            self._eps[a].append(fa)
            self._eps[fz].append(z)
        return a, z

    def _opt(self, frag: Frag) -> Frag:
        self._eps[frag[0]].append(frag[1])
        return frag

    def _star(self, frag: Frag) -> Frag:
        a, z = self._node(), self._node()
        self._eps[a] += [frag[0], z]
        self._eps[frag[1]] += [frag[0], z]
        return a, z

    def _visit(self, s: Any) -> Frag:
        if not isinstance(s, dict):
            raise Unsupported(f"schema node {s!r}")
        if "const" in s:
            return self._literals([s["const"]])
        if "enum" in s:
            return self._literals(s["enum"])
        for key in ("anyOf", "oneOf"):
            if key in s:
                return self._alt([self._visit(x) for x in s[key]])
        kind = s.get("type")
        extra = set(s) - {"type", "description", "title", "additionalProperties", "default"}
        if kind == "object":
            return self._object(s)
        if kind == "array":
            return self._array(s)
        if kind == "integer" and {"minimum", "maximum"} <= set(s):
            lo, hi = int(s["minimum"]), int(s["maximum"])
            if 0 <= hi - lo < SMALL_RANGE:
                return self._literals(list(range(lo, hi + 1)))
        if kind == "integer" and not extra:
            # -?(0|[1-9][0-9]{0,15}), as the grammar converter writes it
            digits = [self._opt(self._bytes(DIGITS)) for _ in range(15)]
            nonzero = self._seq([self._bytes(DIGITS[1:]), self._opt(self._bytes(DIGITS)), *digits])
            return self._seq([self._opt(self._lit(b"-")), self._alt([self._lit(b"0"), nonzero])])
        if kind == "boolean" and not extra:
            return self._literals([True, False])
        if kind == "null" and not extra:
            return self._literals([None])
        raise Unsupported(f"schema node with keys {sorted(s)} (type {kind!r})")

    def _literals(self, values: Iterable[Any]) -> Frag:
        texts = sorted({json.dumps(v, ensure_ascii=False).encode() for v in values})
        if not texts:
            raise Unsupported("empty enum")
        return self._alt([self._lit(t) for t in texts])

    def _object(self, s: dict[str, Any]) -> Frag:
        if set(s) - {"type", "properties", "required", "additionalProperties", "description"}:
            raise Unsupported(f"object with keys {sorted(s)}")
        props: dict[str, Any] = s.get("properties", {})
        required = set(s.get("required", []))
        parts: list[Frag] = [self._lit(b"{")]
        for n, key in enumerate(k for k in props if k in required):
            sep = b", " if n else b""
            parts += [self._lit(sep + json.dumps(key).encode() + b": "), self._visit(props[key])]
        return self._seq([*parts, self._lit(b"}")])

    def _array(self, s: dict[str, Any]) -> Frag:
        item = s.get("items")
        if not isinstance(item, dict):
            raise Unsupported("an array without one item schema")
        lo, hi = int(s.get("minItems", 0)), s.get("maxItems")
        if hi is not None and int(hi) < lo:
            raise Unsupported("maxItems < minItems")

        def more() -> Frag:
            return self._seq([self._lit(b", "), self._visit(item)])

        if hi is not None and int(hi) == 0:
            return self._lit(b"[]")
        tail = [more() for _ in range(lo - 1)] if lo else []  # the required items after the first
        if hi is None:
            tail.append(self._star(more()))
        else:
            tail += [self._opt(more()) for _ in range(int(hi) - max(lo, 1))]
        items = self._seq([self._visit(item), *tail])
        body = items if lo else self._opt(items)
        return self._seq([self._lit(b"["), body, self._lit(b"]")])

    # ---- running it ------------------------------------------------------------------------
    def _closure(self, nodes: Iterable[int]) -> frozenset[int]:
        seen = set(nodes)
        todo = list(seen)
        while todo:
            for nxt in self._eps[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return frozenset(seen)

    def _state(self, nodes: frozenset[int]) -> int:
        found = self._ids.get(nodes)
        if found is None:
            found = self._ids[nodes] = len(self._sets)
            self._sets.append(nodes)
        return found

    def moves(self, state: int) -> dict[int, int]:
        """Each byte allowed next, with the state it leads to."""
        got = self._moves.get(state)
        if got is None:
            targets: dict[int, set[int]] = {}
            for node in self._sets[state]:
                for b, nxt in self._edges[node].items():
                    targets.setdefault(b, set()).update(nxt)
            got = self._moves[state] = {
                b: self._state(self._closure(nodes)) for b, nodes in sorted(targets.items())
            }
        return got

    def accepting(self, state: int) -> bool:
        return self._exit in self._sets[state]

    def done(self, state: int) -> bool:
        """A whole sentence that nothing can extend."""
        return self.accepting(state) and not self.moves(state)

    def step(self, state: int, text: bytes) -> int | None:
        """The state after `text`, or None where the schema does not admit it."""
        for b in text:
            nxt = self.moves(state).get(b)
            if nxt is None:
                return None
            state = nxt
        return state

    def forced(self, state: int) -> tuple[bytes, int]:
        """The longest text every sentence continues with from `state`, and the state after
        it (it stops where a sentence may end or two bytes are possible)."""
        out = bytearray()
        while not self.accepting(state):
            moves = self.moves(state)
            if len(moves) != 1:
                break
            ((b, state),) = moves.items()
            out.append(b)
        return bytes(out), state

    def admits(self, text: str) -> bool:
        end = self.step(self.start, text.encode())
        return end is not None and self.accepting(end)


class TokenTrie:
    """A vocabulary as a byte trie: `allowed(automaton, state)` lists the tokens whose bytes
    the automaton admits from `state`, with the state each leads to."""

    _TOKEN = -1  # the key under which a trie node keeps the token id that ends there

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self.root: dict[int, Any] = {}
        for token, piece in enumerate(pieces):
            if not piece:
                continue  # special tokens (end of text, chat markers) print as nothing
            node = self.root
            for b in piece:
                node = node.setdefault(b, {})
            node.setdefault(self._TOKEN, token)  # the first of two ids with the same bytes

    def allowed(self, automaton: Automaton, state: int) -> list[tuple[int, int]]:
        out = []
        todo = [(self.root, state)]
        while todo:
            node, at = todo.pop()
            for b, nxt in automaton.moves(at).items():
                child = node.get(b)
                if child is None:
                    continue
                token = child.get(self._TOKEN)
                if token is not None:
                    out.append((token, nxt))
                todo.append((child, nxt))
        return out
