"""The bucket writer's Flink function: load a part's state, call :func:`writer_state.step`, carry out its
effects, store, emit the closed parts.

Keyed by part through its routing key (:mod:`collector_job.parts`, :class:`PartKey`), so each part has its
own JSON ``ValueState`` holding a :class:`~collector_job.writer_state.WriterState` and its own bucket-end
timers; a subtask usually runs one part (several when ``COLLECTOR_PARTS`` exceeds the parallelism).

On the first element (or timer) of a part after a start or a restore, the function reconciles that part's
files with its state before doing anything else (:func:`writer_state.plan_reconcile`).

A part that starts without state first emits a :class:`~collector_job.writer_state.PartStarted`, so that
the versioner holds state in every checkpoint that covers a row. A bucket-end timer closes the part's file
(fsync, close) and emits a :class:`~collector_job.writer_state.ClosedPart` stamped with the timer's time.
Flink forwards the watermark that fired the timer only after the timer's output, which is what lets the
versioner know that every part of a bucket has arrived once its own watermark passes the bucket's end.

Metrics (:mod:`collector_job.metrics`): events written, part files closed, open part files, dead letters.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from pyflink.common import Types
from pyflink.datastream import OutputTag
from pyflink.datastream.functions import KeyedProcessFunction, KeySelector, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from collector_job import bucket_files
from collector_job.bucket_files import BucketWriter
from collector_job.buckets import timer_ms, watermark_from_ms
from collector_job.guard_process import TrustedEvent
from collector_job.metrics import WriterMetrics
from collector_job.parse_events import JOB_NAME
from collector_job.parts import part_ids, part_of, routing_keys
from collector_job.writer_state import (
    AppendRow,
    ClosedPart,
    ClosePart,
    DeadLetterOut,
    EventIn,
    Message,
    Output,
    PartStarted,
    ScheduleClose,
    WatermarkIn,
    WriterConfig,
    WriterState,
    adopt_rows,
    plan_reconcile,
    step,
)
from flink_common.dead_letters import DeadLetterCounter
from protocol.codec import dead_letter, encode

__all__ = ["PartKey", "WriterProcess", "apply_effects", "reconcile"]

LOG = logging.getLogger(__name__)


class PartKey(KeySelector):
    """Key selector of the writer's input: the routing key of the event's part (an INT key)."""

    def __init__(self, parts: int, key_field: str) -> None:
        self._parts = parts
        self._key_field = key_field
        self._routes = routing_keys(parts)

    def get_key(self, value: TrustedEvent) -> int:
        part = part_of(str(value.record.get(self._key_field, "")), self._parts)
        return self._routes[0 if part is None else part]


def apply_effects(
    outputs: Iterable[Output], writer: BucketWriter, timers: Any, config: WriterConfig
) -> list[ClosedPart | str]:
    """Carry out ``outputs`` in order; returns what to emit: closed parts, and dead letters as JSON.

    ``timers`` is anything with ``register_event_time_timer(ms)`` (Flink's timer service, or a fake).
    """
    emitted: list[ClosedPart | str] = []
    for output in outputs:
        if isinstance(output, AppendRow):
            writer.append(output.path, output.columns, output.record)
        elif isinstance(output, ScheduleClose):
            timers.register_event_time_timer(output.timer_ms)
        elif isinstance(output, ClosePart):
            writer.close(output.path)
            emitted.append(output.closed)
        elif isinstance(output, DeadLetterOut):
            letter = dead_letter(
                source_topic=output.source_topic, job=JOB_NAME, reason=output.reason, payload=output.payload
            )
            emitted.append(encode(letter))
    return emitted


def reconcile(state: WriterState | None, config: WriterConfig) -> tuple[WriterState, list[str]]:
    """Make this part's files match ``state`` (``None`` = started without checkpoint)."""
    fresh = state is None
    state = state or WriterState()
    files = bucket_files.scan(config.buckets_dir, config.prefix, config.part)
    actions, problems = plan_reconcile(state, files, config, fresh=fresh)
    rows = bucket_files.execute(actions)
    state, shortfalls = adopt_rows(state, rows, config)
    return state, problems + shortfalls


class WriterProcess(KeyedProcessFunction):
    """Input: :class:`TrustedEvent` keyed by :class:`PartKey`; output: :class:`ClosedPart` and
    :class:`PartStarted` records.

    Dead letters (late events, attributes left out of a file's header) go to ``dead_tag``.
    """

    def __init__(
        self, config: WriterConfig, parts: int, dead_tag: OutputTag, *, fsync_rows: int = 1000
    ) -> None:
        self._config = config
        self._parts = parts
        self._dead_tag = dead_tag
        self._fsync_rows = fsync_rows
        self._state: Any = None
        self._writer: BucketWriter | None = None
        self._part_by_route: dict[int, int | None] = {}
        self._reconciled: set[int | None] = set()
        self._cache: dict[int | None, tuple[str, WriterState]] = {}
        self._open_files: dict[int | None, int] = {}
        self._dead_letters = DeadLetterCounter()
        self._metrics = WriterMetrics()

    def open(self, runtime_context: RuntimeContext) -> None:
        self._dead_letters.bind(runtime_context)
        self._metrics.bind(runtime_context)
        self._state = runtime_context.get_state(ValueStateDescriptor("collector-writer", Types.STRING()))
        self._writer = BucketWriter(self._config.buckets_dir, fsync_rows=self._fsync_rows)
        self._part_by_route = dict(zip(routing_keys(self._parts), part_ids(self._parts), strict=True))
        self._reconciled = set()
        self._cache = {}
        self._open_files = {}

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close_all()

    def process_element(self, value: TrustedEvent, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        message = EventIn(
            ts=value.ts,
            record=value.record,
            payload=value.payload,
            origin=value.origin,
            watermark=value.watermark,
        )
        yield from self._run(message, ctx.get_current_key(), ctx.timer_service())

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Any]:
        watermark = watermark_from_ms(self._config.scheme, timestamp)
        if watermark is None:
            return
        yield from self._run(WatermarkIn(watermark=watermark), ctx.get_current_key(), ctx.timer_service())

    # ------------------------------------------------------------------------------------------------

    def _run(self, message: Message, route: int, timers: Any) -> Iterator[Any]:
        assert self._writer is not None, "open() was not called"
        part = self._part_by_route[route]
        config = self._config.for_part(part)
        state, fresh = self._load(part, config, timers)
        if fresh:
            yield PartStarted(part)
        state, outputs = step(state, message, config)
        emitted = apply_effects(outputs, self._writer, timers, config)
        self._store(part, state)
        self._open_files[part] = len(state.open)
        self._metrics.on_step(outputs, sum(self._open_files.values()))
        for item in emitted:
            if isinstance(item, str):
                self._dead_letters.inc()
                yield self._dead_tag, item
            else:
                yield item

    def _load(self, part: int | None, config: WriterConfig, timers: Any) -> tuple[WriterState, bool]:
        """The part's state (reconciled once after a start), and whether it started without state."""
        raw = self._state.value()
        cached = self._cache.get(part)
        if cached is not None and cached[0] == raw:
            return cached[1], False
        fresh = raw is None
        state = None if raw is None else WriterState.model_validate_json(raw)
        if part not in self._reconciled:
            state, problems = reconcile(state, config)
            for problem in problems:
                LOG.error("collector restore, part %s: %s", part, problem)
            for bucket in state.open:  # timers are checkpointed too; re-registering is idempotent
                timers.register_event_time_timer(timer_ms(config.scheme, bucket.start))
            self._reconciled.add(part)
            self._store(part, state)
        assert state is not None
        return state, fresh

    def _store(self, part: int | None, state: WriterState) -> None:
        raw = state.model_dump_json()
        self._state.update(raw)
        self._cache[part] = (raw, state)
