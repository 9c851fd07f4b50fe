"""Prediction suffix tree (PST): smoothed next-symbol distributions for a variable-length context.

Node labels are words with the **most recent symbol first**; the child of node ``l`` under key ``x`` has label
``l + (x,)`` (one step further into the past). The tree is closed under "drop the oldest symbol", so a label
is present iff all its prefixes are, and the deepest node for a context is its longest prefix that is a label.

Nodes are stored in a canonical order (root first, then by length, then lexicographically) so that node ids,
model files and fingerprints are reproducible.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["PredictionSuffixTree"]

Word = tuple[int, ...]


def _canonical(labels: Iterable[Word]) -> list[Word]:
    return sorted(set(labels), key=lambda w: (len(w), w))


@dataclass(frozen=True, eq=False)
class PredictionSuffixTree:
    """An immutable PST.

    Attributes:
        labels: node labels in canonical order; ``labels[0] == ()`` is the root.
        probs: float array ``(n_nodes, n_symbols)``; row i is the next-symbol distribution of ``labels[i]``.
        max_order: the maximum order m the tree was learned with (depth <= m).
    """

    labels: tuple[Word, ...]
    probs: np.ndarray = field(repr=False)
    max_order: int
    index: dict[Word, int] = field(init=False, repr=False)
    is_leaf: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.labels or self.labels[0] != ():
            raise ValueError("the first PST label must be the root ()")
        if list(self.labels) != _canonical(self.labels):
            raise ValueError("PST labels must be unique and in canonical order (length, then lexicographic)")
        probs = np.asarray(self.probs, dtype=np.float64)
        if probs.ndim != 2 or probs.shape[0] != len(self.labels):
            raise ValueError(f"probs shape {probs.shape} does not match {len(self.labels)} labels")
        probs.setflags(write=False)
        object.__setattr__(self, "probs", probs)
        index = {w: i for i, w in enumerate(self.labels)}
        for w in self.labels[1:]:
            if w[:-1] not in index:
                raise ValueError(f"PST label {w} has no parent {w[:-1]}")
        leaf = np.ones(len(self.labels), dtype=bool)
        for w in self.labels[1:]:
            leaf[index[w[:-1]]] = False
        leaf.setflags(write=False)
        object.__setattr__(self, "index", index)
        object.__setattr__(self, "is_leaf", leaf)

    @property
    def n_nodes(self) -> int:
        """Number of nodes, root included."""
        return len(self.labels)

    @property
    def n_symbols(self) -> int:
        """Alphabet size t."""
        return int(self.probs.shape[1])

    @property
    def depth(self) -> int:
        """Length of the longest label."""
        return len(self.labels[-1])

    def deepest(self, context: Sequence[int]) -> int:
        """Id of the deepest node reached by walking ``context`` (most recent first) from the root.

        The walk stops at a leaf or at the first missing child, like Wayeb's non-blocking walk.
        """
        index = self.index
        node = 0
        ctx = tuple(context)
        for k in range(1, len(ctx) + 1):
            nxt = index.get(ctx[:k])
            if nxt is None:
                break
            node = nxt
        return node

    def distribution(self, label: Sequence[int]) -> np.ndarray:
        """Next-symbol distribution of the node with exactly this label (KeyError if absent)."""
        return self.probs[self.index[tuple(label)]]

    def children(self, label: Sequence[int]) -> list[int]:
        """Child keys (the symbol one step further back) of the node with this label, sorted."""
        lab = tuple(label)
        return sorted(w[-1] for w in self.labels if len(w) == len(lab) + 1 and w[:-1] == lab)

    def successor_nodes(self) -> np.ndarray:
        """``succ[i, x]`` = deepest node for context ``x :: labels[i]`` (the one-step forecasting
        transition)."""
        succ = np.empty((self.n_nodes, self.n_symbols), dtype=np.int64)
        for i, lab in enumerate(self.labels):
            for x in range(self.n_symbols):
                succ[i, x] = self.deepest((x, *lab))
        return succ

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form; floats are kept at full precision (repr round-trips)."""
        return {
            "max_order": self.max_order,
            "n_symbols": self.n_symbols,
            "labels": [list(w) for w in self.labels],
            "probs": self.probs.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PredictionSuffixTree:
        """Inverse of `to_dict`."""
        labels = tuple(tuple(int(x) for x in w) for w in d["labels"])
        probs = np.asarray(d["probs"], dtype=np.float64).reshape(len(labels), int(d["n_symbols"]))
        return cls(labels, probs, int(d["max_order"]))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PredictionSuffixTree):
            return NotImplemented
        return (
            self.labels == other.labels
            and self.max_order == other.max_order
            and self.probs.shape == other.probs.shape
            and bool(np.array_equal(self.probs, other.probs))
        )

    def __hash__(self) -> int:
        return hash((self.labels, self.max_order, self.probs.tobytes()))
