"""The inference job's metrics move as the system does: the real engine, aggregator and observer functions,
driven through fake Flink contexts, with the fake metric group reading the values back as Flink would."""

from __future__ import annotations

import pickle
from pathlib import Path

from engine_harness import SHARDS, Harness, forecasts, raw_event
from flink_fakes import FakeRuntimeContext, FakeTimerService
from metric_fakes import FakeMetricsRuntime, gauges_of
from pyflink.datastream import TimeDomain

from inference_job.engine_process import EngineProcess
from inference_job.event_batches import shard_of
from inference_job.lifecycle import ModelRef
from inference_job.metrics import NO_VERSION, AggregatorMetrics, EngineMetrics, model_version
from inference_job.observer import ObserverConfig
from inference_job.observer_process import ObserverProcess
from inference_job.score_aggregator import ScoreAggregator
from inference_job.scoring import ScoreDelta, encode_batch
from protocol.codec import encode
from protocol.messages import CreationMethod, EngineSync, MetricSet, ScoreReport, SyncType
from wayeb_py.evaluation import Metrics

START = 1_000  # the harness clocks' processing time at start


def test_model_version_is_the_number_a_model_id_ends_with() -> None:
    assert [model_version(m) for m in ("wayeb_16", "wayeb_0", "m1", "initial", "swap-m")] == [
        16, 0, 1, NO_VERSION, NO_VERSION,
    ]  # fmt: skip


