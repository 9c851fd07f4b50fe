"""The dataset versioner as a pure state machine: ``step(state, message, config) -> (state, outputs)``.

The versioner is global (parallelism 1): it takes the bucket writers' closed part files
(:class:`~collector_job.writer_state.ClosedPart`) and the factory's assembly ACKs, and owns every closed
bucket from then on. Messages are a closed part, an ACK, or a watermark (a bucket-end timer firing).
Outputs are *effects* the Flink function carries out in order: schedule a bucket's closing timer, emit a
dataset version, move a bucket's files to the trash, purge them, publish a dead letter, or log a problem.

**Closing.** A writer emits a bucket's closed part in its bucket-end timer, before it forwards the
watermark that fired it, and the versioner's watermark is the minimum over every writer. So once the
versioner's own timer at the same bucket end fires, every part of that bucket has arrived: the bucket is
closed, gets the next version number, and the dataset version lists the newest ``history_k`` closed
buckets with every part file of each (oldest bucket first, parts in order).

**Retention** is :mod:`collector_job.retention` over bucket starts (pending versions, early ACKs, the
floor of published versions), applied to every part file of a released bucket: two-phase deletion (trash,
then purge ``trash_grace_ms`` later).

Restore planning is in :mod:`collector_job.versioner_restore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from collector_job import retention
from collector_job.bucket_files import bucket_path
from collector_job.buckets import BucketScheme, bucket_end, closing_at, is_closed_at, timer_ms
from collector_job.retention import AckOutcome, VersionRef
from collector_job.writer_state import ClosedPart, PartStarted
from protocol.messages import AssemblyAck, DatasetVersion
from protocol.settings import Settings

__all__ = [
    "AckIn",
    "BucketParts",
    "DeadLetterOut",
    "DeleteBucket",
    "EmitDataset",
    "PartFile",
    "PartIn",
    "Problem",
    "PurgeBucket",
    "ScheduleClose",
    "StartIn",
    "TrashEntry",
    "VersionerConfig",
    "VersionerState",
    "WatermarkIn",
    "step",
]

# --------------------------------------------------------------------------------------------- state


class PartFile(BaseModel):
    """One part's closed file of a bucket and its rows."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    part: int | None
    rows: int


class BucketParts(BaseModel):
    """A bucket and its part files, by part."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: int
    parts: tuple[PartFile, ...]


class TrashEntry(BaseModel):
    """A deleted bucket whose part files wait in the trash since ``since_ms`` (processing time)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: int
    parts: tuple[int | None, ...]
    since_ms: int


class VersionerState(BaseModel):
    """Everything the versioner must survive a restart with (stored as JSON in one ValueState)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    closed_through: int | None = None  # exclusive stream-time bound up to which buckets are closed
    closing: tuple[BucketParts, ...] = ()  # buckets whose parts are arriving, by start
    closed: tuple[BucketParts, ...] = ()  # closed buckets still on disk, oldest first
    next_version: int = 0
    published: int = 0  # every version below this was published by some run (see retention.apply_ack)
    pending: tuple[VersionRef, ...] = ()  # dataset versions not ACKed yet
    early_acks: tuple[VersionRef, ...] = ()  # ACKs of versions not produced yet
    trash: tuple[TrashEntry, ...] = ()


# ------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class VersionerConfig:
    """The settings the versioner's step needs, resolved once."""

    scheme: BucketScheme
    history_k: int
    buckets_dir: str
    prefix: str
    assembly_topic: str
    trash_grace_ms: int
    parts: int = 1

    @classmethod
    def from_settings(cls, settings: Settings) -> VersionerConfig:
        return cls(
            scheme=BucketScheme.from_settings(settings),
            history_k=settings.history_k,
            buckets_dir=str(settings.buckets_dir),
            prefix=settings.bucket_prefix,
            assembly_topic=settings.assembly_topic,
            # A deletion becomes final once a few checkpoints have surely recorded it.
            trash_grace_ms=3 * settings.checkpoint_interval_ms,
            parts=settings.collector_part_count,
        )

    def path(self, start: int, part: int | None) -> Path:
        return bucket_path(self.buckets_dir, self.prefix, start, part)

    def paths(self, start: int, parts: tuple[int | None, ...]) -> tuple[Path, ...]:
        return tuple(self.path(start, p) for p in parts)


# ------------------------------------------------------------------------------------------ messages


@dataclass(frozen=True)
class PartIn:
    """A writer closed its file of a bucket."""

    closed: ClosedPart
    now_ms: int


@dataclass(frozen=True)
class StartIn:
    """A writer part started without state: nothing to do but exist (see :class:`PartStarted`)."""

    started: PartStarted
    now_ms: int


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


Message = PartIn | StartIn | AckIn | WatermarkIn

# ------------------------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class ScheduleClose:
    start: int
    timer_ms: int


@dataclass(frozen=True)
class EmitDataset:
    dataset: DatasetVersion


@dataclass(frozen=True)
class DeleteBucket:
    """First phase of a deletion: move every part file of the bucket to the trash."""

    start: int
    paths: tuple[Path, ...]


@dataclass(frozen=True)
class PurgeBucket:
    """Second phase: remove the bucket's trashed part files for good."""

    start: int
    paths: tuple[Path, ...]


@dataclass(frozen=True)
class DeadLetterOut:
    reason: str
    payload: str
    source_topic: str


@dataclass(frozen=True)
class Problem:
    """Something that cannot happen in a consistent run (logged as an error)."""

    text: str


Output = ScheduleClose | EmitDataset | DeleteBucket | PurgeBucket | DeadLetterOut | Problem

# --------------------------------------------------------------------------------------------- step


