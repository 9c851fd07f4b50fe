"""Bucket arithmetic: alignments, boundaries, units per domain, timers and watermarks."""

from __future__ import annotations

import pytest

from collector_job.buckets import (
    BucketScheme,
    bucket_end,
    bucket_start,
    closing_at,
    is_closed_at,
    timer_ms,
    to_event_time_ms,
    watermark_from_ms,
)
from protocol.settings import BucketAlignment, Domain, Settings

DAY = 86_400
EPOCH = BucketScheme(size=DAY, alignment=BucketAlignment.EPOCH)
FIRST = BucketScheme(size=DAY, alignment=BucketAlignment.FIRST_EVENT)


@pytest.mark.parametrize(
    ("ts", "start"),
    [(0, 0), (DAY - 1, 0), (DAY, DAY), (1443877181, 1443830400), (1443830400, 1443830400)],
)
def test_epoch_alignment_is_multiples_of_size(ts: int, start: int) -> None:
    assert bucket_start(EPOCH, ts, origin=None) == start
    assert bucket_start(EPOCH, ts, origin=12345) == start  # origin is ignored


def test_first_event_alignment_anchors_on_origin() -> None:
    origin = 1443877181
    assert bucket_start(FIRST, origin, None) == origin
    assert bucket_start(FIRST, origin + DAY - 1, origin) == origin
    assert bucket_start(FIRST, origin + DAY, origin) == origin + DAY  # half-open: the end starts the next
    assert bucket_start(FIRST, origin + 5 * DAY + 7, origin) == origin + 5 * DAY  # gaps do not re-anchor
    assert bucket_start(FIRST, origin - 1, origin) == origin - DAY  # early stragglers: the bucket before


def test_bucket_end_and_closing() -> None:
    assert bucket_end(EPOCH, DAY) == 2 * DAY
    assert not is_closed_at(EPOCH, 0, None)
    assert not is_closed_at(EPOCH, 0, DAY - 1)
    assert is_closed_at(EPOCH, 0, DAY)
    assert closing_at(EPOCH, [2 * DAY, 0, DAY, DAY], 2 * DAY) == [0, DAY]


def test_timer_closes_exactly_at_bucket_end() -> None:
    """The timer sits on the bucket's last millisecond; firing it means the watermark reached the end."""
    assert timer_ms(EPOCH, 0) == DAY * 1000 - 1
    assert watermark_from_ms(EPOCH, timer_ms(EPOCH, 0)) == DAY
    assert closing_at(EPOCH, [0, DAY], watermark_from_ms(EPOCH, timer_ms(EPOCH, 0))) == [0]
    assert watermark_from_ms(EPOCH, -(2**63)) is None  # Flink's initial watermark
    assert watermark_from_ms(EPOCH, None) is None


@pytest.mark.parametrize(
    ("domain", "size", "ms_per_unit"),
    [(Domain.MARITIME, 604_800, 1000), (Domain.FINANCE, 604_800_000, 1)],
)
def test_scheme_from_settings_uses_domain_units(domain: Domain, size: int, ms_per_unit: int) -> None:
    scheme = BucketScheme.from_settings(Settings(domain=domain))
    assert (scheme.size, scheme.ms_per_unit) == (size, ms_per_unit)
    assert scheme.alignment is BucketAlignment.FIRST_EVENT  # the original's default
    assert to_event_time_ms(scheme, 10) == 10 * ms_per_unit


def test_finance_timer_is_in_milliseconds() -> None:
    scheme = BucketScheme(size=1000, alignment=BucketAlignment.EPOCH, ms_per_unit=1)
    assert bucket_start(scheme, 1_500, None) == 1000
    assert timer_ms(scheme, 1000) == 1999
    assert watermark_from_ms(scheme, 1999) == 2000


def test_scheme_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="bucket size"):
        BucketScheme(size=0, alignment=BucketAlignment.EPOCH)
