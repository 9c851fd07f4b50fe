"""The inference job's metrics (names, units and meaning in docs/metrics.md).

* :class:`EngineMetrics` (operator ``engine``): events in, forecasts out, dead-lettered events, key swaps, the
  paused flag, the events held while paused, the model in use, and the engine's forecast latency.
* :class:`AggregatorMetrics` (operator ``score-aggregator``): reports and the MCC of the latest one, overall
  and per model key.
* :class:`ObserverMetrics` (operator ``observer``): instructions sent.

Each function calls these from its Flink callbacks; everything here is plain bookkeeping on values the
function already has, so a metric costs a few attribute operations per batch, not per event.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any

from flink_common.metrics import OperatorMetrics, milli
from inference_job.lifecycle import ControlState, ModelRef
from protocol.messages import ScoreReport

__all__ = ["NO_VERSION", "AggregatorMetrics", "EngineMetrics", "ObserverMetrics", "model_version"]

NO_VERSION = -1
"""Version gauge value of a model whose id ends in no number (the bootstrap model ``initial``)."""

_TRAILING_NUMBER = re.compile(r"(\d+)$")


def model_version(model_id: str) -> int:
    """The number a model id ends with (``wayeb_16`` -> 16, the factory's numbering), else -1."""
    match = _TRAILING_NUMBER.search(model_id)
    return int(match.group(1)) if match else NO_VERSION


def _hashable(key: Any) -> Hashable:
    try:
        hash(key)
    except TypeError:
        return repr(key)
    return key


class EngineMetrics(OperatorMetrics):
    """The forecasting engine's metrics; gauges are per subtask (each holds its shards' keys)."""

    def __init__(self) -> None:
        super().__init__()
        self.events_in = self.counter("events_in")
        self.forecasts_out = self.counter("forecasts_out")
        self.events_dead_lettered = self.counter("events_dead_lettered")
        self.swaps = self.counter("swaps")
        self.paused = self.gauge("paused")
        self.buffered_events = self.gauge("buffered_events")
        self.model_version = self.gauge("model_version", initial=None)
        self.announced_model_version = self.gauge("announced_model_version", initial=None)
        self.in_use = self.keyed("model_key", ("in_use",))
        self.latency = self.summary("forecast_latency_ms")
        self._model: str | None = None
        self._held: dict[Hashable, int] = {}
        self._held_total = 0

    def on_control(self, control: ControlState, initial: ModelRef) -> None:
        """The broadcast control state changed (a PAUSE or PLAY, or read back after a restore)."""
        self.paused.set(int(control.paused))
        announced = control.latest.model.model_id if control.latest is not None else initial.model_id
        self.announced_model_version.set(model_version(announced))

    def on_model(self, model_id: str) -> None:
        """An event was run by model ``model_id`` (called per event: a string comparison when unchanged)."""
        if model_id == self._model:
            return
        if self._model is not None:
            self.in_use.set(self._model, "in_use", 0)
        self._model = model_id
        self.in_use.set(model_id, "in_use", 1)
        self.model_version.set(model_version(model_id))

    def on_shard(self, shard: Any, held: int) -> None:
        """Shard ``shard`` now holds ``held`` events (paused); keeps the subtask's total."""
        key = _hashable(shard)
        before = self._held.get(key, 0)
        if held == before:
            return
        if held:
            self._held[key] = held
        else:
            self._held.pop(key, None)
        self._held_total += held - before
        self.buffered_events.set(self._held_total)

    def on_forecasts(self, count: int, oldest_arrival_ms: int | None, now_ms: int) -> None:
        """``count`` forecasts leave; the oldest event run for them reached the engine at that time (ms)."""
        self.forecasts_out.inc(count)
        if oldest_arrival_ms is not None:
            self.latency.update(max(0, now_ms - oldest_arrival_ms))


class AggregatorMetrics(OperatorMetrics):
    """Score reports: how many, and the MCC of the latest overall and per model key (milli-MCC)."""

    def __init__(self) -> None:
        super().__init__()
        self.reports = self.counter("reports")
        self.batch_mcc = self.gauge("batch_mcc_milli", initial=None)
        self.runtime_mcc = self.gauge("runtime_mcc_milli", initial=None)
        self.report_model_version = self.gauge("report_model_version", initial=None)
        self.per_model = self.keyed("model_key", ("batch_mcc_milli", "runtime_mcc_milli"))

    def on_report(self, report: ScoreReport) -> None:
        self.reports.inc()
        batch, runtime = milli(report.batch.mcc), milli(report.runtime.mcc)
        self.batch_mcc.set(batch)
        self.runtime_mcc.set(runtime)
        self.report_model_version.set(model_version(report.model_id))
        self.per_model.set(report.model_id, "batch_mcc_milli", batch)
        self.per_model.set(report.model_id, "runtime_mcc_milli", runtime)


class ObserverMetrics(OperatorMetrics):
    """Reports observed and instructions sent, by type."""

    def __init__(self) -> None:
        super().__init__()
        self.reports = self.counter("reports_observed")
        self.retrain = self.counter("instructions_retrain")
        self.optimize = self.counter("instructions_optimize")
