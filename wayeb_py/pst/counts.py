"""Counter suffix tree (CST): how often every short context occurs in a symbol stream.

The CST is the only thing PST learning needs from the data, so it is built once per dataset and reused by
every hyperparameter trial (pMin, alpha, gamma, r, and any order up to the CST depth minus one).

Orientation: a *word* is a tuple of symbols whose head is the **most recent** symbol, e.g. ``(a, c)`` means
"c, then a" in stream order. ``count(w)`` is the number of stream positions (within a segment) where the
stream ends with ``w`` read backwards. Words shorter than the depth at the start of every segment are counted
too, so ``count(()) == n_events`` and ``count(w) == sum(count(w + (x,)) for x)`` except at segment starts.

A *segment* is a maximal run of symbols that share one context buffer: one per partition value, further split
at reset events. Counting per segment is what Wayeb's per-partition buffer bank (cleared on ``ResetEvent``)
amounts to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CounterSuffixTree", "build_cst", "split_segments"]

Word = tuple[int, ...]


@dataclass(frozen=True)
class CounterSuffixTree:
    """Immutable context counts up to length ``depth`` (= max PST order + 1).

    Attributes:
        n_symbols: size of the symbol alphabet (all minterms, seen or not).
        depth: maximum word length counted.
        n_events: number of counted (non-reset) events, the ``N`` of the probability estimates.
        counts: word -> count for every word of length 1..depth that occurred.
    """

    n_symbols: int
    depth: int
    n_events: int
    counts: dict[Word, int] = field(repr=False)

    def count(self, word: Word) -> int:
        """Occurrences of ``word`` (``n_events`` for the empty word)."""
        if not word:
            return self.n_events
        return self.counts.get(word, 0)

    def probability(self, word: Word) -> float:
        """``P(w) = count(w) / (N - |w| + 1)``; NaN when the denominator is not positive (never >= pMin)."""
        den = self.n_events - len(word) + 1
        if den <= 0:
            return float("nan")
        return self.count(word) / den

    def conditional(self, symbol: int, context: Word) -> float:
        """``Pc(symbol | context) = count(symbol::context) / count(context)``, 0 when the context never
        occurs."""
        c = self.count(context)
        if c == 0:
            return 0.0
        return self.count((symbol, *context)) / c

    def next_counts(self, context: Word) -> np.ndarray:
        """Counts of every symbol observed right after ``context`` (float array of length ``n_symbols``)."""
        out = np.zeros(self.n_symbols, dtype=np.float64)
        for s in range(self.n_symbols):
            out[s] = self.counts.get((s, *context), 0) if context else self.counts.get((s,), 0)
        return out

    @property
    def seen_symbols(self) -> frozenset[int]:
        """Symbols that occurred at least once in training."""
        return frozenset(w[0] for w in self.counts if len(w) == 1)

    def truncated(self, depth: int) -> CounterSuffixTree:
        """A CST restricted to words of length <= ``depth`` (same counts, smaller footprint)."""
        if depth > self.depth:
            raise ValueError(f"cannot deepen a CST of depth {self.depth} to {depth}")
        return CounterSuffixTree(
            self.n_symbols, depth, self.n_events, {w: c for w, c in self.counts.items() if len(w) <= depth}
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (words as lists, sorted for reproducibility)."""
        items = sorted(self.counts.items(), key=lambda kv: (len(kv[0]), kv[0]))
        return {
            "n_symbols": self.n_symbols,
            "depth": self.depth,
            "n_events": self.n_events,
            "words": [list(w) for w, _ in items],
            "counts": [c for _, c in items],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CounterSuffixTree:
        """Inverse of `to_dict`."""
        counts = {tuple(int(x) for x in w): int(c) for w, c in zip(d["words"], d["counts"], strict=True)}
        return cls(int(d["n_symbols"]), int(d["depth"]), int(d["n_events"]), counts)


def split_segments(
    symbols: np.ndarray,
    partitions: Sequence[Any] | np.ndarray | None = None,
    resets: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Split a symbol stream into per-partition, reset-delimited segments (stream order kept inside each).

    Args:
        symbols: int array of symbols, one per event; entries at reset positions are ignored.
        partitions: partition value per event, or None for a single partition.
        resets: boolean mask of reset events (they end the current segment of their partition).
    """
    symbols = np.asarray(symbols, dtype=np.int64)
    n = len(symbols)
    reset_mask = np.zeros(n, dtype=bool) if resets is None else np.asarray(resets, dtype=bool)
    if partitions is None:
        groups: list[np.ndarray] = [np.arange(n)]
    else:
        codes, _ = _factorize(partitions)
        order = np.argsort(codes, kind="stable")
        bounds = np.flatnonzero(np.diff(codes[order])) + 1
        groups = np.split(order, bounds) if n else []
    segments: list[np.ndarray] = []
    for idx in groups:
        rmask = reset_mask[idx]
        if not rmask.any():
            if len(idx):
                segments.append(symbols[idx])
            continue
        cut = np.flatnonzero(rmask)
        start = 0
        for c in cut:
            if c > start:
                segments.append(symbols[idx[start:c]])
            start = c + 1
        if start < len(idx):
            segments.append(symbols[idx[start:]])
    return segments


def _factorize(values: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """Integer codes for arbitrary hashable partition values, in order of first appearance."""
    mapping: dict[Any, int] = {}
    codes = np.fromiter((mapping.setdefault(v, len(mapping)) for v in values), dtype=np.int64)
    return codes, list(mapping)


def build_cst(segments: Iterable[np.ndarray], n_symbols: int, depth: int) -> CounterSuffixTree:
    """Count every word of length 1..``depth`` in every segment (vectorised per length).

    ``depth`` is the maximum PST order plus one. Symbols must lie in ``[0, n_symbols)``.
    """
    if depth < 1:
        raise ValueError(f"CST depth must be >= 1, got {depth}")
    segs = [np.asarray(s, dtype=np.int64) for s in segments]
    n_events = int(sum(len(s) for s in segs))
    for s in segs:
        if len(s) and (s.min() < 0 or s.max() >= n_symbols):
            raise ValueError(f"symbols must lie in [0, {n_symbols}); got range [{s.min()}, {s.max()}]")
    counts: dict[Word, int] = {}
    for k in range(1, depth + 1):
        blocks = [
            # Column j holds the symbol j steps back from the window end: most recent first.
            np.stack([s[k - 1 - j : len(s) - j] for j in range(k)], axis=1)
            for s in segs
            if len(s) >= k
        ]
        if not blocks:
            break
        windows = np.concatenate(blocks, axis=0)
        words, freq = np.unique(windows, axis=0, return_counts=True)
        for w, c in zip(words.tolist(), freq.tolist(), strict=True):
            counts[tuple(w)] = c
    return CounterSuffixTree(n_symbols, depth, n_events, counts)
