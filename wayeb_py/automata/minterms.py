"""Minterms of a sentence list, pruned by exclusive predicate sets.

A minterm is a sign vector over the (canonically ordered) sentence list: ``True`` at position ``i`` means the
minterm contains sentence ``i``, ``False`` its negation. Following Wayeb, a sign vector exists iff some truth
assignment to the exclusive predicates, with at most one true predicate per exclusive set, satisfies every
positive sentence of the vector under the coarse rule of ``sat_under`` (negations are always satisfiable, so
logically contradictory vectors such as ``^(W,S)`` together with ``^(W,-S)`` are kept).

Minterms are returned in canonical order: lexicographic on the sign vector with ``True`` before ``False``.
For ``;(A,B)`` with exclusives ``{A,B,C}`` this gives ``[A, B, neither]``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Protocol

Minterm = tuple[bool, ...]
DEFAULT_MAX_MINTERMS = 1 << 16


class GuardSentence(Protocol):
    """What the minterm construction needs from a sentence."""

    def sat_under(self, true_predicates: frozenset, constrained: frozenset) -> bool: ...  # noqa: D102


def build_minterms(
    sentences: Sequence[GuardSentence],
    exclusives: Iterable[frozenset[Hashable]] = (),
    *,
    max_minterms: int = DEFAULT_MAX_MINTERMS,
) -> list[Minterm]:
    """All satisfiable sign vectors over ``sentences``, canonically ordered.

    Raises ``ValueError`` when more than ``max_minterms`` would be produced (the symbol alphabet would be
    useless for learning anyway, and memory would explode).
    """
    exclusive_sets = [frozenset(e) for e in exclusives]
    constrained = frozenset().union(*exclusive_sets)
    masks = _satisfiability_masks(sentences, exclusive_sets, constrained)
    n = len(sentences)
    result: list[Minterm] = []
    # Depth-first, True branch first: the output is already in canonical order.
    stack: list[tuple[int, Minterm, list[int]]] = [(0, (), masks)]
    while stack:
        index, prefix, alive = stack.pop()
        if index == n:
            result.append(prefix)
            if len(result) > max_minterms:
                raise ValueError(f"more than {max_minterms} minterms over {n} sentences; add exclusives")
            continue
        bit = 1 << index
        with_sentence = [m for m in alive if m & bit]
        stack.append((index + 1, (*prefix, False), alive))
        if with_sentence:
            stack.append((index + 1, (*prefix, True), with_sentence))
    return result


def _satisfiability_masks(
    sentences: Sequence[GuardSentence],
    exclusive_sets: list[frozenset[Hashable]],
    constrained: frozenset[Hashable],
) -> list[int]:
    """One bitmask per maximal admissible assignment: bit ``i`` set iff sentence ``i`` is satisfiable.

    Satisfiability only grows when more constrained predicates are true, so maximal assignments (maximal sets
    of pairwise non-exclusive predicates) are enough; masks contained in another mask are dropped too.
    """
    masks: set[int] = set()
    for true_set in _maximal_independent_sets(constrained, exclusive_sets):
        mask = 0
        for i, sentence in enumerate(sentences):
            if sentence.sat_under(true_set, constrained):
                mask |= 1 << i
        masks.add(mask)
    maximal = [m for m in masks if not any(m != o and m & o == m for o in masks)]
    return sorted(maximal)


def _maximal_independent_sets(
    universe: frozenset[Hashable], exclusive_sets: list[frozenset[Hashable]]
) -> list[frozenset]:
    """Maximal sets of predicates containing at most one member of every exclusive set."""
    order = sorted(universe, key=str)
    conflicts: dict[Hashable, set[Hashable]] = {p: set() for p in order}
    for group in exclusive_sets:
        for p in group:
            conflicts[p].update(q for q in group if q != p)
    found: list[frozenset] = []

    def extend(position: int, chosen: frozenset, blocked: frozenset) -> None:
        if position == len(order):
            if all(p in chosen or conflicts[p] & chosen for p in order):
                found.append(chosen)
            return
        candidate = order[position]
        if candidate not in blocked:
            extend(position + 1, chosen | {candidate}, blocked | conflicts[candidate])
        extend(position + 1, chosen, blocked)

    extend(0, frozenset(), frozenset())
    return found
