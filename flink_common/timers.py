"""Timer conventions shared by the keyed functions: the end-of-input timer and lost processing-time timers."""

from __future__ import annotations

__all__ = ["END_OF_INPUT", "LOST_TIMER_MS", "needs_timer"]

END_OF_INPUT = 2**62
"""Event-time timer reached only by the final (``Long.MAX``) watermark of a bounded input."""

LOST_TIMER_MS = 10_000
"""A processing-time timer recorded as armed but overdue by this much is taken as lost (a restore does
not promise to fire the checkpoint's processing-time timers) and armed again. Timers that are merely
late under load must not be doubled: each extra timer is one more call into Python."""


def needs_timer(armed_at: int | None, now: int) -> bool:
    """Whether a processing-time timer must be registered: none is recorded, or the recorded one is lost."""
    return armed_at is None or armed_at < now - LOST_TIMER_MS
