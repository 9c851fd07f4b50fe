"""Sentences: boolean combinations of predicates that label the transitions of a pattern automaton.

A sentence is an atom (one predicate), a negation ``-s``, a conjunction ``^(s1,...)`` or a disjunction
``|(s1,...)``. Sentences are frozen dataclasses with structural equality, so identical guards written twice in
a pattern collapse into one sentence (and therefore into one column of the minterm sign vectors).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from wayeb_py.patterns.predicates import Cache, Predicate, predicate_from_dict

if TYPE_CHECKING:
    import pandas as pd


class Sentence:
    """Common interface of the four sentence forms."""

    def text(self) -> str:
        """Canonical SRE text; also the sort key that fixes the order of sentences in a compiled pattern."""
        raise NotImplementedError

    def predicates(self) -> Iterator[Predicate]:
        """Every predicate occurring in the sentence (with repetitions)."""
        raise NotImplementedError

    def sat_under(self, true_predicates: frozenset[Predicate], constrained: frozenset[Predicate]) -> bool:
        """Wayeb's satisfiability test of a sentence under a partial truth assignment.

        Predicates in ``constrained`` (those named in some exclusive set) are true iff they are in
        ``true_predicates``; every other predicate is unconstrained and may be true. A negation is always
        considered satisfiable. This deliberately coarse rule decides which minterms exist.
        """
        raise NotImplementedError

    def evaluate(self, event: Mapping[str, Any], cache: Cache) -> bool:
        raise NotImplementedError

    def evaluate_frame(self, frame: pd.DataFrame, cache: Cache) -> np.ndarray:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.text()


@dataclass(frozen=True)
class Atom(Sentence):
    """A single predicate."""

    predicate: Predicate

    def text(self) -> str:
        return self.predicate.text()

    def predicates(self) -> Iterator[Predicate]:
        yield self.predicate

    def sat_under(self, true_predicates: frozenset[Predicate], constrained: frozenset[Predicate]) -> bool:
        return self.predicate not in constrained or self.predicate in true_predicates

    def evaluate(self, event: Mapping[str, Any], cache: Cache) -> bool:
        return self.predicate.evaluate(event, cache)

    def evaluate_frame(self, frame: pd.DataFrame, cache: Cache) -> np.ndarray:
        return self.predicate.evaluate_frame(frame, cache)

    def to_dict(self) -> dict[str, Any]:
        return {"atom": self.predicate.to_dict()}


@dataclass(frozen=True)
class Not(Sentence):
    """Negation ``-s``."""

    operand: Sentence

    def text(self) -> str:
        return f"-{self.operand.text()}"

    def predicates(self) -> Iterator[Predicate]:
        yield from self.operand.predicates()

    def sat_under(self, true_predicates: frozenset[Predicate], constrained: frozenset[Predicate]) -> bool:
        return True

    def evaluate(self, event: Mapping[str, Any], cache: Cache) -> bool:
        return not self.operand.evaluate(event, cache)

    def evaluate_frame(self, frame: pd.DataFrame, cache: Cache) -> np.ndarray:
        return ~self.operand.evaluate_frame(frame, cache)

    def to_dict(self) -> dict[str, Any]:
        return {"not": self.operand.to_dict()}


@dataclass(frozen=True)
class And(Sentence):
    """Conjunction ``^(s1,...,sn)``."""

    operands: tuple[Sentence, ...]

    def text(self) -> str:
        return f"^({','.join(o.text() for o in self.operands)})"

    def predicates(self) -> Iterator[Predicate]:
        for operand in self.operands:
            yield from operand.predicates()

    def sat_under(self, true_predicates: frozenset[Predicate], constrained: frozenset[Predicate]) -> bool:
        return all(o.sat_under(true_predicates, constrained) for o in self.operands)

    def evaluate(self, event: Mapping[str, Any], cache: Cache) -> bool:
        return all(o.evaluate(event, cache) for o in self.operands)

    def evaluate_frame(self, frame: pd.DataFrame, cache: Cache) -> np.ndarray:
        result = np.ones(len(frame), dtype=bool)
        for operand in self.operands:
            result &= operand.evaluate_frame(frame, cache)
        return result

    def to_dict(self) -> dict[str, Any]:
        return {"and": [o.to_dict() for o in self.operands]}


@dataclass(frozen=True)
class Or(Sentence):
    """Disjunction ``|(s1,...,sn)``."""

    operands: tuple[Sentence, ...]

    def text(self) -> str:
        return f"|({','.join(o.text() for o in self.operands)})"

    def predicates(self) -> Iterator[Predicate]:
        for operand in self.operands:
            yield from operand.predicates()

    def sat_under(self, true_predicates: frozenset[Predicate], constrained: frozenset[Predicate]) -> bool:
        return any(o.sat_under(true_predicates, constrained) for o in self.operands)

    def evaluate(self, event: Mapping[str, Any], cache: Cache) -> bool:
        return any(o.evaluate(event, cache) for o in self.operands)

    def evaluate_frame(self, frame: pd.DataFrame, cache: Cache) -> np.ndarray:
        result = np.zeros(len(frame), dtype=bool)
        for operand in self.operands:
            result |= operand.evaluate_frame(frame, cache)
        return result

    def to_dict(self) -> dict[str, Any]:
        return {"or": [o.to_dict() for o in self.operands]}


def sentence_from_dict(d: Mapping[str, Any]) -> Sentence:
    """Inverse of ``Sentence.to_dict``."""
    if "atom" in d:
        return Atom(predicate_from_dict(d["atom"]))
    if "not" in d:
        return Not(sentence_from_dict(d["not"]))
    if "and" in d:
        return And(tuple(sentence_from_dict(o) for o in d["and"]))
    if "or" in d:
        return Or(tuple(sentence_from_dict(o) for o in d["or"]))
    raise ValueError(f"not a serialised sentence: {dict(d)!r}")
