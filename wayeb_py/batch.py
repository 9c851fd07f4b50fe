"""Fast batch scoring: the confusion counts of `SPSTModel.step_symbol` runs without per-event objects.

`score_stream` on a DataFrame only needs TP/TN/FP/FN, so instead of building an immutable `RunState` and a
`StepResult` per event this module replays the same run loop on plain local variables:

* the context buffer (last ``order + 1`` symbols) is an integer in base ``t + 1`` (digit ``symbol + 1``, most
  recent symbol least significant, 0 = empty slot), so pushing a symbol is one multiply-add-modulo and the
  buffer -> deepest PST node lookup is a dict keyed by that integer (filled lazily with `pst.deepest`);
* pending forecasts are bucketed by their absolute end counter. Every forecast interval ends at least one
  event after it is emitted and the counter grows by one per counted event, so at each counted event every
  pending interval ends at or after the counter. A non-detecting event therefore only resolves the bucket
  ending at the counter (misses), and a detection resolves exactly the intervals that have started (hits).

Runs of different partition values are independent, so each key's subsequence is replayed on its own. The
result equals summing the ``resolved`` counts of `iter_steps` plus the end-of-stream misses; tables that break
the interval assumption (start < 1 or end < start) make `score_symbols` return None so the caller falls back
to the step-by-step path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .evaluation import Metrics
from .pst import PredictionSuffixTree

if TYPE_CHECKING:
    from .engine import SPSTModel

__all__ = ["score_symbols"]

Progress = Callable[[int], None]
_CHUNK = 4096


def _groups(keys: Sequence[Any] | None, n: int) -> list[np.ndarray]:
    """Row indices per partition value (stream order kept inside each group)."""
    if keys is None:
        return [np.arange(n)]
    mapping: dict[Any, int] = {}
    codes = np.fromiter((mapping.setdefault(k, len(mapping)) for k in keys), dtype=np.int64, count=n)
    order = np.argsort(codes, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(codes[order])) + 1) if n else []


def _intervals_ok(rows: Sequence[tuple[float, int, int, bool] | None]) -> bool:
    """Whether every forecast interval satisfies ``1 <= start <= end`` (the bucketing precondition)."""
    return all(row is None or 1 <= row[1] <= row[2] for row in rows)


def score_symbols(
    model: SPSTModel,
    symbols: np.ndarray,
    resets: np.ndarray,
    keys: Sequence[Any] | None = None,
    progress: Progress | None = None,
) -> Metrics | None:
    """Confusion counts of fresh runs of ``model`` over a symbolised stream (one run per key value).

    Args:
        model: the SPST model.
        symbols: symbol per row (ignored on reset rows); non-reset symbols must lie in ``[0, t)``.
        resets: reset-row mask.
        keys: partition value per row, or None for a single run.
        progress: called with 4096 after every 4096 rows processed.

    Returns:
        The metrics, or None when the model's forecast table does not allow the fast path.

    Raises:
        ValueError: if a non-reset symbol is outside the model's alphabet.
    """
    rows = model.table.rows
    if not _intervals_ok(rows):
        return None
    n = len(symbols)
    resets = np.asarray(resets, dtype=bool)
    syms = np.where(resets, -1, np.asarray(symbols, dtype=np.int64))
    t = model.va.n_symbols
    live = syms[~resets]
    if len(live) and (live.min() < 0 or live.max() >= t):
        raise ValueError(f"symbols must lie in [0, {t}); got range [{live.min()}, {live.max()}]")
    totals = [0, 0, 0, 0]  # tp, tn, fp, fn
    tables = _Tables.of(model)
    done = 0
    for idx in _groups(keys, n):
        _replay(tables, syms[idx].tolist(), totals)
        if progress is not None:
            done += len(idx)
            while done >= _CHUNK:
                progress(_CHUNK)
                done -= _CHUNK
    return Metrics(*totals)


class _Tables(NamedTuple):
    """Plain-Python lookup tables of one model, shared by all runs of one `score_symbols` call."""

    pst: PredictionSuffixTree
    base: int
    modulus: int
    delta: list[list[int]]
    n_q: int
    is_final: list[bool]
    leaf: list[bool]
    rows: list[tuple[float, int, int, bool] | None]
    finals_enabled: bool
    start_q: int
    nodes: dict[int, int]  # buffer code -> deepest PST node (filled lazily)

    @classmethod
    def of(cls, model: SPSTModel) -> _Tables:
        va, pst = model.va, model.pst
        base = va.n_symbols + 1
        return cls(
            pst,
            base,
            base ** (pst.max_order + 1),
            va.delta.tolist(),
            va.n_states,
            [q in va.finals for q in range(va.n_states)],
            pst.is_leaf.tolist(),
            model.table.rows,
            model.forecast_params.finals_enabled,
            va.start,
            {},
        )


def _replay(tables: _Tables, seq: list[int], totals: list[int]) -> None:
    """One run over ``seq`` (-1 = reset), adding its resolved and end-of-stream counts to ``totals``."""
    pst, base, modulus, delta, n_q, is_final, leaf, rows, finals_enabled, start_q, nodes = tables
    by_end: dict[int, list[tuple[int, bool]]] = {}
    tp = tn = fp = fn = 0
    started = False
    q = start_q
    code = 0
    counter = 0
    for sym in seq:
        if sym < 0:
            started = False
            code = 0
            continue
        code = (code * base + sym + 1) % modulus
        node = nodes.get(code)
        if node is None:
            node = nodes[code] = pst.deepest(_decode(code, base))
        if not started:
            if not leaf[node]:
                continue
            started = True
            q = start_q
        counter += 1
        q = delta[q][sym]
        detected = is_final[q]
        if by_end:
            if detected:
                for end in list(by_end):
                    bucket = by_end[end]
                    keep = []
                    for item in bucket:
                        if item[0] <= counter:
                            if item[1]:
                                tp += 1
                            else:
                                fn += 1
                        else:
                            keep.append(item)
                    if keep:
                        by_end[end] = keep
                    else:
                        del by_end[end]
            else:
                expired = by_end.pop(counter, None)
                if expired is not None:
                    for item in expired:
                        if item[1]:
                            fp += 1
                        else:
                            tn += 1
        if finals_enabled or not detected:
            row = rows[node * n_q + q]
            if row is not None:
                end = counter + row[2]
                item = (counter + row[1], row[3])
                slot = by_end.get(end)
                if slot is None:
                    by_end[end] = [item]
                else:
                    slot.append(item)
    for bucket in by_end.values():  # end of stream: every open interval is a miss
        for _, pos in bucket:
            if pos:
                fp += 1
            else:
                tn += 1
    totals[0] += tp
    totals[1] += tn
    totals[2] += fp
    totals[3] += fn


def _decode(code: int, base: int) -> tuple[int, ...]:
    """The buffer tuple (most recent first) encoded by ``code``."""
    out = []
    while code:
        code, digit = divmod(code, base)
        out.append(digit - 1)
    return tuple(out)
