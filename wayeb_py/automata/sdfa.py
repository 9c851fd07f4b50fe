"""The symbolic DFA of a pattern, as a dense transition table over minterm symbols."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

OVERLAP = "overlap"
NONOVERLAP = "nonoverlap"


@dataclass(frozen=True, eq=False)
class SDFA:
    """Complete deterministic automaton: ``delta[q, s]`` is the successor of state ``q`` on symbol ``s``.

    States and symbols are 0-based ints. Compiled patterns number states in breadth-first discovery order from
    ``start = 0`` (symbols tried in increasing order), so equal patterns give byte-identical tables.
    ``delta`` is stored read-only; equality and hashing go through :meth:`to_dict`.
    """

    delta: np.ndarray
    start: int
    finals: frozenset[int]

    def __post_init__(self) -> None:
        delta = np.array(self.delta, dtype=np.int32, copy=True)
        if delta.ndim != 2 or delta.shape[0] == 0 or delta.shape[1] == 0:
            raise ValueError(f"delta must be a non-empty 2-D table, got shape {delta.shape}")
        n_states = delta.shape[0]
        if delta.min() < 0 or delta.max() >= n_states:
            raise ValueError("delta has a target outside [0, n_states): the SDFA must be complete")
        if not 0 <= int(self.start) < n_states:
            raise ValueError(f"start state {self.start} outside [0, {n_states})")
        finals = frozenset(int(f) for f in self.finals)
        if any(not 0 <= f < n_states for f in finals):
            raise ValueError(f"final states {sorted(finals)} outside [0, {n_states})")
        delta.setflags(write=False)
        object.__setattr__(self, "delta", delta)
        object.__setattr__(self, "start", int(self.start))
        object.__setattr__(self, "finals", finals)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Unpickling bypasses __post_init__; keep the table read-only there too.
        self.__dict__.update(state)
        self.delta.setflags(write=False)

    @property
    def n_states(self) -> int:
        return int(self.delta.shape[0])

    @property
    def n_symbols(self) -> int:
        return int(self.delta.shape[1])

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (plain ints and lists)."""
        return {
            "n_states": self.n_states,
            "n_symbols": self.n_symbols,
            "start": self.start,
            "finals": sorted(self.finals),
            "delta": self.delta.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SDFA:
        """Inverse of :meth:`to_dict`; validates shape and completeness."""
        sdfa = cls(
            delta=np.asarray(d["delta"], dtype=np.int32), start=int(d["start"]), finals=frozenset(d["finals"])
        )
        expected = (d.get("n_states", sdfa.n_states), d.get("n_symbols", sdfa.n_symbols))
        if (sdfa.n_states, sdfa.n_symbols) != tuple(expected):
            raise ValueError(f"delta shape {sdfa.delta.shape} does not match declared {expected}")
        return sdfa

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SDFA):
            return NotImplemented
        return (
            self.start == other.start
            and self.finals == other.finals
            and self.delta.shape == other.delta.shape
            and bool(np.array_equal(self.delta, other.delta))
        )

    def __hash__(self) -> int:
        return hash((self.start, self.finals, self.delta.shape, self.delta.tobytes()))

    def __repr__(self) -> str:
        return (
            f"SDFA(n_states={self.n_states}, n_symbols={self.n_symbols}, "
            f"start={self.start}, finals={sorted(self.finals)})"
        )

    def run(self, symbols: np.ndarray | list[int], state: int | None = None) -> np.ndarray:
        """States reached after each symbol of ``symbols``, starting from ``state`` (default: start)."""
        current = self.start if state is None else int(state)
        table = self.delta
        out = np.empty(len(symbols), dtype=np.int32)
        for i, symbol in enumerate(symbols):
            current = int(table[current, symbol])
            out[i] = current
        return out

    def distances_to_finals(self) -> list[int]:
        """Shortest number of transitions from each state to a final state (0 for finals, -1 if none)."""
        predecessors: list[set[int]] = [set() for _ in range(self.n_states)]
        for source, row in enumerate(self.delta.tolist()):
            for target in row:
                predecessors[target].add(source)
        distance = [-1] * self.n_states
        queue = deque(sorted(self.finals))
        for f in queue:
            distance[f] = 0
        while queue:
            state = queue.popleft()
            for source in sorted(predecessors[state]):
                if distance[source] < 0:
                    distance[source] = distance[state] + 1
                    queue.append(source)
        return distance

    def remaining_percentages(self) -> list[float]:
        """Wayeb's "remaining percentage" of every state: distance to a final over the largest such distance.

        Finals get 0.0 and the farthest states 1.0; states that cannot reach a final get ``-1 / max``.
        """
        distance = self.distances_to_finals()
        longest = max(distance)
        if longest <= 0:
            return [0.0 if d == 0 else -1.0 for d in distance]
        return [d / longest for d in distance]

    def with_policy(self, policy: str) -> SDFA:
        """Apply a match policy: ``"overlap"`` (unchanged) or ``"nonoverlap"``.

        Non-overlapping matching restarts after every match: the rows of the final states become copies of
        the start state's row. States keep their numbers (some may become unreachable).
        """
        if policy == OVERLAP:
            return self
        if policy != NONOVERLAP:
            raise ValueError(f"unknown policy {policy!r}; use {OVERLAP!r} or {NONOVERLAP!r}")
        delta = self.delta.copy()
        for f in self.finals:
            delta[f] = self.delta[self.start]
        return SDFA(delta=delta, start=self.start, finals=self.finals)
