"""How far event time has come, in a way one outlier cannot move (pure): the inference job's event guard.

The engine keeps one :class:`EventClock` per shard (over the events it forecasts), the score aggregator
one over the score deltas. Event time matters to both beyond the event itself: a swap takes effect from
an event time on, and the newest time seen closes score intervals for every key. So a timestamp is
*trusted* only if it is at most ``ahead`` ticks (``MAX_EVENT_AHEAD_S`` in the domain's unit) after the
clock's progress; the engine dead-letters an event that is not, the aggregator counts it at the progress.

* **Progress** is the ``quorum``-th largest trusted timestamp (``ANCHOR_QUORUM``), not the largest: an
  outlier that got in before there was anything to compare it with (the first events of a shard) never
  becomes the progress on its own, and the progress never goes back.
* Until ``quorum`` timestamps are trusted there is no progress, and every timestamp is trusted.
* **Jumps**: ``quorum`` refused timestamps in a row that lie within ``ahead`` of each other are the
  stream moving on (a gap in the data longer than ``ahead``): the last of them is trusted and they become
  the progress. Any trusted timestamp in between breaks the run.

Only timestamps ahead are judged: events behind the progress are the normal disorder of a stream, and
the score aggregator already has its rule for deltas older than its open intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["EventClock", "admit"]


@dataclass(frozen=True, slots=True)
class EventClock:
    """``top``: the largest trusted timestamps (at most ``quorum``, ascending); ``ahead``: the current
    run of refused timestamps that agree with each other, in arrival order."""

    top: tuple[int, ...] = ()
    ahead: tuple[int, ...] = ()

    def progress(self, quorum: int) -> int | None:
        """The ``quorum``-th largest trusted timestamp, or ``None`` while fewer are trusted."""
        return self.top[0] if len(self.top) >= quorum else None

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by value (kept in ``PICKLED_BYTE_ARRAY`` keyed state): independent of the class layout."""
        return (EventClock, (self.top, self.ahead))


def admit(clock: EventClock, ts: int, ahead: int, quorum: int) -> tuple[EventClock, bool]:
    """Judge one timestamp; returns the new clock and whether ``ts`` is trusted."""
    top = clock.top
    if len(top) < quorum:
        return EventClock(tuple(sorted((*top, ts))), ()), True
    if ts <= top[0] + ahead:
        if ts > top[0]:
            top = tuple(sorted((*top[1:], ts)))
        elif not clock.ahead:
            return clock, True
        return EventClock(top, ()), True
    run = (*clock.ahead, ts)
    if max(run) - min(run) > ahead:
        run = (ts,)
    if len(run) >= quorum:
        return EventClock(tuple(sorted(run)[-quorum:]), ()), True
    return EventClock(top, run), False
