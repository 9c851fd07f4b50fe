"""When score intervals close: progress held back by processing time, origin from the earliest delta."""

from __future__ import annotations

import pickle

from inference_job.closing import ClosingState, on_batch, on_end, on_poll
from inference_job.scoring import ScoreDelta
from protocol.messages import CreationMethod
from wayeb_py.evaluation import Metrics

INTERVAL = 100
HOLD = 1000


def rows(*timestamps: int, key: str = "k") -> list[list[object]]:
    return [ScoreDelta(key, ts, "m0", CreationMethod.INITIAL, Metrics(tn=1)).row() for ts in timestamps]


def test_a_replayed_round_arriving_shard_after_shard_gives_the_in_order_reports() -> None:
    """Shard A's whole batch (t=0..390) arrives before shard B's (t=5..395): nothing is misplaced."""
    in_order = ClosingState()
    for ts in range(0, 400, 5):
        in_order = on_batch(in_order, rows(ts), 0, INTERVAL)
    in_order, expected = on_end(in_order, INTERVAL)

    state = on_batch(ClosingState(), rows(*range(10, 400, 10), key="a"), 0, INTERVAL)
    state = on_batch(state, rows(*range(5, 400, 10), key="b"), 300, INTERVAL)
    state = on_batch(state, rows(0), 600, INTERVAL)  # the stream's first event, last to arrive
    state, early = on_poll(state, 900, INTERVAL, HOLD, delay=0)
    assert early == [] and state.scores.origin is None  # still holding: the origin is not fixed yet
    state, reports = on_poll(state, 1000, INTERVAL, HOLD, delay=0)
    assert state.scores.origin == 0
    state, rest = on_end(state, INTERVAL)
    assert reports + rest == expected
    assert [r.events for r in expected] == [20, 20, 20, 20]


def test_progress_is_trusted_only_after_the_hold_and_the_delay() -> None:
    state = on_batch(ClosingState(), rows(0), 0, INTERVAL)
    state, _ = on_poll(state, HOLD, INTERVAL, HOLD, delay=0)  # origin fixed at 0
    state = on_batch(state, rows(150), 1500, INTERVAL)
    state, reports = on_poll(state, 2000, INTERVAL, HOLD, delay=0)
    assert reports == []  # 150 seen 500 ms ago: not yet trusted
    _, reports = on_poll(state, 2500, INTERVAL, HOLD, delay=50)
    assert reports == []  # trusted now, but 150 - 50 - 1 < 100, the end of [0, 100)
    _, reports = on_poll(state, 2500, INTERVAL, HOLD, delay=49)
    assert [r.interval_start for r in reports] == [0]


def test_late_shards_beyond_the_hold_still_count_in_the_oldest_open_interval() -> None:
    state = on_batch(ClosingState(), rows(0, 250), 0, INTERVAL)
    state, reports = on_poll(state, HOLD, INTERVAL, HOLD, delay=0)
    assert [r.interval_start for r in reports] == [0]  # [100, 200) had no event: no report
    state = on_batch(state, rows(40), 5000, INTERVAL)  # far too late for [0, 100)
    _, rest = on_end(state, INTERVAL)
    assert [(r.interval_start, r.events) for r in rest] == [(100, 1), (200, 1)]


def test_state_round_trips_through_pickle() -> None:
    state = on_batch(ClosingState(), rows(3, 1), 7, INTERVAL)
    assert pickle.loads(pickle.dumps(state)) == state and state.pending
    state, _ = on_poll(state, 7 + HOLD, INTERVAL, HOLD, delay=0)
    assert pickle.loads(pickle.dumps(state)) == state and state.marks


# ------------------------------------------------------------------------------------------ outliers

AHEAD = 1_000
FAR = 10**12


def replay(times: list[int], *, ahead: int | None = AHEAD) -> list[tuple[int, int, int]]:
    """One delta per batch, a poll after each (100 ms apart), then the end: (start, events, timestamp)."""
    state, reports = ClosingState(), []
    for i, ts in enumerate(times):
        state = on_batch(state, rows(ts), i * 100, INTERVAL, ahead=ahead, quorum=3)
        state, closed = on_poll(state, i * 100, INTERVAL, HOLD, delay=0)
        reports += closed
    state, rest = on_end(state, INTERVAL, ahead=ahead, quorum=3)
    return [(r.interval_start, r.events, r.timestamp) for r in reports + rest]


GOOD = list(range(0, 600, 10))


def test_a_far_future_delta_among_good_ones_is_counted_at_the_progress_not_trusted() -> None:
    expected = replay(GOOD)
    got = replay([*GOOD[:30], FAR, *GOOD[30:]])
    assert [(s, t) for s, _, t in got] == [(s, t) for s, _, t in expected]  # same intervals, same times
    assert [e for _, e, _ in got] == [10, 10, 10, 10, 10, 11]  # counted where the stream was at the end
    assert replay([*GOOD[:30], FAR, *GOOD[30:]], ahead=None)[-1][0] > 10**11  # unguarded: a far interval


def test_a_far_future_first_delta_opens_no_far_interval() -> None:
    got = replay([FAR, *GOOD])
    assert [s for s, _, _ in got] == [0, 100, 200, 300, 400, 500]
    assert sum(e for _, e, _ in got) == len(GOOD) + 1


def test_a_gap_in_the_data_longer_than_ahead_misplaces_nothing() -> None:
    """After a pause of the whole stream, the first deltas are held until others agree, then folded at
    their own times: the reports equal the unguarded ones."""
    gapped = [*GOOD, *(t + 50 * AHEAD for t in GOOD)]
    assert replay(gapped) == replay(gapped, ahead=None)


def test_the_clock_survives_the_state_round_trip() -> None:
    state = on_batch(ClosingState(), rows(1, 2, 3, FAR), 0, INTERVAL, ahead=AHEAD, quorum=3)
    assert state.clock.top == (1, 2, 3) and ClosingState.from_dict(state.to_dict()) == state
    assert [ts for ts, _ in state.clock.pending] == [FAR]
    assert pickle.loads(pickle.dumps(state)) == state
    legacy = {k: v for k, v in state.to_dict().items() if k != "clock"}
    assert ClosingState.from_dict(legacy).clock.top == ()
