"""The Flink wrapper with fake state and timers (no JVM): state round trip, routing, timers, key selectors."""

from __future__ import annotations

from typing import Any

from controller_fakes import CHEAP, FakeFactory, instruction
from metric_fakes import FakeMetricsRuntime

from controller_job.controller_process import ControllerProcess, instruction_key, report_key
from controller_job.state import ControllerState, Phase
from flink_common.io import string_tag
from protocol.codec import decode, encode
from protocol.messages import CommandType, DeadLetter, EngineSync, FactoryCommand, InstructionType, SyncType

COMMANDS, SYNCS, DEAD = string_tag("factory_commands"), string_tag("enginesync"), string_tag("dead_letters")


class FakeValueState:
    def __init__(self) -> None:
        self.stored: str | None = None

    def value(self) -> str | None:
        return self.stored

    def update(self, value: str) -> None:
        self.stored = value


class FakeTimers:
    def __init__(self, now: int) -> None:
        self.now = now
        self.registered: list[int] = []
        self.deleted: list[int] = []

    def current_processing_time(self) -> int:
        return self.now

    def register_processing_time_timer(self, at: int) -> None:
        self.registered.append(at)

    def delete_processing_time_timer(self, at: int) -> None:
        self.deleted.append(at)


class FakeContext:
    def __init__(self, timers: FakeTimers, key: str = "default") -> None:
        self.timers = timers
        self.key = key

    def timer_service(self) -> FakeTimers:
        return self.timers

    def get_current_key(self) -> str:
        return self.key


class FakeRuntime(FakeMetricsRuntime):
    def __init__(self, state: FakeValueState) -> None:
        super().__init__()
        self.state = state

    def get_state(self, descriptor: Any) -> FakeValueState:
        return self.state


def routed(results: list[Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"factory_commands": [], "enginesync": [], "dead_letters": [], "main": []}
    for item in results:
        if isinstance(item, tuple):
            out[item[0].tag_id].append(item[1])
        else:
            out["main"].append(item)
    return out


def test_wrapper_persists_state_routes_outputs_and_manages_timers() -> None:
    state, timers = FakeValueState(), FakeTimers(now=5_000)
    process = ControllerProcess(CHEAP, COMMANDS, SYNCS, DEAD)
    runtime = FakeRuntime(state)
    process.open(runtime)

    out = routed(
        list(
            process.process_element1(encode(instruction("r1", InstructionType.RETRAIN)), FakeContext(timers))
        )
    )
    (train,) = [decode(FactoryCommand, c) for c in out["factory_commands"]]
    assert train.type is CommandType.TRAIN and out["main"] == []
    assert [decode(EngineSync, s).type for s in out["enginesync"]] == [SyncType.PAUSE]
    assert timers.registered == [6_000]
    assert ControllerState.from_json(state.stored).phase is Phase.RETRAINING

    fired = routed(list(process.on_timer(6_000, FakeContext(timers))))  # no report: retry the same command
    assert [decode(FactoryCommand, c) for c in fired["factory_commands"]] == [train]
    assert timers.registered == [6_000, 7_000]

    report = FakeFactory().reply(train)
    out = routed(list(process.process_element2(encode(report), FakeContext(timers))))
    assert [decode(EngineSync, s).model_id for s in out["enginesync"]] == ["wayeb_0"]
    assert timers.deleted == [7_000]
    assert ControllerState.from_json(state.stored).phase is Phase.IDLE

    out = routed(list(process.process_element2("{broken", FakeContext(timers))))
    assert decode(DeadLetter, out["dead_letters"][0]).source_topic == "factory_reports"
    assert runtime.dead_letters() == 1


def test_unreadable_state_starts_afresh_instead_of_crash_looping() -> None:
    state = FakeValueState()
    state.stored = '{"phase": "no-such-phase"}'
    process = ControllerProcess(CHEAP, COMMANDS, SYNCS, DEAD)
    process.open(FakeRuntime(state))
    out = routed(list(process.process_element1(encode(instruction("o1")), FakeContext(FakeTimers(0)))))
    assert len(out["factory_commands"]) == 2
    assert ControllerState.from_json(state.stored).session_counter == 1


def test_key_selectors() -> None:
    assert instruction_key(encode(instruction("x").model_copy(update={"model_id": "fish"}))) == "fish"
    report = FakeFactory().reply(
        FactoryCommand(id="fish#3.0", type=CommandType.TRAIN, timestamp=0, session_id="fish#3")
    )
    assert report_key(encode(report)) == "fish"


def test_open_imports_the_optimiser_library_up_front(monkeypatch) -> None:
    """The first OPTIMIZE must not pay the 1-2 s scikit-optimize import before its first command."""
    import controller_job.controller_process as module

    calls: list[bool] = []
    monkeypatch.setattr(module, "preload", lambda: calls.append(True))
    ControllerProcess(CHEAP, COMMANDS, SYNCS, DEAD).open(FakeRuntime(FakeValueState()))
    assert calls == [True]
