"""The inference job's event clock: progress one outlier cannot move, jumps followed after a quorum."""

from __future__ import annotations

import pickle

from hypothesis import given
from hypothesis import strategies as st

from inference_job.event_time import EventClock, admit

AHEAD = 100
Q = 3


def judge(times: list[int], clock: EventClock | None = None) -> tuple[EventClock, list[int], list[int]]:
    """Feed ``times``; returns the clock, the trusted and the refused timestamps."""
    clock = clock or EventClock()
    trusted, refused = [], []
    for ts in times:
        clock, ok = admit(clock, ts, AHEAD, Q)
        (trusted if ok else refused).append(ts)
    return clock, trusted, refused


def test_no_progress_until_a_quorum_is_trusted() -> None:
    clock, trusted, _ = judge([10, 20])
    assert clock.progress(Q) is None and trusted == [10, 20]
    clock, _, _ = judge([30], clock)
    assert clock.progress(Q) == 10  # the third largest: the outlier-proof reading


def test_an_outlier_among_good_timestamps_is_refused_and_changes_nothing() -> None:
    clock, _, _ = judge([10, 20, 30, 40])
    after, trusted, refused = judge([10**12], clock)
    assert refused == [10**12] and after.progress(Q) == clock.progress(Q) == 20
    after, trusted, refused = judge([50, 60], after)
    assert trusted == [50, 60] and refused == [] and after.ahead == ()


def test_an_outlier_first_is_trusted_but_never_becomes_the_progress() -> None:
    clock, trusted, _ = judge([10**12, 10, 20])
    assert trusted == [10**12, 10, 20] and clock.progress(Q) == 10
    clock, _, refused = judge([30, 10**12 + 5, 40], clock)
    assert refused == [10**12 + 5] and clock.progress(Q) == 30


def test_a_jump_is_followed_after_a_quorum_of_agreeing_timestamps() -> None:
    clock, _, _ = judge([10, 20, 30])
    clock, trusted, refused = judge([5_000, 5_010, 5_020, 5_030], clock)
    assert refused == [5_000, 5_010] and trusted == [5_020, 5_030]
    assert clock.progress(Q) == 5_010


def test_disagreeing_outliers_never_make_a_jump() -> None:
    clock, _, _ = judge([10, 20, 30])
    clock, trusted, refused = judge([5_000, 90_000, 7_000_000, 31], clock)
    assert refused == [5_000, 90_000, 7_000_000] and trusted == [31] and clock.ahead == ()


def test_the_clock_pickles_by_value() -> None:
    clock, _, _ = judge([10, 20, 30, 10**9])
    assert pickle.loads(pickle.dumps(clock)) == clock and clock.ahead == (10**9,)


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=Q, max_size=60), st.integers(0, 59))
def test_one_outlier_never_moves_the_progress_far(good: list[int], at: int) -> None:
    """Whatever the genuine timestamps and wherever one outlier falls, the progress stays within the
    genuine ones, so every later outlier is still judged against them."""
    times = [*good[:at], 10**15, *good[at:]]
    clock, _, _ = judge(times)
    assert clock.progress(Q) is not None and clock.progress(Q) <= max(good)
