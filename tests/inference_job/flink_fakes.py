"""Minimal stand-ins for the PyFlink runtime objects the job's functions touch (no JVM)."""

from __future__ import annotations

import pickle
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


class FakeListState:
    """ListState of one key: ``add``/``get``/``clear``, elements kept pickled as a state backend keeps them.

    ``written`` counts the bytes pickled into the state and ``appends`` the elements added: what holding
    an event costs, measured without a clock.
    """

    def __init__(self) -> None:
        self.elements: list[bytes] = []
        self.written = 0
        self.appends = 0

    def add(self, value: Any) -> None:
        raw = pickle.dumps(value)
        self.written += len(raw)
        self.appends += 1
        self.elements.append(raw)

    def get(self) -> list[Any]:
        return [pickle.loads(raw) for raw in self.elements]

    def clear(self) -> None:
        self.elements = []


class FakeRuntimeContext(FakeMetricsRuntime):
    """RuntimeContext handing out one value state per descriptor name (and a metric group)."""

    def __init__(self) -> None:
        super().__init__()
        self.states: dict[str, FakeValueState] = {}

    def get_state(self, descriptor: Any) -> FakeValueState:
        return self.states.setdefault(descriptor.get_name(), FakeValueState())


class FakeTimerService:
    """Context and timer service in one: a settable processing-time clock, the registered timers and the
    time domain of the timer being fired."""

    def __init__(self, now: int = 1_000) -> None:
        self.now = now
        self.event: set[int] = set()
        self.processing: set[int] = set()
        self.domain: Any = None

    def timer_service(self) -> FakeTimerService:
        return self

    def current_processing_time(self) -> int:
        return self.now

    def register_event_time_timer(self, ts: int) -> None:
        self.event.add(ts)

    def register_processing_time_timer(self, ts: int) -> None:
        self.processing.add(ts)

    def time_domain(self) -> Any:
        return self.domain