def test_events_and_forecasts_are_counted_and_the_model_in_use_is_shown(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    m = h.metrics.metrics
    assert m.gauge_value("model_version") is None  # no event run yet: absent rather than a false 0
    out = h.batch("v1", [raw_event("v1", 1), raw_event("v1", 2)]) + h.event("v2", 3)
    assert m.count("events_in") == 3
    assert m.count("forecasts_out") == len(forecasts(out)) == 3
    assert m.gauge_value("model_version") == 0  # m0
    assert m.sub("model_key", "m0").gauge_value("in_use") == 1
    assert (m.gauge_value("paused"), m.gauge_value("buffered_events")) == (0, 0)
    h.batch("v1", ["{not json", raw_event("v1", 4)])
    assert m.count("events_in") == 5 and m.count("events_dead_lettered") == 1
    assert h.metrics.dead_letters() == 1


def test_pause_holds_and_play_swaps_the_gauges_follow(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    m = h.metrics.metrics
    h.event("v1", 1)
    h.sync(EngineSync(type=SyncType.PAUSE, timestamp=1))
    assert m.gauge_value("paused") == 1
    assert h.event("v1", 2) == [] and h.event("v2", 3) == [] and h.event("v1", 4) == []
    assert m.gauge_value("buffered_events") == h.held() == 3
    assert m.count("events_in") == 4 and m.count("forecasts_out") == 1

    h.set_clock(START + 7_000)  # the pause lasted 7 s of processing time
    h.sync(EngineSync(type=SyncType.PLAY, timestamp=1, model_id="m1", model_path=h.m1, production_time=0))
    assert m.gauge_value("paused") == 0
    assert m.gauge_value("announced_model_version") == 1  # PLAY announced m1 ...
    assert m.gauge_value("model_version") == 0  # ... which no event has reached yet
    out = h.fire_due()  # the shards' polls replay what they hold, on m1 (its swap time has passed)
    assert [f.model_id for f in forecasts(out)] == ["m1", "m1", "m1"]
    assert m.gauge_value("buffered_events") == 0 and h.held() == 0
    assert m.gauge_value("model_version") == 1
    assert m.sub("model_key", "m1").gauge_value("in_use") == 1
    assert m.sub("model_key", "m0").gauge_value("in_use") == 0
    assert m.count("swaps") == 1  # v1 adopted its run into m1 (v2, first seen after the PLAY, starts on it)
    assert m.count("forecasts_out") == 4
    # ... and the replays' latency counts from the time the shards held their first event
    replays = len({shard_of("v1", SHARDS), shard_of("v2", SHARDS)})
    samples = m.distributions["forecast_latency_ms"].samples
    assert len(samples) == 1 + replays and sorted(samples)[-replays:] == [7_000] * replays
    assert m.gauge_value("forecast_latency_ms_max") == 7_000


def test_held_events_are_counted_per_shard_and_summed(tmp_path: Path) -> None:
    metrics = EngineMetrics()
    metrics.on_shard(0, 3)
    metrics.on_shard(1, 2)
    metrics.on_shard(0, 5)
    assert metrics.buffered_events.read() == 7
    metrics.on_shard(0, 0)
    metrics.on_shard(["unhashable"], 1)  # a key Flink hands over in another form still counts
    assert metrics.buffered_events.read() == 3


def test_metrics_never_travel_bound_with_the_function() -> None:
    fn = EngineProcess(ModelRef("initial", "/models/initial.spst"))
    runtime = FakeMetricsRuntime()
    fn.metrics.bind(runtime)
    fn.metrics.events_in.inc()
    fn.metrics.on_model("wayeb_2")
    shipped = pickle.loads(pickle.dumps(fn))
    assert not shipped.metrics.events_in.bound and shipped.metrics.in_use.keys() == []
    shipped.metrics.events_in.inc()  # unbound: a no-op
    shipped.metrics.on_model("wayeb_3")
    assert runtime.count("events_in") == 1 and runtime.gauge("model_version") == 2
    shipped.metrics.bind(bound := FakeMetricsRuntime())  # what open() does in the worker
    assert bound.gauge("model_version") == 3


def report(model_id: str, batch_mcc: float, runtime_mcc: float) -> ScoreReport:
    return ScoreReport(
        timestamp=2, interval_start=1, model_id=model_id, batch=MetricSet(mcc=batch_mcc),
        runtime=MetricSet(mcc=runtime_mcc),
    )  # fmt: skip


def test_aggregator_reports_are_counted_with_their_mcc_overall_and_per_model_key() -> None:
    fn = ScoreAggregator(interval_ticks=100, delay_ticks=0, hold_ms=0, poll_ms=200)
    runtime, clock = FakeRuntimeContext(), FakeTimerService(now=10_000)
    fn.open(runtime)  # type: ignore[arg-type]
    assert runtime.gauge("batch_mcc_milli") is None  # no report yet
    rows = [
        ScoreDelta("k", ts, "wayeb_3", CreationMethod.RETRAIN, Metrics(tp=1, tn=1)).row() for ts in (10, 250)
    ]
    list(fn.process_element(encode_batch(rows), clock))  # type: ignore[arg-type]
    clock.domain = TimeDomain.PROCESSING_TIME
    clock.now = min(clock.processing)
    reports = list(fn.on_timer(clock.now, clock))  # type: ignore[arg-type]
    assert len(reports) == 1 and runtime.count("reports") == 1
    assert runtime.gauge("report_model_version") == 3
    assert runtime.gauge("batch_mcc_milli") == runtime.gauge("runtime_mcc_milli") == 1000  # all correct

    metrics = AggregatorMetrics()
    metrics.bind(runtime := FakeRuntimeContext())
    metrics.on_report(report("wayeb_3", 0.7346, 0.5))
    metrics.on_report(report("wayeb_4", -0.25, -0.25))
    assert (runtime.gauge("batch_mcc_milli"), runtime.gauge("runtime_mcc_milli")) == (-250, -250)
    assert gauges_of(runtime.metrics)["model_key.wayeb_3.batch_mcc_milli"] == 735
    assert gauges_of(runtime.metrics)["model_key.wayeb_3.runtime_mcc_milli"] == 500
    assert runtime.metrics.sub("model_key", "wayeb_4").gauge_value("batch_mcc_milli") == -250


def test_observer_counts_reports_and_instructions_by_type() -> None:
    runtime = FakeRuntimeContext()
    fn = ObserverProcess(ObserverConfig())
    fn.open(runtime)  # type: ignore[arg-type]
    for ts, mcc in ((1, 0.6), (2, 0.5), (3, 0.4)):
        list(fn.process_element(encode(report("m0", mcc, mcc).model_copy(update={"timestamp": ts})), None))  # type: ignore[arg-type]
    assert runtime.count("reports_observed") == 3
    assert (runtime.count("instructions_retrain"), runtime.count("instructions_optimize")) == (1, 1)
