"""The Flink function with fake runtime objects (no JVM): decoding, routing, state round trip, timers."""

from __future__ import annotations

import json

from factory_fakes import FakeTools, command, dataset
from metric_fakes import FakeMetricsRuntime

from factory_job.factory_process import FACTORY_KEY, FactoryProcess, factory_key
from factory_job.main import ASSEMBLY_TAG, DEAD_LETTER_TAG
from flink_common.io import string_tag
from protocol.codec import encode
from protocol.messages import CommandType

T = CommandType


class FakeValueState:
    def __init__(self) -> None:
        self.raw: str | None = None

    def value(self) -> str | None:
        return self.raw

    def update(self, raw: str) -> None:
        self.raw = raw


class FakeRuntime(FakeMetricsRuntime):
    def __init__(self, state: FakeValueState) -> None:
        super().__init__()
        self.state = state

    def get_state(self, descriptor) -> FakeValueState:
        return self.state


class FakeTimers:
    def __init__(self) -> None:
        self.processing: list[int] = []

    def register_processing_time_timer(self, ms: int) -> None:
        self.processing.append(ms)


class FakeContext:
    def __init__(self, timers: FakeTimers) -> None:
        self._timers = timers

    def timer_service(self) -> FakeTimers:
        return self._timers


def make(settings, tools: FakeTools | None = None):
    tools = tools or FakeTools()
    state = FakeValueState()
    fn = FactoryProcess(settings, string_tag(ASSEMBLY_TAG), string_tag(DEAD_LETTER_TAG), lambda _s: tools)
    fn.open(FakeRuntime(state))
    return fn, state, FakeContext(FakeTimers()), tools


def dead_letter_count(fn: FactoryProcess) -> int:
    return fn._dead_letters._counter.count


def split(outputs):
    main, side = [], {}
    for out in outputs:
        if isinstance(out, tuple):
            side.setdefault(out[0].tag_id, []).append(json.loads(out[1]))
        else:
            main.append(json.loads(out))
    return main, side


def test_key_selector_is_constant():
    assert factory_key("anything") == factory_key(None) == FACTORY_KEY


def test_bad_payloads_become_dead_letters(settings):
    fn, state, ctx, _ = make(settings)
    main, side = split([*fn.process_element1("{not json", ctx), *fn.process_element2('{"version": -1}', ctx)])
    assert main == [] and state.raw is None
    letters = side[DEAD_LETTER_TAG]
    assert [d["source_topic"] for d in letters] == [settings.command_topic, settings.datasets_topic]
    assert letters[0]["job"] == "factory_job" and letters[0]["payload"] == "{not json"
    assert "DatasetVersion" in letters[1]["reason"]
    assert dead_letter_count(fn) == 2


def test_routes_reports_and_acks_and_keeps_state_between_calls(settings):
    fn, state, ctx, tools = make(settings)
    main, side = split(fn.process_element2(encode(dataset(0)), ctx))
    assert main == [] and [a["version"] for a in side[ASSEMBLY_TAG]] == [0]
    main, side = split(fn.process_element1(encode(command("c1", T.TRAIN)), ctx))
    assert [(r["reply_id"], r["status"]) for r in main] == [("c1", "success")] and side == {}
    assert json.loads(state.raw)["model_counter"] == 1
    # A fresh function instance (a restart) on the same state answers the duplicate without training.
    fn2, _, _, _ = make(settings, tools)
    fn2._state = state
    main, _ = split(fn2.process_element1(encode(command("c1", T.TRAIN)), ctx))
    assert main[0]["reply_id"] == "c1" and len(tools.trained) == 1


def test_buffered_command_arms_a_timer_that_expires_it(settings):
    fn, state, ctx, tools = make(settings)
    assert list(fn.process_element1(encode(command("c1", T.TRAIN)), ctx)) == []
    [deadline_ms] = ctx.timer_service().processing
    main, _ = split(fn.on_timer(deadline_ms, ctx))
    assert main[0]["reply_id"] == "c1" and main[0]["status"] == "error"
    assert json.loads(state.raw)["pending"] == []
