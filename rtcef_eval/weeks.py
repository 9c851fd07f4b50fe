"""Cutting a time-ordered stream into "weeks" of event time, and choosing training windows.

A week is ``week_length`` of event time counted from the stream's first event (data-driven, like the
collector's first-event buckets), in the unit of the stream's timestamps: seconds for maritime events,
milliseconds for card transactions (``Domain.ticks_per_second`` converts; the CLI takes seconds). Small
lengths compress the stream: more, shorter "weeks" for fast experiments. Weeks without any event
produce no report in the original engine (a report is triggered by an event that crosses the boundary),
so they are dropped; the remaining weeks keep their calendar index for display and are otherwise
addressed by position.

Reset markers (``timestamp == -1``) belong to the week of the event before them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Week", "history_window", "split_weeks"]

RESET_TIMESTAMP = -1


@dataclass(frozen=True, slots=True)
class Week:
    """One non-empty week of the stream.

    Attributes:
        index: calendar week number since the first event (gaps in the stream leave gaps in the numbering).
        start: event time where the week begins (inclusive).
        end: event time where the week ends (exclusive).
        lo: first row position of the week in the stream.
        hi: one past the last row position (rows ``lo:hi``; contiguous because the stream is sorted).
    """

    index: int
    start: int
    end: int
    lo: int
    hi: int

    @property
    def rows(self) -> int:
        """Number of rows (events and resets) in the week."""
        return self.hi - self.lo


def _filled_timestamps(timestamps: Sequence[int] | np.ndarray) -> np.ndarray:
    """Timestamps with each reset marker replaced by the previous event's time (leading resets: the first)."""
    ts = np.asarray(timestamps, dtype=np.int64)
    real = ts != RESET_TIMESTAMP
    if not real.any():
        raise ValueError("the stream has no timestamped event")
    idx = np.where(real, np.arange(len(ts)), -1)
    np.maximum.accumulate(idx, out=idx)
    first = int(np.argmax(real))
    idx[idx < 0] = first
    return ts[idx]


def split_weeks(timestamps: Sequence[int] | np.ndarray, week_length: int) -> list[Week]:
    """Split a non-decreasing timestamp column into the non-empty weeks of ``week_length`` ticks each.

    Raises:
        ValueError: when ``week_length`` is not positive, the stream is empty or has no timestamp, or the
            timestamps (resets aside) decrease somewhere.
    """
    if week_length <= 0:
        raise ValueError(f"the week length must be positive, got {week_length}")
    if len(timestamps) == 0:
        raise ValueError("the stream is empty")
    ts = _filled_timestamps(timestamps)
    if (np.diff(ts) < 0).any():
        bad = int(np.argmax(np.diff(ts) < 0)) + 1
        raise ValueError(
            f"timestamps must not decrease (row {bad}: {ts[bad - 1]} then {ts[bad]}); sort the stream"
        )
    origin = int(ts[0])
    number = (ts - origin) // week_length
    starts = np.flatnonzero(np.r_[True, number[1:] != number[:-1]])
    ends = np.r_[starts[1:], len(ts)]
    return [
        Week(
            index=int(number[lo]),
            start=origin + int(number[lo]) * week_length,
            end=origin + (int(number[lo]) + 1) * week_length,
            lo=int(lo),
            hi=int(hi),
        )
        for lo, hi in zip(starts, ends, strict=True)
    ]


def history_window(position: int, k: int) -> range:
    """Positions of the last ``k`` weeks up to and including ``position`` (fewer at the stream start).

    This is the collector's "last K buckets" dataset that a retrain or an optimisation at that week uses.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if position < 0:
        raise ValueError(f"position must not be negative, got {position}")
    return range(max(0, position - k + 1), position + 1)
