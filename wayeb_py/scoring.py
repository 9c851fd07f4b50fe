"""Batch scoring of an SPST model over a whole stream.

Two modes:

* ``partitioned=False`` (**RTCEF-compatible**): one single run over all events in file order, whatever the
  pattern's ``partitionBy`` says, exactly like the RTCEF model factory scores a candidate model (usually in
  sample, on the dataset it was trained on).
* ``partitioned=True``: one run per value of the partition attribute (Wayeb's ``ERFEngine``), counts summed.

Forecasts still open at the end of the stream are scored as misses (FP/TN), as Wayeb's collector does.
DataFrames are symbolised in one vectorised call and scored by `wayeb_py.batch.score_symbols` (no per-event
objects); iterables of mappings go through `SPSTModel.step`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .batch import score_symbols
from .evaluation import ZERO, Metrics
from .runstate import RunState, StepResult

if TYPE_CHECKING:
    from .engine import SPSTModel

__all__ = ["iter_steps", "reset_mask", "score_stream", "symbolize_frame"]

Progress = Callable[[int], None]


def reset_mask(frame: pd.DataFrame) -> np.ndarray:
    """Boolean mask of reset rows (timestamp == -1, or type == "RESET")."""
    mask = np.zeros(len(frame), dtype=bool)
    if "timestamp" in frame.columns:
        mask |= pd.to_numeric(frame["timestamp"], errors="coerce").to_numpy() == -1
    if "type" in frame.columns:
        mask |= (frame["type"].astype(str) == "RESET").to_numpy()
    return mask


def symbolize_frame(symbolizer: Any, frame: pd.DataFrame, resets: np.ndarray | None = None) -> np.ndarray:
    """Symbols of every non-reset row (reset rows get -1), using the symbolizer's vectorised path."""
    resets = reset_mask(frame) if resets is None else resets
    out = np.full(len(frame), -1, dtype=np.int64)
    if (~resets).any():
        sub = frame if not resets.any() else frame.loc[~resets]
        out[~resets] = np.asarray(symbolizer.symbols(sub), dtype=np.int64)
    return out


def _partition_values(frame_or_events: Any, attr: str | None, n: int) -> list[Any]:
    if attr is None:
        return [None] * n
    if isinstance(frame_or_events, pd.DataFrame):
        if attr not in frame_or_events.columns:
            raise ValueError(f"partition attribute {attr!r} is not a column of the stream")
        return frame_or_events[attr].tolist()
    raise TypeError("expected a DataFrame")


def _partition_attr(model: SPSTModel, partitioned: bool, partition_by: str | None) -> str | None:
    if not partitioned:
        return None
    attr = partition_by or model.partition_by
    if not attr:
        raise ValueError("partitioned scoring needs a partition attribute (pattern has no partitionBy)")
    return attr


def iter_steps(
    model: SPSTModel,
    events: pd.DataFrame | Iterable[Mapping[str, Any]],
    *,
    partitioned: bool = False,
    partition_by: str | None = None,
    progress: Progress | None = None,
    symbols: np.ndarray | None = None,
) -> Iterator[tuple[Any, int, StepResult]]:
    """Run the model over a stream, yielding ``(partition key, event index, step result)`` per non-idle step.

    After the last event, one extra item per run with pending forecasts is yielded with index -1 and a
    `StepResult` whose ``resolved`` holds the end-of-stream misses. ``symbols`` may carry the frame's
    precomputed symbols (as from `symbolize_frame`) to skip symbolisation.
    """
    attr = _partition_attr(model, partitioned, partition_by)
    runs: dict[Any, RunState] = {}
    if isinstance(events, pd.DataFrame):
        resets = reset_mask(events)
        if symbols is None:
            symbols = symbolize_frame(model.symbolizer, events, resets)
        elif len(symbols) != len(events):
            raise ValueError(f"got {len(symbols)} precomputed symbols for {len(events)} events")
        sym_list = np.asarray(symbols).tolist()
        keys = _partition_values(events, attr, len(events))
        if "timestamp" in events.columns:
            stamps = pd.to_numeric(events["timestamp"], errors="coerce").fillna(0).astype(np.int64).tolist()
        else:
            stamps = [0] * len(events)
        step = model.step_symbol
        for i, (sym, key, ts, is_reset) in enumerate(
            zip(sym_list, keys, stamps, resets.tolist(), strict=True)
        ):
            state = runs.get(key)
            if state is None:
                state = model.new_run()
            if is_reset:
                runs[key] = model.reset(state)
                continue
            state, result = step(state, sym, ts)
            runs[key] = state
            if result.forecast is not None or result.detected or result.resolved:
                yield key, i, result
            if progress is not None and i % 4096 == 4095:
                progress(4096)
    else:
        for i, event in enumerate(events):
            key = None if attr is None else event.get(attr)
            if attr is not None and key is None:
                raise ValueError(f"event {i} has no partition attribute {attr!r}")
            state = runs.get(key)
            if state is None:
                state = model.new_run()
            state, result = model.step(state, event)
            runs[key] = state
            if result.forecast is not None or result.detected or result.resolved:
                yield key, i, result
            if progress is not None and i % 4096 == 4095:
                progress(4096)
    for key, state in runs.items():
        if state.pending:
            _, tail = model.flush(state)
            yield key, -1, StepResult(resolved=tail)


def score_stream(
    model: SPSTModel,
    events: pd.DataFrame | Iterable[Mapping[str, Any]],
    *,
    partitioned: bool = False,
    partition_by: str | None = None,
    progress: Progress | None = None,
    symbols: np.ndarray | None = None,
) -> Metrics:
    """TP/TN/FP/FN of the model's forecasts over a stream (see module docstring for the two modes).

    DataFrames take the allocation-free replay of `wayeb_py.batch` (same counts as stepping event by event).
    """
    if isinstance(events, pd.DataFrame):
        attr = _partition_attr(model, partitioned, partition_by)
        resets = reset_mask(events)
        if symbols is None:
            symbols = symbolize_frame(model.symbolizer, events, resets)
        elif len(symbols) != len(events):
            raise ValueError(f"got {len(symbols)} precomputed symbols for {len(events)} events")
        keys = None if attr is None else _partition_values(events, attr, len(events))
        fast = score_symbols(model, np.asarray(symbols), resets, keys, progress)
        if fast is not None:
            return fast
    tp = tn = fp = fn = 0
    for _, _, result in iter_steps(
        model, events, partitioned=partitioned, partition_by=partition_by, progress=progress, symbols=symbols
    ):
        r = result.resolved
        if r is not ZERO:
            tp += r.tp
            tn += r.tn
            fp += r.fp
            fn += r.fn
    return Metrics(tp, tn, fp, fn)
