"""Classification scores for forecasts: confusion counts and the metrics derived from them.

A forecast is scored against the detections of its run: it is a *hit* when a detection's event counter lies in
its absolute interval ``[start, end]``. Hits are TP when the forecast was positive and FN otherwise; misses
are FP when positive and TN otherwise (Wayeb's classification collector).

The derived metrics follow Wayeb's edge-case conventions, which the RTCEF optimiser and observer rely on:

* precision, recall, specificity, NPV and accuracy are ``-1.0`` when their denominator is zero;
* F1 is ``-1.0`` unless both precision and recall are defined (and their sum is non-zero);
* MCC is ``0.0`` when any of the four marginals ``tp+fp, tp+fn, tn+fp, tn+fn`` is zero, and otherwise computed
  as ``sqrt(P*R*Spec*NPV) - sqrt((1-P)(1-R)(1-Spec)(1-NPV))``, which equals the textbook formula without the
  large integer products.

`Metrics` is an immutable value with ``+``/``-`` so that runtime (cumulative) and batch (delta) reports can be
derived from each other, as the inference job does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Metrics", "ZERO", "mcc_from_counts"]

UNDEFINED: float = -1.0


def _ratio(num: int, den: int) -> float:
    """``num/den``, or the ``-1.0`` "undefined" marker when ``den`` is zero."""
    return num / den if den != 0 else UNDEFINED


def mcc_from_counts(tp: int, tn: int, fp: int, fn: int) -> float:
    """Matthews correlation coefficient with Wayeb's convention (0.0 when a marginal is zero)."""
    if tp + fp == 0 or tp + fn == 0 or tn + fp == 0 or tn + fn == 0:
        return 0.0
    p = tp / (tp + fp)
    r = tp / (tp + fn)
    s = tn / (tn + fp)
    n = tn / (tn + fn)
    return math.sqrt(p * r * s * n) - math.sqrt((1.0 - p) * (1.0 - r) * (1.0 - s) * (1.0 - n))


@dataclass(frozen=True, slots=True)
class Metrics:
    """Confusion counts of scored forecasts plus derived scores (computed on access).

    Counts may be negative only when produced by subtraction (e.g. a delta between two cumulative reports of
    different lifetimes); the derived scores are then computed from the raw numbers as-is.
    """

    tp: int = 0
    tn: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def total(self) -> int:
        """Number of scored forecasts."""
        return self.tp + self.tn + self.fp + self.fn

    @property
    def precision(self) -> float:
        """tp/(tp+fp), -1 when undefined."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        """tp/(tp+fn), -1 when undefined."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def specificity(self) -> float:
        """tn/(tn+fp), -1 when undefined."""
        return _ratio(self.tn, self.tn + self.fp)

    @property
    def npv(self) -> float:
        """Negative predictive value tn/(tn+fn), -1 when undefined."""
        return _ratio(self.tn, self.tn + self.fn)

    @property
    def accuracy(self) -> float:
        """(tp+tn)/total, -1 when there is nothing scored."""
        return _ratio(self.tp + self.tn, self.total)

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall, -1 unless both are defined and not both zero."""
        p, r = self.precision, self.recall
        if p == UNDEFINED or r == UNDEFINED or p + r == 0.0:
            return UNDEFINED
        return 2.0 * p * r / (p + r)

    @property
    def informedness(self) -> float:
        """recall + specificity - 1 (Wayeb computes it from the raw, possibly -1, values)."""
        return self.recall + self.specificity - 1.0

    @property
    def mcc(self) -> float:
        """Matthews correlation coefficient, 0.0 when any marginal is zero."""
        return mcc_from_counts(self.tp, self.tn, self.fp, self.fn)

    def __add__(self, other: Metrics) -> Metrics:
        if not isinstance(other, Metrics):
            return NotImplemented
        return Metrics(self.tp + other.tp, self.tn + other.tn, self.fp + other.fp, self.fn + other.fn)

    def __sub__(self, other: Metrics) -> Metrics:
        if not isinstance(other, Metrics):
            return NotImplemented
        return Metrics(self.tp - other.tp, self.tn - other.tn, self.fp - other.fp, self.fn - other.fn)

    def __bool__(self) -> bool:
        """True when anything was scored (lets callers skip empty deltas cheaply)."""
        return bool(self.tp or self.tn or self.fp or self.fn)

    def to_dict(self) -> dict[str, Any]:
        """Counts and every derived score as a flat JSON-serialisable mapping."""
        return {
            "tp": self.tp,
            "tn": self.tn,
            "fp": self.fp,
            "fn": self.fn,
            "precision": self.precision,
            "recall": self.recall,
            "specificity": self.specificity,
            "npv": self.npv,
            "accuracy": self.accuracy,
            "f1": self.f1,
            "informedness": self.informedness,
            "mcc": self.mcc,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Metrics:
        """Rebuild from a mapping holding at least ``tp, tn, fp, fn`` (derived scores are ignored)."""
        return cls(int(d["tp"]), int(d["tn"]), int(d["fp"]), int(d["fn"]))

    @classmethod
    def of_outcome(cls, hit: bool, positive: bool) -> Metrics:
        """The single-count value for one resolved forecast (shared instances, no allocation)."""
        return _OUTCOMES[(hit, positive)]


ZERO = Metrics()

_OUTCOMES: dict[tuple[bool, bool], Metrics] = {
    (True, True): Metrics(tp=1),
    (True, False): Metrics(fn=1),
    (False, True): Metrics(fp=1),
    (False, False): Metrics(tn=1),
}
