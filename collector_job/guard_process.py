"""The event guard's Flink function: load state, call :func:`event_guard.step`, store, emit.

Keyed by one constant key (:func:`guard_key`) at parallelism 1: one logical guard sees the whole stream in
order, and is placed before the event watermarks, so only trusted events move event time. What it releases
is a :class:`TrustedEvent`: the event, the bucket-grid origin and the stream's watermark right after it.
Its state is one JSON ``ValueState`` holding a :class:`~collector_job.event_guard.GuardState`,
checkpointed with the source offsets: held events survive a restart. While events are held, an event-time
timer at :data:`~flink_common.timers.END_OF_INPUT` (reached only by the final watermark of a bounded input)
decides on them when the input ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pyflink.common import Types
from pyflink.datastream import OutputTag
from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from collector_job.event_guard import Arrive, EndOfInput, GuardConfig, GuardState, Release, resumed, step
from collector_job.parse_events import JOB_NAME, ParsedEvent
from flink_common.dead_letters import DeadLetterCounter
from flink_common.timers import END_OF_INPUT
from protocol.codec import dead_letter, encode

__all__ = ["GUARD_KEY", "EventGuardProcess", "TrustedEvent", "guard_key"]

GUARD_KEY = "collector"


def guard_key(value: Any) -> str:
    """Key selector of the guard's input: every event goes to the one logical guard."""
    return GUARD_KEY


@dataclass(frozen=True)
class TrustedEvent:
    """An event the guard lets through: its timestamp (stream units), attributes and raw payload, the
    origin of the bucket grid, and the watermark right after it (exclusive bound, stream units)."""

    ts: int
    record: dict[str, Any]
    payload: str
    origin: int
    watermark: int


class EventGuardProcess(KeyedProcessFunction):
    """:class:`ParsedEvent` in, :class:`TrustedEvent` out; outliers -> dead letters on ``dead_tag``."""

    def __init__(self, config: GuardConfig, source_topic: str, dead_tag: OutputTag) -> None:
        self._config = config
        self._source_topic = source_topic
        self._dead_tag = dead_tag
        self._state: Any = None
        self._cache: tuple[str, GuardState] | None = None
        self._dead_letters = DeadLetterCounter()
        self._opened = True

    def open(self, runtime_context: RuntimeContext) -> None:
        self._dead_letters.bind(runtime_context)
        self._state = runtime_context.get_state(ValueStateDescriptor("collector-event-guard", Types.STRING()))
        self._cache = None
        self._opened = True

    def process_element(self, value: ParsedEvent, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        now = ctx.timer_service().current_processing_time()
        state = self._load()
        if self._opened:  # first record since the task (re)started: a restored state's partitions count
            state, self._opened = resumed(state, now), False
        arrive = Arrive(value.ts, value.record, value.payload, partition=value.partition, now_ms=now)
        state, outputs = step(state, arrive, self._config)
        if state.held:
            ctx.timer_service().register_event_time_timer(END_OF_INPUT)
        yield from self._finish(state, outputs)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Any]:
        state, outputs = step(self._load(), EndOfInput(), self._config)
        yield from self._finish(state, outputs)

    def _finish(self, state: GuardState, outputs: list[Any]) -> Iterator[Any]:
        self._store(state)
        for output in outputs:
            if isinstance(output, Release):
                assert output.origin is not None and output.watermark is not None, "step stamps releases"
                yield TrustedEvent(output.ts, output.record, output.payload, output.origin, output.watermark)
            else:
                self._dead_letters.inc()
                letter = dead_letter(
                    source_topic=self._source_topic,
                    job=JOB_NAME,
                    reason=output.reason,
                    payload=output.payload,
                )
                yield self._dead_tag, encode(letter)

    def _load(self) -> GuardState:
        raw = self._state.value()
        if self._cache is not None and self._cache[0] == raw:
            return self._cache[1]
        return GuardState() if raw is None else GuardState.model_validate_json(raw)

    def _store(self, state: GuardState) -> None:
        raw = state.model_dump_json()
        self._state.update(raw)
        self._cache = (raw, state)
