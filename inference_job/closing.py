"""When score intervals close: event-time progress held back by a little processing time (pure).

The engine's shards send their score deltas independently, so the aggregator does not receive them in
event-time order. In real time the disorder is small, but when the engine works off a backlog (a replay,
a catch-up after downtime) one processing-time batch of a shard spans hours of event time, and the
shards of a round arrive one after the other: a watermark taken from the newest delta seen would close
intervals before the other shards' deltas of the same round arrive, and those would be folded into the
wrong interval (and the first delta seen, which fixes the interval grid, would not be the earliest).

So progress is measured in event time but trusted only after ``hold_ms`` of processing time:

* ``marks`` records, at each batch, the newest delta timestamp seen so far and when (wall clock);
* an interval closes once the progress recorded at least ``hold_ms`` ago, minus ``delay`` ticks, has
  passed its end (``progress - delay - 1 >= end``, which is what Flink's bounded-out-of-orderness
  watermark gave);
* the deltas received during the first ``hold_ms`` are held unfolded, and the grid's origin is the
  earliest of them, not merely the first to arrive.

Deltas from shards that lag by more than ``hold_ms`` still count, in the oldest open interval
(:func:`~inference_job.scoring.on_rows`). At the end of a bounded input everything is folded and closed.

**Outliers** (with ``ahead`` given): progress is not the newest delta timestamp but that of an
:class:`~inference_job.event_time.EventClock` over the deltas, and a delta stamped more than ``ahead``
after it waits in the clock until ``quorum`` others agree with it (a genuine gap in the data: all of them
are then folded at their own times) or until it is pushed out of the clock's bounded pending set or the
input ends (an outlier: counted at the progress, in the interval the stream is in). So one delta far in
the future neither closes intervals early nor opens one there, and none is lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from inference_job.event_time import EventClock, Judged, admit, drain
from inference_job.scoring import AggregatorState, on_rows, on_watermark
from protocol.messages import ScoreReport

__all__ = ["ClosingState", "on_batch", "on_end", "on_poll"]

_NO_PROGRESS = -(2**62)


@dataclass(frozen=True, slots=True)
class ClosingState:
    """The aggregator's state: the interval fold plus what closing needs.

    ``held``: delta rows received before the origin is fixed (``held_since``: wall ms of the first);
    ``marks``: ``(wall ms, newest delta timestamp so far)`` not yet older than the hold, plus the newest
    one that is; ``poll_at``: the armed processing-time timer, if any; ``clock``: the progress of the
    delta timestamps and the rows not trusted yet (used when outliers are judged).
    """

    scores: AggregatorState = field(default_factory=AggregatorState)
    held: tuple[Sequence[Any], ...] = ()
    held_since: int | None = None
    marks: tuple[tuple[int, int], ...] = ()
    poll_at: int | None = None
    clock: EventClock[tuple[Any, ...]] = field(default_factory=EventClock)

    @property
    def pending(self) -> bool:
        """Whether anything is left to fold or to close (a poll timer must stay armed)."""
        return bool(self.held) or bool(self.scores.open)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scores": self.scores.to_dict(),
            "held": [list(row) for row in self.held],
            "held_since": self.held_since,
            "marks": [list(mark) for mark in self.marks],
            "poll_at": self.poll_at,
            "clock": {
                "top": list(self.clock.top),
                "pending": [[ts, list(row)] for ts, row in self.clock.pending],
            },
        }

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle through :meth:`to_dict` (kept in ``PICKLED_BYTE_ARRAY`` keyed state)."""
        return (ClosingState.from_dict, (self.to_dict(),))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClosingState:
        return cls(
            scores=AggregatorState.from_dict(data["scores"]),
            held=tuple(tuple(row) for row in data["held"]),
            held_since=data["held_since"],
            marks=tuple((int(w), int(t)) for w, t in data["marks"]),
            poll_at=data["poll_at"],
            clock=_clock_from(data.get("clock")),
        )


