"""Symbolic NFA with epsilon moves: Thompson construction and the streaming ``Σ*`` prefix.

Transition labels are small ints: ``k >= 0`` is the index of a guard sentence in the pattern's canonical
sentence list, :data:`TRUE` matches every event and :data:`EPSILON` consumes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wayeb_py.automata.regex import Concat, Lit, Regex, Star, Union

TRUE = -1
EPSILON = -2


@dataclass(frozen=True)
class SNFA:
    """An epsilon-SNFA; ``transitions[q]`` lists ``(label, target)`` pairs in construction order."""

    transitions: tuple[tuple[tuple[int, int], ...], ...]
    start: int
    finals: frozenset[int]

    @property
    def n_states(self) -> int:
        return len(self.transitions)

    def epsilon_closure(self, states: frozenset[int] | set[int]) -> frozenset[int]:
        """All states reachable from ``states`` through epsilon moves only."""
        closure = set(states)
        stack = list(states)
        while stack:
            state = stack.pop()
            for label, target in self.transitions[state]:
                if label == EPSILON and target not in closure:
                    closure.add(target)
                    stack.append(target)
        return frozenset(closure)


class _Builder:
    """Mutable state-and-transition store shared by the recursive construction."""

    def __init__(self) -> None:
        self.transitions: list[list[tuple[int, int]]] = []

    def new_state(self) -> int:
        self.transitions.append([])
        return len(self.transitions) - 1

    def add(self, source: int, label: int, target: int) -> None:
        self.transitions[source].append((label, target))

    def build(self, node: Regex, label_of: Callable[[Any], int]) -> tuple[int, int]:
        """Thompson sub-automaton of ``node`` as ``(start, final)``."""
        if isinstance(node, Lit):
            start = self.new_state()
            final = self.new_state()
            self.add(start, label_of(node.guard), final)
            return start, final
        if isinstance(node, Concat):
            left_start, left_final = self.build(node.left, label_of)
            right_start, right_final = self.build(node.right, label_of)
            self.add(left_final, EPSILON, right_start)
            return left_start, right_final
        if isinstance(node, Union):
            left_start, left_final = self.build(node.left, label_of)
            right_start, right_final = self.build(node.right, label_of)
            start = self.new_state()
            final = self.new_state()
            self.add(start, EPSILON, left_start)
            self.add(start, EPSILON, right_start)
            self.add(left_final, EPSILON, final)
            self.add(right_final, EPSILON, final)
            return start, final
        if isinstance(node, Star):
            inner_start, inner_final = self.build(node.inner, label_of)
            start = self.new_state()
            final = self.new_state()
            self.add(inner_final, EPSILON, inner_start)
            self.add(start, EPSILON, final)
            self.add(start, EPSILON, inner_start)
            self.add(inner_final, EPSILON, final)
            return start, final
        raise TypeError(f"unsupported regex node {type(node).__name__}")


def build_snfa(regex: Regex, label_of: Callable[[Any], int], *, streaming: bool = True) -> SNFA:
    """Thompson SNFA of ``regex``; with ``streaming`` the language becomes ``Σ*·regex``.

    The streaming form adds a new start state with a TRUE self-loop and an epsilon move to the old start,
    so the automaton reaches a final state at every event that ends some match.
    """
    builder = _Builder()
    start, final = builder.build(regex, label_of)
    if streaming:
        prefix = builder.new_state()
        builder.add(prefix, TRUE, prefix)
        builder.add(prefix, EPSILON, start)
        start = prefix
    return SNFA(
        transitions=tuple(tuple(ts) for ts in builder.transitions),
        start=start,
        finals=frozenset({final}),
    )
