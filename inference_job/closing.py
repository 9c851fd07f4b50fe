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
(:func:`~inference_job.scoring.on_deltas`). At the end of a bounded input everything is folded and closed.

**Outliers** (with ``ahead`` given): progress is not the newest delta timestamp but that of an
:class:`~inference_job.event_time.EventClock` over the deltas, so a delta stamped far ahead of the others
(the engine dead-letters such events, but a shard's first events have nothing to be compared with there)
neither closes intervals early nor opens one in the far future: it is counted, at the progress, in the
interval the stream is in. The first deltas, which have nothing to be compared with either, are held
until the origin is fixed anyway; those found too far ahead once there is a progress are counted at it
as well.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from inference_job.event_time import EventClock, admit
from inference_job.scoring import AggregatorState, ScoreDelta, on_deltas, on_watermark
from protocol.messages import ScoreReport

__all__ = ["ClosingState", "on_batch", "on_end", "on_poll"]

_NO_PROGRESS = -(2**62)


@dataclass(frozen=True, slots=True)
class ClosingState:
    """The aggregator's state: the interval fold plus what closing needs.

    ``held``: delta rows received before the origin is fixed (``held_since``: wall ms of the first);
    ``marks``: ``(wall ms, newest delta timestamp so far)`` not yet older than the hold, plus the newest
    one that is; ``poll_at``: the armed processing-time timer, if any; ``clock``: the progress of the
    delta timestamps (used when outliers are judged).
    """

    scores: AggregatorState = field(default_factory=AggregatorState)
    held: tuple[Sequence[Any], ...] = ()
    held_since: int | None = None
    marks: tuple[tuple[int, int], ...] = ()
    poll_at: int | None = None
    clock: EventClock = field(default_factory=EventClock)

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
            "clock": [list(self.clock.top), list(self.clock.ahead)],
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
            clock=EventClock(*(tuple(int(t) for t in part) for part in data.get("clock", ((), ())))),
        )


def on_batch(
    state: ClosingState,
    rows: Sequence[Sequence[Any]],
    now_ms: int,
    interval: int,
    *,
    ahead: int | None = None,
    quorum: int = 1,
) -> ClosingState:
    """Take a batch of delta rows arriving at ``now_ms``: hold them until the origin is fixed, else fold.

    With ``ahead`` (ticks), rows stamped further ahead of the deltas' progress are counted at the
    progress (see the module docstring); ``quorum`` is the clock's (``ANCHOR_QUORUM``).
    """
    if not rows:
        return state
    first_progress = False
    if ahead is None:
        newest: int | None = max(int(row[1]) for row in rows)
    else:
        first_progress = state.clock.progress(quorum) is None
        clock, rows = _judge(state.clock, rows, ahead, quorum)
        state = replace(state, clock=clock)
        newest = clock.progress(quorum)
    previous = state.marks[-1][1] if state.marks else _NO_PROGRESS
    marks = (*state.marks, (now_ms, newest)) if newest is not None and newest > previous else state.marks
    if state.scores.origin is None:
        since = state.held_since if state.held_since is not None else now_ms
        held = (*state.held, *map(tuple, rows))
        if first_progress and newest is not None and ahead is not None:  # judge those trusted blindly
            held = tuple(row if int(row[1]) <= newest + ahead else (row[0], newest, *row[2:]) for row in held)
        return replace(state, held=held, held_since=since, marks=marks)
    scores, _ = on_deltas(state.scores, [ScoreDelta.from_row(r) for r in rows], interval)
    return replace(state, scores=scores, marks=marks)


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


def on_end(state: ClosingState, interval: int) -> tuple[ClosingState, list[ScoreReport]]:
    """End of a bounded input: fold whatever is held and close every open interval."""
    if state.held:
        state = _fold_held(state, interval)
    scores, reports = on_watermark(state.scores, 2**62, interval)
    return replace(state, scores=scores, marks=()), reports


def _judge(
    clock: EventClock, rows: Sequence[Sequence[Any]], ahead: int, quorum: int
) -> tuple[EventClock, Sequence[Sequence[Any]]]:
    """Pass the rows' timestamps through ``clock``; rows it does not trust get the progress as time."""
    progress = clock.progress(quorum)
    stamps = [int(row[1]) for row in rows]
    if progress is not None and not clock.ahead and max(stamps) <= progress + ahead:
        top = tuple(sorted((*clock.top, *stamps))[-quorum:])  # the common case: every row is trusted
        return EventClock(top, ()), rows
    judged: list[Sequence[Any]] = []
    for row, ts in zip(rows, stamps, strict=True):
        progress = clock.progress(quorum)
        clock, trusted = admit(clock, ts, ahead, quorum)
        judged.append(row if trusted or progress is None else [row[0], progress, *row[2:]])
    return clock, judged


def _fold_held(state: ClosingState, interval: int) -> ClosingState:
    """Fold the held rows oldest first, so the grid's origin is the earliest delta received."""
    held = sorted(state.held, key=lambda row: int(row[1]))
    scores, _ = on_deltas(state.scores, [ScoreDelta.from_row(r) for r in held], interval)
    return replace(state, scores=scores, held=(), held_since=None)
