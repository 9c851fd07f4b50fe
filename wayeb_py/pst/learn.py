"""PST learning from a counter suffix tree (the Begleiter et al. variant Wayeb uses for SPST models).

Given CST counts, a context ``s`` is *explored* when its empirical probability ``P(s) >= p_min``; it is
*inserted* (with every missing ancestor) when some symbol ``x`` satisfies

    Pc(x|s) >= (1 + alpha) * gamma   and   (ratio >= r  or  ratio <= 1/r),
    ratio = Pc(x|s) / (P((x,)) if |s| == 1 else Pc(x | s[:-1]))

where ``s[:-1]`` drops the oldest symbol. Explored contexts shorter than ``order`` are extended one step into
the past. Finally every node distribution is smoothed: ``p * (1 - t*gamma) + gamma`` over all ``t`` symbols.

The learned tree does not depend on the order contexts are processed in; contexts are processed length by
length in sorted order for determinism. Learning touches only the CST, so one CST serves any number of trials.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .counts import CounterSuffixTree
from .tree import PredictionSuffixTree

__all__ = ["LearnParams", "learn_pst", "smooth"]

Word = tuple[int, ...]


@dataclass(frozen=True)
class LearnParams:
    """PST learning hyperparameters (names follow the RTCEF optimiser).

    Attributes:
        order: maximum context length m (>= 1).
        p_min: minimum empirical probability of an explored context.
        alpha: multiplier in the expansion threshold ``(1 + alpha) * gamma``.
        gamma: smoothing floor gammaMin (every symbol gets at least this probability); needs ``gamma*t <= 1``.
        r: likelihood-ratio threshold for expanding a context (> 0; 1.05 in Wayeb).
    """

    order: int = 2
    p_min: float = 0.001
    alpha: float = 0.0
    gamma: float = 0.001
    r: float = 1.05

    def validate(self, n_symbols: int) -> None:
        """Raise ValueError for values Wayeb would reject (or that make learning meaningless)."""
        if self.order < 1:
            raise ValueError(f"order must be >= 1 for an SPST model, got {self.order}")
        if not 0.0 <= self.p_min <= 1.0:
            raise ValueError(f"p_min must lie in [0, 1], got {self.p_min}")
        if self.gamma < 0.0 or self.gamma * n_symbols > 1.0:
            raise ValueError(f"gamma must satisfy 0 <= gamma*t <= 1 (t={n_symbols}), got {self.gamma}")
        if self.alpha < 0.0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")
        if not self.r > 0.0:
            raise ValueError(f"r must be > 0, got {self.r}")


def smooth(dist: np.ndarray, gamma: float) -> np.ndarray:
    """Apply the gammaMin floor over all symbols: ``p * (1 - t*gamma) + gamma`` (sums stay at 1)."""
    t = dist.shape[-1]
    return dist * (1.0 - t * gamma) + gamma


def _passes_ratio(num: float, den: float, r: float) -> bool:
    """Likelihood-ratio test with Wayeb's float semantics (x/0 = inf accepts, 0/0 = NaN rejects)."""
    if den == 0.0:
        return num > 0.0
    ratio = num / den
    return ratio >= r or ratio <= 1.0 / r


def _accepts(cst: CounterSuffixTree, s: Word, cond_thr: float, r: float) -> bool:
    """Whether context ``s`` carries information beyond its parent (the insertion test)."""
    for x in range(cst.n_symbols):
        pc = cst.conditional(x, s)
        if not pc >= cond_thr:
            continue
        den = cst.probability((x,)) if len(s) == 1 else cst.conditional(x, s[:-1])
        if _passes_ratio(pc, den, r):
            return True
    return False


def _raw_distributions(cst: CounterSuffixTree, labels: list[Word]) -> np.ndarray:
    """Unsmoothed next-symbol distributions (normalised by the sum over observed successors).

    A context with no observed successor (only possible with ``gamma == 0``, where unseen contexts can pass
    the test) inherits its parent's distribution; Wayeb would produce NaNs and fail there.
    """
    out = np.zeros((len(labels), cst.n_symbols), dtype=np.float64)
    row = {w: i for i, w in enumerate(labels)}
    for i, w in enumerate(labels):  # canonical order: parents come first
        nxt = cst.next_counts(w)
        total = nxt.sum()
        out[i] = nxt / total if total > 0 else out[row[w[:-1]]] if w else nxt
    return out


def learn_pst(cst: CounterSuffixTree, params: LearnParams) -> PredictionSuffixTree:
    """Learn a smoothed PST of maximum order ``params.order`` from CST counts."""
    t = cst.n_symbols
    params.validate(t)
    m = params.order
    if m + 1 > cst.depth:
        raise ValueError(f"order {m} needs a CST of depth >= {m + 1}; this one has depth {cst.depth}")
    cond_thr = (1.0 + params.alpha) * params.gamma
    p_min, r = params.p_min, params.r

    inserted: set[Word] = {()}
    frontier: list[Word] = [(x,) for x in range(t) if _ge(cst.probability((x,)), p_min)]
    while frontier:
        nxt: set[Word] = set()
        for s in sorted(frontier):
            if _accepts(cst, s, cond_thr, r):
                inserted.update(s[:k] for k in range(1, len(s) + 1))
            if len(s) < m:
                nxt.update((*s, x) for x in range(t) if _ge(cst.probability((*s, x)), p_min))
        frontier = list(nxt)

    labels = sorted(inserted, key=lambda w: (len(w), w))
    probs = smooth(_raw_distributions(cst, labels), params.gamma)
    return PredictionSuffixTree(tuple(labels), probs, m)


def _ge(p: float, threshold: float) -> bool:
    """``p >= threshold`` with NaN never passing."""
    return not math.isnan(p) and p >= threshold
