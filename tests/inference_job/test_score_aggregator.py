"""The aggregator function: delta batches in, timers at interval ends (Flink ms), reports out on timers."""

from __future__ import annotations

from flink_fakes import FakeRuntimeContext, FakeTimerContext

from inference_job.score_aggregator import DeltaTimestamp, ScoreAggregator, global_key
from inference_job.scoring import ScoreDelta, encode_batch
from protocol.messages import CreationMethod, ScoreReport
from wayeb_py.evaluation import Metrics


def delta(ts: int, **counts: int) -> list[object]:
    return ScoreDelta("k", ts, "m0", CreationMethod.INITIAL, Metrics(**counts)).row()


def batch(*rows: list[object]) -> str:
    return encode_batch(list(rows))


def test_reports_are_emitted_when_the_interval_timer_fires() -> None:
    fn = ScoreAggregator(interval_ticks=100, ms_per_tick=1000)
    runtime = FakeRuntimeContext()
    fn.open(runtime)  # type: ignore[arg-type]
    ctx = FakeTimerContext()
    assert list(fn.process_element(batch(delta(1000, tp=1), delta(1130, tn=3)), ctx)) == []  # type: ignore[arg-type]
    assert list(fn.process_element(batch(delta(1050, fp=1)), ctx)) == []  # type: ignore[arg-type]
    assert ctx.event_timers == {1_100_000, 1_200_000}
    (raw,) = list(fn.on_timer(1_100_000, ctx))  # type: ignore[arg-type]
    report = ScoreReport.model_validate_json(raw)
    assert (report.interval_start, report.timestamp, report.events, report.batch.tp, report.batch.fp) == (
        1000,
        1050,
        2,
        1,
        1,
    )
    # state survives in keyed state: a new instance over the same state continues
    again = ScoreAggregator(interval_ticks=100, ms_per_tick=1000)
    again.open(runtime)  # type: ignore[arg-type]
    (raw,) = list(again.on_timer(1_200_000, ctx))  # type: ignore[arg-type]
    assert ScoreReport.model_validate_json(raw).runtime.tn == 3


def test_timestamps_and_key() -> None:
    assert DeltaTimestamp(1000).extract_timestamp(batch(delta(50), delta(42), delta(61)), 0) == 61_000
    assert global_key("anything") == global_key(None)