def step(
    state: VersionerState, message: Message, config: VersionerConfig
) -> tuple[VersionerState, list[Output]]:
    """Apply one message; returns the new state and the effects to carry out, in order."""
    if isinstance(message, PartIn):
        state, outputs = _on_part(state, message, config)
    elif isinstance(message, AckIn):
        state, outputs = _on_ack(state, message, config)
    elif isinstance(message, WatermarkIn):
        state, outputs = _on_watermark(state, message, config)
    else:
        outputs = []
    state, purged = _purge(state, message.now_ms, config)
    return state, outputs + purged


def _with_part(bucket: BucketParts, part: PartFile) -> BucketParts:
    parts = [p for p in bucket.parts if p.part != part.part] + [part]
    return bucket.model_copy(update={"parts": tuple(sorted(parts, key=_part_order))})


def _part_order(part: PartFile) -> int:
    return -1 if part.part is None else part.part


def _on_part(
    state: VersionerState, msg: PartIn, config: VersionerConfig
) -> tuple[VersionerState, list[Output]]:
    closed = msg.closed
    part = PartFile(part=closed.part, rows=closed.rows)
    if is_closed_at(config.scheme, closed.start, state.closed_through):
        return _late_part(state, closed, part, msg.now_ms, config)
    existing = next((b for b in state.closing if b.start == closed.start), None)
    if existing is not None:
        bucket = _with_part(existing, part)
        closing = tuple(bucket if b.start == closed.start else b for b in state.closing)
        return state.model_copy(update={"closing": closing}), []
    bucket = BucketParts(start=closed.start, parts=(part,))
    closing = tuple(sorted((*state.closing, bucket), key=lambda b: b.start))
    schedule = ScheduleClose(closed.start, timer_ms(config.scheme, closed.start))
    return state.model_copy(update={"closing": closing}), [schedule]


def _late_part(
    state: VersionerState, closed: ClosedPart, part: PartFile, now_ms: int, config: VersionerConfig
) -> tuple[VersionerState, list[Output]]:
    """A part of a bucket already closed (cannot happen while writers emit before their watermark): a
    retained bucket takes it for its next versions; otherwise it goes straight to the trash."""
    path = config.path(closed.start, closed.part)
    problem = Problem(f"part file {path} closed after its bucket was versioned")
    retained = next((b for b in state.closed if b.start == closed.start), None)
    if retained is not None:
        buckets = tuple(_with_part(b, part) if b.start == closed.start else b for b in state.closed)
        return state.model_copy(update={"closed": buckets}), [problem]
    entry = TrashEntry(start=closed.start, parts=(closed.part,), since_ms=now_ms)
    state = state.model_copy(update={"trash": (*state.trash, entry)})
    return state, [problem, DeleteBucket(closed.start, (path,))]


def _on_ack(
    state: VersionerState, msg: AckIn, config: VersionerConfig
) -> tuple[VersionerState, list[Output]]:
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


def _files(bucket: BucketParts, config: VersionerConfig) -> tuple[str, ...]:
    return tuple(str(config.path(bucket.start, p.part)) for p in bucket.parts)


def _on_watermark(
    state: VersionerState, msg: WatermarkIn, config: VersionerConfig
) -> tuple[VersionerState, list[Output]]:
    outputs: list[Output] = []
    closing = set(closing_at(config.scheme, (b.start for b in state.closing), msg.watermark))
    for bucket in (b for b in state.closing if b.start in closing):
        closed = (*state.closed, bucket)
        starts = retention.window((b.start for b in closed), config.history_k)
        listed = sorted((b for b in closed if b.start in starts), key=lambda b: b.start)
        version = state.next_version
        dataset = DatasetVersion(
            version=version,
            timestamp=bucket_end(config.scheme, bucket.start),
            bucket_starts=starts,
            bucket_paths=tuple(path for b in listed for path in _files(b, config)),
        )
        pending, early, _ = retention.register_version(
            state.pending, state.early_acks, VersionRef(version=version, starts=starts)
        )
        state = state.model_copy(
            update={
                "closing": tuple(b for b in state.closing if b.start != bucket.start),
                "closed": closed,
                "next_version": version + 1,
                "published": max(state.published, version + 1),
                "pending": pending,
                "early_acks": early,
            }
        )
        outputs.append(EmitDataset(dataset))
    through = msg.watermark if state.closed_through is None else max(state.closed_through, msg.watermark)
    state = state.model_copy(update={"closed_through": through})
    state, deleted = _collect_garbage(state, msg.now_ms, config)
    return state, outputs + deleted


def _collect_garbage(
    state: VersionerState, now_ms: int, config: VersionerConfig
) -> tuple[VersionerState, list[Output]]:
    doomed = set(retention.deletable((b.start for b in state.closed), state.pending, config.history_k))
    if not doomed:
        return state, []
    going = [b for b in state.closed if b.start in doomed]
    trash = (
        *state.trash,
        *(TrashEntry(start=b.start, parts=tuple(p.part for p in b.parts), since_ms=now_ms) for b in going),
    )
    state = state.model_copy(
        update={"closed": tuple(b for b in state.closed if b.start not in doomed), "trash": trash}
    )
    return state, [
        DeleteBucket(b.start, config.paths(b.start, tuple(p.part for p in b.parts))) for b in going
    ]


def _purge(
    state: VersionerState, now_ms: int, config: VersionerConfig
) -> tuple[VersionerState, list[Output]]:
    due = [t for t in state.trash if now_ms - t.since_ms >= config.trash_grace_ms]
    if not due:
        return state, []
    kept = tuple(t for t in state.trash if t not in due)
    purged: list[Output] = [PurgeBucket(t.start, config.paths(t.start, t.parts)) for t in due]
    return state.model_copy(update={"trash": kept}), purged
