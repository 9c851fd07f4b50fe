"""The engine's event guard: an event far ahead of its shard is dead-lettered, and swaps nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine_harness import Harness, deltas, forecasts

from inference_job.parse_messages import DEAD_LETTERS
from protocol.messages import DeadLetter, EngineSync, SyncType

DAY = 86_400  # the default MAX_EVENT_AHEAD_S, in maritime ticks (seconds)
FAR = 30 * 365 * DAY


def letters(out: list[Any]) -> list[DeadLetter]:
    return [
        DeadLetter.model_validate_json(v[1]) for v in out if isinstance(v, tuple) and v[0] == DEAD_LETTERS
    ]


def feed(h: Harness, events: list[tuple[str, int]]) -> list[Any]:
    out: list[Any] = []
    for key, ts in events:
        out += h.event(key, ts)
    return out + h.end_of_input()


GOOD = [("v1", 10 * i) for i in range(12)]


def test_a_far_future_event_among_good_ones_is_dead_lettered_and_the_rest_unaffected(tmp_path: Path) -> None:
    expected = forecasts(feed(Harness(tmp_path), GOOD))
    h = Harness(tmp_path)
    out = feed(h, [*GOOD[:6], ("v1", FAR), ("v1", FAR + 1), *GOOD[6:]])  # two agreeing: still no quorum
    assert forecasts(out) == expected
    assert sorted(d.timestamp for d in deltas(out)) == [ts for _, ts in GOOD]
    assert [(d.source_topic, d.job) for d in letters(out)] == [("input", "inference_job")] * 2
    assert all("ahead of the stream" in d.reason for d in letters(out))
    assert h.metrics.dead_letters() == 2


def test_a_far_future_event_does_not_swap_its_key_early(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    feed_events = [("v1", 1), ("v1", 2), ("v1", 3)]
    for key, ts in feed_events:
        h.event(key, ts)
    h.sync(EngineSync(type=SyncType.PAUSE, timestamp=3))
    h.sync(EngineSync(type=SyncType.PLAY, timestamp=3, model_id="m1", model_path=h.m1, production_time=100))
    assert letters(h.event("v1", FAR)) != []  # would have reached swap_at = 103
    assert [f.model_id for f in forecasts(h.event("v1", 50))] == ["m0"]
    assert [f.model_id for f in forecasts(h.event("v1", 103))] == ["m1"]


def test_a_genuine_jump_is_followed_after_a_quorum_of_events(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    later = [("v1", 40 * DAY + i) for i in range(5)]  # the data resumes weeks later
    out = feed(h, [*GOOD[:4], *later])
    assert [f.timestamp for f in forecasts(out)] == [ts for _, ts in [*GOOD[:4], *later[2:]]]
    assert len(letters(out)) == 2  # the quorum's first two, before the jump was confirmed


def test_the_shard_clock_survives_a_restart(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    for key, ts in GOOD[:4]:
        h.event(key, ts)
    restarted = Harness(tmp_path, stores=h.stores, broadcast=h.broadcast)
    assert letters(restarted.event("v1", FAR)) != []
