"""The collector as a pure state machine: ``step(state, message, config) -> (state, outputs)``.

Messages are an input event, an assembly ACK from the factory, or a watermark (an event-time timer
firing). Outputs are *effects* that the Flink function carries out in order: append a row, schedule a
bucket's closing timer, close a bucket file, emit a dataset version, move a bucket to the trash, purge it,
or publish a dead letter. The state says what has been committed: per bucket the rows written so far, the
closed buckets still on disk, the dataset versions not yet ACKed, the version counter.

Because the state is checkpointed together with the Kafka offsets, ``rows`` of every bucket in a
checkpoint is exactly the number of rows produced by the records before the checkpointed offsets. On
restore :func:`plan_reconcile` turns the directory back into what the state says (see
``docs/collector_job.md``), and the replayed records re-append the rest: no row lost, none duplicated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from collector_job import retention
from collector_job.bucket_files import BucketFile, Discard, FileAction, Remove, Restore, Truncate, bucket_path
from collector_job.bucket_files import columns_for as _columns_for
from collector_job.buckets import BucketScheme, bucket_end, bucket_start, closing_at, is_closed_at, timer_ms
from collector_job.retention import AckOutcome, VersionRef
from protocol.messages import AssemblyAck, CardTransaction, DatasetVersion, MaritimeEvent
from protocol.settings import Domain, Settings

JOB_NAME = "collector_job"

# --------------------------------------------------------------------------------------------- state


class BucketInfo(BaseModel):
    """A bucket file the collector owns: its start, committed data rows and header."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: int
    rows: int
    columns: tuple[str, ...]


class TrashEntry(BaseModel):
    """A deleted bucket waiting in the trash since ``since_ms`` (processing time)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: int
    since_ms: int


class CollectorState(BaseModel):
    """Everything the collector must survive a restart with (stored as JSON in one ValueState)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    origin: int | None = None  # anchor of first_event alignment
    closed_through: int | None = None  # exclusive stream-time bound up to which buckets are closed
    open: tuple[BucketInfo, ...] = ()  # buckets receiving rows, by start
    closed: tuple[BucketInfo, ...] = ()  # closed buckets still on disk, oldest first
    next_version: int = 0
    published: int = 0  # every version below this was published by some run (see retention.apply_ack)
    pending: tuple[VersionRef, ...] = ()  # dataset versions not ACKed yet
    early_acks: tuple[VersionRef, ...] = ()  # ACKs of versions not produced yet
    trash: tuple[TrashEntry, ...] = ()

    def bucket(self, start: int) -> BucketInfo | None:
        """The open or retained closed bucket at ``start``."""
        return next((b for b in (*self.open, *self.closed) if b.start == start), None)


# ------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class CollectorConfig:
    """The settings the step function needs, resolved once."""

    scheme: BucketScheme
    history_k: int
    buckets_dir: str
    prefix: str
    declared: tuple[str, ...]
    input_topic: str
    assembly_topic: str
    trash_grace_ms: int
    part: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, part: int | None = None) -> CollectorConfig:
        model = MaritimeEvent if settings.domain is Domain.MARITIME else CardTransaction
        return cls(
            scheme=BucketScheme.from_settings(settings),
            history_k=settings.history_k,
            buckets_dir=str(settings.buckets_dir),
            prefix=settings.bucket_prefix,
            declared=tuple(model.model_fields),
            input_topic=settings.input_topic,
            assembly_topic=settings.assembly_topic,
            # A deletion becomes final once a few checkpoints have surely recorded it.
            trash_grace_ms=3 * settings.checkpoint_interval_ms,
            part=part,
        )

    def path(self, start: int) -> Path:
        return bucket_path(self.buckets_dir, self.prefix, start, self.part)


# ------------------------------------------------------------------------------------------ messages


@dataclass(frozen=True)
class EventIn:
    """A parsed input event. ``watermark`` is the operator's current one (exclusive, stream units)."""

    ts: int
    record: Mapping[str, Any]
    payload: str
    now_ms: int
    watermark: int | None = None


@dataclass(frozen=True)
class AckIn:
    ack: AssemblyAck
    payload: str
    now_ms: int


@dataclass(frozen=True)
class WatermarkIn:
    """Event time has passed ``watermark`` (exclusive, stream units): close complete buckets."""

    watermark: int
    now_ms: int


Message = EventIn | AckIn | WatermarkIn

# ------------------------------------------------------------------------------------------- outputs


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
class CloseBucket:
    start: int
    path: Path


@dataclass(frozen=True)
class EmitDataset:
    dataset: DatasetVersion


@dataclass(frozen=True)
class DeleteBucket:
    """First phase of a deletion: move the file to the trash."""

    start: int
    path: Path


@dataclass(frozen=True)
class PurgeBucket:
    """Second phase: remove the trashed file for good."""

    start: int
    path: Path


@dataclass(frozen=True)
class DeadLetterOut:
    reason: str
    payload: str
    source_topic: str


Output = AppendRow | ScheduleClose | CloseBucket | EmitDataset | DeleteBucket | PurgeBucket | DeadLetterOut

# --------------------------------------------------------------------------------------------- step


def step(
    state: CollectorState, message: Message, config: CollectorConfig
) -> tuple[CollectorState, list[Output]]:
    """Apply one message; returns the new state and the effects to carry out, in order."""
    if isinstance(message, EventIn):
        state, outputs = _on_event(state, message, config)
    elif isinstance(message, AckIn):
        state, outputs = _on_ack(state, message, config)
    else:
        state, outputs = _on_watermark(state, message, config)
    state, purged = _purge(state, message.now_ms, config)
    return state, outputs + purged


