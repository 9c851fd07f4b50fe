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
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from protocol.messages import CreationMethod, MetricSet, ScoreReport
from wayeb_py.evaluation import ZERO, Metrics

__all__ = ["AggregatorState", "ScoreDelta", "metric_set", "on_delta", "on_watermark"]


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

    def to_json(self) -> str:
        r = self.resolved
        return json.dumps(
            [self.key, self.timestamp, self.model_id, self.creation_method.value,
             r.tp, r.tn, r.fp, r.fn, self.forecasts, self.detections, self.events],
            separators=(",", ":"),
        )  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> ScoreDelta:
        key, ts, model_id, method, tp, tn, fp, fn, forecasts, detections, events = json.loads(text)
        return cls(
            key, ts, model_id, CreationMethod(method), Metrics(tp, tn, fp, fn), forecasts, detections, events
        )


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
                }
                for iv in self.open.values()
            ],
            "model_id": self.model_id,
            "creation_method": self.creation_method.value,
            "runtime": _counts(self.runtime),
            "seen_models": list(self.seen_models),
            "detections": self.detections,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AggregatorState:
        """Inverse of :meth:`to_dict`."""
        open_: dict[int, Interval] = {}
        for iv in data["open"]:
            by_model = {
                m: ModelCounts(CreationMethod(v[0]), Metrics(*v[1:5]), v[5])
                for m, v in iv["by_model"].items()
            }
            open_[iv["index"]] = Interval(iv["index"], iv["events"], iv["last_timestamp"], by_model)
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
    origin = delta.timestamp if state.origin is None else state.origin
    index = max((delta.timestamp - origin) // interval, state.first_open)
    current = state.open.get(index) or Interval(index)
    counts = current.by_model.get(delta.model_id) or ModelCounts(delta.creation_method, ZERO, delta.timestamp)
    counts = replace(counts, resolved=counts.resolved + delta.resolved)
    updated = Interval(
        index=index,
        events=current.events + delta.events,
        last_timestamp=max(current.last_timestamp, delta.timestamp) if current.events else delta.timestamp,
        by_model={**current.by_model, delta.model_id: counts},
    )
    state = replace(
        state,
        origin=origin,
        open={**state.open, index: updated},
        detections=state.detections + delta.detections,
    )
    return state, state.interval_end(index, interval)


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
    )
    return state, report
