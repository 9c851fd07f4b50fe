"""Helpers of the restart and swap end-to-end tests: streams, bucket files, and offline references.

The offline reference replays a stream through ``wayeb_py`` exactly as an uninterrupted inference job
would (one run per key, events in feed order) and folds the score deltas with the job's own pure
``inference_job.scoring`` functions. Comparing a restarted job's outputs with it shows that nothing was
lost, duplicated or re-warmed across the restart.
"""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e_support import TopicReader

from inference_job.scoring import AggregatorState, ScoreDelta, on_delta, on_watermark
from mocks.data_feeder import load_records, order_by_event_time
from protocol.codec import decode
from protocol.messages import CreationMethod, MaritimeEvent

ForecastKey = tuple[str, int, str, float, int, int, bool]
"""A forecast as compared: key, timestamp, model id, probability, start, end, positive."""


def wait_until(
    reader: TopicReader, done: Callable[[list[dict[str, Any]]], bool], timeout: float, what: str
) -> None:
    """Poll ``reader`` until ``done(records)``; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not done(reader.records):
        if time.monotonic() > deadline:
            pytest.fail(
                f"timed out after {timeout:.0f}s waiting for {what}; have {len(reader.records)} records"
            )
        reader.poll(1.0)


# ------------------------------------------------------------------------------------------ streams


def stream_events(path: Path) -> list[dict[str, Any]]:
    """The events of a CSV stream as the inference job sees them: feed order, decoded, as dicts."""
    loaded = load_records(path)
    return [
        decode(MaritimeEvent, r.value).model_dump(mode="json") for r in order_by_event_time(loaded.records)
    ]


def write_csv(path: Path, events: list[dict[str, Any]]) -> Path:
    """Write events (dicts with the same fields) as a CSV stream the feeder reads."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(events[0]))
        writer.writeheader()
        writer.writerows(events)
    return path


def bucket_rows(folder: Path) -> Counter[tuple[str, int]]:
    """Multiset of (mmsi, timestamp) over every live bucket file's data rows."""
    rows: Counter[tuple[str, int]] = Counter()
    for path in folder.glob("*.csv"):
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                rows[(str(row["mmsi"]), int(row["timestamp"]))] += 1
    return rows


def forecast_key(record: dict[str, Any]) -> ForecastKey:
    """The compared fields of a ForecastRecord as read from the topic."""
    return (
        str(record["key"]), int(record["timestamp"]), str(record["model_id"]), float(record["probability"]),
        int(record["start"]), int(record["end"]), bool(record["positive"]),
    )  # fmt: skip


def report_key(record: dict[str, Any]) -> tuple[Any, ...]:
    """The compared fields of a ScoreReport: interval, last timestamp, model, counts, events."""
    counts = ("tp", "tn", "fp", "fn")
    return (
        int(record["interval_start"]), int(record["timestamp"]), str(record["model_id"]),
        tuple(int(record["batch"][c]) for c in counts), tuple(int(record["runtime"][c]) for c in counts),
        int(record["events"]),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------- reference


@dataclass
class Reference:
    """What an uninterrupted inference job outputs for a stream."""

    forecasts: list[ForecastKey]
    deltas: list[ScoreDelta]

    def reports(self, interval: int, watermark: int) -> list[tuple[Any, ...]]:
        """The score reports of the intervals closed by ``watermark`` (event ticks), as :func:`report_key`."""
        state = AggregatorState()
        for delta in self.deltas:
            state, _ = on_delta(state, delta, interval)
        _, reports = on_watermark(state, watermark, interval)
        return [report_key(json.loads(r.model_dump_json())) for r in reports]


@dataclass(frozen=True)
class Swap:
    """A model played at ``swap_at`` (event time): keys adopt their run into it at their first event there."""

    swap_at: int
    model_path: str
    model_id: str


def reference_run(
    model_path: str,
    events: list[dict[str, Any]],
    *,
    model_id: str = "initial",
    fresh_from: int | None = None,
    swap: Swap | None = None,
) -> Reference:
    """Replay ``events`` through the model with one run per key, as the inference job does.

    ``fresh_from`` (an event index) drops every key's run there: what a job that lost its keyed state at
    that point would produce. Tests use it to show that the comparison detects lost state. ``swap`` follows
    the engine's stream-time swap (``inference_job.lifecycle``): the run is adopted, not restarted.
    """
    from wayeb_py.engine import SPSTModel

    models = {model_id: SPSTModel.load(model_path)}
    if swap is not None:
        models[swap.model_id] = SPSTModel.load(swap.model_path)
    runs: dict[str, tuple[str, Any]] = {}
    forecasts: list[ForecastKey] = []
    deltas: list[ScoreDelta] = []
    for index, event in enumerate(events):
        if index == fresh_from:
            runs.clear()
        key, ts = str(event["mmsi"]), int(event["timestamp"])
        current, run = runs.get(key, (model_id, None))
        if swap is not None and current != swap.model_id and ts >= swap.swap_at:
            current, run = swap.model_id, models[swap.model_id].adopt(run) if run is not None else None
        model = models[current]
        run, result = model.step(run if run is not None else model.new_run(), event)
        runs[key] = (current, run)
        f = result.forecast
        if f is not None:
            probability = min(1.0, max(0.0, float(f.probability)))
            forecasts.append((key, ts, current, probability, int(f.start), int(f.end), bool(f.positive)))
        method = CreationMethod.INITIAL if current == model_id else CreationMethod.RETRAIN
        deltas.append(
            ScoreDelta(
                key, ts, current, method, result.resolved, int(f is not None), int(bool(result.detected))
            )
        )
    return Reference(forecasts, deltas)
