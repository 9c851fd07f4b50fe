"""Weekly splitting and training windows."""

from __future__ import annotations

import pytest

from rtcef_eval.weeks import Week, history_window, split_weeks


def test_weeks_start_at_the_first_event_and_cover_contiguous_rows() -> None:
    weeks = split_weeks([100, 105, 109, 110, 125, 129], 10)
    assert weeks == [
        Week(index=0, start=100, end=110, lo=0, hi=3),
        Week(index=1, start=110, end=120, lo=3, hi=4),
        Week(index=2, start=120, end=130, lo=4, hi=6),
    ]
    assert [w.rows for w in weeks] == [3, 1, 2]


def test_empty_weeks_are_dropped_but_keep_their_calendar_index() -> None:
    weeks = split_weeks([0, 1, 35, 36, 41], 10)
    assert [(w.index, w.start, w.lo, w.hi) for w in weeks] == [(0, 0, 0, 2), (3, 30, 2, 4), (4, 40, 4, 5)]


def test_reset_markers_stay_in_the_week_of_the_event_before_them() -> None:
    weeks = split_weeks([-1, 3, 9, -1, 14, -1], 10)
    assert [(w.index, w.lo, w.hi) for w in weeks] == [(0, 0, 4), (1, 4, 6)]
    assert weeks[0].start == 3


@pytest.mark.parametrize(
    ("stamps", "seconds", "message"),
    [([1, 2], 0, "positive"), ([], 10, "empty"), ([-1, -1], 10, "no timestamped"), ([5, 3], 10, "decrease")],
)
def test_bad_input_is_rejected_with_a_reason(stamps: list[int], seconds: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_weeks(stamps, seconds)


def test_history_window_is_the_last_k_weeks_or_fewer_at_the_start() -> None:
    assert list(history_window(1, 4)) == [0, 1]
    assert list(history_window(6, 4)) == [3, 4, 5, 6]
    assert list(history_window(6, 1)) == [6]
    with pytest.raises(ValueError):
        history_window(3, 0)
