"""Subset construction of an SNFA over minterm symbols, giving a complete SDFA with canonical numbering."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from wayeb_py.automata.minterms import Minterm
from wayeb_py.automata.sdfa import SDFA
from wayeb_py.automata.snfa import EPSILON, SNFA, TRUE


def determinize(snfa: SNFA, minterms: Sequence[Minterm]) -> SDFA:
    """Deterministic automaton over the symbols ``0..len(minterms)-1``.

    Symbol ``s`` moves along every SNFA transition whose guard sentence is positive in ``minterms[s]`` (TRUE
    transitions always move). States are numbered in breadth-first discovery order from the start subset
    (state 0), trying symbols in increasing order, which makes the result independent of hashing.
    If some subset is empty it becomes an ordinary (dead, non-final) state so that the table stays complete.
    """
    if not minterms:
        raise ValueError("cannot determinize over an empty alphabet")
    start = snfa.epsilon_closure({snfa.start})
    ids: dict[frozenset[int], int] = {start: 0}
    order: list[frozenset[int]] = [start]
    rows: list[list[int]] = []
    queue = deque([start])
    while queue:
        subset = queue.popleft()
        always: set[int] = set()
        by_sentence: dict[int, set[int]] = {}
        for state in subset:
            for label, target in snfa.transitions[state]:
                if label == TRUE:
                    always.add(target)
                elif label != EPSILON:
                    by_sentence.setdefault(label, set()).add(target)
        row: list[int] = []
        cache: dict[frozenset[int], frozenset[int]] = {}
        for minterm in minterms:
            moved = set(always)
            for sentence, targets in by_sentence.items():
                if minterm[sentence]:
                    moved |= targets
            key = frozenset(moved)
            successor = cache.get(key)
            if successor is None:
                successor = cache[key] = snfa.epsilon_closure(key)
            if successor not in ids:
                ids[successor] = len(order)
                order.append(successor)
                queue.append(successor)
            row.append(ids[successor])
        rows.append(row)
    finals = frozenset(i for i, subset in enumerate(order) if subset & snfa.finals)
    return SDFA(delta=np.asarray(rows, dtype=np.int32), start=0, finals=finals)
