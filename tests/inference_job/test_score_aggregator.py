"""The aggregator function: delta batches in, a poll timer while intervals are open, reports out."""

from __future__ import annotations

from flink_fakes import FakeRuntimeContext, FakeTimerService
from pyflink.datastream import TimeDomain

from inference_job.score_aggregator import END_OF_INPUT, ScoreAggregator, global_key
from inference_job.scoring import ScoreDelta, encode_batch
from protocol.messages import CreationMethod, ScoreReport
from wayeb_py.evaluation import Metrics


def delta(ts: int, **counts: int) -> list[object]:
    return ScoreDelta("k", ts, "m0", CreationMethod.INITIAL, Metrics(**counts)).row()


def batch(*rows: list[object]) -> str:
    return encode_batch(list(rows))


def make_clock() -> FakeTimerService:
    """Timer service and context at 10 s of processing time, firing processing-time timers."""
    clock = FakeTimerService(now=10_000)
    clock.domain = TimeDomain.PROCESSING_TIME
    return clock


def poll(fn: ScoreAggregator, clock: FakeTimerService) -> list[ScoreReport]:
    clock.now = min(clock.processing)
    clock.processing.discard(clock.now)
    return [ScoreReport.model_validate_json(r) for r in fn.on_timer(clock.now, clock)]  # type: ignore[arg-type]


def test_intervals_close_on_polls_once_progress_is_held_long_enough() -> None:
    fn = ScoreAggregator(interval_ticks=100, delay_ticks=0, hold_ms=1000, poll_ms=200)
    runtime, clock = FakeRuntimeContext(), make_clock()
    fn.open(runtime)  # type: ignore[arg-type]
    # shards deliver out of order: the later one first; the grid is still anchored at the earliest
    assert list(fn.process_element(batch(delta(1130, tn=3), delta(1050, fp=1)), clock)) == []  # type: ignore[arg-type]
    assert list(fn.process_element(batch(delta(1000, tp=1)), clock)) == []  # type: ignore[arg-type]
    assert clock.event == {END_OF_INPUT} and clock.processing == {10_200}
    reports = []
    while clock.processing and clock.now < 10_800:
        reports += poll(fn, clock)
    assert reports == []  # progress (1130) is not trusted before 1 s
    while clock.processing and not reports:
        reports += poll(fn, clock)
    (report,) = reports
    assert clock.now == 11_000
    assert (report.interval_start, report.timestamp, report.events, report.batch.tp, report.batch.fp) == (
        1000, 1050, 2, 1, 1,
    )  # fmt: skip
    # state survives in keyed state: a new instance over the same state closes the rest at the end
    again = ScoreAggregator(interval_ticks=100, delay_ticks=0, hold_ms=1000)
    again.open(runtime)  # type: ignore[arg-type]
    clock.domain = TimeDomain.EVENT_TIME
    (raw,) = list(again.on_timer(END_OF_INPUT, clock))  # type: ignore[arg-type]
    assert ScoreReport.model_validate_json(raw).runtime.tn == 3


def test_no_timer_is_left_armed_once_nothing_is_open() -> None:
    fn = ScoreAggregator(interval_ticks=100, delay_ticks=0, hold_ms=0, poll_ms=200)
    fn.open(FakeRuntimeContext())  # type: ignore[arg-type]
    clock = make_clock()
    list(fn.process_element(batch(delta(1000, tp=1)), clock))  # type: ignore[arg-type]
    list(fn.process_element(batch(delta(1250)), clock))  # type: ignore[arg-type]
    assert [r.interval_start for r in poll(fn, clock)] == [1000]  # progress 1250 - 0 - 1 closes [1000, 1100)
    assert clock.processing == {clock.now + 200}  # the interval of 1250 is still open
    assert global_key("anything") == global_key(None)


def test_an_overdue_poll_recorded_in_the_state_is_armed_again() -> None:
    runtime = FakeRuntimeContext()
    fn = ScoreAggregator(interval_ticks=100, delay_ticks=0, hold_ms=1000, poll_ms=200)
    fn.open(runtime)  # type: ignore[arg-type]
    list(fn.process_element(batch(delta(1000)), make_clock()))  # type: ignore[arg-type]  # poll at 10_200
    restored = ScoreAggregator(interval_ticks=100, delay_ticks=0, hold_ms=1000, poll_ms=200)
    restored.open(runtime)  # type: ignore[arg-type]
    clock = make_clock()
    clock.now = 60_000  # the recorded timer is long overdue and was not restored
    list(restored.process_element(batch(delta(1001)), clock))  # type: ignore[arg-type]
    assert clock.processing == {60_200}


def test_a_delta_far_ahead_of_the_scores_is_counted_at_their_progress() -> None:
    fn = ScoreAggregator(interval_ticks=100, delay_ticks=0, hold_ms=1000, ahead_ticks=500, quorum=3)
    runtime, clock = FakeRuntimeContext(), make_clock()
    fn.open(runtime)  # type: ignore[arg-type]
    far = 10**12
    list(fn.process_element(batch(delta(far, tp=1), delta(1000), delta(1010), delta(1020)), clock))  # type: ignore[arg-type]
    list(fn.process_element(batch(delta(1110), delta(far + 5, fp=1)), clock))  # type: ignore[arg-type]
    clock.domain = TimeDomain.EVENT_TIME
    reports = [ScoreReport.model_validate_json(r) for r in fn.on_timer(END_OF_INPUT, clock)]  # type: ignore[arg-type]
    assert [(r.interval_start, r.events) for r in reports] == [(1000, 5), (1100, 1)]
    assert max(r.timestamp for r in reports) == 1110 and reports[0].batch.tp == 1
