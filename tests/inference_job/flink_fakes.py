"""Minimal stand-ins for the PyFlink runtime objects the job's functions touch (no JVM)."""

from __future__ import annotations

from typing import Any

from metric_fakes import FakeMetricsRuntime


class FakeValueState:
    """ValueState: ``value``/``update``."""

    def __init__(self) -> None:
        self._value: Any = None

    def value(self) -> Any:
        return self._value

    def update(self, value: Any) -> None:
        self._value = value


class FakeRuntimeContext(FakeMetricsRuntime):
    """RuntimeContext handing out one value state per descriptor name (and a metric group)."""

    def __init__(self) -> None:
        super().__init__()
        self.states: dict[str, FakeValueState] = {}

    def get_state(self, descriptor: Any) -> FakeValueState:
        return self.states.setdefault(descriptor.get_name(), FakeValueState())


class FakeTimerContext:
    """Context with a timer service recording event-time timers."""

    def __init__(self) -> None:
        self.event_timers: set[int] = set()

    def timer_service(self) -> FakeTimerContext:
        return self

    def register_event_time_timer(self, ts: int) -> None:
        self.event_timers.add(ts)
