"""Symbolise a dataset once and count its contexts once, for many PST trials.

An optimisation session learns and scores a model per trial (16 per session in RTCEF) on the same dataset.
Only PST learning depends on the trial's pMin/alpha/gamma/r (and the order up to the CST depth), so
`CountCache` keeps, per dataset, the symbol stream and the deepest counter suffix tree built so far.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .pst import CounterSuffixTree, build_cst, split_segments
from .scoring import reset_mask, symbolize_frame

__all__ = ["CountCache", "SymbolStream", "as_frame", "dataset_fingerprint", "fit_counts", "symbolize_stream"]


def as_frame(events: pd.DataFrame | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Events as a DataFrame (iterables of mappings are materialised, columns from the union of keys)."""
    if isinstance(events, pd.DataFrame):
        return events
    return pd.DataFrame.from_records(list(events))


def dataset_fingerprint(frame: pd.DataFrame) -> str:
    """Content hash of a frame (used when no explicit dataset id is given)."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    cols = ",".join(map(str, frame.columns))
    return f"{len(frame)}:{hash(cols) & 0xFFFFFFFF:08x}:{int(hashed.sum(dtype=np.uint64)):016x}"


@dataclass(frozen=True, eq=False)
class SymbolStream:
    """A symbolised dataset.

    Attributes:
        symbols: symbol per row (-1 on reset rows).
        resets: reset-row mask.
        partitions: partition value per row, or None when training without partitions.
        timestamps: int timestamps per row (0 when the stream has none).
        partition_by: the attribute the partitions come from.
    """

    symbols: np.ndarray
    resets: np.ndarray
    partitions: list[Any] | None
    timestamps: np.ndarray
    partition_by: str | None

    @property
    def n_rows(self) -> int:
        """Rows including resets."""
        return len(self.symbols)

    @property
    def n_events(self) -> int:
        """Non-reset rows (the N of the probability estimates)."""
        return int((~self.resets).sum())

    def segments(self) -> list[np.ndarray]:
        """Per-partition, reset-delimited symbol segments."""
        return split_segments(self.symbols, self.partitions, self.resets)

    def time_range(self) -> tuple[int, int] | None:
        """(first, last) timestamp of non-reset rows, or None for an empty stream."""
        ts = self.timestamps[~self.resets]
        return (int(ts.min()), int(ts.max())) if len(ts) else None


def symbolize_stream(pattern: Any, frame: pd.DataFrame, *, partition_by: str | None) -> SymbolStream:
    """Symbolise a frame with the pattern's symbolizer (vectorised) and collect partition values."""
    resets = reset_mask(frame)
    symbols = symbolize_frame(pattern.symbolizer, frame, resets)
    partitions: list[Any] | None = None
    if partition_by is not None:
        if partition_by not in frame.columns:
            raise ValueError(f"partition attribute {partition_by!r} is not a column of the stream")
        partitions = frame[partition_by].tolist()
    if "timestamp" in frame.columns:
        ts = pd.to_numeric(frame["timestamp"], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    else:
        ts = np.zeros(len(frame), dtype=np.int64)
    return SymbolStream(symbols, resets, partitions, ts, partition_by)


def _symbolizer_key(symbolizer: Any) -> str:
    """Identity of a symbol numbering: a digest of its serialised form (object id as a last resort)."""
    to_dict = getattr(symbolizer, "to_dict", None)
    if callable(to_dict):
        raw = json.dumps(to_dict(), sort_keys=True, default=str).encode()
        return hashlib.sha256(raw).hexdigest()[:16]
    return f"id:{id(symbolizer)}"


@dataclass
class CountCache:
    """Per-dataset memo of symbol streams and counter suffix trees (thread-safe, bounded).

    Keys are ``(dataset id, symbol numbering digest, partition attribute)``; the dataset id is the caller's
    id or a content hash. A request for a deeper CST than cached rebuilds once at the new depth; shallower
    requests reuse the deeper tree (counts of short words do not depend on the depth).
    """

    max_entries: int = 8
    _streams: dict[tuple[Any, ...], SymbolStream] = field(default_factory=dict, repr=False)
    _csts: dict[tuple[Any, ...], CounterSuffixTree] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    hits: int = 0
    misses: int = 0

    def _key(
        self, pattern: Any, frame: pd.DataFrame, dataset_id: str | None, partition_by: str | None
    ) -> tuple:
        return (dataset_id or dataset_fingerprint(frame), id(pattern.symbolizer), partition_by)

    def stream(
        self, pattern: Any, frame: pd.DataFrame, *, partition_by: str | None, dataset_id: str | None = None
    ) -> tuple[tuple[Any, ...], SymbolStream]:
        """The (cached) symbol stream of a dataset and its cache key."""
        key = self._key(pattern, frame, dataset_id, partition_by)
        with self._lock:
            cached = self._streams.get(key)
        if cached is not None:
            return key, cached
        built = symbolize_stream(pattern, frame, partition_by=partition_by)
        with self._lock:
            self._evict(self._streams)
            self._streams[key] = built
        return key, built

    def counts(
        self, key: tuple[Any, ...], stream: SymbolStream, n_symbols: int, depth: int
    ) -> CounterSuffixTree:
        """The (cached) CST of at least ``depth`` for a stream obtained from `stream`."""
        with self._lock:
            cst = self._csts.get(key)
            if cst is not None and cst.depth >= depth:
                self.hits += 1
                return cst
            self.misses += 1
        built = build_cst(stream.segments(), n_symbols, depth)
        with self._lock:
            self._evict(self._csts)
            self._csts[key] = built
        return built

    def _evict(self, store: dict[tuple[Any, ...], Any]) -> None:
        while len(store) >= self.max_entries:
            store.pop(next(iter(store)))

    def clear(self) -> None:
        """Drop everything."""
        with self._lock:
            self._streams.clear()
            self._csts.clear()


def fit_counts(
    pattern: Any,
    events: pd.DataFrame | Iterable[Mapping[str, Any]],
    *,
    max_order: int,
    partitioned: bool = True,
    cache: CountCache | None = None,
    dataset_id: str | None = None,
) -> CounterSuffixTree:
    """Count a dataset's contexts up to length ``max_order + 1`` (pre-warms ``cache`` when given).

    ``partitioned`` uses the pattern's ``partition_by`` (if any) for per-partition buffers.
    """
    frame = as_frame(events)
    partition_by = getattr(pattern, "partition_by", None) if partitioned else None
    cache = cache if cache is not None else CountCache(max_entries=1)
    key, stream = cache.stream(pattern, frame, partition_by=partition_by, dataset_id=dataset_id)
    return cache.counts(key, stream, int(pattern.symbolizer.n_symbols), max_order + 1)
