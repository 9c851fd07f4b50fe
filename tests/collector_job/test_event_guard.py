"""The event guard before the collector's watermarks: outliers held, outvoted and dead-lettered."""

from __future__ import annotations

import json
from typing import Any

import pytest
from metric_fakes import FakeMetricsRuntime

from collector_job.buckets import MAX_EVENT_TIME_MS
from collector_job.event_guard import Arrive, EndOfInput, GuardConfig, GuardState, Reject, Release, step
from collector_job.guard_process import EventGuardProcess, TrustedEvent, guard_key
from collector_job.parse_events import ParsedEvent
from flink_common.io import string_tag
from flink_common.timers import END_OF_INPUT
from protocol.messages import DeadLetter
from protocol.settings import Domain, Settings

T0 = 1_500_000_000
DAY = 86_400
CONFIG = GuardConfig(ahead=DAY, quorum=3, max_ts=MAX_EVENT_TIME_MS // 1000, cap=12)
FAR = T0 + 10 * 365 * DAY  # ten years ahead


def arrive(ts: int) -> Arrive:
    return Arrive(ts=ts, record={"timestamp": ts}, payload=f'{{"timestamp":{ts}}}')


def run(
    times: list[int], state: GuardState | None = None, *, end: bool = False, config: GuardConfig = CONFIG
) -> tuple[GuardState, list[int], list[Reject]]:
    """Feed events at ``times``; returns the state, the released timestamps in order and the rejections."""
    state = state or GuardState()
    outputs: list[Any] = []
    messages: list[Arrive | EndOfInput] = [arrive(t) for t in times]
    for message in [*messages, *([EndOfInput()] if end else [])]:
        state, out = step(state, message, config)
        outputs += out
    released = [o.ts for o in outputs if isinstance(o, Release)]
    return state, released, [o for o in outputs if isinstance(o, Reject)]


def steady(n: int, start: int = T0, gap: int = 60) -> list[int]:
    return [start + i * gap for i in range(n)]


def test_the_stream_starts_on_its_first_agreeing_events_then_passes_them_at_once() -> None:
    state, released, rejected = run(steady(2))
    assert released == [] and len(state.held) == 2  # nothing to compare with yet
    state, released, rejected = run([T0 + 120], state)
    assert released == [T0, T0 + 60, T0 + 120] and state.held == ()
    assert state.partitions["0"].progress == T0 + 120
    state, released, _ = run([T0 + 90, T0 + 180], state)  # out of order within the bound is fine
    assert released == [T0 + 90, T0 + 180] and rejected == []


def test_a_far_future_event_in_good_traffic_is_dead_lettered_and_the_traffic_unaffected() -> None:
    good = steady(10)
    state, released, rejected = run([*good[:5], FAR, *good[5:]])
    assert released == good  # every genuine event, in arrival order (the first three once anchored)
    (letter,) = rejected
    assert letter.payload == f'{{"timestamp":{FAR}}}'
    assert "ahead of the stream" in letter.reason and str(FAR) in letter.reason
    assert state.partitions["0"].progress == good[-1] and state.held == ()


def test_a_far_future_first_event_is_outvoted_not_anchored() -> None:
    good = steady(8)
    state, released, rejected = run([FAR, *good])
    assert released == good and state.partitions["0"].progress == good[-1]
    assert [r.payload for r in rejected] == [f'{{"timestamp":{FAR}}}']


def test_two_far_future_first_events_cannot_outvote_three_genuine_ones() -> None:
    good = steady(6)
    _, released, rejected = run([FAR, FAR + 1, *good])
    assert released == good and len(rejected) == 2


def test_a_genuine_jump_of_the_stream_is_followed_after_a_quorum() -> None:
    before = steady(5)
    after = steady(5, start=T0 + 30 * DAY)  # a month without data
    state, released, rejected = run([*before, *after])
    assert released == [*before, *after] and rejected == []
    assert state.partitions["0"].progress == after[-1]


def test_an_event_slightly_early_is_released_once_the_stream_catches_up() -> None:
    state, _, _ = run(steady(3))
    early = T0 + 120 + DAY + 100
    state, released, rejected = run([early, T0 + 200, T0 + 300], state)
    assert released == [T0 + 200, T0 + 300, early] and rejected == []


def test_many_events_all_ahead_move_the_progress_even_when_they_disagree() -> None:
    state, _, _ = run(steady(3))
    spread = [T0 + (i + 2) * 2 * DAY for i in range(CONFIG.cap + 1)]  # each 2 days after the previous
    state, released, rejected = run(spread, state)
    progress = state.partitions["0"].progress
    assert rejected == [] and released and progress is not None and progress > T0 + DAY


def test_timestamps_beyond_the_representable_range_are_rejected_at_once() -> None:
    state, released, rejected = run([*steady(3), CONFIG.max_ts + 1])
    assert released == steady(3) and "beyond the largest event time" in rejected[0].reason
    assert state.held == ()


def test_end_of_input_anchors_a_short_stream_and_rejects_what_is_too_far_ahead() -> None:
    _, released, rejected = run([T0, T0 + 5], end=True)
    assert released == [T0, T0 + 5] and rejected == []
    state, released, rejected = run([T0, T0 + 5, T0 + 7, FAR], end=True)
    assert released == [T0, T0 + 5, T0 + 7] and "input ended" in rejected[0].reason
    assert state.held == ()


def test_a_quorum_of_one_trusts_every_event() -> None:
    config = GuardConfig(ahead=DAY, quorum=1, max_ts=CONFIG.max_ts, cap=4)
    _, released, rejected = run([T0, FAR, T0 + 1], config=config)
    assert released == [T0, FAR, T0 + 1] and rejected == []


def test_releases_carry_the_first_released_time_and_the_watermark_after_them() -> None:
    config = GuardConfig(ahead=DAY, quorum=3, max_ts=CONFIG.max_ts, cap=12, delay=60)
    outputs: list[Any] = []
    state = GuardState()
    for ts in [T0 + 50, T0 + 10, T0 + 30, T0 + 100, T0 + 20]:
        state, out = step(state, arrive(ts), config)
        outputs += out
    stamped = [(o.ts, o.origin, o.watermark) for o in outputs if isinstance(o, Release)]
    assert stamped == [  # the quorum releases oldest first: the grid starts at the oldest of them
        (T0 + 10, T0 + 10, T0 + 10 - 60),
        (T0 + 30, T0 + 10, T0 + 30 - 60),
        (T0 + 50, T0 + 10, T0 + 50 - 60),
        (T0 + 100, T0 + 10, T0 + 100 - 60),
        (T0 + 20, T0 + 10, T0 + 100 - 60),  # out of order: the watermark does not go back
    ]
    assert (state.origin, state.partitions["0"].newest) == (T0 + 10, T0 + 100)


def test_the_watermark_delay_is_in_the_domain_unit() -> None:
    for domain, delay in [(Domain.MARITIME, 60), (Domain.FINANCE, 60_000)]:
        assert GuardConfig.from_settings(Settings(domain=domain, watermark_delay_s=60)).delay == delay


def test_guard_key_is_constant() -> None:
    assert guard_key(object()) == guard_key("x") == "collector"


def test_state_survives_json() -> None:
    state, _, _ = run([FAR, T0, T0 + 1])
    assert state.held and GuardState.model_validate_json(state.model_dump_json()) == state


@pytest.mark.parametrize(("domain", "ahead"), [(Domain.MARITIME, 7200), (Domain.FINANCE, 7_200_000)])
def test_config_converts_the_bound_to_the_domain_unit(domain: Domain, ahead: int) -> None:
    config = GuardConfig.from_settings(Settings(domain=domain, max_event_ahead_s=7200, anchor_quorum=2))
    assert (config.ahead, config.quorum, config.cap) == (ahead, 2, 8)
    assert config.max_ts * (1000 if domain is Domain.MARITIME else 1) <= MAX_EVENT_TIME_MS


# ------------------------------------------------------------------------------- Flink function


class FakeState:
    def __init__(self) -> None:
        self.raw: str | None = None

    def value(self) -> str | None:
        return self.raw

    def update(self, raw: str) -> None:
        self.raw = raw


class FakeRuntime(FakeMetricsRuntime):
    def __init__(self, state: FakeState) -> None:
        super().__init__()
        self.state = state

    def get_state(self, descriptor: Any) -> FakeState:
        return self.state


class FakeTimers:
    def __init__(self) -> None:
        self.event_timers: set[int] = set()

    def current_processing_time(self) -> int:
        return 0

    def register_event_time_timer(self, ms: int) -> None:
        self.event_timers.add(ms)


class FakeCtx:
    def __init__(self, timers: FakeTimers) -> None:
        self.timers = timers

    def timer_service(self) -> FakeTimers:
        return self.timers


def parsed(ts: int) -> ParsedEvent:
    payload = json.dumps({"timestamp": ts, "mmsi": "1", "lon": 0.0, "lat": 0.0})
    return ParsedEvent(ts=ts, record=json.loads(payload), payload=payload)


def test_function_forwards_trusted_events_and_dead_letters_outliers() -> None:
    tag = string_tag("dead")
    function = EventGuardProcess(CONFIG, "input", tag)
    state, timers = FakeState(), FakeTimers()
    runtime = FakeRuntime(state)
    function.open(runtime)  # type: ignore[arg-type]
    out: list[Any] = []
    for ts in [FAR, T0, T0 + 1]:
        out += list(function.process_element(parsed(ts), FakeCtx(timers)))  # type: ignore[arg-type]
    assert out == [] and timers.event_timers == {END_OF_INPUT}  # held until three events agree
    for ts in [T0 + 2, T0 + 3, T0 + 4, T0 + 5]:
        out += list(function.process_element(parsed(ts), FakeCtx(timers)))  # type: ignore[arg-type]
    trusted = [e for e in out if isinstance(e, TrustedEvent)]
    assert [e.ts for e in trusted] == [T0 + i for i in range(6)]
    assert {e.origin for e in trusted} == {T0} and trusted[-1].watermark == T0 + 5  # CONFIG has no delay
    letters = [DeadLetter.model_validate_json(o[1]) for o in out if isinstance(o, tuple) and o[0] is tag]
    assert [(d.source_topic, d.job) for d in letters] == [("input", "collector_job")]
    assert str(FAR) in letters[0].payload and runtime.dead_letters() == 1
    restarted = EventGuardProcess(CONFIG, "input", tag)  # state survives a restart
    restarted.open(FakeRuntime(state))  # type: ignore[arg-type]
    assert GuardState.model_validate_json(state.raw or "").partitions["0"].progress == T0 + 5
    assert list(restarted.on_timer(END_OF_INPUT, FakeCtx(timers))) == []  # type: ignore[arg-type]
