"""Forecasts from waiting-time distributions, and the per-model forecast table.

Intervals are **relative**: ``[start, end]`` counts future events (1 = the next event).

* ``"nextk"`` (Wayeb CLASSIFY_NEXTK, what RTCEF uses): ``prob = sum(wt[1..k])`` with ``k = max_spread``,
  interval ``[1, k]``, positive iff ``prob >= threshold``.
* ``"smart_scan"`` (Wayeb's regression default): the shortest interval whose mass reaches the threshold (ties
  on length go to the higher mass, then the earliest); never positive; invalid when longer than ``max_spread``
  allows or when the whole horizon does not reach the threshold.
* `full_scan` is the brute-force oracle for smart-scan (tests only).

A forecast table holds one precomputed forecast per virtual state, so run-time forecasting is a lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .vstates import VirtualAutomaton, retained_states
from .waiting import WT_MODES, WtMode, waiting_times

__all__ = [
    "FORECAST_METHODS",
    "ForecastMethod",
    "ForecastParams",
    "ForecastTable",
    "build_forecast_table",
    "full_scan",
    "nextk",
    "smart_scan",
]

ForecastMethod = Literal["nextk", "smart_scan"]
FORECAST_METHODS: frozenset[str] = frozenset(("nextk", "smart_scan"))


@dataclass(frozen=True)
class ForecastParams:
    """How forecasts are produced from a learned SPST (defaults: the RTCEF model factory's settings).

    Attributes:
        threshold: confidence threshold theta in [0, 1].
        horizon: length h of the waiting-time distributions (events). NEXTK only computes ``max_spread``.
        max_spread: NEXTK window k, or the maximum interval length for smart-scan (<= horizon).
        method: ``"nextk"`` or ``"smart_scan"``.
        wt_mode: ``"exact_wayeb"`` (per-path pruning) or ``"merged"`` (exact).
        cutoff: per-path pruning threshold of ``"exact_wayeb"``.
        distance: ``(min, max)`` remaining-percentage range of states that get forecasts; ``(-1, -1)`` = all.
        finals_enabled: also forecast right after a detection (from a final state).
    """

    threshold: float = 0.3
    horizon: int = 600
    max_spread: int = 5
    method: ForecastMethod = "nextk"
    wt_mode: WtMode = "exact_wayeb"
    cutoff: float = 0.001
    distance: tuple[float, float] = (0.0, 1.0)
    finals_enabled: bool = True

    def validate(self) -> None:
        """Raise ValueError on settings Wayeb rejects."""
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {self.threshold}")
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon}")
        if not 1 <= self.max_spread <= self.horizon:
            raise ValueError(f"max_spread must lie in [1, horizon={self.horizon}], got {self.max_spread}")
        if self.method not in FORECAST_METHODS:
            raise ValueError(f"unknown forecast method {self.method!r}; expected {sorted(FORECAST_METHODS)}")
        if self.wt_mode not in WT_MODES:
            raise ValueError(f"unknown wt_mode {self.wt_mode!r}; expected {sorted(WT_MODES)}")
        if self.cutoff < 0:
            raise ValueError(f"cutoff must be >= 0, got {self.cutoff}")

    @property
    def levels(self) -> int:
        """Number of WT levels actually needed (NEXTK is causal: only ``max_spread``)."""
        return self.max_spread if self.method == "nextk" else self.horizon

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "threshold": self.threshold,
            "horizon": self.horizon,
            "max_spread": self.max_spread,
            "method": self.method,
            "wt_mode": self.wt_mode,
            "cutoff": self.cutoff,
            "distance": list(self.distance),
            "finals_enabled": self.finals_enabled,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ForecastParams:
        """Inverse of `to_dict`."""
        lo, hi = d["distance"]
        return cls(
            threshold=float(d["threshold"]),
            horizon=int(d["horizon"]),
            max_spread=int(d["max_spread"]),
            method=d["method"],
            wt_mode=d["wt_mode"],
            cutoff=float(d["cutoff"]),
            distance=(float(lo), float(hi)),
            finals_enabled=bool(d["finals_enabled"]),
        )


def nextk(wt: np.ndarray, k: int, threshold: float) -> tuple[float, int, int, bool]:
    """CLASSIFY_NEXTK forecast ``(prob, start, end, positive)`` from one distribution (1-based interval)."""
    prob = float(np.sum(wt[:k]))
    return prob, 1, k, prob >= threshold


def smart_scan(wt: np.ndarray, threshold: float) -> tuple[float, int, int] | None:
    """Shortest interval ``(prob, start, end)`` with mass >= threshold (two pointers, O(h)); None if none.

    For each end point the left edge advances while the mass without it still reaches the threshold, so every
    minimal window is visited once; ties on length keep the higher mass, then the earliest window.
    """
    values = [float(x) for x in wt]
    best: tuple[float, int, int] | None = None
    left = 0
    mass = 0.0
    for right, w in enumerate(values):
        mass += w
        while left < right and mass - values[left] >= threshold:
            mass -= values[left]
            left += 1
        if mass >= threshold:
            cand = (mass, left + 1, right + 1)
            if (
                best is None
                or (right - left) < (best[2] - best[1])
                or (right - left == best[2] - best[1] and mass > best[0])
            ):
                best = cand
    return best


def full_scan(wt: np.ndarray, threshold: float) -> tuple[float, int, int] | None:
    """Brute-force oracle: shortest window with mass >= threshold, highest mass among those, earliest
    first."""
    h = len(wt)
    for length in range(1, h + 1):
        best: tuple[float, int, int] | None = None
        for s in range(0, h - length + 1):
            mass = float(np.sum(wt[s : s + length]))
            if mass >= threshold and (best is None or mass > best[0]):
                best = (mass, s + 1, s + length)
        if best is not None:
            return best
    return None


@dataclass(frozen=True, eq=False)
class ForecastTable:
    """One forecast per virtual state (``valid`` is False where no forecast may be emitted)."""

    valid: np.ndarray
    prob: np.ndarray
    start: np.ndarray
    end: np.ndarray
    positive: np.ndarray
    rows: list[tuple[float, int, int, bool] | None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Plain Python tuples: a list lookup is several times faster than numpy scalar indexing per event.
        rows: list[tuple[float, int, int, bool] | None] = [
            (float(p), int(s), int(e), bool(pos)) if ok else None
            for ok, p, s, e, pos in zip(
                self.valid.tolist(),
                self.prob.tolist(),
                self.start.tolist(),
                self.end.tolist(),
                self.positive.tolist(),
                strict=True,
            )
        ]
        object.__setattr__(self, "rows", rows)

    def __len__(self) -> int:
        return len(self.rows)


def build_forecast_table(va: VirtualAutomaton, params: ForecastParams) -> ForecastTable:
    """Compute WT distributions for the retained virtual states and derive their forecasts."""
    params.validate()
    keep_q = retained_states(va, params.distance)
    valid = np.tile(keep_q, va.pst.n_nodes)
    ids = np.flatnonzero(valid)
    n = va.n_vstates
    prob = np.zeros(n)
    start = np.full(n, -1, dtype=np.int64)
    end = np.full(n, -1, dtype=np.int64)
    positive = np.zeros(n, dtype=bool)
    if len(ids):
        wt = waiting_times(va, params.levels, mode=params.wt_mode, cutoff=params.cutoff, vstates=ids)
        if params.method == "nextk":
            k = params.max_spread
            p = wt[:, :k].sum(axis=1)
            prob[ids] = p
            start[ids] = 1
            end[ids] = k
            positive[ids] = p >= params.threshold
        else:
            for row, v in enumerate(ids.tolist()):
                found = smart_scan(wt[row], params.threshold)
                if found is None or found[2] - found[1] > params.max_spread:
                    valid[v] = False
                    continue
                prob[v], start[v], end[v] = found
    return ForecastTable(valid, prob, start, end, positive)
