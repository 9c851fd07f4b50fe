"""A tiny deterministic forecasting model that follows the ``wayeb_py.engine`` contract.

It lets the inference job be tested (purely and in a MiniCluster) without training a PST:

* the run state counts events and remembers its open forecasts;
* an event whose ``lat`` is at least :data:`DETECTION_LAT` is a detection;
* every event yields a forecast for the next two events, with probability ``(lat - 40) / 10 + bias``
  clipped to [0, 1], positive at 0.5 or more;
* an open forecast resolves as a hit when a detection falls in its interval, as a miss once the interval
  has passed; the resolved counts are returned in ``StepResult.resolved``.

A model file is JSON ``{"kind": "fake", "model_id": ..., "bias": ...}`` (see :func:`write_model`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from wayeb_py.evaluation import ZERO, Metrics

DETECTION_LAT = 50.0


@dataclass(frozen=True, slots=True)
class FakeForecast:
    """Same fields as ``wayeb_py.engine.Forecast``."""

    timestamp: int
    probability: float
    start: int
    end: int
    positive: bool


@dataclass(frozen=True, slots=True)
class FakeStepResult:
    """Same fields as ``wayeb_py.engine.StepResult``."""

    forecast: FakeForecast | None
    detected: bool
    resolved: Metrics


@dataclass(frozen=True, slots=True)
class FakeRun:
    """Run state: event counter, open forecasts (absolute start, end, positive), model lineage."""

    model_id: str
    counter: int = 0
    open: tuple[tuple[int, int, bool], ...] = ()
    adopted_from: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "counter": self.counter,
            "open": [list(o) for o in self.open],
            "adopted_from": list(self.adopted_from),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FakeRun:
        return cls(
            model_id=str(data["model_id"]),
            counter=int(data["counter"]),
            open=tuple((int(a), int(b), bool(p)) for a, b, p in data["open"]),
            adopted_from=tuple(data.get("adopted_from", ())),
        )


@dataclass(frozen=True, slots=True)
class FakeModel:
    """A model with an id and a probability bias (different models forecast differently)."""

    model_id: str
    bias: float = 0.0

    @classmethod
    def load(cls, path: str | Path) -> FakeModel:
        data = json.loads(Path(path).read_text())
        return cls(model_id=str(data["model_id"]), bias=float(data.get("bias", 0.0)))

    def new_run(self) -> FakeRun:
        return FakeRun(model_id=self.model_id)

    def adopt(self, state: FakeRun) -> FakeRun:
        return replace(state, model_id=self.model_id, adopted_from=(*state.adopted_from, state.model_id))

    def symbol_of(self, event: Mapping[str, Any]) -> float:
        """What `step_many` needs of an event: its latitude (this model's only input)."""
        return float(event.get("lat", 0.0))

    def step_many(
        self, state: FakeRun, symbols: Sequence[float], timestamps: Sequence[int]
    ) -> tuple[FakeRun, list[FakeStepResult]]:
        """`step` over events given as (latitude, timestamp) pairs."""
        results = []
        for lat, timestamp in zip(symbols, timestamps, strict=True):
            state, result = self.step(state, {"lat": lat, "timestamp": timestamp})
            results.append(result)
        return state, results

    def step(self, state: FakeRun, event: Mapping[str, Any]) -> tuple[FakeRun, FakeStepResult]:
        counter = state.counter + 1
        lat = self.symbol_of(event)
        detected = lat >= DETECTION_LAT
        resolved = ZERO
        still_open = []
        for start, end, positive in state.open:
            if detected and start <= counter <= end:
                resolved = resolved + Metrics.of_outcome(True, positive)
            elif counter >= end:
                resolved = resolved + Metrics.of_outcome(False, positive)
            else:
                still_open.append((start, end, positive))
        probability = min(1.0, max(0.0, (lat - 40.0) / 10.0 + self.bias))
        positive = probability >= 0.5
        still_open.append((counter + 1, counter + 2, positive))
        forecast = FakeForecast(int(event["timestamp"]), probability, 1, 2, positive)
        new_state = replace(state, counter=counter, open=tuple(still_open))
        return new_state, FakeStepResult(forecast, detected, resolved)


def load(path: str) -> FakeModel:
    """Model loader with the signature the inference engine expects."""
    return FakeModel.load(path)


def write_model(path: str | Path, model_id: str, bias: float = 0.0) -> str:
    """Write a fake model file and return its path as a string."""
    Path(path).write_text(json.dumps({"kind": "fake", "model_id": model_id, "bias": bias}))
    return str(path)
