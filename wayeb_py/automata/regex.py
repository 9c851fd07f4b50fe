"""Binary regular-expression trees over opaque guards (the formulas of a symbolic regular expression).

The pattern parser produces these trees with sentence guards; the automata code never looks inside a guard.
n-ary sequences and choices are folded left to right (``;(a,b,c)`` is ``;(;(a,b),c)``), as Wayeb does
before it builds the automaton, so that the Thompson construction yields the same state sets.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass


class Regex:
    """Base class of the four node kinds."""

    def guards(self) -> Iterator[Hashable]:
        """Guards of all literals, left to right (with repetitions)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Lit(Regex):
    """One event satisfying ``guard``."""

    guard: Hashable

    def guards(self) -> Iterator[Hashable]:
        yield self.guard


@dataclass(frozen=True)
class Concat(Regex):
    """``left`` followed by ``right``."""

    left: Regex
    right: Regex

    def guards(self) -> Iterator[Hashable]:
        yield from self.left.guards()
        yield from self.right.guards()


@dataclass(frozen=True)
class Union(Regex):
    """``left`` or ``right``."""

    left: Regex
    right: Regex

    def guards(self) -> Iterator[Hashable]:
        yield from self.left.guards()
        yield from self.right.guards()


@dataclass(frozen=True)
class Star(Regex):
    """Zero or more repetitions of ``inner``."""

    inner: Regex

    def guards(self) -> Iterator[Hashable]:
        yield from self.inner.guards()


def concat(items: Sequence[Regex]) -> Regex:
    """Left-folded sequence of at least one item."""
    result = items[0]
    for item in items[1:]:
        result = Concat(result, item)
    return result


def union(items: Sequence[Regex]) -> Regex:
    """Left-folded choice of at least one item."""
    result = items[0]
    for item in items[1:]:
        result = Union(result, item)
    return result
