"""The collector's metrics move as it works: the real Flink function (the harness of the process tests:
fake state, timers and watermark) writing real bucket files, with the fake metric group."""

from __future__ import annotations

from pathlib import Path

from test_collector_process import T0, Harness, ack_of, ev, settings_for

from collector_job.collector_state import AppendRow, CloseBucket, DeleteBucket, EmitDataset, PurgeBucket
from collector_job.metrics import DISK_SCAN_INTERVAL_MS, count_outputs, disk_usage
from protocol.messages import DatasetVersion


def test_events_buckets_acks_deletions_and_disk_usage_follow_the_collector(tmp_path: Path) -> None:
    harness = Harness(settings_for(tmp_path))
    runtime = harness.runtime
    for ts in range(0, 250, 10):  # buckets of 100 s: 0 and 100 close, 200 stays open
        harness.feed(ev(ts))
    harness.timers.now += DISK_SCAN_INTERVAL_MS  # the disk is scanned at most once a second
    harness.feed(ev(245))
    assert runtime.count("events_written") == 26
    assert runtime.count("buckets_closed") == runtime.count("datasets_published") == 2
    assert (runtime.gauge("open_buckets"), runtime.gauge("closed_buckets")) == (1, 2)
    assert runtime.gauge("pending_versions") == 2
    buckets = tmp_path / "buckets"
    live = sorted(buckets.glob("*.csv"))
    assert runtime.gauge("disk_files") == len(live) == 3
    assert runtime.gauge("disk_bytes") == sum(p.stat().st_size for p in live)

    harness.feed(ack_of(0, 0))
    harness.feed(ack_of(1, 0, 100))  # bucket 0 is in no unacknowledged version any more: to the trash
    assert runtime.count("acks") == 2
    assert runtime.count("buckets_deleted") == 1 and runtime.gauge("closed_buckets") == 1
    assert runtime.gauge("pending_versions") == 0
    assert (runtime.gauge("disk_files"), runtime.gauge("disk_trashed_files")) == (3, 1)
    assert (buckets / f"dt_bucket_{T0}.csv.deleted").exists()


def test_disk_usage_counts_this_collectors_files_only(tmp_path: Path) -> None:
    harness = Harness(settings_for(tmp_path))
    harness.feed(ev(1))
    (tmp_path / "buckets" / "notes.txt").write_text("not a bucket")
    usage = disk_usage(harness.config)
    assert (usage.files, usage.trashed_files) == (1, 0)
    assert usage.bytes == (tmp_path / "buckets" / f"dt_bucket_{T0}.csv").stat().st_size


def test_count_outputs_by_kind() -> None:
    path = Path("/b/x.csv")
    dataset = DatasetVersion(version=0, timestamp=1, bucket_starts=(0,), bucket_paths=("/b/x.csv",))
    rows = [AppendRow(0, path, ("a",), {"a": n}) for n in (1, 2)]
    outputs = [*rows, CloseBucket(0, path), EmitDataset(dataset), DeleteBucket(0, path), PurgeBucket(0, path)]
    counts = count_outputs(outputs)
    assert (counts.rows, counts.closed, counts.datasets, counts.trashed, counts.purged) == (2, 1, 1, 1, 1)
