"""The collector's Flink function: load state, call :func:`step`, carry out its effects, store, emit.

Keyed by one constant key (:func:`collector_key`), so a single logical collector owns the bucket directory
and keyed state and event-time timers are available. Its whole state is one JSON ``ValueState`` holding a
:class:`CollectorState`; Flink checkpoints it together with the source offsets.

On the first element (or timer) after a start or a restore, the function reconciles the directory with
the state before doing anything else (:func:`collector_state.plan_reconcile`): files are truncated back
to the committed row counts, post-checkpoint files are moved aside, post-checkpoint deletions undone.

Metrics (:mod:`collector_job.metrics`): events written, ACKs, buckets closed, deleted and purged, datasets
published; open and closed buckets, unacknowledged versions, bucket files and bytes on disk.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from pyflink.common import Types
from pyflink.datastream import OutputTag
from pyflink.datastream.functions import KeyedCoProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from collector_job import bucket_files
from collector_job.bucket_files import BucketWriter
from collector_job.buckets import timer_ms, watermark_from_ms
from collector_job.collector_state import (
    JOB_NAME,
    AckIn,
    AppendRow,
    CloseBucket,
    CollectorConfig,
    CollectorState,
    DeadLetterOut,
    DeleteBucket,
    EmitDataset,
    EventIn,
    Message,
    Output,
    PurgeBucket,
    ScheduleClose,
    WatermarkIn,
    adopt_rows,
    plan_reconcile,
    step,
)
from collector_job.metrics import CollectorMetrics
from collector_job.parse_acks import ParsedAck
from collector_job.parse_events import ParsedEvent
from flink_common.dead_letters import DeadLetterCounter
from protocol.codec import dead_letter, encode

LOG = logging.getLogger(__name__)

COLLECTOR_KEY = "collector"


def collector_key(value: Any) -> str:
    """Key selector for both inputs: every record goes to the one logical collector."""
    return COLLECTOR_KEY


def apply_effects(
    outputs: Iterable[Output], writer: BucketWriter, timers: Any, config: CollectorConfig
) -> list[tuple[bool, str]]:
    """Carry out ``outputs`` in order; returns the messages to emit as ``(is_dead_letter, json)``.

    ``timers`` is anything with ``register_event_time_timer(ms)`` (Flink's timer service, or a fake).
    """
    emitted: list[tuple[bool, str]] = []
    for output in outputs:
        if isinstance(output, AppendRow):
            writer.append(output.path, output.columns, output.record)
        elif isinstance(output, ScheduleClose):
            timers.register_event_time_timer(output.timer_ms)
        elif isinstance(output, CloseBucket):
            writer.close(output.path)
        elif isinstance(output, EmitDataset):
            bucket_files.write_version_floor(config.buckets_dir, output.dataset.version + 1)
            emitted.append((False, encode(output.dataset)))
        elif isinstance(output, DeleteBucket):
            writer.trash(output.path)
        elif isinstance(output, PurgeBucket):
            writer.purge(output.path)
        elif isinstance(output, DeadLetterOut):
            letter = dead_letter(
                source_topic=output.source_topic, job=JOB_NAME, reason=output.reason, payload=output.payload
            )
            emitted.append((True, encode(letter)))
    return emitted


def reconcile(state: CollectorState | None, config: CollectorConfig) -> tuple[CollectorState, list[str]]:
    """Make the bucket directory match ``state`` (``None`` = started without checkpoint).

    Without state nothing is committed: every bucket file goes to the trash (the source replays from the
    start) and the version counter resumes from the floor file, so version numbers are never reused. With
    or without state, the floor file also bounds the versions ever published, which ACKs are checked
    against.
    (A restore from a checkpoint taken before the first record also has no state, and is handled the
    same way: its versions are renumbered, which the factory sees as new versions.)
    """
    fresh = state is None
    floor = bucket_files.read_version_floor(config.buckets_dir)
    if state is None:
        state = CollectorState(next_version=floor, published=floor)
    else:  # versions handed out after the checkpoint were published: their replayed ACKs are genuine
        state = state.model_copy(update={"published": max(state.published, state.next_version, floor)})
    files = bucket_files.scan(config.buckets_dir, config.prefix, config.part)
    actions, problems = plan_reconcile(state, files, config, fresh=fresh)
    rows = bucket_files.execute(actions)
    state, shortfalls = adopt_rows(state, rows)
    return state, problems + shortfalls


class CollectorProcess(KeyedCoProcessFunction):
    """Input 1: :class:`ParsedEvent`; input 2: :class:`ParsedAck`; output: encoded DatasetVersion JSON.

    Dead letters (late events, stale ACKs) go to ``dead_tag``.
    """

    def __init__(self, config: CollectorConfig, dead_tag: OutputTag, *, fsync_rows: int = 1000) -> None:
        self._config = config
        self._dead_tag = dead_tag
        self._fsync_rows = fsync_rows
        self._state: Any = None
        self._writer: BucketWriter | None = None
        self._reconciled = False
        self._cache: tuple[str, CollectorState] | None = None
        self._dead_letters = DeadLetterCounter()
        self._metrics = CollectorMetrics()

    def open(self, runtime_context: RuntimeContext) -> None:
        self._dead_letters.bind(runtime_context)
        self._metrics.bind(runtime_context)
        self._state = runtime_context.get_state(ValueStateDescriptor("collector-state", Types.STRING()))
        self._writer = BucketWriter(self._config.buckets_dir, fsync_rows=self._fsync_rows)
        self._reconciled = False
        self._cache = None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close_all()

    def process_element1(self, value: ParsedEvent, ctx: KeyedCoProcessFunction.Context) -> Iterator[Any]:
        timers = ctx.timer_service()
        message = EventIn(
            ts=value.ts,
            record=value.record,
            payload=value.payload,
            now_ms=timers.current_processing_time(),
            watermark=watermark_from_ms(self._config.scheme, timers.current_watermark()),
        )
        yield from self._run(message, timers)

    def process_element2(self, value: ParsedAck, ctx: KeyedCoProcessFunction.Context) -> Iterator[Any]:
        timers = ctx.timer_service()
        message = AckIn(ack=value.ack, payload=value.payload, now_ms=timers.current_processing_time())
        yield from self._run(message, timers)

    def on_timer(self, timestamp: int, ctx: KeyedCoProcessFunction.OnTimerContext) -> Iterator[Any]:
        timers = ctx.timer_service()
        watermark = watermark_from_ms(self._config.scheme, timestamp)
        if watermark is None:
            return
        yield from self._run(
            WatermarkIn(watermark=watermark, now_ms=timers.current_processing_time()), timers
        )

    # ------------------------------------------------------------------------------------------------

    def _run(self, message: Message, timers: Any) -> Iterator[Any]:
        assert self._writer is not None, "open() was not called"
        state = self._load(timers)
        state, outputs = step(state, message, self._config)
        emitted = apply_effects(outputs, self._writer, timers, self._config)
        self._store(state)
        self._metrics.on_step(message, state, outputs, self._config)
        self._dead_letters.inc(sum(1 for is_dead, _ in emitted if is_dead))
        for is_dead, text in emitted:
            yield (self._dead_tag, text) if is_dead else text

    def _load(self, timers: Any) -> CollectorState:
        raw = self._state.value()
        if self._cache is not None and self._cache[0] == raw:
            return self._cache[1]
        state = None if raw is None else CollectorState.model_validate_json(raw)
        if not self._reconciled:
            state, problems = reconcile(state, self._config)
            for problem in problems:
                LOG.error("collector restore: %s", problem)
            for bucket in state.open:  # timers are checkpointed too; re-registering is idempotent
                timers.register_event_time_timer(timer_ms(self._config.scheme, bucket.start))
            self._reconciled = True
            self._store(state)
        assert state is not None
        return state

    def _store(self, state: CollectorState) -> None:
        raw = state.model_dump_json()
        self._state.update(raw)
        self._cache = (raw, state)
