"""Virtual states of an SPST: (PST node, SDFA state) pairs and their one-step forecasting transitions.

Virtual state ids are ``node * n_states + q`` for PST node id ``node`` (canonical PST order) and SDFA state
``q``, so they are reproducible and cheap to compute. From ``(l, q)`` on symbol ``x`` the forecasting model
moves to ``(deepest(x :: l), delta[q, x])`` with probability ``P_l(x)``. (At run time the next node comes from
the whole context buffer instead; the two can differ when the PST is not "PSA-compatible", which Wayeb
accepts.)

The SDFA is duck-typed: anything with ``delta`` (int array ``(n_states, n_symbols)``), ``start`` and
``finals``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..pst.tree import PredictionSuffixTree

__all__ = ["SDFALike", "VirtualAutomaton", "remaining_percentage", "retained_states"]


class SDFALike(Protocol):
    """The parts of ``wayeb_py.automata.sdfa.SDFA`` this package relies on."""

    @property
    def delta(self) -> np.ndarray: ...

    @property
    def start(self) -> int: ...

    @property
    def finals(self) -> frozenset[int]: ...


def remaining_percentage(sdfa: SDFALike) -> np.ndarray:
    """Per SDFA state: shortest distance to a final state divided by the largest such distance.

    Finals get 0.0 and the farthest states 1.0; states that cannot reach a final get ``-1/max`` (Wayeb's
    convention), i.e. a negative value that no ``[min, max]`` range with ``min >= 0`` retains.
    """
    delta = np.asarray(sdfa.delta)
    n = delta.shape[0]
    preds: list[set[int]] = [set() for _ in range(n)]
    for q in range(n):
        for target in delta[q].tolist():
            preds[target].add(q)
    dist = np.full(n, -1, dtype=np.int64)
    queue: deque[int] = deque()
    for f in sorted(sdfa.finals):
        dist[f] = 0
        queue.append(f)
    while queue:
        q = queue.popleft()
        for p in preds[q]:
            if dist[p] < 0:
                dist[p] = dist[q] + 1
                queue.append(p)
    longest = int(dist.max()) if n else 0
    if longest <= 0:
        return np.where(dist == 0, 0.0, -1.0)
    return np.where(dist >= 0, dist / longest, -1.0 / longest)


def retained_states(sdfa: SDFALike, distance: tuple[float, float]) -> np.ndarray:
    """Boolean mask of SDFA states that emit forecasts / get WT distributions for a ``distance`` range.

    ``distance[0] < 0`` (Wayeb's ``(-1, -1)``) keeps every state; ``0 <= min < 1`` keeps states whose
    remaining percentage lies in ``[min, max]``. Time-based ranges (``min >= 1``) need a precomputed
    next-match timestamp that this engine does not have, and are rejected.
    """
    lo, hi = distance
    n = np.asarray(sdfa.delta).shape[0]
    if lo < 0:
        return np.ones(n, dtype=bool)
    if lo >= 1.0:
        raise ValueError(f"time-based distance ranges (min >= 1) are not supported: {distance}")
    rp = remaining_percentage(sdfa)
    return (rp >= lo) & (rp <= hi)


@dataclass(frozen=True, eq=False)
class VirtualAutomaton:
    """Dense arrays describing the SPST's virtual states (built once per model)."""

    pst: PredictionSuffixTree
    delta: np.ndarray
    start: int
    finals: frozenset[int]
    succ_node: np.ndarray = field(init=False, repr=False)
    final_mask: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        delta = np.asarray(self.delta, dtype=np.int64)
        if delta.ndim != 2 or delta.shape[1] != self.pst.n_symbols:
            raise ValueError(
                f"SDFA has {delta.shape[1] if delta.ndim == 2 else '?'} symbols, PST has {self.pst.n_symbols}"
            )
        object.__setattr__(self, "delta", delta)
        object.__setattr__(self, "succ_node", self.pst.successor_nodes())
        mask = np.zeros(delta.shape[0], dtype=bool)
        mask[list(self.finals)] = True
        object.__setattr__(self, "final_mask", mask)

    @classmethod
    def from_sdfa(cls, pst: PredictionSuffixTree, sdfa: SDFALike) -> VirtualAutomaton:
        """Pair a PST with an SDFA (same alphabet)."""
        return cls(pst, np.asarray(sdfa.delta), int(sdfa.start), frozenset(int(f) for f in sdfa.finals))

    @property
    def n_states(self) -> int:
        """Number of SDFA states Q."""
        return int(self.delta.shape[0])

    @property
    def n_symbols(self) -> int:
        """Alphabet size t."""
        return int(self.delta.shape[1])

    @property
    def n_vstates(self) -> int:
        """Number of virtual states (PST nodes x SDFA states)."""
        return self.pst.n_nodes * self.n_states

    def vstate(self, node: int, q: int) -> int:
        """Id of the virtual state (node, q)."""
        return node * self.n_states + q

    def split(self, vstate: int) -> tuple[int, int]:
        """Inverse of `vstate`: (node, q)."""
        return divmod(vstate, self.n_states)

    def transition_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per virtual state and symbol: next vstate id, probability, and whether the next SDFA state is
        final.

        Shapes ``(n_vstates, n_symbols)``; row ``node*Q + q``.
        """
        q_count = self.n_states
        nodes = np.repeat(np.arange(self.pst.n_nodes), q_count)
        qs = np.tile(np.arange(q_count), self.pst.n_nodes)
        q_next = self.delta[qs]
        nxt = self.succ_node[nodes] * q_count + q_next
        prob = self.pst.probs[nodes]
        return nxt, prob, self.final_mask[q_next]

    def describe(self) -> dict[str, Any]:
        """Small summary for logs and benchmarks."""
        return {"pst_nodes": self.pst.n_nodes, "sdfa_states": self.n_states, "vstates": self.n_vstates}
