"""The collector's metrics move as it works: the real writer and versioner functions (the harness: fake
state, timers and watermark) writing real bucket files, with the fake metric group."""

from __future__ import annotations

from pathlib import Path

from collector_harness import T0, CollectorHarness, ack_of, ev, settings_for

from collector_job import versioner_state, writer_state
from collector_job.metrics import (
    DISK_SCAN_INTERVAL_MS,
    count_versioner_outputs,
    count_writer_outputs,
    disk_usage,
)
from protocol.messages import DatasetVersion


def test_writers_count_rows_and_parts_the_versioner_buckets_acks_deletions_and_disk(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, collector_parts=2, parallelism=2)
    harness = CollectorHarness(settings)
    for ts in range(0, 250, 10):  # buckets of 100 s: 0 and 100 close, 200 stays open; vessels 4 and 0
        harness.feed(ev(ts, mmsi="4" if ts % 20 else "0"))
    harness.versioner_timers.now += DISK_SCAN_INTERVAL_MS  # the disk is scanned at most once a second
    harness.feed(ack_of(9, 0))  # refused, but the versioner runs (and scans)
    writers = [s.runtime for s in harness.subtasks]
    assert [w.count("events_written") for w in writers] == [12, 13]
    assert [w.count("parts_closed") for w in writers] == [2, 2]
    assert [w.gauge("open_buckets") for w in writers] == [1, 1]
    versioner = harness.versioner_runtime
    assert versioner.count("buckets_closed") == versioner.count("datasets_published") == 2
    assert (versioner.gauge("closed_buckets"), versioner.gauge("pending_versions")) == (2, 2)
    live = sorted(settings.buckets_dir.glob("*.csv"))
    assert versioner.gauge("disk_files") == len(live) == 6
    assert versioner.gauge("disk_bytes") == sum(p.stat().st_size for p in live)

    harness.feed(ack_of(0, 0))
    harness.feed(ack_of(1, 0, 100))  # bucket 0 is in no unacknowledged version any more: to the trash
    assert versioner.count("acks") == 3
    assert versioner.count("buckets_deleted") == 1 and versioner.gauge("closed_buckets") == 1
    assert versioner.gauge("pending_versions") == 0
    assert (versioner.gauge("disk_files"), versioner.gauge("disk_trashed_files")) == (6, 2)
    assert (settings.buckets_dir / f"dt_bucket_{T0}_part-0.csv.deleted").exists()


def test_disk_usage_counts_bucket_files_only(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    harness = CollectorHarness(settings)
    harness.feed(ev(1))
    (settings.buckets_dir / "notes.txt").write_text("not a bucket")
    usage = disk_usage(str(settings.buckets_dir), settings.bucket_prefix)
    assert (usage.files, usage.trashed_files) == (1, 0)
    assert usage.bytes == (settings.buckets_dir / f"dt_bucket_{T0}.csv").stat().st_size


def test_count_outputs_by_kind() -> None:
    path = Path("/b/x.csv")
    rows = [writer_state.AppendRow(0, path, ("a",), {"a": n}) for n in (1, 2)]
    closed = writer_state.ClosePart(path, writer_state.ClosedPart(0, None, 2))
    counts = count_writer_outputs([*rows, closed, writer_state.ScheduleClose(0, 1)])
    assert (counts.rows, counts.closed) == (2, 1)
    dataset = DatasetVersion(version=0, timestamp=1, bucket_starts=(0,), bucket_paths=("/b/x.csv",))
    outputs = [
        versioner_state.EmitDataset(dataset),
        versioner_state.DeleteBucket(0, (path, path)),
        versioner_state.PurgeBucket(0, (path,)),
    ]
    counted = count_versioner_outputs(outputs)
    assert (counted.datasets, counted.trashed, counted.purged) == (1, 1, 1)
