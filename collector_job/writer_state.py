"""A bucket writer as a pure state machine: ``step(state, message, config) -> (state, outputs)``.

There is one writer state per part (the Flink key, :mod:`collector_job.parts`); a part owns the rows of its
share of the partition keys and writes them to its own file of each bucket. Messages are a trusted event
(from the guard, stamped with the bucket-grid origin and the stream's watermark) or a watermark (the
part's bucket-end timer firing). Outputs are *effects* the Flink function carries out in order: append a
row, schedule a bucket's closing timer, close a part file (fsync, close, and hand it to the versioner), or
publish a dead letter.

The state holds only what the part has not handed over yet: its open buckets with the rows committed to
each file and the file's header, and ``closed_through``, the stream-time bound up to which its buckets are
closed. Once a part file is closed it belongs to the versioner (:mod:`collector_job.versioner_state`),
which lists it in dataset versions and deletes it when released.

Because the state is checkpointed together with the Kafka offsets, ``rows`` of every open bucket in a
checkpoint is exactly the number of rows the records before the checkpointed offsets produced. On restore
:func:`plan_reconcile` cuts this part's open files back to that, and removes this part's files of buckets
opened after the checkpoint; the replay writes the rest again. Files of buckets this part closed before
the checkpoint are the versioner's and are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from collector_job.bucket_files import BucketFile, Discard, FileAction, Remove, Restore, Truncate, bucket_path
from collector_job.bucket_files import columns_for as _columns_for
from collector_job.buckets import BucketScheme, bucket_end, bucket_start, closing_at, is_closed_at, timer_ms
from protocol.messages import CardTransaction, MaritimeEvent
from protocol.settings import Domain, Settings

__all__ = [
    "AppendRow",
    "BucketInfo",
    "ClosePart",
    "ClosedPart",
    "DeadLetterOut",
    "EventIn",
    "PartStarted",
    "ScheduleClose",
    "WatermarkIn",
    "WriterConfig",
    "WriterState",
    "adopt_rows",
    "plan_reconcile",
    "step",
]

# --------------------------------------------------------------------------------------------- state


class BucketInfo(BaseModel):
    """An open bucket's file of this part: its start, committed data rows and header."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: int
    rows: int
    columns: tuple[str, ...]


class WriterState(BaseModel):
    """What one part must survive a restart with (stored as JSON in one ValueState per part)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    closed_through: int | None = None  # exclusive stream-time bound up to which this part's buckets closed
    open: tuple[BucketInfo, ...] = ()  # buckets receiving rows, by start


# ------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class WriterConfig:
    """The settings a writer step needs, resolved once; ``part`` names its files (None: no suffix)."""

    scheme: BucketScheme
    buckets_dir: str
    prefix: str
    declared: tuple[str, ...]
    input_topic: str
    part: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, part: int | None = None) -> WriterConfig:
        model = MaritimeEvent if settings.domain is Domain.MARITIME else CardTransaction
        return cls(
            scheme=BucketScheme.from_settings(settings),
            buckets_dir=str(settings.buckets_dir),
            prefix=settings.bucket_prefix,
            declared=tuple(model.model_fields),
            input_topic=settings.input_topic,
            part=part,
        )

    def for_part(self, part: int | None) -> WriterConfig:
        """The same configuration for another part."""
        return replace(self, part=part)

    def path(self, start: int) -> Path:
        """This part's file of the bucket at ``start``."""
        return bucket_path(self.buckets_dir, self.prefix, start, self.part)


# ------------------------------------------------------------------------------------------ messages


@dataclass(frozen=True)
class EventIn:
    """A trusted event: ``origin`` anchors ``first_event`` buckets, ``watermark`` is the stream's
    watermark right after it (exclusive, stream units), both from the guard."""

    ts: int
    record: Mapping[str, Any]
    payload: str
    origin: int
    watermark: int | None = None


@dataclass(frozen=True)
class WatermarkIn:
    """Event time has passed ``watermark`` (exclusive, stream units): close complete buckets."""

    watermark: int


Message = EventIn | WatermarkIn

# ------------------------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class ClosedPart:
    """The record a part sends the versioner when its file of bucket ``start`` is complete."""

    start: int
    part: int | None
    rows: int


@dataclass(frozen=True)
class PartStarted:
    """The record a part sends the versioner when it starts without state (before its first row), so that
    the versioner has state in every checkpoint that covers a row: a restore from such a checkpoint then
    keeps counting versions instead of starting over from the floor file."""

    part: int | None


@dataclass(frozen=True)
class AppendRow:
    start: int
    path: Path
    columns: tuple[str, ...]
    record: Mapping[str, Any]


@dataclass(frozen=True)
class ScheduleClose:
    start: int
    timer_ms: int


@dataclass(frozen=True)
class ClosePart:
    """fsync and close ``path``, then emit ``closed`` to the versioner."""

    path: Path
    closed: ClosedPart


@dataclass(frozen=True)
class DeadLetterOut:
    reason: str
    payload: str
    source_topic: str


Output = AppendRow | ScheduleClose | ClosePart | DeadLetterOut

