"""Bucket arithmetic of the collector: time units, alignment, bucket bounds and closing.

Everything here is pure and works in *stream units*, the unit of the input's ``timestamp`` field:
epoch seconds for the maritime domain and epoch milliseconds for the finance domain (as in the card
datasets). Bucket starts, bucket ends and the ``timestamp`` of a dataset version are all stream units, so
bucket file names read like the input's own timestamps. Flink's event time is always milliseconds; the
conversion lives here and nowhere else.

A bucket is the half-open interval ``[start, start + size)``. Two alignments exist:

* ``first_event`` (the original RTCEF): the grid is anchored at the first event the collector saw
  (``origin``), so bucket ``n`` is ``[origin + n*size, origin + (n+1)*size)``. Unlike the original's
  record-driven chain, the grid does not re-anchor after a gap in the data, so the bucket of an event does
  not depend on arrival order (needed for event-time closing).
* ``epoch`` (the Flink design): multiples of ``size`` since 1970, so daily buckets are UTC days.

A bucket is closed when the watermark says no event with a smaller timestamp than its end can come any
more; :func:`timer_ms` and :func:`watermark_from_ms` translate that rule to Flink timers and back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from protocol.settings import BucketAlignment, Domain, Settings

_MS_PER_UNIT = {d: 1000 // d.ticks_per_second for d in Domain}
"""Flink milliseconds per stream unit: maritime timestamps are seconds, finance ones milliseconds."""

MAX_EVENT_TIME_MS = 2**53
"""Largest event time (ms) the collector lets through (:mod:`collector_job.event_guard`), about 285,000
years: with bucket sizes bounded the same way, every millisecond value derived from an event (its event
time, a bucket end, a timer) stays far below a Java ``long``'s limit and exact as a JSON number."""


@dataclass(frozen=True)
class BucketScheme:
    """How timestamps map to buckets: bucket size and alignment, in stream units."""

    size: int
    alignment: BucketAlignment
    ms_per_unit: int = 1000

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"bucket size must be >= 1 stream unit, got {self.size}")
        if self.ms_per_unit < 1:
            raise ValueError(f"ms_per_unit must be >= 1, got {self.ms_per_unit}")
        if self.size * self.ms_per_unit > MAX_EVENT_TIME_MS:
            raise ValueError(f"bucket size {self.size} exceeds the event-time limit ({MAX_EVENT_TIME_MS} ms)")

    @classmethod
    def from_settings(cls, settings: Settings) -> BucketScheme:
        """The scheme of a deployment: ``bucket_size_s`` converted to the domain's stream units."""
        ms_per_unit = _MS_PER_UNIT[settings.domain]
        units_per_second = 1000 // ms_per_unit
        return cls(
            size=settings.bucket_size_s * units_per_second,
            alignment=settings.bucket_alignment,
            ms_per_unit=ms_per_unit,
        )


def ms_per_unit(domain: Domain) -> int:
    """Flink event-time milliseconds per stream unit of ``domain``."""
    return _MS_PER_UNIT[domain]


def to_event_time_ms(scheme: BucketScheme, ts: int) -> int:
    """Flink event time (ms) of a stream timestamp."""
    return ts * scheme.ms_per_unit


def bucket_start(scheme: BucketScheme, ts: int, origin: int | None) -> int:
    """Start of the bucket holding ``ts``.

    ``origin`` is the anchor of ``first_event`` alignment (ignored for ``epoch``); when it is ``None``
    the event itself becomes the anchor, as it is the first one. Floor division keeps events before the
    origin (out of order at the very start) in whole buckets before it.
    """
    if scheme.alignment is BucketAlignment.EPOCH:
        return ts - ts % scheme.size
    anchor = ts if origin is None else origin
    return anchor + ((ts - anchor) // scheme.size) * scheme.size


def bucket_end(scheme: BucketScheme, start: int) -> int:
    """Exclusive end of the bucket starting at ``start``."""
    return start + scheme.size


def is_closed_at(scheme: BucketScheme, start: int, watermark: int | None) -> bool:
    """Whether the bucket at ``start`` is complete at ``watermark`` (stream units, exclusive bound).

    ``watermark`` here means "every event with ``ts < watermark`` has been seen", so a bucket is complete
    once its exclusive end is not after it.
    """
    return watermark is not None and bucket_end(scheme, start) <= watermark


def closing_at(scheme: BucketScheme, starts: Iterable[int], watermark: int | None) -> list[int]:
    """The buckets among ``starts`` that the watermark closes, oldest first."""
    return sorted(s for s in set(starts) if is_closed_at(scheme, s, watermark))


def timer_ms(scheme: BucketScheme, start: int) -> int:
    """Event-time timer (ms) that closes the bucket: the last millisecond it covers.

    Flink fires a timer when the watermark reaches it, and a watermark ``w`` means "no more events with
    time <= w". With a bounded-out-of-orderness strategy of delay ``d`` the watermark trails the largest
    event time by ``d``, so the bucket closes once an event at ``end + d`` has been seen: the "bucket end
    plus watermark delay" rule, without counting the delay twice.
    """
    return bucket_end(scheme, start) * scheme.ms_per_unit - 1


def watermark_from_ms(scheme: BucketScheme, watermark_ms: int | None) -> int | None:
    """Exclusive stream-unit bound of a Flink watermark (or timer time); ``None`` before any watermark."""
    if watermark_ms is None or watermark_ms < 0:
        return None
    return (watermark_ms + 1) // scheme.ms_per_unit
