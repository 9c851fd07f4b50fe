"""The collector's metrics (operator ``collector``; names and units in docs/metrics.md).

:func:`count_outputs` is pure: what one step's effects do to the bucket directory (rows appended, buckets
closed, moved to the trash, purged, datasets published). :class:`CollectorMetrics` counts those, shows the
buckets the state holds, and the bucket files and bytes on disk, from a scan of the bucket folder made at
most every :data:`DISK_SCAN_INTERVAL_MS` of processing time (a directory listing and one ``stat`` per
bucket file, so a hot stream of events does not pay it per event).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from collector_job import bucket_files
from collector_job.collector_state import (
    AckIn,
    AppendRow,
    CloseBucket,
    CollectorConfig,
    CollectorState,
    DeleteBucket,
    EmitDataset,
    Message,
    Output,
    PurgeBucket,
)
from flink_common.metrics import OperatorMetrics

__all__ = [
    "DISK_SCAN_INTERVAL_MS",
    "CollectorMetrics",
    "DiskUsage",
    "OutputCounts",
    "count_outputs",
    "disk_usage",
]

DISK_SCAN_INTERVAL_MS = 1_000
"""At most one scan of the bucket folder per this much processing time."""


@dataclass(frozen=True)
class OutputCounts:
    """What one step's outputs do to the bucket directory."""

    rows: int = 0
    closed: int = 0
    trashed: int = 0
    purged: int = 0
    datasets: int = 0


def count_outputs(outputs: Iterable[Output]) -> OutputCounts:
    """Count the effects among ``outputs`` by kind."""
    rows = closed = trashed = purged = datasets = 0
    for output in outputs:
        if isinstance(output, AppendRow):
            rows += 1
        elif isinstance(output, CloseBucket):
            closed += 1
        elif isinstance(output, DeleteBucket):
            trashed += 1
        elif isinstance(output, PurgeBucket):
            purged += 1
        elif isinstance(output, EmitDataset):
            datasets += 1
    return OutputCounts(rows, closed, trashed, purged, datasets)


@dataclass(frozen=True)
class DiskUsage:
    """This collector's bucket files on disk, live and trashed (``.deleted``, not yet purged)."""

    files: int
    bytes: int
    trashed_files: int


def disk_usage(config: CollectorConfig) -> DiskUsage:
    """Scan the bucket folder for this collector's files (a file that vanishes meanwhile is skipped)."""
    files = size = trashed = 0
    for found in bucket_files.scan(config.buckets_dir, config.prefix, config.part):
        try:
            size += os.stat(found.path).st_size
        except OSError:
            continue
        files += 1
        trashed += int(found.trashed)
    return DiskUsage(files, size, trashed)


class CollectorMetrics(OperatorMetrics):
    """Events written, ACKs, buckets and datasets; open buckets, bucket files and bytes on disk."""

    def __init__(self) -> None:
        super().__init__()
        self.events_written = self.counter("events_written")
        self.acks = self.counter("acks")
        self.buckets_closed = self.counter("buckets_closed")
        self.buckets_deleted = self.counter("buckets_deleted")
        self.buckets_purged = self.counter("buckets_purged")
        self.datasets_published = self.counter("datasets_published")
        self.open_buckets = self.gauge("open_buckets")
        self.closed_buckets = self.gauge("closed_buckets")
        self.pending_versions = self.gauge("pending_versions")
        self.disk_files = self.gauge("disk_files", initial=None)
        self.disk_bytes = self.gauge("disk_bytes", initial=None)
        self.disk_trashed_files = self.gauge("disk_trashed_files", initial=None)
        self._scanned_at: int | None = None

    def on_step(
        self, message: Message, state: CollectorState, outputs: Iterable[Output], config: CollectorConfig
    ) -> None:
        """After one step whose effects are carried out: count them, show the state and (throttled) the disk.

        A deletion or purge rescans at once, so the disk gauges follow retention without waiting.
        """
        counts = count_outputs(outputs)
        self.events_written.inc(counts.rows)
        self.buckets_closed.inc(counts.closed)
        self.buckets_deleted.inc(counts.trashed)
        self.buckets_purged.inc(counts.purged)
        self.datasets_published.inc(counts.datasets)
        if isinstance(message, AckIn):
            self.acks.inc()
        self.open_buckets.set(len(state.open))
        self.closed_buckets.set(len(state.closed))
        self.pending_versions.set(len(state.pending))
        due = self._scanned_at is None or message.now_ms - self._scanned_at >= DISK_SCAN_INTERVAL_MS
        if due or counts.trashed or counts.purged:
            self._scanned_at = message.now_ms
            usage = disk_usage(config)
            self.disk_files.set(usage.files)
            self.disk_bytes.set(usage.bytes)
            self.disk_trashed_files.set(usage.trashed_files)