# --------------------------------------------------------------------------------------------- step


def step(state: WriterState, message: Message, config: WriterConfig) -> tuple[WriterState, list[Output]]:
    """Apply one message; returns the new state and the effects to carry out, in order."""
    if isinstance(message, EventIn):
        return _on_event(state, message, config)
    return _on_watermark(state, message, config)


def _on_event(state: WriterState, msg: EventIn, config: WriterConfig) -> tuple[WriterState, list[Output]]:
    scheme = config.scheme
    start = bucket_start(scheme, msg.ts, msg.origin)
    bound = max((w for w in (state.closed_through, msg.watermark) if w is not None), default=None)
    if is_closed_at(scheme, start, bound):
        reason = (
            f"late event: ts {msg.ts} belongs to bucket {start} (ends {bucket_end(scheme, start)}), "
            f"already closed at watermark {bound}"
        )
        return state, [DeadLetterOut(reason, msg.payload, config.input_topic)]

    outputs: list[Output] = []
    existing = next((b for b in state.open if b.start == start), None)
    if existing is None:
        bucket = BucketInfo(start=start, rows=1, columns=_columns_for(msg.record, config.declared))
        opened = tuple(sorted((*state.open, bucket), key=lambda b: b.start))
        outputs.append(ScheduleClose(start, timer_ms(scheme, start)))
    else:
        bucket = existing.model_copy(update={"rows": existing.rows + 1})
        opened = tuple(bucket if b.start == start else b for b in state.open)
        dropped = sorted(k for k in msg.record if k not in existing.columns)
        if dropped:
            reason = (
                f"attributes {', '.join(dropped)} are not columns of bucket {start}; "
                "the row was written without them"
            )
            outputs.append(DeadLetterOut(reason, msg.payload, config.input_topic))
    outputs.insert(0, AppendRow(start, config.path(start), bucket.columns, msg.record))
    return state.model_copy(update={"open": opened}), outputs


def _on_watermark(
    state: WriterState, msg: WatermarkIn, config: WriterConfig
) -> tuple[WriterState, list[Output]]:
    closing = set(closing_at(config.scheme, (b.start for b in state.open), msg.watermark))
    outputs: list[Output] = [
        ClosePart(config.path(b.start), ClosedPart(start=b.start, part=config.part, rows=b.rows))
        for b in state.open
        if b.start in closing
    ]
    through = msg.watermark if state.closed_through is None else max(state.closed_through, msg.watermark)
    opened = tuple(b for b in state.open if b.start not in closing)
    return state.model_copy(update={"open": opened, "closed_through": through}), outputs


# --------------------------------------------------------------------------------- reconciliation


def plan_reconcile(
    state: WriterState, files: list[BucketFile], config: WriterConfig, *, fresh: bool = False
) -> tuple[list[FileAction], list[str]]:
    """What to do to this part's files so that they hold exactly what ``state`` committed.

    ``files`` are this part's bucket files (live and trashed).

    * an open bucket is truncated to its committed rows; if only its trashed copy exists (closed,
      versioned and released after the checkpoint) the copy is restored first;
    * a live file of a bucket the state does not know and has not closed (it ends after
      ``closed_through``) was opened after the checkpoint: it is removed, as the replay writes every row
      of it again. Without any state (``fresh``: a start without checkpoint, whose source replays from
      the beginning) every unknown live file is only moved to the trash instead, as the topic may no
      longer hold all of its rows;
    * files of buckets closed before the checkpoint belong to the versioner, trashed files to nobody:
      both are left alone.

    Returns the actions and the problems found (committed rows whose file is gone).
    """
    actions: list[FileAction] = []
    problems: list[str] = []
    live = {f.start: f.path for f in files if not f.trashed}
    trashed = {f.start for f in files if f.trashed}
    known = {b.start: b for b in state.open}
    for start, bucket in sorted(known.items()):
        path = config.path(start)
        if start not in live:
            if start in trashed:
                actions.append(Restore(start, path))
            else:
                problems.append(f"bucket {start}: {bucket.rows} committed rows but {path} is missing")
                continue
        actions.append(Truncate(start, path, bucket.rows))
    for start, path in sorted(live.items()):
        if start in known:
            continue
        if fresh:
            actions.append(Discard(start, path))
        elif not is_closed_at(config.scheme, start, state.closed_through):
            actions.append(Remove(start, path))
    return actions, problems


def adopt_rows(
    state: WriterState, rows: Mapping[Path, int], config: WriterConfig
) -> tuple[WriterState, list[str]]:
    """Take the row counts found after truncation; a shortfall (lost fsync'd-late rows) is reported."""
    problems = []

    def fix(bucket: BucketInfo) -> BucketInfo:
        actual = rows.get(config.path(bucket.start), bucket.rows)
        if actual < bucket.rows:
            problems.append(f"bucket {bucket.start}: {bucket.rows} committed rows, only {actual} on disk")
            return bucket.model_copy(update={"rows": actual})
        return bucket

    return state.model_copy(update={"open": tuple(fix(b) for b in state.open)}), problems