def on_batch(
    state: ClosingState,
    rows: Sequence[Sequence[Any]],
    now_ms: int,
    interval: int,
    *,
    ahead: int | None = None,
    quorum: int = 1,
    cap: int | None = None,
) -> ClosingState:
    """Take a batch of delta rows arriving at ``now_ms``: hold them until the origin is fixed, else fold.

    With ``ahead`` (ticks), rows stamped further ahead of the deltas' progress wait in the clock (see the
    module docstring); ``quorum`` is the clock's (``ANCHOR_QUORUM``), ``cap`` its pending bound
    (default ``4 * quorum``).
    """
    if not rows:
        return state
    if ahead is None:
        newest: int | None = max(int(row[1]) for row in rows)
    else:
        judged = admit(state.clock, [(int(row[1]), tuple(row)) for row in rows], ahead, quorum,
                       4 * quorum if cap is None else cap)  # fmt: skip
        state, rows = _take(state, judged, quorum)
        newest = judged.clock.progress(quorum)
    previous = state.marks[-1][1] if state.marks else _NO_PROGRESS
    marks = (*state.marks, (now_ms, newest)) if newest is not None and newest > previous else state.marks
    state = replace(state, marks=marks)
    if not rows:
        return state
    if state.scores.origin is None:
        since = state.held_since if state.held_since is not None else now_ms
        return replace(state, held=(*state.held, *map(tuple, rows)), held_since=since)
    scores, _ = on_rows(state.scores, rows, interval)
    return replace(state, scores=scores)


def on_poll(
    state: ClosingState, now_ms: int, interval: int, hold_ms: int, delay: int
) -> tuple[ClosingState, list[ScoreReport]]:
    """Fold the held deltas once they are ``hold_ms`` old; close what the held-back progress allows."""
    if state.held and state.held_since is not None and now_ms - state.held_since >= hold_ms:
        state = _fold_held(state, interval)
    trusted = [mark for mark in state.marks if now_ms - mark[0] >= hold_ms]
    if not trusted or state.scores.origin is None:
        return state, []
    newest_trusted = trusted[-1]
    marks = (newest_trusted, *(m for m in state.marks if now_ms - m[0] < hold_ms))
    scores, reports = on_watermark(state.scores, newest_trusted[1] - delay - 1, interval)
    return replace(state, scores=scores, marks=marks), reports


def on_end(
    state: ClosingState, interval: int, *, ahead: int | None = None, quorum: int = 1
) -> tuple[ClosingState, list[ScoreReport]]:
    """End of a bounded input: decide on the rows the clock still holds, fold whatever is held and close
    every open interval."""
    if state.clock.pending and ahead is not None:
        state, rows = _take(state, drain(state.clock, ahead, quorum), quorum)
        state = replace(state, held=(*state.held, *map(tuple, rows)))
    if state.held:
        state = _fold_held(state, interval)
    scores, reports = on_watermark(state.scores, 2**62, interval)
    return replace(state, scores=scores, marks=()), reports


def _take(
    state: ClosingState, judged: Judged[tuple[Any, ...]], quorum: int
) -> tuple[ClosingState, list[Sequence[Any]]]:
    """The rows the clock let through: released ones at their own time, outliers at the progress."""
    progress = judged.clock.progress(quorum)
    rows: list[Sequence[Any]] = [row for _, row in judged.released]
    for _, row in judged.outliers:
        rows.append(row if progress is None else (row[0], progress, *row[2:]))
    return replace(state, clock=judged.clock), rows


def _clock_from(data: Any) -> EventClock[tuple[Any, ...]]:
    """The clock of a stored state (a layout without pending rows starts with none)."""
    if not isinstance(data, Mapping):
        return EventClock()
    pending = tuple((int(ts), tuple(row)) for ts, row in data.get("pending", ()))
    return EventClock(tuple(int(t) for t in data.get("top", ())), pending)


def _fold_held(state: ClosingState, interval: int) -> ClosingState:
    """Fold the held rows oldest first, so the grid's origin is the earliest delta received."""
    held = sorted(state.held, key=lambda row: int(row[1]))
    scores, _ = on_rows(state.scores, held, interval)
    return replace(state, scores=scores, held=(), held_since=None)
