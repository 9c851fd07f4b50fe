"""The collector's metrics, per operator (names and units in docs/metrics.md).

* ``bucket-writer`` (:class:`WriterMetrics`, one per writer subtask): rows written, part files closed, the
  part files open on the subtask.
* ``versioner`` (:class:`VersionerMetrics`, global): ACKs, buckets closed, deleted and purged, datasets
  published; closed buckets, unacknowledged versions, and the bucket files and bytes on disk.

:func:`count_writer_outputs` and :func:`count_versioner_outputs` are pure: what one step's effects do. The
disk gauges come from a scan of the bucket folder (every part) made at most every
:data:`DISK_SCAN_INTERVAL_MS` of processing time (a directory listing and one ``stat`` per bucket file, so
the versioner does not pay it per ACK or closed part).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from collector_job import bucket_files, versioner_state, writer_state
from collector_job.versioner_state import VersionerConfig, VersionerState
from flink_common.metrics import OperatorMetrics

__all__ = [
    "DISK_SCAN_INTERVAL_MS",
    "DiskUsage",
    "VersionerCounts",
    "VersionerMetrics",
    "WriterCounts",
    "WriterMetrics",
    "count_versioner_outputs",
    "count_writer_outputs",
    "disk_usage",
]

DISK_SCAN_INTERVAL_MS = 1_000
"""At most one scan of the bucket folder per this much processing time."""


@dataclass(frozen=True)
class WriterCounts:
    """What one writer step's outputs do: rows appended, part files closed."""

    rows: int = 0
    closed: int = 0


def count_writer_outputs(outputs: Iterable[writer_state.Output]) -> WriterCounts:
    """Count the writer's effects among ``outputs`` by kind."""
    rows = closed = 0
    for output in outputs:
        if isinstance(output, writer_state.AppendRow):
            rows += 1
        elif isinstance(output, writer_state.ClosePart):
            closed += 1
    return WriterCounts(rows, closed)


@dataclass(frozen=True)
class VersionerCounts:
    """What one versioner step's outputs do to the bucket directory."""

    datasets: int = 0
    trashed: int = 0
    purged: int = 0


def count_versioner_outputs(outputs: Iterable[versioner_state.Output]) -> VersionerCounts:
    """Count the versioner's effects among ``outputs`` by kind (a deleted bucket counts once, whatever
    its number of part files)."""
    datasets = trashed = purged = 0
    for output in outputs:
        if isinstance(output, versioner_state.EmitDataset):
            datasets += 1
        elif isinstance(output, versioner_state.DeleteBucket):
            trashed += 1
        elif isinstance(output, versioner_state.PurgeBucket):
            purged += 1
    return VersionerCounts(datasets, trashed, purged)


@dataclass(frozen=True)
class DiskUsage:
    """The bucket files on disk (every part), live and trashed (``.deleted``, not yet purged)."""

    files: int
    bytes: int
    trashed_files: int


def disk_usage(buckets_dir: str, prefix: str) -> DiskUsage:
    """Scan the bucket folder for bucket files (a file that vanishes meanwhile is skipped)."""
    files = size = trashed = 0
    for found in bucket_files.scan_all(buckets_dir, prefix):
        try:
            size += os.stat(found.path).st_size
        except OSError:
            continue
        files += 1
        trashed += int(found.trashed)
    return DiskUsage(files, size, trashed)


class WriterMetrics(OperatorMetrics):
    """Rows written and part files closed; the part files open on this subtask."""

    def __init__(self) -> None:
        super().__init__()
        self.events_written = self.counter("events_written")
        self.parts_closed = self.counter("parts_closed")
        self.open_buckets = self.gauge("open_buckets")

    def on_step(self, outputs: Iterable[writer_state.Output], open_files: int) -> None:
        """After one step whose effects are carried out; ``open_files`` over every part of the subtask."""
        counts = count_writer_outputs(outputs)
        self.events_written.inc(counts.rows)
        self.parts_closed.inc(counts.closed)
        self.open_buckets.set(open_files)


class VersionerMetrics(OperatorMetrics):
    """ACKs, buckets and datasets; bucket files and bytes on disk."""

    def __init__(self) -> None:
        super().__init__()
        self.acks = self.counter("acks")
        self.buckets_closed = self.counter("buckets_closed")
        self.buckets_deleted = self.counter("buckets_deleted")
        self.buckets_purged = self.counter("buckets_purged")
        self.datasets_published = self.counter("datasets_published")
        self.closed_buckets = self.gauge("closed_buckets")
        self.pending_versions = self.gauge("pending_versions")
        self.disk_files = self.gauge("disk_files", initial=None)
        self.disk_bytes = self.gauge("disk_bytes", initial=None)
        self.disk_trashed_files = self.gauge("disk_trashed_files", initial=None)
        self._scanned_at: int | None = None

    def on_step(
        self,
        message: versioner_state.Message,
        state: VersionerState,
        outputs: Iterable[versioner_state.Output],
        config: VersionerConfig,
    ) -> None:
        """After one step whose effects are carried out: count them, show the state and (throttled) the disk.

        A bucket closes with its dataset version, so both counters move together. A deletion or purge
        rescans at once, so the disk gauges follow retention without waiting.
        """
        counts = count_versioner_outputs(outputs)
        self.buckets_closed.inc(counts.datasets)
        self.datasets_published.inc(counts.datasets)
        self.buckets_deleted.inc(counts.trashed)
        self.buckets_purged.inc(counts.purged)
        if isinstance(message, versioner_state.AckIn):
            self.acks.inc()
        self.closed_buckets.set(len(state.closed))
        self.pending_versions.set(len(state.pending))
        due = self._scanned_at is None or message.now_ms - self._scanned_at >= DISK_SCAN_INTERVAL_MS
        if due or counts.trashed or counts.purged:
            self._scanned_at = message.now_ms
            usage = disk_usage(config.buckets_dir, config.prefix)
            self.disk_files.set(usage.files)
            self.disk_bytes.set(usage.bytes)
            self.disk_trashed_files.set(usage.trashed_files)
