"""A shard's pause (pure): hold while paused, release on PLAY, on timeout, on a full buffer, at the end."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from engine_harness import EarlierShardState, earlier_checkpoint
from hypothesis import given
from hypothesis import strategies as st

from inference_job.lifecycle import ControlState, on_sync
from inference_job.shard import (
    PauseState,
    Release,
    Route,
    ShardState,
    after_release,
    on_arrival,
    release_due,
)
from protocol.messages import EngineSync, SyncType

TIMEOUT = 1_000
PAUSED = on_sync(ControlState(), EngineSync(type=SyncType.PAUSE, timestamp=0))


def play(control: ControlState) -> ControlState:
    return on_sync(control, EngineSync(type=SyncType.PLAY, timestamp=0))


def arrive(pause: PauseState, control: ControlState, now: int, max_held: int = 100) -> Any:
    return on_arrival(pause, control, now, TIMEOUT, max_held)


def test_events_run_at_once_while_the_engine_plays() -> None:
    assert arrive(PauseState(), ControlState(), 0) == (PauseState(), [Route.RUN])
    assert release_due(PauseState(), ControlState(), 10**9, TIMEOUT) is None


def test_paused_events_are_held_and_the_timeout_counts_from_the_first() -> None:
    pause, first = arrive(PauseState(), PAUSED, 100)
    pause, second = arrive(pause, PAUSED, 900)
    assert first == second == [Route.HOLD]
    assert pause == PauseState(held=2, since=100)
    assert release_due(pause, PAUSED, 100 + TIMEOUT - 1, TIMEOUT) is None


def test_a_play_releases_what_is_held_before_the_next_event_runs() -> None:
    pause, _ = arrive(PauseState(), PAUSED, 100)
    assert release_due(pause, play(PAUSED), 150, TIMEOUT) is Release.PLAY
    assert arrive(pause, play(PAUSED), 150) == (PauseState(), [Release.PLAY, Route.RUN])


def test_a_timeout_releases_and_gives_up_that_pause_until_the_next_one() -> None:
    pause, _ = arrive(PauseState(), PAUSED, 100)
    assert release_due(pause, PAUSED, 100 + TIMEOUT, TIMEOUT) is Release.TIMEOUT
    pause, actions = arrive(pause, PAUSED, 100 + TIMEOUT)
    assert actions == [Release.TIMEOUT, Route.RUN]
    assert pause == PauseState(released_seq=PAUSED.seq)
    assert arrive(pause, PAUSED, 10**9)[1] == [Route.RUN]  # still paused, but given up
    assert arrive(pause, play(PAUSED), 10**9) == (pause, [Route.RUN])  # a late PLAY: nothing to replay
    again = on_sync(PAUSED, EngineSync(type=SyncType.PAUSE, timestamp=0))
    assert arrive(pause, again, 10**9)[1] == [Route.HOLD]  # a new PAUSE holds again


def test_the_event_that_fills_the_buffer_is_held_and_released_with_it() -> None:
    pause = PauseState()
    for now in (1, 2):
        pause, actions = arrive(pause, PAUSED, now, max_held=3)
        assert actions == [Route.HOLD]
    pause, actions = arrive(pause, PAUSED, 3, max_held=3)
    assert actions == [Route.HOLD, Release.FULL]
    assert pause == PauseState(released_seq=PAUSED.seq)
    assert arrive(pause, PAUSED, 4, max_held=3)[1] == [Route.RUN]


def test_end_of_input_releases_even_while_paused_without_giving_the_pause_up() -> None:
    pause, _ = arrive(PauseState(), PAUSED, 0)
    assert release_due(pause, PAUSED, 0, TIMEOUT, end_of_input=True) is Release.END
    assert after_release(pause, PAUSED, Release.END) == PauseState()


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("event"), st.integers(0, 3 * TIMEOUT)),
            st.tuples(st.sampled_from(["pause", "play"]), st.just(0)),
        ),
        max_size=60,
    ),
    st.integers(1, 6),
)
def test_every_event_runs_once_in_order_and_waits_at_most_the_timeout(
    ops: list[tuple[str, int]], max_held: int
) -> None:
    """Simulate a shard with a list as its buffer: each event runs exactly once and in arrival order,
    a buffer never exceeds ``max_held``, and no event is still held once the timeout has passed."""
    control, pause, now = ControlState(), PauseState(), 0
    held: list[int] = []
    ran: list[int] = []
    fed = 0
    for op, dt in ops:
        if op != "event":
            control = on_sync(control, EngineSync(type=SyncType(op), timestamp=0))
            continue
        now += dt
        fed += 1
        pause, actions = arrive(pause, control, now, max_held)
        for action in actions:
            if action is Route.HOLD:
                held.append(fed)
            elif action is Route.RUN:
                ran.append(fed)
            else:
                ran += held
                held = []
        assert pause.held == len(held) <= max_held
        assert pause.since is None or now - pause.since < TIMEOUT
    due = release_due(pause, control, now, TIMEOUT, end_of_input=True)
    assert (due is Release.END) == bool(held)
    assert ran + held == list(range(1, fed + 1))


def test_the_shard_state_pickles_with_its_pause_and_deadline() -> None:
    shard = ShardState(deltas=[["v1", 1]], pause=PauseState(3, 1_234, 2), timer_at=5, end_armed=True)
    assert pickle.loads(pickle.dumps(shard)) == shard
    assert pickle.loads(pickle.dumps(ShardState())) == ShardState()


def test_a_shard_state_of_the_earlier_layout_is_read_with_its_buffered_keys_carried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = earlier_checkpoint(monkeypatch, EarlierShardState([["v1", 1]], {"v1", "v3"}, 7, True))
    assert b"buffered" in raw and b"ShardState" in raw
    shard = pickle.loads(raw)
    assert shard == ShardState(deltas=[["v1", 1]], timer_at=7, end_armed=True, carried={"v1", "v3"})
