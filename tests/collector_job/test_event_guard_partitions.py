"""The event guard per Kafka partition: a partition read behind the others holds the watermark back
instead of having its events judged late or outvoted; idle, silent and restored partitions."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from collector_job.buckets import MAX_EVENT_TIME_MS
from collector_job.event_guard import (
    NOTHING_COMPLETE,
    Arrive,
    EndOfInput,
    GuardConfig,
    GuardState,
    Reject,
    Release,
    resumed,
    step,
)
from collector_job.guard_process import TrustedEvent
from collector_job.timestamps import EventTimestampAssigner

T0 = 1_500_000_000
DAY = 86_400
DELAY = 60
CONFIG = GuardConfig(ahead=DAY, quorum=3, max_ts=MAX_EVENT_TIME_MS // 1000, cap=12, delay=DELAY,
                     idle_ms=10_000, partitions=2)  # fmt: skip


def arrive(ts: int, partition: int, now_ms: int = 0) -> Arrive:
    return Arrive(ts=ts, record={"timestamp": ts}, payload=str(ts), partition=partition, now_ms=now_ms)


def feed(messages: list[Any], state: GuardState | None = None, config: GuardConfig = CONFIG) -> tuple[
    GuardState, list[Release], list[Reject]
]:  # fmt: skip
    state = state or GuardState()
    outputs: list[Any] = []
    for message in messages:
        state, out = step(state, message, config)
        outputs += out
    return (
        state,
        [o for o in outputs if isinstance(o, Release)],
        [o for o in outputs if isinstance(o, Reject)],
    )


def chunked(partitions: list[list[int]], chunk: int, rnd: random.Random) -> list[Arrive]:
    """The partitions' events as a Kafka source reads a backlog: a chunk of one partition, then another."""
    queues = [list(p) for p in partitions]
    out: list[Arrive] = []
    while any(queues):
        which = rnd.choice([i for i, q in enumerate(queues) if q])
        take, queues[which] = queues[which][:chunk], queues[which][chunk:]
        out += [arrive(ts, which) for ts in take]
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 3 * DAY), min_size=20, max_size=200),
    st.integers(1, 80),
    st.integers(0, 2**31),
)
def test_no_event_of_a_partition_read_behind_is_late_or_rejected(
    gaps: list[int], chunk: int, seed: int
) -> None:
    """Two in-order partitions of one stream (with gaps in the data longer than ``ahead``), read in chunks:
    every event is released, and none is behind a watermark stamped before it."""
    times, t = [], T0
    for gap in gaps:
        t += gap
        times += [t, t + 1, t + 2]  # a gap is followed by at least a quorum of agreeing events
    rnd = random.Random(seed)
    parts: list[list[int]] = [[], []]
    for ts in times:
        parts[rnd.randrange(2)].append(ts)
    _, released, rejected = feed([*chunked(parts, chunk, rnd), EndOfInput()])
    assert rejected == [] and sorted(r.ts for r in released) == sorted(times)
    floor = None
    for release in released:
        assert release.watermark is not None
        assert floor is None or release.ts > floor, "an event behind a watermark already stamped: late"
        floor = release.watermark if floor is None else max(floor, release.watermark)


def test_the_watermark_follows_the_slowest_partition() -> None:
    state, released, _ = feed(
        [arrive(T0 + i, 0) for i in range(5)] + [arrive(T0 + 10 * 3600 + i, 1) for i in range(5)]
    )
    assert [r.watermark for r in released][-1] == T0 + 4 - DELAY  # partition 0 is at T0 + 4
    state, more, _ = feed([arrive(T0 + 5 * 3600, 0)], state)
    assert more[-1].watermark == T0 + 5 * 3600 - DELAY


def test_a_partition_not_heard_from_yet_holds_every_bucket_open() -> None:
    state, released, _ = feed([arrive(T0 + DAY + i * 60, 1) for i in range(10)])
    assert {r.watermark for r in released} == {NOTHING_COMPLETE}  # partition 0 of 2 has said nothing yet
    _, late_start, rejected = feed([arrive(T0 + i, 0) for i in range(3)], state)  # a day behind: not late
    assert rejected == [] and late_start[-1].watermark == T0 + 2 - DELAY
    assert EventTimestampAssigner(1000, DELAY).extract_timestamp(released[0], 0) == 0


def test_an_idle_partition_stops_holding_the_watermark_back() -> None:
    messages = [arrive(T0, 0, now_ms=0), *[arrive(T0 + i, 0, now_ms=0) for i in range(1, 3)]]
    messages += [arrive(T0 + 3600 + i, 1, now_ms=1_000) for i in range(3)]
    state, released, _ = feed(messages)
    assert released[-1].watermark == T0 + 2 - DELAY  # partition 0 still counts
    _, later, _ = feed([arrive(T0 + 7200, 1, now_ms=20_000)], state)
    assert later[-1].watermark == T0 + 7200 - DELAY  # partition 0 quiet for 20 s: idle


def test_after_a_restore_every_known_partition_counts_again() -> None:
    messages = [arrive(T0 + i, 0, now_ms=0) for i in range(3)] + [arrive(T0 + 3600 + i, 1) for i in range(3)]
    state, _, _ = feed(messages)
    restored = resumed(state, now_ms=60_000)
    _, released, _ = feed([arrive(T0 + 7200, 1, now_ms=60_001)], restored)
    assert released[-1].watermark == T0 + 2 - DELAY  # partition 0 is not taken for idle right away


def test_the_watermark_never_goes_back() -> None:
    state, released, _ = feed([arrive(T0 + i, p) for i in range(3) for p in (0, 1)])
    high = released[-1].watermark
    _, later, _ = feed([arrive(T0 + 1, 0)], state)
    assert later[-1].watermark == high


def test_a_state_of_the_single_stream_layout_reads_as_partition_zero() -> None:
    legacy = '{"progress": 5, "held": [], "origin": 3, "newest": 5}'
    state = GuardState.model_validate_json(legacy)
    assert state.partitions["0"].progress == 5 and state.partitions["0"].newest == 5 and state.origin == 3


def test_flink_record_times_are_capped_at_the_guard_watermark_plus_the_delay() -> None:
    assigner = EventTimestampAssigner(1000, DELAY)
    ahead = TrustedEvent(T0 + 3600, {}, "", origin=T0, watermark=T0 - DELAY)
    behind = TrustedEvent(T0 - 10, {}, "", origin=T0, watermark=T0 - DELAY)
    assert assigner.extract_timestamp(ahead, 0) == T0 * 1000  # Flink's watermark: T0 - DELAY, as the guard's
    assert assigner.extract_timestamp(behind, 0) == (T0 - 10) * 1000
