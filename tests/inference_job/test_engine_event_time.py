"""The engine forecasts every valid event: genuine gaps are not outliers; an outlier stays with its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine_harness import Harness, forecasts

from inference_job.parse_messages import DEAD_LETTERS

DAY = 86_400  # the default MAX_EVENT_AHEAD_S, in maritime ticks (seconds)
FAR = 30 * 365 * DAY


def feed(h: Harness, events: list[tuple[str, int]]) -> list[Any]:
    out: list[Any] = []
    for key, ts in events:
        out += h.event(key, ts)
    return out + h.end_of_input()


def letters(out: list[Any]) -> list[Any]:
    return [v for v in out if isinstance(v, tuple) and v[0] == DEAD_LETTERS]


GOOD = [("v1", 10 * i) for i in range(12)]


def test_a_key_that_resumes_weeks_later_has_every_event_forecast(tmp_path: Path) -> None:
    later = [("v1", 40 * DAY + i) for i in range(5)]
    out = feed(Harness(tmp_path), [*GOOD[:4], *later])
    assert [f.timestamp for f in forecasts(out)] == [ts for _, ts in [*GOOD[:4], *later]]
    assert letters(out) == []


def test_a_far_future_event_of_one_key_leaves_the_other_keys_unchanged(tmp_path: Path) -> None:
    others = [("v2", 10 * i + 5) for i in range(12)]
    mixed = [e for pair in zip(GOOD, others, strict=True) for e in pair]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    expected = [f for f in forecasts(feed(Harness(tmp_path / "a"), mixed)) if f.key == "v2"]
    out = feed(Harness(tmp_path / "b"), [*mixed[:8], ("v1", FAR), *mixed[8:]])
    assert [f for f in forecasts(out) if f.key == "v2"] == expected
    assert FAR in [f.timestamp for f in forecasts(out) if f.key == "v1"]
