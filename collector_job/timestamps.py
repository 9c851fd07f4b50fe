"""Event-time assignment for the collector's two inputs.

Input events carry their own ``timestamp`` in stream units (seconds for maritime, milliseconds for
finance); Flink wants milliseconds. Events reach the assigner through :mod:`collector_job.event_guard`,
which lets no outlier through and nothing beyond :data:`~collector_job.buckets.MAX_EVENT_TIME_MS`; the
assigner clamps to that bound as well, so no value can overflow the ``long`` Flink stores it in.

ACKs have no event time of their own. Their input is connected to the events, and a two-input operator's
watermark is the minimum of both inputs, so an ACK input without watermarks would freeze event time and no
bucket would ever close. The ACK input is therefore declared idle after ``ACK_IDLENESS_S`` quiet seconds:
an idle input takes no part in the minimum. ACKs are stamped with time 0: a far-future stamp would avoid
the short stall after each ACK (until the input is idle again), but it would travel on as the Kafka record
timestamp of anything the ACK causes, and brokers reject timestamps too far in the future.
"""

from __future__ import annotations

from typing import Any

from pyflink.common import Duration, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner

from collector_job.buckets import MAX_EVENT_TIME_MS

ACK_EVENT_TIME_MS = 0
"""Event time given to ACKs (they have none; see the module docstring)."""

ACK_IDLENESS_S = 1
"""Seconds without ACKs after which the ACK input stops taking part in the watermark."""


class EventTimestampAssigner(TimestampAssigner):
    """Record time (ms) of a trusted event: its stream timestamp times ``ms_per_unit``, capped at the guard's
    watermark plus the delay (``delay`` stream units), so that the bounded-out-of-orderness watermark
    Flink derives from these times (their maximum minus the delay) is never ahead of the guard's, which
    follows the slowest input partition (:mod:`collector_job.event_guard`). The bucket writers take an
    event's bucket from its own timestamp, not from this record time."""

    def __init__(self, ms_per_unit: int, delay: int = 0) -> None:
        self._ms_per_unit = ms_per_unit
        self._delay = delay

    def extract_timestamp(self, value: Any, record_timestamp: int) -> int:
        ts = int(value.ts)
        watermark = getattr(value, "watermark", None)
        if watermark is not None:  # NOTHING_COMPLETE (a partition not heard yet) caps at time 0
            ts = min(ts, max(int(watermark) + self._delay, 0))
        return min(ts * self._ms_per_unit, MAX_EVENT_TIME_MS)


class AckTimestampAssigner(TimestampAssigner):
    """A constant event time for ACKs (see the module docstring)."""

    def extract_timestamp(self, value: Any, record_timestamp: int) -> int:
        return ACK_EVENT_TIME_MS


def event_watermarks(ms_per_unit: int, delay_s: int) -> WatermarkStrategy:
    """Bounded out-of-orderness of ``delay_s`` seconds on the events' (capped) timestamps."""
    return WatermarkStrategy.for_bounded_out_of_orderness(
        Duration.of_seconds(delay_s)
    ).with_timestamp_assigner(EventTimestampAssigner(ms_per_unit, delay_s * 1000 // ms_per_unit))


def ack_watermarks() -> WatermarkStrategy:
    """Watermarks of the ACK input: idle when quiet, so it does not hold the events back."""
    return (
        WatermarkStrategy.for_monotonous_timestamps()
        .with_timestamp_assigner(AckTimestampAssigner())
        .with_idleness(Duration.of_seconds(ACK_IDLENESS_S))
    )
