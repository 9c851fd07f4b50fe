"""How far event time has come, in a way one outlier cannot move (pure): the score aggregator's guard.

Event time matters to the score aggregator beyond the delta itself: the progress of the delta timestamps
closes score intervals for every key, and a delta opens the interval it falls in. So a timestamp is
*trusted* only if it is at most ``ahead`` ticks (``MAX_EVENT_AHEAD_S`` in the domain's unit) after the
newest trusted one; anything further ahead waits, with its item, in a small *pending* set:

* **Progress** is the ``quorum``-th largest trusted timestamp (``ANCHOR_QUORUM``), not the largest, so
  it never goes back and a lone timestamp, even a trusted one, never becomes the progress on its own.
* **Anchoring and jumps**: while there is no progress, every timestamp waits. As soon as ``quorum``
  waiting timestamps lie within ``ahead`` of each other (in any arrival order), they are trusted: they
  become the progress, and every waiting item no longer too far ahead is released *at its own time*.
  That is how the stream starts, and how a genuine gap in the data longer than ``ahead`` is followed: the
  items after the gap are not misplaced, only held until ``quorum`` of them agree.
* **Outliers** never find ``quorum`` agreeing companions. They wait until the pending set exceeds
  ``cap`` items (the oldest to arrive leaves first) or until the input ends; the caller then decides
  what an outlier becomes (the aggregator counts its delta at the progress).
* Timestamps behind the progress are always trusted: they are the normal disorder of a stream (the
  engine's shards deliver out of event-time order), which is why nothing here outvotes a waiting item by
  trusted ones arriving in between.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["EventClock", "Judged", "admit", "drain"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class EventClock(Generic[T]):
    """``top``: the largest trusted timestamps (at most ``quorum``, ascending); ``pending``: the items not
    trusted yet, as ``(timestamp, item)`` in arrival order."""

    top: tuple[int, ...] = ()
    pending: tuple[tuple[int, T], ...] = ()

    def progress(self, quorum: int) -> int | None:
        """The ``quorum``-th largest trusted timestamp, or ``None`` while fewer are trusted."""
        return self.top[0] if len(self.top) >= quorum else None

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by value (kept in ``PICKLED_BYTE_ARRAY`` keyed state): independent of the class layout."""
        return (EventClock, (self.top, self.pending))


@dataclass(frozen=True, slots=True)
class Judged(Generic[T]):
    """What one call decided: ``released`` items are trusted at their own time (in the order decided);
    ``outliers`` left the pending set unconfirmed."""

    clock: EventClock[T]
    released: list[tuple[int, T]]
    outliers: list[tuple[int, T]]


def admit(
    clock: EventClock[T], items: Sequence[tuple[int, T]], ahead: int, quorum: int, cap: int
) -> Judged[T]:
    """Judge ``items`` (``(timestamp, item)``, in arrival order) against ``clock``."""
    if not items:
        return Judged(clock, [], [])
    top, pending = clock.top, list(clock.pending)
    progress = clock.progress(quorum)
    if progress is not None and not pending and max(ts for ts, _ in items) <= top[-1] + ahead:
        top = tuple(sorted((*top, *(ts for ts, _ in items)))[-quorum:])  # the common case: all trusted
        return Judged(EventClock(top, ()), list(items), [])
    released: list[tuple[int, T]] = []
    outliers: list[tuple[int, T]] = []
    for ts, item in items:
        progress = top[0] if len(top) >= quorum else None
        if progress is not None and ts <= top[-1] + ahead:
            released.append((ts, item))
            if ts > top[0]:
                top, pending = _settle(tuple(sorted((*top, ts))[-quorum:]), pending, ahead, released)
            continue
        pending.append((ts, item))
        group = _agreeing(pending, ahead, quorum)
        if group is None and len(pending) > cap and progress is None:
            group = _around_median(pending, quorum)
        if group is not None:
            top = tuple(sorted((*top, *(ts for ts, _ in group)))[-quorum:])
            pending = [p for p in pending if not any(p is g for g in group)]
            released.extend(sorted(group, key=lambda p: p[0]))
            top, pending = _settle(top, pending, ahead, released)
        while len(pending) > cap:
            outliers.append(pending.pop(0))
    return Judged(EventClock(top, tuple(pending)), released, outliers)


def drain(clock: EventClock[T], ahead: int, quorum: int) -> Judged[T]:
    """End of a bounded input: decide on every pending item. Without a progress (an input too short to
    anchor) the items anchor on their median; what is still too far ahead is an outlier."""
    pending = list(clock.pending)
    top = clock.top
    released: list[tuple[int, T]] = []
    if len(top) < quorum and pending:
        group = _around_median(pending, quorum)
        top = tuple(sorted((*top, *(ts for ts, _ in group)))[-quorum:])
        pending = [p for p in pending if not any(p is g for g in group)]
        released.extend(group)
    if pending:
        top, pending = _settle(top, pending, ahead, released)
    return Judged(EventClock(top, ()), released, pending)


def _agreeing(pending: list[tuple[int, T]], ahead: int, quorum: int) -> list[tuple[int, T]] | None:
    """The newest group of ``quorum`` pending items within ``ahead`` of each other, if any."""
    ordered = sorted(pending, key=lambda p: p[0])
    for high in range(len(ordered) - 1, quorum - 2, -1):
        if ordered[high][0] - ordered[high - quorum + 1][0] <= ahead:
            return ordered[high - quorum + 1 : high + 1]
    return None


def _around_median(pending: list[tuple[int, T]], quorum: int) -> list[tuple[int, T]]:
    """The ``quorum`` pending items around the median timestamp (fewer if fewer are pending): an anchor
    that many items share, when none agree."""
    ordered = sorted(pending, key=lambda p: p[0])
    middle = (len(ordered) - 1) // 2
    low = max(0, min(middle - quorum // 2, len(ordered) - quorum))
    return ordered[low : low + quorum]


def _settle(
    top: tuple[int, ...], pending: list[tuple[int, T]], ahead: int, released: list[tuple[int, T]]
) -> tuple[tuple[int, ...], list[tuple[int, T]]]:
    """Release the pending items no longer too far ahead of the newest trusted timestamp (oldest timestamp
    first, appended to ``released``); they are trusted, so the bound may move on and release more."""
    quorum = len(top)
    while pending:
        limit = top[-1] + ahead
        due = sorted((p for p in pending if p[0] <= limit), key=lambda p: p[0])
        if not due:
            break
        released.extend(due)
        pending = [p for p in pending if p[0] > limit]
        top = tuple(sorted((*top, *(ts for ts, _ in due)))[-quorum:])
    return top, pending