def _on_event(
    state: CollectorState, msg: EventIn, config: CollectorConfig
) -> tuple[CollectorState, list[Output]]:
    scheme = config.scheme
    start = bucket_start(scheme, msg.ts, state.origin)
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
    origin = state.origin if state.origin is not None else msg.ts
    return state.model_copy(update={"open": opened, "origin": origin}), outputs


def _on_ack(
    state: CollectorState, msg: AckIn, config: CollectorConfig
) -> tuple[CollectorState, list[Output]]:
    ack = VersionRef(version=msg.ack.version, starts=tuple(msg.ack.bucket_starts))
    pending, early, outcome = retention.apply_ack(
        state.pending, state.early_acks, ack, state.next_version, published=state.published
    )
    state = state.model_copy(update={"pending": pending, "early_acks": early})
    if outcome is AckOutcome.MISMATCH:
        reason = f"ACK of version {ack.version} lists buckets {list(ack.starts)}, not those of that version"
        return state, [DeadLetterOut(reason, msg.payload, config.assembly_topic)]
    if outcome is AckOutcome.UNPUBLISHED:
        newest = max(state.next_version, state.published) - 1
        reason = f"ACK of version {ack.version}, which was never published (newest published: {newest})"
        return state, [DeadLetterOut(reason, msg.payload, config.assembly_topic)]
    if outcome is AckOutcome.RELEASED:
        return _collect_garbage(state, msg.now_ms, config)
    return state, []


def _on_watermark(
    state: CollectorState, msg: WatermarkIn, config: CollectorConfig
) -> tuple[CollectorState, list[Output]]:
    outputs: list[Output] = []
    closing = set(closing_at(config.scheme, (b.start for b in state.open), msg.watermark))
    for bucket in sorted((b for b in state.open if b.start in closing), key=lambda b: b.start):
        closed = (*state.closed, bucket)
        starts = retention.window((b.start for b in closed), config.history_k)
        version = state.next_version
        dataset = DatasetVersion(
            version=version,
            timestamp=bucket_end(config.scheme, bucket.start),
            bucket_starts=starts,
            bucket_paths=tuple(str(config.path(s)) for s in starts),
        )
        pending, early, _ = retention.register_version(
            state.pending, state.early_acks, VersionRef(version=version, starts=starts)
        )
        state = state.model_copy(
            update={
                "open": tuple(b for b in state.open if b.start != bucket.start),
                "closed": closed,
                "next_version": version + 1,
                "published": max(state.published, version + 1),
                "pending": pending,
                "early_acks": early,
            }
        )
        outputs += [CloseBucket(bucket.start, config.path(bucket.start)), EmitDataset(dataset)]
    through = msg.watermark if state.closed_through is None else max(state.closed_through, msg.watermark)
    state = state.model_copy(update={"closed_through": through})
    state, deleted = _collect_garbage(state, msg.now_ms, config)
    return state, outputs + deleted


def _collect_garbage(
    state: CollectorState, now_ms: int, config: CollectorConfig
) -> tuple[CollectorState, list[Output]]:
    doomed = set(retention.deletable((b.start for b in state.closed), state.pending, config.history_k))
    if not doomed:
        return state, []
    trash = (*state.trash, *(TrashEntry(start=s, since_ms=now_ms) for s in sorted(doomed)))
    state = state.model_copy(
        update={"closed": tuple(b for b in state.closed if b.start not in doomed), "trash": trash}
    )
    return state, [DeleteBucket(s, config.path(s)) for s in sorted(doomed)]


def _purge(
    state: CollectorState, now_ms: int, config: CollectorConfig
) -> tuple[CollectorState, list[Output]]:
    due = [t for t in state.trash if now_ms - t.since_ms >= config.trash_grace_ms]
    if not due:
        return state, []
    kept = tuple(t for t in state.trash if t not in due)
    return state.model_copy(update={"trash": kept}), [PurgeBucket(t.start, config.path(t.start)) for t in due]


# --------------------------------------------------------------------------------- reconciliation


def plan_reconcile(
    state: CollectorState, files: list[BucketFile], config: CollectorConfig, *, fresh: bool = False
) -> tuple[list[FileAction], list[str]]:
    """What to do to the directory so that it holds exactly what ``state`` committed.

    * a bucket the state knows (open or retained closed) is truncated to its committed rows; if only its
      trashed copy exists (deleted after the checkpoint) the copy is restored first;
    * a live file the state does not know was created after the checkpoint: it is removed, as the replay
      from the checkpointed offsets writes every row of it again. Without any state (``fresh``: a start
      without checkpoint, whose source replays from the beginning) such files are only moved to the
      trash, as the topic may no longer hold all of their rows;
    * trashed files are left alone (the state purges the ones it trashed).

    Returns the actions and the problems found (committed rows whose file is gone).
    """
    actions: list[FileAction] = []
    problems: list[str] = []
    live = {f.start: f.path for f in files if not f.trashed}
    trashed = {f.start: f.path for f in files if f.trashed}
    known = {b.start: b for b in (*state.open, *state.closed)}
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
        if start not in known:
            actions.append(Discard(start, path) if fresh else Remove(start, path))
    return actions, problems


def adopt_rows(state: CollectorState, rows: Mapping[int, int]) -> tuple[CollectorState, list[str]]:
    """Take the row counts found after truncation; a shortfall (lost fsync'd-late rows) is reported."""
    problems = []

    def fix(bucket: BucketInfo) -> BucketInfo:
        actual = rows.get(bucket.start, bucket.rows)
        if actual < bucket.rows:
            problems.append(f"bucket {bucket.start}: {bucket.rows} committed rows, only {actual} on disk")
            return bucket.model_copy(update={"rows": actual})
        return bucket

    state = state.model_copy(
        update={"open": tuple(fix(b) for b in state.open), "closed": tuple(fix(b) for b in state.closed)}
    )
    return state, problems
