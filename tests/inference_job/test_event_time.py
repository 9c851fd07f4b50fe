"""The score aggregator's event clock: progress one outlier cannot move, gaps followed without misplacing."""

from __future__ import annotations

import pickle
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from inference_job.event_time import EventClock, Judged, admit, drain

AHEAD = 100
Q = 3
CAP = 4 * Q


def judge(times: list[int], clock: EventClock[int] | None = None, cap: int = CAP) -> Judged[int]:
    """Feed ``times`` one call each (the item is the arrival index)."""
    clock = clock or EventClock()
    released: list[tuple[int, int]] = []
    outliers: list[tuple[int, int]] = []
    for index, ts in enumerate(times):
        judged = admit(clock, [(ts, index)], AHEAD, Q, cap)
        clock = judged.clock
        released += judged.released
        outliers += judged.outliers
    return Judged(clock, released, outliers)


def stamps(pairs: list[tuple[int, int]]) -> list[int]:
    return [ts for ts, _ in pairs]


def test_nothing_is_trusted_until_a_quorum_agrees_then_it_is_released_at_its_own_time() -> None:
    judged = judge([10, 20])
    assert judged.clock.progress(Q) is None and judged.released == []
    judged = admit(judged.clock, [(30, 2)], AHEAD, Q, CAP)
    assert judged.clock.progress(Q) == 10 and stamps(judged.released) == [10, 20, 30]


def test_an_outlier_among_good_timestamps_waits_and_changes_nothing() -> None:
    judged = judge([10, 20, 30, 40, 10**12, 50, 60])
    assert judged.clock.progress(Q) == 40
    assert stamps(judged.released) == [10, 20, 30, 40, 50, 60] and judged.outliers == []
    assert stamps(list(judged.clock.pending)) == [10**12]


def test_an_outlier_first_never_becomes_the_progress() -> None:
    judged = judge([10**12, 10, 20, 30, 40])
    assert judged.clock.progress(Q) == 20 and stamps(judged.released) == [10, 20, 30, 40]
    end = drain(judged.clock, AHEAD, Q)
    assert end.released == [] and stamps(end.outliers) == [10**12]


def test_a_gap_in_the_data_is_followed_and_nothing_after_it_is_misplaced() -> None:
    judged = judge([10, 20, 30, 5_000, 5_010, 5_020, 5_030])
    assert stamps(judged.released) == [10, 20, 30, 5_000, 5_010, 5_020, 5_030]
    assert judged.outliers == [] and judged.clock.progress(Q) == 5_010


def test_a_gap_is_followed_even_with_late_timestamps_in_between() -> None:
    """Shards deliver out of order: timestamps behind the progress between the ones after the gap."""
    judged = judge([10, 20, 30, 5_000, 15, 5_010, 25, 12, 5_020])
    assert Counter(stamps(judged.released)) == Counter([10, 20, 30, 5_000, 15, 5_010, 25, 12, 5_020])
    assert judged.outliers == [] and judged.clock.progress(Q) == 5_000


def test_disagreeing_outliers_never_make_a_jump_and_leave_oldest_first_past_the_cap() -> None:
    far = [5_000 * (i + 1) ** 2 for i in range(CAP + 2)]
    judged = judge([10, 20, 30, *far, 31])
    assert judged.clock.progress(Q) == 20 and stamps(judged.released) == [10, 20, 30, 31]
    assert stamps(judged.outliers) == far[:2] and len(judged.clock.pending) == CAP


def test_many_disagreeing_timestamps_without_any_progress_anchor_on_their_median() -> None:
    times = [1_000 * i * i for i in range(CAP + 1)]  # no three within AHEAD of each other
    judged = judge(times)
    middle = sorted(times)[CAP // 2 - 1 : CAP // 2 + 2]  # the quorum around the median
    assert judged.clock.progress(Q) == middle[0]
    assert set(stamps(judged.released)) == {t for t in times if t <= middle[-1]}


def test_a_short_input_is_trusted_at_its_end() -> None:
    end = drain(judge([10, 20]).clock, AHEAD, Q)
    assert stamps(end.released) == [10, 20] and end.outliers == []


def test_the_clock_pickles_by_value() -> None:
    clock = judge([10, 20, 30, 10**9]).clock
    assert pickle.loads(pickle.dumps(clock)) == clock and stamps(list(clock.pending)) == [10**9]


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=Q, max_size=60), st.integers(0, 59))
def test_one_outlier_never_moves_the_progress_far(good: list[int], at: int) -> None:
    times = [*good[:at], 10**15, *good[at:]]
    judged = judge(times)
    end = drain(judged.clock, AHEAD, Q)
    progress = end.clock.progress(Q)
    assert progress is not None and progress <= max(good)
    assert Counter(stamps(judged.released + judged.outliers + end.released + end.outliers)) == Counter(times)


@given(
    st.lists(st.tuples(st.integers(1, 3 * AHEAD), st.booleans()), min_size=1, max_size=80),
    st.randoms(use_true_random=False),
)
def test_genuine_streams_with_gaps_lose_and_misplace_nothing(steps: list[tuple[int, bool]], rnd) -> None:
    """Two in-order partitions of one stream, interleaved at random, with gaps longer than ``ahead``:
    as long as every stretch has ``quorum`` timestamps, each is released at its own time."""
    times, t = [], 0
    for delta, _ in steps:
        t += delta
        times += [t, t + 1, t + 2]  # every stretch has at least quorum timestamps within ahead
    parts = [times[0::2], times[1::2]]
    merged: list[int] = []
    while parts[0] or parts[1]:
        source = parts[rnd.randrange(2)] if parts[0] and parts[1] else (parts[0] or parts[1])
        merged.append(source.pop(0))
    judged = judge(merged, cap=10**6)
    end = drain(judged.clock, AHEAD, Q)
    assert judged.outliers == [] and end.outliers == []
    assert Counter(stamps(judged.released + end.released)) == Counter(times)
