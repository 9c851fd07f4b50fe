"""Global score aggregation: intervals in event time, batch vs runtime, swaps, report stamps."""

from __future__ import annotations

import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from inference_job.scoring import (
    AggregatorState,
    ScoreDelta,
    decode_batch,
    encode_batch,
    metric_set,
    on_delta,
    on_deltas,
    on_watermark,
)
from protocol.messages import CreationMethod, ScoreReport
from wayeb_py.evaluation import Metrics

INTERVAL = 100  # reporting interval (event-time units)


def delta(ts: int, key: str = "a", model: str = "m0", **counts: int) -> ScoreDelta:
    method = CreationMethod.INITIAL if model == "m0" else CreationMethod.OPTIMISATION
    return ScoreDelta(key, ts, model, method, Metrics(**counts), forecasts=1)


def run(deltas: list[ScoreDelta], watermark: int) -> tuple[AggregatorState, list[ScoreReport]]:
    state = AggregatorState()
    for d in deltas:
        state, _ = on_delta(state, d, INTERVAL)
    return on_watermark(state, watermark, INTERVAL)


def test_intervals_are_aligned_to_the_first_event_and_closed_by_the_watermark() -> None:
    state = AggregatorState()
    state, end = on_delta(state, delta(1000, tp=1), INTERVAL)
    assert end == 1100
    state, end = on_delta(state, delta(1099, "b", fp=1), INTERVAL)
    assert end == 1100
    state, end = on_delta(state, delta(1100, tn=1), INTERVAL)
    assert end == 1200
    state, reports = on_watermark(state, 1099, INTERVAL)
    assert reports == []
    state, reports = on_watermark(state, 1100, INTERVAL)
    assert [(r.interval_start, r.timestamp, r.events) for r in reports] == [(1000, 1099, 2)]
    assert (reports[0].batch.tp, reports[0].batch.fp) == (1, 1)


def test_batch_is_the_interval_runtime_accumulates_since_the_swap() -> None:
    _, reports = run([delta(0, tp=1, tn=2), delta(150, tp=1, fp=1), delta(250, fn=1)], watermark=300)
    assert [(r.batch.tp, r.batch.tn, r.batch.fp, r.batch.fn) for r in reports] == [
        (1, 2, 0, 0),
        (1, 0, 1, 0),
        (0, 0, 0, 1),
    ]
    assert [(r.runtime.tp, r.runtime.tn, r.runtime.fp, r.runtime.fn) for r in reports] == [
        (1, 2, 0, 0),
        (2, 2, 1, 0),
        (2, 2, 1, 1),
    ]


def test_empty_intervals_produce_no_report_but_unscored_events_do() -> None:
    _, reports = run([delta(0), delta(350, tp=1)], watermark=10_000)
    assert [r.interval_start for r in reports] == [0, 300]
    assert reports[0].batch.tp + reports[0].batch.tn + reports[0].batch.fp + reports[0].batch.fn == 0


def test_swap_resets_batch_and_runtime_and_stamps_the_new_model() -> None:
    deltas = [
        delta(0, tp=5, tn=5),
        delta(110, tp=3),  # old model, before the swap
        delta(150, "b", model="m1", tn=4),  # first delta of the new model
        delta(160, "a", model="m0", fp=7),  # straggler of the old model: events only
        delta(220, model="m1", tp=2),
    ]
    _, reports = run(deltas, watermark=300)
    assert [r.model_id for r in reports] == ["m0", "m1", "m1"]
    assert reports[1].creation_method is CreationMethod.OPTIMISATION
    assert (reports[1].batch.tn, reports[1].batch.tp, reports[1].batch.fp) == (4, 0, 0)
    assert reports[1].runtime.tn == 4 and reports[1].events == 3
    assert (reports[2].runtime.tp, reports[2].runtime.tn) == (2, 4)


def test_late_deltas_count_in_the_oldest_open_interval() -> None:
    state = AggregatorState()
    state, _ = on_delta(state, delta(0, tp=1), INTERVAL)
    state, _ = on_delta(state, delta(120, tp=1), INTERVAL)
    state, _ = on_watermark(state, 100, INTERVAL)
    state, end = on_delta(state, delta(50, fn=1), INTERVAL)  # behind the watermark
    assert end == 200
    _, reports = on_watermark(state, 200, INTERVAL)
    assert (reports[0].batch.tp, reports[0].batch.fn, reports[0].events) == (1, 1, 2)


def test_scores_use_wayeb_conventions_and_undefined_ratios_are_zero() -> None:
    ms = metric_set(Metrics(tp=0, tn=10, fp=0, fn=0))
    assert (ms.precision, ms.recall, ms.f1, ms.mcc) == (0.0, 0.0, 0.0, 0.0)
    m = Metrics(tp=880, tn=604054, fp=4275, fn=193)  # the original's port MD0 week 0 report
    assert round(metric_set(m).mcc, 4) == 0.3722
    assert round(metric_set(m).precision, 4) == 0.1707


def test_delta_and_state_round_trip() -> None:
    d = ScoreDelta("k", 5, "m1", CreationMethod.RETRAIN, Metrics(1, 2, 3, 4), forecasts=1, detections=1)
    assert ScoreDelta.from_json(d.to_json()) == d
    state = AggregatorState()
    for x in [delta(0, tp=1), delta(150, model="m1", fn=1), delta(160, "b", tn=2)]:
        state, _ = on_delta(state, x, INTERVAL)
    state, _ = on_watermark(state, 100, INTERVAL)
    assert AggregatorState.from_dict(state.to_dict()) == state
    assert pickle.loads(pickle.dumps(state)) == state  # how Flink state stores it


def test_batches_round_trip() -> None:
    rows = [delta(30, tp=1).row(), delta(7, "b", model="m1", fn=2).row(), delta(12).row()]
    assert [d.row() for d in decode_batch(encode_batch(rows))] == rows


_deltas = st.lists(
    st.builds(
        delta,
        ts=st.integers(0, 450),
        key=st.sampled_from(["a", "b"]),
        model=st.sampled_from(["m0", "m1"]),
        tp=st.integers(0, 2),
        fn=st.integers(0, 2),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(first=_deltas, rest=_deltas, watermark=st.integers(0, 500), split=st.integers(0, 30))
def test_folding_a_batch_equals_folding_its_deltas_one_by_one(
    first: list[ScoreDelta], rest: list[ScoreDelta], watermark: int, split: int
) -> None:
    one_by_one = AggregatorState()
    for d in first:
        one_by_one, _ = on_delta(one_by_one, d, INTERVAL)
    one_by_one, reports_a = on_watermark(one_by_one, watermark, INTERVAL)
    for d in rest:
        one_by_one, _ = on_delta(one_by_one, d, INTERVAL)
    batched, _ = on_deltas(AggregatorState(), first[:split], INTERVAL)
    batched, _ = on_deltas(batched, first[split:], INTERVAL)
    batched, reports_b = on_watermark(batched, watermark, INTERVAL)
    batched, ends = on_deltas(batched, rest, INTERVAL)
    assert batched == one_by_one and reports_a == reports_b
    assert sorted(set(ends)) == sorted({on_delta(batched, d, INTERVAL)[1] for d in rest})
