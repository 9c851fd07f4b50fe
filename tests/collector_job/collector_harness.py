"""The collector's Flink functions with fake state and timers, wired as the job wires them.

The harness plays Flink's part: the guard's step (quorum 1: every event passes, stamped with the origin and
the watermark), the writers keyed by part on ``parallelism`` subtasks (placed as Flink places their routing
keys), the versioner, keyed ValueStates, event-time timers, and the watermark of a bounded-out-of-orderness
strategy advanced after each event. On a watermark every writer subtask fires its due timers, their closed
parts reach the versioner, and then the versioner fires its own: the order Flink keeps (a timer's output
before the watermark that fired it).

A :class:`Checkpoint` copies every state and timer between two records; a "crash" throws the functions
away; a restore builds new functions on the copies and replays the input from the checkpointed position.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metric_fakes import FakeMetricsRuntime

from collector_job.buckets import MAX_EVENT_TIME_MS, ms_per_unit
from collector_job.event_guard import Arrive, EndOfInput, GuardConfig, GuardState, Release
from collector_job.event_guard import step as guard_step
from collector_job.guard_process import TrustedEvent
from collector_job.parse_acks import ParsedAck
from collector_job.parse_events import parse_event
from collector_job.parts import WRITER_MAX_PARALLELISM, subtask_of
from collector_job.versioner_process import VersionerProcess
from collector_job.versioner_state import VersionerConfig
from collector_job.writer_process import PartKey, WriterProcess
from collector_job.writer_state import ClosedPart, PartStarted, WriterConfig
from flink_common.io import string_tag
from protocol.codec import encode
from protocol.messages import AssemblyAck, DatasetVersion, DeadLetter
from protocol.settings import BucketAlignment, Settings

MIN_WATERMARK = -(2**63)
MAX_WATERMARK = 2**63 - 1
T0 = 1_500_000_000
"""Epoch seconds every scripted time is relative to (a multiple of the 100 s buckets)."""
DELAY_S = 5


class KeyedValueState:
    """A ValueState per key; the harness sets ``key`` before each call, as Flink does."""

    def __init__(self, values: dict[Any, str] | None = None) -> None:
        self.values: dict[Any, str] = dict(values or {})
        self.key: Any = None

    def value(self) -> str | None:
        return self.values.get(self.key)

    def update(self, value: str) -> None:
        self.values[self.key] = value


class FakeRuntime(FakeMetricsRuntime):
    def __init__(self, state: KeyedValueState) -> None:
        super().__init__()
        self.state = state

    def get_state(self, descriptor: Any) -> KeyedValueState:
        return self.state


class KeyedTimers:
    """Event-time timers per key, the watermark and processing time of one subtask."""

    def __init__(self, state: KeyedValueState, timers: set[tuple[Any, int]] | None = None) -> None:
        self.state = state
        self.timers: set[tuple[Any, int]] = set(timers or ())
        self.watermark = MIN_WATERMARK
        self.now = 0

    def register_event_time_timer(self, ms: int) -> None:
        self.timers.add((self.state.key, ms))

    def current_watermark(self) -> int:
        return self.watermark

    def current_processing_time(self) -> int:
        return self.now

    def due(self) -> list[tuple[Any, int]]:
        return sorted((t for t in self.timers if t[1] <= self.watermark), key=lambda t: (t[1], str(t[0])))


class Ctx:
    def __init__(self, timers: KeyedTimers, key: Any) -> None:
        self.timers = timers
        self.key = key

    def timer_service(self) -> KeyedTimers:
        return self.timers

    def get_current_key(self) -> Any:
        return self.key


@dataclass(frozen=True)
class Checkpoint:
    """Every state and timer of the collector at one point of the input."""

    guard: str
    writers: tuple[dict[Any, str], ...]
    writer_timers: tuple[frozenset[tuple[Any, int]], ...]
    versioner: dict[Any, str]
    versioner_timers: frozenset[tuple[Any, int]] = field(default_factory=frozenset)


class Subtask:
    """One writer subtask: its function, keyed state, timers and metrics."""

    def __init__(self, function: WriterProcess, state: KeyedValueState, timers: KeyedTimers) -> None:
        self.function = function
        self.state = state
        self.timers = timers
        self.runtime = FakeRuntime(state)
        function.open(self.runtime)  # type: ignore[arg-type]


class CollectorHarness:
    """One incarnation of the collector's writers and versioner."""

    def __init__(
        self, settings: Settings, checkpoint: Checkpoint | None = None, *, fsync_rows: int = 2
    ) -> None:
        self.settings = settings
        self.tag = string_tag("dead")
        parts = settings.collector_part_count
        self.parallelism = min(settings.parallelism, WRITER_MAX_PARALLELISM)
        self.key_of = PartKey(parts, settings.domain.partition_key)
        unit = ms_per_unit(settings.domain)
        self.unit = unit
        self.guard_config = GuardConfig(
            ahead=MAX_EVENT_TIME_MS // unit,
            quorum=1,
            max_ts=MAX_EVENT_TIME_MS // unit,
            cap=4,
            delay=settings.watermark_delay_s * 1000 // unit,
        )
        self.guard = GuardState() if checkpoint is None else GuardState.model_validate_json(checkpoint.guard)
        self.writer_config = WriterConfig.from_settings(settings)
        self.subtasks: list[Subtask] = []
        for index in range(self.parallelism):
            state = KeyedValueState(None if checkpoint is None else checkpoint.writers[index])
            timers = KeyedTimers(state, None if checkpoint is None else set(checkpoint.writer_timers[index]))
            function = WriterProcess(self.writer_config, parts, self.tag, fsync_rows=fsync_rows)
            self.subtasks.append(Subtask(function, state, timers))
        self.versioner_state = KeyedValueState(None if checkpoint is None else checkpoint.versioner)
        self.versioner_state.key = "collector"
        self.versioner_timers = KeyedTimers(
            self.versioner_state, None if checkpoint is None else set(checkpoint.versioner_timers)
        )
        self.versioner = VersionerProcess(VersionerConfig.from_settings(settings), self.tag)
        self.versioner_runtime = FakeRuntime(self.versioner_state)
        self.versioner.open(self.versioner_runtime)  # type: ignore[arg-type]
        self.watermark_ms = MIN_WATERMARK
        self.datasets: list[DatasetVersion] = []
        self.dead: list[DeadLetter] = []
        self.closed_parts: list[ClosedPart] = []

    # ------------------------------------------------------------------------------------------ input

    def feed(self, record: tuple[str, str]) -> None:
        kind, raw = record
        self._tick()
        if kind == "ack":
            ack = AssemblyAck.model_validate_json(raw)
            ctx = Ctx(self.versioner_timers, "collector")
            self._collect(self.versioner.process_element2(ParsedAck(ack=ack, payload=raw), ctx))  # type: ignore[arg-type]
            return
        parsed = parse_event(self.settings.domain, raw)
        self.guard, outputs = guard_step(
            self.guard, Arrive(parsed.ts, parsed.record, parsed.payload), self.guard_config
        )
        self._release(outputs)

    def end_of_input(self) -> None:
        self.guard, outputs = guard_step(self.guard, EndOfInput(), self.guard_config)
        self._release(outputs)
        self.advance(MAX_WATERMARK)
        for subtask in self.subtasks:
            subtask.function.close()

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(
            guard=self.guard.model_dump_json(),
            writers=tuple(dict(s.state.values) for s in self.subtasks),
            writer_timers=tuple(frozenset(s.timers.timers) for s in self.subtasks),
            versioner=dict(self.versioner_state.values),
            versioner_timers=frozenset(self.versioner_timers.timers),
        )

    def advance(self, watermark_ms: int) -> None:
        """Raise the watermark: writers fire due timers, their closed parts reach the versioner, which then
        fires its own."""
        self.watermark_ms = max(self.watermark_ms, watermark_ms)
        parts: list[ClosedPart] = []
        for subtask in self.subtasks:
            subtask.timers.watermark = self.watermark_ms
            while due := subtask.timers.due():
                key, ms = due[0]
                subtask.timers.timers.discard(due[0])
                subtask.state.key = key
                parts += self._collect(subtask.function.on_timer(ms, Ctx(subtask.timers, key)))  # type: ignore[arg-type]
        self.closed_parts += [p for p in parts if isinstance(p, ClosedPart)]
        ctx = Ctx(self.versioner_timers, "collector")
        for part in parts:
            self._collect(self.versioner.process_element1(part, ctx))  # type: ignore[arg-type]
        self.versioner_timers.watermark = self.watermark_ms
        while due := self.versioner_timers.due():
            self.versioner_timers.timers.discard(due[0])
            self._collect(self.versioner.on_timer(due[0][1], ctx))  # type: ignore[arg-type]

    # -------------------------------------------------------------------------------------- internals

    def _tick(self) -> None:
        for subtask in self.subtasks:
            subtask.timers.now += 100
        self.versioner_timers.now += 100

    def subtask_of(self, key: int) -> Subtask:
        return self.subtasks[subtask_of(key, self.parallelism)]

    def _release(self, outputs: list[Any]) -> None:
        for output in outputs:
            if not isinstance(output, Release):
                continue
            assert output.origin is not None
            event = TrustedEvent(
                output.ts, output.record, output.payload, output.origin, output.watermark or 0
            )
            key = self.key_of.get_key(event)
            subtask = self.subtask_of(key)
            subtask.state.key = key
            started = self._collect(subtask.function.process_element(event, Ctx(subtask.timers, key)))  # type: ignore[arg-type]
            ctx = Ctx(self.versioner_timers, "collector")
            for record in started:
                self._collect(self.versioner.process_element1(record, ctx))  # type: ignore[arg-type]
            self.advance(output.ts * self.unit - self.settings.watermark_delay_s * 1000 - 1)

    def _collect(self, produced: Any) -> list[Any]:
        """Record datasets and dead letters; returns the records for the versioner's first input."""
        parts: list[Any] = []
        for item in produced:
            if isinstance(item, tuple):
                assert item[0] is self.tag
                self.dead.append(DeadLetter.model_validate_json(item[1]))
            elif isinstance(item, ClosedPart | PartStarted):
                parts.append(item)
            else:
                self.datasets.append(DatasetVersion.model_validate_json(item))
        return parts


