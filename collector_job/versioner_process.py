"""The dataset versioner's Flink function: load state, call :func:`versioner_state.step`, carry out its
effects, store, emit dataset versions.

Keyed by one constant key (:func:`versioner_key`) at parallelism 1: one logical versioner numbers the
versions, owns the closed buckets and the version floor file, and takes every ACK. Its whole state is one
JSON ``ValueState`` holding a :class:`~collector_job.versioner_state.VersionerState`; Flink checkpoints it
together with the source offsets.

On the first element (or timer) after a start or a restore, the function reconciles the closed buckets'
files with the state before doing anything else (:func:`versioner_restore.plan_reconcile`): deletions made
after the checkpoint are undone; without any state, bucket files of another layout go to the trash.

Metrics (:mod:`collector_job.metrics`): ACKs, buckets closed, deleted and purged, datasets published;
closed buckets, unacknowledged versions, bucket files and bytes on disk.
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
from collector_job.metrics import VersionerMetrics
from collector_job.parse_acks import ParsedAck
from collector_job.parse_events import JOB_NAME
from collector_job.versioner_restore import adopt_rows, plan_reconcile
from collector_job.versioner_state import (
    AckIn,
    DeadLetterOut,
    DeleteBucket,
    EmitDataset,
    Message,
    Output,
    PartIn,
    Problem,
    PurgeBucket,
    ScheduleClose,
    StartIn,
    VersionerConfig,
    VersionerState,
    WatermarkIn,
    step,
)
from collector_job.writer_state import ClosedPart, PartStarted
from flink_common.dead_letters import DeadLetterCounter
from protocol.codec import dead_letter, encode

__all__ = ["VersionerProcess", "apply_effects", "reconcile", "versioner_key"]

LOG = logging.getLogger(__name__)

VERSIONER_KEY = "collector"


def versioner_key(value: Any) -> str:
    """Key selector for both inputs: every closed part and ACK goes to the one logical versioner."""
    return VERSIONER_KEY


def apply_effects(
    outputs: Iterable[Output], files: BucketWriter, timers: Any, config: VersionerConfig
) -> list[tuple[bool, str]]:
    """Carry out ``outputs`` in order; returns the messages to emit as ``(is_dead_letter, json)``.

    ``timers`` is anything with ``register_event_time_timer(ms)`` (Flink's timer service, or a fake).
    """
    emitted: list[tuple[bool, str]] = []
    for output in outputs:
        if isinstance(output, ScheduleClose):
            timers.register_event_time_timer(output.timer_ms)
        elif isinstance(output, EmitDataset):
            bucket_files.write_version_floor(config.buckets_dir, output.dataset.version + 1)
            emitted.append((False, encode(output.dataset)))
        elif isinstance(output, DeleteBucket):
            for path in output.paths:
                files.trash(path)
        elif isinstance(output, PurgeBucket):
            for path in output.paths:
                files.purge(path)
        elif isinstance(output, Problem):
            LOG.error("collector versioner: %s", output.text)
        elif isinstance(output, DeadLetterOut):
            letter = dead_letter(
                source_topic=output.source_topic, job=JOB_NAME, reason=output.reason, payload=output.payload
            )
            emitted.append((True, encode(letter)))
    return emitted


def reconcile(state: VersionerState | None, config: VersionerConfig) -> tuple[VersionerState, list[str]]:
    """Make the closed buckets' files match ``state`` (``None`` = started without checkpoint).

    Without state the version counter resumes from the floor file, so version numbers are never reused.
    With or without state, the floor file also bounds the versions ever published, which ACKs are checked
    against. (A restore from a checkpoint taken before the first closed part also has no state, and is
    handled the same way: its versions are renumbered, which the factory sees as new versions.)
    """
    fresh = state is None
    floor = bucket_files.read_version_floor(config.buckets_dir)
    if state is None:
        state = VersionerState(next_version=floor, published=floor)
    else:  # versions handed out after the checkpoint were published: their replayed ACKs are genuine
        state = state.model_copy(update={"published": max(state.published, state.next_version, floor)})
    files = bucket_files.scan_all(config.buckets_dir, config.prefix)
    actions, problems = plan_reconcile(state, files, config, fresh=fresh)
    rows = bucket_files.execute(actions)
    state, shortfalls = adopt_rows(state, rows, config)
    return state, problems + shortfalls


class VersionerProcess(KeyedCoProcessFunction):
    """Input 1: :class:`ClosedPart` (and :class:`PartStarted`); input 2: :class:`ParsedAck`; output: encoded
    DatasetVersion JSON.

    Dead letters (stale or impossible ACKs) go to ``dead_tag``.
    """

    def __init__(self, config: VersionerConfig, dead_tag: OutputTag) -> None:
        self._config = config
        self._dead_tag = dead_tag
        self._state: Any = None
        self._files: BucketWriter | None = None
        self._reconciled = False
        self._cache: tuple[str, VersionerState] | None = None
        self._dead_letters = DeadLetterCounter()
        self._metrics = VersionerMetrics()

    def open(self, runtime_context: RuntimeContext) -> None:
        self._dead_letters.bind(runtime_context)
        self._metrics.bind(runtime_context)
        self._state = runtime_context.get_state(ValueStateDescriptor("collector-versioner", Types.STRING()))
        self._files = BucketWriter(self._config.buckets_dir)
        self._reconciled = False
        self._cache = None

    def process_element1(
        self, value: ClosedPart | PartStarted, ctx: KeyedCoProcessFunction.Context
    ) -> Iterator[Any]:
        timers = ctx.timer_service()
        now = timers.current_processing_time()
        message = PartIn(value, now) if isinstance(value, ClosedPart) else StartIn(value, now)
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
        assert self._files is not None, "open() was not called"
        state = self._load(timers)
        state, outputs = step(state, message, self._config)
        emitted = apply_effects(outputs, self._files, timers, self._config)
        self._store(state)
        self._metrics.on_step(message, state, outputs, self._config)
        self._dead_letters.inc(sum(1 for is_dead, _ in emitted if is_dead))
        for is_dead, text in emitted:
            yield (self._dead_tag, text) if is_dead else text

    def _load(self, timers: Any) -> VersionerState:
        raw = self._state.value()
        if self._cache is not None and self._cache[0] == raw:
            return self._cache[1]
        state = None if raw is None else VersionerState.model_validate_json(raw)
        if not self._reconciled:
            state, problems = reconcile(state, self._config)
            for problem in problems:
                LOG.error("collector restore: %s", problem)
            for bucket in state.closing:  # timers are checkpointed too; re-registering is idempotent
                timers.register_event_time_timer(timer_ms(self._config.scheme, bucket.start))
            self._reconciled = True
            self._store(state)
        assert state is not None
        return state

    def _store(self, state: VersionerState) -> None:
        raw = state.model_dump_json()
        self._state.update(raw)
        self._cache = (raw, state)
