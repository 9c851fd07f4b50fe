"""Global score aggregation: per-key score deltas -> one :class:`ScoreReport` per reporting interval.

The keyed engine emits one :class:`ScoreDelta` per processed event: the forecasts that event resolved
(``StepResult.resolved``), stamped with the key's model. This module folds them into global reports:

* **Intervals** are ``reporting_interval`` long in event time and aligned to the first delta seen:
  ``[origin + i*I, origin + (i+1)*I)``. An interval is closed when the watermark passes its end
  (:func:`on_watermark`). Deltas older than the oldest open interval (late beyond the watermark) are
  counted in the oldest open interval rather than dropped.
* **A report is produced for every closed interval in which events arrived**, even if none of its
  forecasts resolved (then its batch is all zeros); intervals without any event produce no report.
* ``batch`` holds this interval's counts, ``runtime`` everything since the current model was swapped
  in. As in the original RTCEF, a swap resets both: the report of a swap interval only counts the new
  model's forecasts. The current model is the newest model id seen (a model id not seen before
  becomes current when its interval closes; with several in one interval, the one seen last).
  Deltas of a model that is no longer current (keys that had not swapped yet) count as events only.
* The report's ``timestamp`` is the largest event timestamp of the interval (the original reports the
  last event before the boundary); the observer copies it into its instruction, and the controller into
  PLAY, from which the swap time is counted.

Counts-derived scores use Wayeb's conventions (:mod:`wayeb_py.evaluation`); undefined precision,
recall and F1 are reported as 0.0 as :class:`protocol.messages.MetricSet` specifies.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from protocol.messages import CreationMethod, MetricSet, ScoreReport
from wayeb_py.evaluation import ZERO, Metrics

__all__ = [
    "AggregatorState",
    "ScoreDelta",
    "decode_batch",
    "delta_row",
    "encode_batch",
    "metric_set",
    "on_delta",
    "on_deltas",
    "on_rows",
    "on_watermark",
]


@dataclass(frozen=True, slots=True)
class ScoreDelta:
    """What one processed event contributes to the global scores (engine -> aggregator, internal)."""

    key: str
    timestamp: int
    model_id: str
    creation_method: CreationMethod
    resolved: Metrics = ZERO
    forecasts: int = 0
    detections: int = 0
    events: int = 1
    resumed: int = 0  # 1 on a key's first event replayed after its pause ended without a PLAY

    def row(self) -> list[Any]:
        """Wire row (:func:`delta_row`)."""
        return delta_row(self.key, self.timestamp, self.model_id, self.creation_method.value, self.resolved,
                         self.forecasts, self.detections, self.events, self.resumed)  # fmt: skip

    def to_json(self) -> str:
        return json.dumps(self.row(), separators=(",", ":"))

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> ScoreDelta:
        """Inverse of :meth:`row`."""
        key, ts, model_id, method, tp, tn, fp, fn, forecasts, detections, events, *resumed = row
        return cls(
            key, ts, model_id, CreationMethod(method), Metrics(tp, tn, fp, fn), forecasts, detections, events,
            resumed[0] if resumed else 0,
        )  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> ScoreDelta:
        return cls.from_row(json.loads(text))


def delta_row(
    key: str, timestamp: int, model_id: str, method: str, resolved: Metrics, forecasts: int, detections: int,
    events: int = 1, resumed: int = 0,
) -> list[Any]:  # fmt: skip
    """Wire row of a delta: ``[key, timestamp, model_id, method, tp, tn, fp, fn, forecasts, detections,
    events]``, plus ``resumed`` as a 12th element only when it is set (rows stay short, older rows stay
    valid). The engine calls this directly, once per event, without building a :class:`ScoreDelta`."""
    r = resolved
    row = [key, timestamp, model_id, method, r.tp, r.tn, r.fp, r.fn, forecasts, detections, events]
    if resumed:
        row.append(resumed)
    return row


def encode_batch(rows: Sequence[Sequence[Any]]) -> str:
    """A batch of delta rows (engine -> aggregator) as a JSON array of :meth:`ScoreDelta.row` rows."""
    return json.dumps(rows, separators=(",", ":"))


def decode_batch(text: str) -> list[ScoreDelta]:
    """Inverse of :func:`encode_batch`."""
    return [ScoreDelta.from_row(r) for r in decode_rows(text)]


def decode_rows(text: str) -> list[list[Any]]:
    """The delta rows of an encoded batch (:meth:`ScoreDelta.row` layout)."""
    rows: list[list[Any]] = json.loads(text)
    return rows


@dataclass(frozen=True, slots=True)
class ModelCounts:
    """Counts of one model within one interval."""

    creation_method: CreationMethod
    resolved: Metrics = ZERO
    first_seen: int = 0


@dataclass(frozen=True, slots=True)
class Interval:
    """An open reporting interval."""

    index: int
    events: int = 0
    last_timestamp: int = 0
    by_model: Mapping[str, ModelCounts] = field(default_factory=dict)
    resumed: int = 0


@dataclass(frozen=True, slots=True)
class AggregatorState:
    """Aggregator state: open intervals, current model and its runtime counts."""

    origin: int | None = None
    first_open: int = 0
    open: Mapping[int, Interval] = field(default_factory=dict)
    model_id: str | None = None
    creation_method: CreationMethod = CreationMethod.INITIAL
    runtime: Metrics = ZERO
    seen_models: tuple[str, ...] = ()
    detections: int = 0

    def interval_end(self, index: int, interval: int) -> int:
        """Exclusive end (event time) of interval ``index``."""
        assert self.origin is not None
        return self.origin + (index + 1) * interval

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for Flink ValueState."""
        return {
            "origin": self.origin,
            "first_open": self.first_open,
            "open": [
                {
                    "index": iv.index,
                    "events": iv.events,
                    "last_timestamp": iv.last_timestamp,
                    "by_model": {
                        m: [c.creation_method.value, *_counts(c.resolved), c.first_seen]
                        for m, c in iv.by_model.items()
                    },
                    "resumed": iv.resumed,
                }
                for iv in self.open.values()
            ],
            "model_id": self.model_id,
            "creation_method": self.creation_method.value,
            "runtime": _counts(self.runtime),
            "seen_models": list(self.seen_models),
            "detections": self.detections,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle through :meth:`to_dict` (Flink keeps this object in ``PICKLED_BYTE_ARRAY`` state)."""
        return (AggregatorState.from_dict, (self.to_dict(),))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AggregatorState:
        """Inverse of :meth:`to_dict`."""
        open_: dict[int, Interval] = {}
        for iv in data["open"]:
            by_model = {
                m: ModelCounts(CreationMethod(v[0]), Metrics(*v[1:5]), v[5])
                for m, v in iv["by_model"].items()
            }
            open_[iv["index"]] = Interval(
                iv["index"], iv["events"], iv["last_timestamp"], by_model, iv.get("resumed", 0)
            )
        return cls(
            origin=data["origin"],
            first_open=data["first_open"],
            open=open_,
            model_id=data["model_id"],
            creation_method=CreationMethod(data["creation_method"]),
            runtime=Metrics(*data["runtime"]),
            seen_models=tuple(data["seen_models"]),
            detections=data.get("detections", 0),
        )


def _counts(m: Metrics) -> list[int]:
    return [m.tp, m.tn, m.fp, m.fn]


def metric_set(m: Metrics) -> MetricSet:
    """Wire form of counts and scores (undefined ratios -> 0.0)."""

    def defined(x: float) -> float:
        return x if x >= 0.0 else 0.0

    return MetricSet(
        tp=m.tp, tn=m.tn, fp=m.fp, fn=m.fn,
        precision=defined(m.precision), recall=defined(m.recall), f1=defined(m.f1), mcc=m.mcc,
    )  # fmt: skip


def on_delta(state: AggregatorState, delta: ScoreDelta, interval: int) -> tuple[AggregatorState, int]:
    """Add one delta; returns the new state and the end of the interval it landed in (for a timer)."""
    state, ends = on_deltas(state, (delta,), interval)
    return state, ends[0]


def on_deltas(
    state: AggregatorState, deltas: Iterable[ScoreDelta], interval: int
) -> tuple[AggregatorState, list[int]]:
    """Add deltas in order; returns the new state and the ends of the intervals they landed in
    (:func:`on_rows` on their wire rows)."""
    return on_rows(state, [d.row() for d in deltas], interval)


def on_rows(
    state: AggregatorState, rows: Iterable[Sequence[Any]], interval: int
) -> tuple[AggregatorState, list[int]]:
    """Add delta rows (:func:`delta_row` layout) in order; returns the new state and the ends of the
    intervals they landed in.

    Equivalent to folding them one by one (the first delta ever seen fixes the origin; a delta older than
    the oldest open interval lands in it); the batch is folded into mutable accumulators and the frozen
    state is rebuilt once. The rows are read as they arrive, without a :class:`ScoreDelta` per row: this
    runs in the single aggregator for every event of the job.
    """
    origin = state.origin
    first_open = state.first_open
    # index -> [events, last_timestamp, {model_id: [method, tp, tn, fp, fn, first_seen]}, resumed]
    touched: dict[int, list[Any]] = {}
    detections = state.detections
    for row in rows:
        timestamp = row[1]
        if origin is None:
            origin = timestamp
        index = max((timestamp - origin) // interval, first_open)
        acc = touched.get(index)
        if acc is None:
            current = state.open.get(index) or Interval(index)
            models = current.by_model
            by_model = {m: [c.creation_method, *_counts(c.resolved), c.first_seen] for m, c in models.items()}
            acc = touched[index] = [current.events, current.last_timestamp, by_model, current.resumed]
        acc[1] = max(acc[1], timestamp) if acc[0] else timestamp
        acc[0] += row[10]
        if len(row) > 11:
            acc[3] += row[11]
        counts = acc[2].get(row[2])
        if counts is None:
            counts = acc[2][row[2]] = [CreationMethod(row[3]), 0, 0, 0, 0, timestamp]
        elif timestamp < counts[5]:
            counts[5] = timestamp  # first seen in event time, whatever the arrival order
        counts[1] += row[4]
        counts[2] += row[5]
        counts[3] += row[6]
        counts[4] += row[7]
        detections += row[9]
    if origin is None:
        return state, []
    opened = dict(state.open)
    for index, (events, last, by_model, resumed) in touched.items():
        opened[index] = Interval(
            index=index,
            events=events,
            last_timestamp=last,
            by_model={m: ModelCounts(c[0], Metrics(*c[1:5]), c[5]) for m, c in by_model.items()},
            resumed=resumed,
        )
    state = replace(state, origin=origin, open=opened, detections=detections)
    return state, [state.interval_end(index, interval) for index in touched]


def on_watermark(
    state: AggregatorState, watermark: int, interval: int
) -> tuple[AggregatorState, list[ScoreReport]]:
    """Close, oldest first, every open interval that ends at or before ``watermark``."""
    if state.origin is None:
        return state, []
    reports: list[ScoreReport] = []
    for index in sorted(state.open):
        end = state.interval_end(index, interval)
        if end > watermark:
            break
        state, report = _close(state, state.open[index], interval)
        if report is not None:
            reports.append(report)
    return state, reports


def _close(state: AggregatorState, iv: Interval, interval: int) -> tuple[AggregatorState, ScoreReport | None]:
    new_models = [m for m in iv.by_model if m not in state.seen_models]
    model_id, method, runtime = state.model_id, state.creation_method, state.runtime
    if new_models:
        model_id = max(new_models, key=lambda m: iv.by_model[m].first_seen)
        method = iv.by_model[model_id].creation_method
        runtime = ZERO
    counts = iv.by_model.get(model_id) if model_id is not None else None
    batch = counts.resolved if counts is not None else ZERO
    runtime = runtime + batch
    origin = state.origin
    assert origin is not None
    state = replace(
        state,
        first_open=iv.index + 1,
        open={i: v for i, v in state.open.items() if i != iv.index},
        model_id=model_id,
        creation_method=method,
        runtime=runtime,
        seen_models=(*state.seen_models, *new_models),
    )
    if iv.events == 0 or model_id is None:
        return state, None
    report = ScoreReport(
        timestamp=iv.last_timestamp,
        interval_start=origin + iv.index * interval,
        model_id=model_id,
        creation_method=method,
        batch=metric_set(batch),
        runtime=metric_set(runtime),
        events=iv.events,
        resumed_without_play=iv.resumed,
    )
    return state, report
