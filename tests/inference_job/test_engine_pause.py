"""Liveness of a pause in the engine function (fake Flink contexts): timeout, full buffer, late PLAY,
restore mid-pause, the cost of holding an event, and a property over random control and clock."""

from __future__ import annotations

import json
import logging
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from engine_harness import (
    SHARDS,
    T0,
    EarlierShardState,
    Harness,
    deltas,
    earlier_checkpoint,
    forecasts,
    raw_event,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference_job.event_batches import shard_of
from inference_job.scoring import AggregatorState, decode_batch, on_deltas, on_watermark
from protocol.messages import EngineSync, SyncType

TIMEOUT = 60_000  # the harness's pause_timeout_ms
START = 1_000  # the fake clocks' processing time at start
POLL = 1_000  # the engine's poll while events are held: a timeout is seen at the next poll


def pause() -> EngineSync:
    return EngineSync(type=SyncType.PAUSE, timestamp=0)


def play(ts: int = 0, path: str | None = None, pt: float = 0.0) -> EngineSync:
    """A PLAY, of model ``m1`` stored at ``path`` if given, else of no model (an aborted session)."""
    model_id = "m1" if path else None
    return EngineSync(
        type=SyncType.PLAY, timestamp=ts, model_id=model_id, model_path=path, production_time=pt
    )


def stamps(out: list[Any]) -> list[tuple[str, int, str]]:
    return [(f.key, f.timestamp, f.model_id) for f in forecasts(out)]


def test_a_pause_without_play_times_out_and_every_held_event_is_forecast_once_in_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    h = Harness(tmp_path)
    h.sync(pause())
    assert shard_of("v1", SHARDS) == shard_of("v3", SHARDS) != shard_of("v2", SHARDS)
    held = [h.event(key, ts) for key, ts in [("v1", 1), ("v1", 2), ("v3", 3), ("v1", 4), ("v2", 5)]]
    assert all(out == [] for out in held) and h.held() == 5
    h.set_clock(START + TIMEOUT - 1)
    assert h.fire_due() == [] and h.held() == 5  # polling, not yet timed out
    h.set_clock(START + TIMEOUT - 1 + POLL)
    with caplog.at_level(logging.WARNING, logger="inference_job.engine_process"):
        out = h.fire_due()
    assert stamps(out) == [
        ("v1", 1, "m0"),
        ("v1", 2, "m0"),
        ("v3", 3, "m0"),
        ("v1", 4, "m0"),
        ("v2", 5, "m0"),
    ]
    marked = [(d.key, d.timestamp) for d in deltas(out) if d.resumed]
    assert marked == [("v1", 1), ("v3", 3), ("v2", 5)]  # each key's first replayed event, once
    assert h.held() == 0 and "pause given up" in caplog.text
    # still paused, but this pause is given up: later events run at once, unmarked
    assert stamps(h.event("v1", 6)) == [("v1", 6, "m0")]
    assert [(d.timestamp, d.resumed) for d in deltas(h.end_of_input())] == [(6, 0)]
    # the marks reach the interval's score report
    rows = [d for v in out if isinstance(v, str) for d in decode_batch(v)]
    scores, _ = on_deltas(AggregatorState(), rows, 3600)
    _, (report,) = on_watermark(scores, T0 + 10**6, 3600)
    assert report.resumed_without_play == 3 and report.events == 5


def test_a_play_before_the_timeout_replays_and_swaps_as_usual(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.event("v1", 1)
    h.sync(pause())
    assert h.event("v1", 2) == [] and h.event("v1", 3) == []
    h.sync(play(1, h.m1, pt=2.0))  # swap at 3
    h.set_clock(START + 5_000)
    out = h.fire_due()
    assert stamps(out) == [("v1", 2, "m0"), ("v1", 3, "m1")]
    assert not any(d.resumed for d in deltas(out)) and h.held() == 0


def test_a_play_after_the_timeout_still_swaps_and_nothing_is_lost_or_doubled(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.sync(pause())
    h.event("v1", 1)
    h.event("v1", 2)
    h.set_clock(START + TIMEOUT + POLL)
    out = h.fire_due()  # timed out: resumed on m0
    out += h.event("v1", 3)  # runs at once
    h.sync(play(4, h.m1))  # the late PLAY: swap at 4
    out += h.event("v1", 4) + h.event("v1", 5)
    out += h.end_of_input()
    assert stamps(out) == [
        ("v1", 1, "m0"),
        ("v1", 2, "m0"),
        ("v1", 3, "m0"),
        ("v1", 4, "m1"),
        ("v1", 5, "m1"),
    ]
    assert [d.timestamp for d in deltas(out)] == [1, 2, 3, 4, 5]
    state = h.run_state("v1")
    assert state.model.model_id == "m1" and state.swaps == 1 and state.run.counter == 5


def test_a_full_pause_buffer_resumes_like_a_timeout(tmp_path: Path) -> None:
    h = Harness(tmp_path, max_pause_buffer=3)
    h.sync(pause())
    assert h.event("v1", 1) == [] and h.event("v3", 2) == []
    out = h.event("v1", 3)  # the third held event fills the shard's buffer
    assert stamps(out) == [("v1", 1, "m0"), ("v3", 2, "m0"), ("v1", 3, "m0")] and h.held() == 0
    assert stamps(h.event("v1", 4)) == [("v1", 4, "m0")]  # the given-up pause holds no more
    marked = [(d.key, d.timestamp) for d in deltas(out + h.end_of_input()) if d.resumed]
    assert marked == [("v1", 1), ("v3", 2)]


def test_a_restore_mid_pause_keeps_the_held_events_and_the_deadline(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.sync(pause())
    h.set_clock(5_000)
    h.event("v1", 1)  # held at 5_000: times out at 5_000 + TIMEOUT
    h.event("v1", 2)
    restored = Harness(tmp_path, stores=h.stores, broadcast=h.broadcast)  # pickled state, no timers
    restored.set_clock(5_000 + TIMEOUT - 1)
    assert restored.event("v1", 3) == []  # the deadline came back with the state: still holding
    assert restored.timer_service_for("v1").processing  # the lost poll timer is armed again
    restored.set_clock(5_000 + TIMEOUT - 1 + POLL)
    out = restored.fire_due()
    assert stamps(out) == [("v1", 1, "m0"), ("v1", 2, "m0"), ("v1", 3, "m0")]
    assert [d.timestamp for d in deltas(out) if d.resumed] == [1]


def holding_cost(tmp: Path, n: int) -> tuple[int, int, int]:
    """Bytes written to state, list appends and key-state bytes written while ``n`` events are held."""
    h = Harness(tmp, max_pause_buffer=100 * n)
    h.event("v1", 0)  # the key has a state before the pause
    h.sync(pause())
    before, runs_before = h.written(), h.stores["runs"].written
    for ts in range(1, n + 1):
        h.event("v1", ts)
    appends = sum(lst.appends for lst in h.stores["held"].values())
    return h.written() - before, appends, h.stores["runs"].written - runs_before


def test_holding_an_event_costs_the_same_however_many_are_held(tmp_path: Path) -> None:
    """Counted in bytes written to state, not timed: 10x the events cost 10x, where rewriting what is
    held on every event (a buffer inside the key's state) would cost 100x."""
    small, appends_small, runs_small = holding_cost(tmp_path, 100)
    large, appends_large, runs_large = holding_cost(tmp_path, 1_000)
    assert (appends_small, appends_large) == (100, 1_000)  # one append per event
    assert runs_small == runs_large == 0  # the key's state is not rewritten while it holds events
    assert 9 * small <= large <= 11 * small


def test_per_key_buffers_of_an_earlier_checkpoint_are_replayed_once_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = Harness(tmp_path)
    h.event("v1", 1)
    h.sync(pause())
    shard = shard_of("v1", SHARDS)
    # a checkpoint of the earlier layout: the key buffered its two paused events in its own state
    carried = tuple(json.loads(raw_event("v1", ts)) for ts in (2, 3))
    h.stores["runs"].save((shard, "v1"), replace(h.run_state("v1"), carried=carried))
    h.stores["shard"].data[shard] = earlier_checkpoint(monkeypatch, EarlierShardState(buffered={"v1"}))
    restored = Harness(tmp_path, stores=h.stores, broadcast=h.broadcast)
    assert restored.event("v1", 4) == []  # still paused: held after the two carried events
    restored.sync(play())
    restored.set_clock(START + POLL)
    out = restored.fire_due() + restored.event("v1", 5)
    assert [f.timestamp for f in forecasts(out)] == [2, 3, 4, 5]
    assert restored.run_state("v1").run.counter == 5 and restored.run_state("v1").carried == ()


_KEYS = ["v1", "v2", "v3", "v5"]  # shards 1, 3, 1, 0
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("event"), st.sampled_from(_KEYS)),
        st.tuples(st.sampled_from(["pause", "play", "play_model"]), st.just("")),
        st.tuples(st.just("wait"), st.sampled_from(["1000", "30000", str(TIMEOUT + 1_000)])),
    ),
    max_size=40,
)
_MODELS = Path(tempfile.mkdtemp(prefix="engine-pause-"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_OPS, max_held=st.integers(2, 8))
def test_whatever_the_control_and_the_clock_every_event_is_forecast_once_in_order(
    ops: list[tuple[str, str]], max_held: int
) -> None:
    """Every event is forecast exactly once, each key's in order; a model only from its swap time on;
    nothing is held once a wait longer than the timeout has passed."""
    h = Harness(_MODELS, pause_timeout_ms=TIMEOUT, max_pause_buffer=max_held)
    now, ts, swap_at = START, 0, None
    h.set_clock(now)
    fed: list[tuple[str, int]] = []
    out: list[Any] = []
    for op, arg in ops:
        if op == "event":
            ts += 1
            fed.append((arg, ts))
            out += h.event(arg, ts)
        elif op == "wait":
            now += int(arg)
            h.set_clock(now)
            out += h.fire_due()
            if int(arg) > TIMEOUT:
                assert h.held() == 0
        elif op == "play_model" and swap_at is None:
            swap_at = ts + 1
            out += h.sync(play(swap_at, h.m1))
        else:
            out += h.sync(pause() if op == "pause" else play(ts))
    out += h.end_of_input()
    got = stamps(out)
    assert Counter((k, t) for k, t, _ in got) == Counter(fed)
    for key in _KEYS:
        assert [t for k, t, _ in got if k == key] == [t for k, t in fed if k == key]
    assert all((m == "m1") == (swap_at is not None and t >= swap_at) for _, t, m in got)
    assert Counter((d.key, d.timestamp) for d in deltas(out)) == Counter(fed)
