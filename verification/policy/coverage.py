"""Which of a resource type's possible ARNs a statement's Resource covers: all, some or none.

A request names one real resource, so a permission is judged on the ARNs its resource types can
have (``arn:aws:ec2:eu-west-1:111122223333:volume/vol-`` and 8 or 17 hexadecimal digits), not on one
made-up ARN. Given the type's ARN language (a regular expression in a small subset: literals,
``[classes]``, ``(a|b)``, ``.``, ``?``, ``*``, ``+``, ``{m,n}``) and the Resource patterns of the
statements that bear on an action, ``partition`` finds every combination of statements that some
real ARN of the type meets, with one such ARN for each (a witness). The engine then decides each
witness as any request: a Deny on ``volume/vol-0*`` is seen on a ``vol-0…`` witness, and an Allow
on ``volume/*`` needs no literal ``*``.

Exact, not sampled: both sides become finite automata, explored together over a finite alphabet
(every character either side names, plus one that neither does: all others behave like it). The
patterns are read as the engine reads them (match.py): a wildcard stays inside its colon-separated
segment, except in the resource segment and for a ``*`` that ends a segment
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

__all__ = ["Coverage", "arn_pattern_regex", "partition"]

Extent = Literal["all", "some", "none"]
#: Past this many combined states the answer is not worth its cost: ``Coverage.complete`` is False.
_MAX_STATES = 50_000
_SEGMENTS = 6
#: Repetitions bounded above this are read as unbounded: ``{1,255}`` costs 255 states a search walks.
_LONG = 32


# --- a small regular-expression subset, as automata --------------------------------------------------


@dataclass(frozen=True)
class _Chars:
    """A set of characters: the listed ones, or (``negated``) every character but them."""

    chars: frozenset[str]
    negated: bool = False

    def __contains__(self, char: str) -> bool:
        return (char in self.chars) != self.negated


_ANY = _Chars(frozenset(), negated=True)


class _Nfa:
    """Thompson automaton: ``moves[state]`` holds (chars, next) edges, ``empty[state]`` free moves."""

    def __init__(self) -> None:
        self.moves: list[list[tuple[_Chars, int]]] = []
        self.empty: list[list[int]] = []
        self.start = 0
        self.accept = 0
        self.memo: dict[tuple[frozenset[int], str], frozenset[int]] = {}

    def state(self) -> int:
        self.moves.append([])
        self.empty.append([])
        return len(self.moves) - 1

    def closure(self, states: Iterable[int]) -> frozenset[int]:
        seen = set(states)
        stack = list(seen)
        while stack:
            for nxt in self.empty[stack.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return frozenset(seen)

    def step(self, states: frozenset[int], char: str) -> frozenset[int]:
        key = (states, char)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = self.closure(nxt for s in states for chars, nxt in self.moves[s] if char in chars)
        return found

    def named(self) -> set[str]:
        """Every character an edge names (the rest behave alike)."""
        return {c for edges in self.moves for chars, _ in edges for c in chars.chars}


class _Parser:
    """Recursive descent over the subset, building fragments (start, end) of one automaton."""

    def __init__(self, source: str, nfa: _Nfa) -> None:
        self.text, self.at, self.nfa = source, 0, nfa

    def peek(self) -> str | None:
        return self.text[self.at] if self.at < len(self.text) else None

    def take(self) -> str:
        char = self.text[self.at]
        self.at += 1
        return char

    def alternation(self) -> tuple[int, int]:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.take()
            branches.append(self.sequence())
        if len(branches) == 1:
            return branches[0]
        start, end = self.nfa.state(), self.nfa.state()
        for first, last in branches:
            self.nfa.empty[start].append(first)
            self.nfa.empty[last].append(end)
        return start, end

    def sequence(self) -> tuple[int, int]:
        start = end = self.nfa.state()
        while self.peek() not in (None, "|", ")"):
            first, last = self.repeated()
            self.nfa.empty[end].append(first)
            end = last
        return start, end

    def repeated(self) -> tuple[int, int]:
        mark = self.at
        fragment = self.atom()
        atom_text = self.text[mark : self.at]
        char = self.peek()
        if char in ("*", "+", "?"):
            self.take()
            low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        elif char == "{":
            close = self.text.index("}", self.at)
            low_text, comma, high_text = self.text[self.at + 1 : close].partition(",")
            self.at = close + 1
            low = int(low_text)
            high = int(high_text) if comma and high_text else (None if comma else low)
            if high is not None and high > _LONG:
                high = None  # a long name's upper bound never decides a Resource pattern's reach
        else:
            return fragment
        spare = [fragment]

        def copy() -> tuple[int, int]:
            return spare.pop() if spare else _Parser(atom_text, self.nfa).atom()

        start = end = self.nfa.state()
        for _ in range(low):
            first, last = copy()
            self.nfa.empty[end].append(first)
            end = last
        done = self.nfa.state()
        self.nfa.empty[end].append(done)
        if high is None:  # one more copy, looping
            first, last = copy()
            self.nfa.empty[end].append(first)
            self.nfa.empty[last].extend((first, done))
            return start, done
        for _ in range(high - low):
            first, last = copy()
            self.nfa.empty[end].append(first)
            end = last
            self.nfa.empty[end].append(done)
        return start, done

    def atom(self) -> tuple[int, int]:
        char = self.take()
        if char == "(":
            if self.text.startswith("?:", self.at):
                self.at += 2
            fragment = self.alternation()
            if self.take() != ")":
                raise ValueError(f"unbalanced group in {self.text!r}")
            return fragment
        if char == "[":
            return self.edge(self.char_class())
        if char == ".":
            return self.edge(_ANY)
        if char == "\\":
            return self.edge(_Chars(frozenset(self.take())))
        return self.edge(_Chars(frozenset(char)))

    def char_class(self) -> _Chars:
        negated = self.peek() == "^"
        if negated:
            self.take()
        chars: set[str] = set()
        first = True
        while first or self.peek() != "]":
            first = False
            char = self.take()
            if char == "\\":
                char = self.take()
            if self.peek() == "-" and self.text[self.at + 1 : self.at + 2] not in ("]", ""):
                self.take()
                high = self.take()
                if high == "\\":
                    high = self.take()
                chars.update(chr(code) for code in range(ord(char), ord(high) + 1))
            else:
                chars.add(char)
        self.take()
        return _Chars(frozenset(chars), negated)

    def edge(self, chars: _Chars) -> tuple[int, int]:
        start, end = self.nfa.state(), self.nfa.state()
        self.nfa.moves[start].append((chars, end))
        return start, end


@lru_cache(maxsize=1024)
def _compile(sources: tuple[str, ...]) -> _Nfa:
    """One automaton for the union of ``sources`` (regular expressions of the subset)."""
    nfa = _Nfa()
    nfa.start, nfa.accept = nfa.state(), nfa.state()
    for source in sources:
        parser = _Parser(source, nfa)
        first, last = parser.alternation()
        if parser.at != len(source):
            raise ValueError(f"cannot read {source!r} at {parser.at}")
        nfa.empty[nfa.start].append(first)
        nfa.empty[last].append(nfa.accept)
    return nfa


def _glob(pattern: str, *, bound: bool) -> str:
    star, one = ("[^:]*", "[^:]") if bound else (".*", ".")
    return "".join(star if c == "*" else one if c == "?" else "\\" + c for c in pattern)


def arn_pattern_regex(pattern: str) -> str:
    """A Resource pattern (``*`` and ``?`` wildcards) as a regular expression of the subset."""
    if pattern == "*":
        return ".*"
    segments = pattern.split(":", _SEGMENTS - 1)
    head = [_glob(s[:-1], bound=True) + ".*" if s.endswith("*") else _glob(s, bound=True) for s in segments[:-1]]
    return "\\:".join([*head, _glob(segments[-1], bound=False)])


# --- the partition of a type's ARNs by statements ---------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """How statements' Resource patterns divide a resource type's ARNs.

    ``extents[i]``: whether pattern set ``i`` matches all, some or none of the type's ARNs.
    ``witnesses``: one ARN of the type per combination met, with which sets match it. ``complete``
    is False when the search was cut short (then the witnesses found are still real ARNs).
    """

    extents: tuple[Extent, ...]
    witnesses: tuple[tuple[str, tuple[bool, ...]], ...]
    complete: bool = True


def _alphabet(automata: Sequence[_Nfa], preferred: str) -> list[str]:
    named = set().union(*(a.named() for a in automata))
    for candidate in "0123456789abcdefghijklmnopqrstuvwxyz" + "".join(chr(c) for c in range(0x21, 0x7F)):
        if candidate not in named:
            named.add(candidate)
            break
    else:  # pragma: no cover - every printable character named
        named.add("\u0100")
    order = {c: i for i, c in enumerate(preferred)}
    return sorted(named, key=lambda c: (order.get(c, len(order)), c))


@lru_cache(maxsize=4096)
def partition(language: str, sets: tuple[tuple[str, ...], ...], preferred: str = "") -> Coverage:
    """The combinations of pattern ``sets`` (each a union of Resource patterns) that ARNs of ``language`` meet.

    ``preferred``: a canonical ARN of the language (the representative example); its combination
    keeps it as the witness, so the usual answer is judged on the usual ARN. Raises ValueError on a
    pattern outside the subset (the caller then judges on the representative ARN alone).
    """
    type_nfa = _compile((language,))
    set_nfas = [_compile(tuple(arn_pattern_regex(p) for p in patterns)) for patterns in sets]
    automata = [type_nfa, *set_nfas]
    alphabet = _alphabet(automata, preferred)
    start = tuple(a.closure([a.start]) for a in automata)
    parent: dict[tuple[frozenset[int], ...], tuple[tuple[frozenset[int], ...], str] | None] = {start: None}
    queue = deque([start])
    found: dict[tuple[bool, ...], str] = {}
    complete = True
    while queue:
        states = queue.popleft()
        if type_nfa.accept in states[0]:
            signature = tuple(nfa.accept in s for nfa, s in zip(set_nfas, states[1:], strict=True))
            if signature not in found:
                found[signature] = _spell(parent, states)
        for char in alphabet:
            moved = tuple(a.step(s, char) for a, s in zip(automata, states, strict=True))
            if not moved[0] or moved in parent:
                continue
            if len(parent) >= _MAX_STATES:
                complete = False
                queue.clear()
                break
            parent[moved] = (states, char)
            queue.append(moved)
    if preferred and _accepts(type_nfa, preferred):
        signature = tuple(_accepts(nfa, preferred) for nfa in set_nfas)
        found[signature] = preferred
    extents: list[Extent] = []
    for index in range(len(sets)):
        hits = {signature[index] for signature in found}
        extents.append("all" if hits == {True} else "none" if hits == {False} or not hits else "some")
    witnesses = sorted(found.items(), key=lambda item: (item[1] != preferred, len(item[1]), item[1]))
    return Coverage(tuple(extents), tuple((arn, signature) for signature, arn in witnesses), complete)


def _accepts(nfa: _Nfa, text: str) -> bool:
    states = nfa.closure([nfa.start])
    for char in text:
        states = nfa.step(states, char)
        if not states:
            return False
    return nfa.accept in states


def _spell(
    parent: dict[tuple[frozenset[int], ...], tuple[tuple[frozenset[int], ...], str] | None],
    states: tuple[frozenset[int], ...],
) -> str:
    chars: list[str] = []
    link = parent[states]
    while link is not None:
        states, char = link
        chars.append(char)
        link = parent[states]
    return "".join(reversed(chars))