# ---------------------------------------------------------------------------------------- scripts


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "bucket_size_s": 100,
        "bucket_alignment": BucketAlignment.EPOCH,
        "history_k": 2,
        "watermark_delay_s": DELAY_S,
        "checkpoint_interval_ms": 10_000_000,  # keep trashed files for the whole test
    }
    return Settings(**(values | overrides))


def at(*offsets: int) -> tuple[int, ...]:
    """Bucket starts (or times) ``T0 + offset``."""
    return tuple(T0 + o for o in offsets)


def ev(ts: int, mmsi: str = "1") -> tuple[str, str]:
    """An event at ``T0 + ts``."""
    return "event", json.dumps({"timestamp": T0 + ts, "mmsi": mmsi, "lon": 1.5, "lat": 2.5, "area": "x"})


def ack_of(version: int, *starts: int) -> tuple[str, str]:
    """An ACK of ``version`` listing the buckets at ``T0 + start``."""
    return "ack", encode(AssemblyAck(version=version, bucket_starts=at(*starts)))


def script() -> list[tuple[str, str]]:
    """Interleaved vessels over 5 buckets of 100 s, some a little out of order; ACKs along the way."""
    records: list[tuple[str, str]] = []
    for ts in range(0, 500, 7):
        records.append(ev(ts, mmsi=str(ts % 5)))
        if ts % 21 == 0 and ts > 3:
            records.append(ev(ts - 3, mmsi=str(ts % 5)))  # 3 s late: within the delay
        if ts == 112:
            records.append(ack_of(0, 0))
        if ts == 252:
            records.append(ack_of(1, 0, 100))
        if ts == 406:
            records.append(ack_of(2, 100, 200))
    return records


def snapshot(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(directory.iterdir()) if not p.name.startswith(".")}


def run_clean(
    settings: Settings, records: list[tuple[str, str]] | None = None
) -> tuple[CollectorHarness, dict[str, str]]:
    harness = CollectorHarness(settings)
    for record in script() if records is None else records:
        harness.feed(record)
    harness.end_of_input()
    return harness, snapshot(settings.buckets_dir)
