"""The versioner's Flink function behind the writers (fake state and timers, real files): dataset versions
over every part, ACK-driven deletion of every part, and crash/restore without loss or duplicates."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from collector_harness import (
    T0,
    CollectorHarness,
    ack_of,
    at,
    ev,
    run_clean,
    script,
    settings_for,
    snapshot,
)

from collector_job import bucket_files as bf
from collector_job.versioner_process import versioner_key

VERSIONS = {0: at(0), 1: at(0, 100), 2: at(100, 200), 3: at(200, 300), 4: at(300, 400)}


def test_versioner_key_is_constant() -> None:
    assert versioner_key(object()) == versioner_key("x") == "collector"


def test_clean_run_writes_buckets_versions_and_deletes_acked(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    harness, files = run_clean(settings)
    assert {d.version: d.bucket_starts for d in harness.datasets} == VERSIONS
    buckets = settings.buckets_dir
    assert harness.datasets[4].bucket_paths == (
        str(buckets / f"dt_bucket_{T0 + 300}.csv"),
        str(buckets / f"dt_bucket_{T0 + 400}.csv"),
    )
    # versions 0..2 ACKed: buckets 0 and 100 are no longer needed and went to the trash
    assert sorted(files) == [
        f"dt_bucket_{T0}.csv.deleted",
        f"dt_bucket_{T0 + 100}.csv.deleted",
        f"dt_bucket_{T0 + 200}.csv",
        f"dt_bucket_{T0 + 300}.csv",
        f"dt_bucket_{T0 + 400}.csv",
    ]
    rows = bf.read_rows(buckets / f"dt_bucket_{T0 + 200}.csv")
    assert list(rows[0]) == ["timestamp", "mmsi", "lon", "lat", "speed", "heading", "cog", "area"]
    assert sorted(int(r["timestamp"]) for r in rows) == sorted(
        [*at(*range(203, 300, 7)), *at(*(t - 3 for t in range(210, 300, 21)))]
    )
    assert harness.dead == []
    assert bf.read_version_floor(buckets) == 5


def test_parts_give_the_same_versions_and_rows_and_releases_delete_every_part(tmp_path: Path) -> None:
    single = settings_for(tmp_path / "one")
    parallel = settings_for(tmp_path / "two", collector_parts=2, parallelism=2)
    one, one_files = run_clean(single)
    two, two_files = run_clean(parallel)
    assert {d.version: d.bucket_starts for d in two.datasets} == VERSIONS
    assert [d.timestamp for d in two.datasets] == [d.timestamp for d in one.datasets]
    last = two.datasets[4]
    assert last.bucket_paths == tuple(
        str(parallel.buckets_dir / f"dt_bucket_{start}_part-{part}.csv")
        for start in at(300, 400)
        for part in (0, 1)
    )
    assert sorted(two_files) == sorted(
        f"{name.removesuffix('.csv').removesuffix('.csv.deleted')}_part-{part}.csv"
        + (".deleted" if name.endswith(".deleted") else "")
        for name in one_files
        for part in (0, 1)
    )
    for start in at(200, 300, 400):  # each key's rows, in order, are the single file's
        whole = bf.read_rows(single.buckets_dir / f"dt_bucket_{start}.csv")
        parts = [
            r for p in (0, 1) for r in bf.read_rows(parallel.buckets_dir / f"dt_bucket_{start}_part-{p}.csv")
        ]
        assert Counter(tuple(r.items()) for r in parts) == Counter(tuple(r.items()) for r in whole)
        for key in {r["mmsi"] for r in whole}:
            assert [r for r in parts if r["mmsi"] == key] == [r for r in whole if r["mmsi"] == key]
    assert two.dead == one.dead == []


@pytest.mark.parametrize("parts", [1, 2])
def test_restart_from_any_checkpoint_gives_the_same_files(tmp_path: Path, parts: int) -> None:
    """Crash after record ``crash``, restore the state of record ``checkpoint``, replay: same result."""
    _, expected = run_clean(settings_for(tmp_path / "clean", collector_parts=parts, parallelism=parts))
    records = script()
    for checkpoint, crash in [(1, 30), (20, 45), (38, 60), (40, len(records)), (55, 74), (70, 71), (75, 95)]:
        settings = settings_for(
            tmp_path / f"run-{checkpoint}-{crash}", collector_parts=parts, parallelism=parts
        )
        first = CollectorHarness(settings)
        saved = None
        for index, record in enumerate(records[:crash]):
            if index == checkpoint:
                saved = first.checkpoint()
            first.feed(record)
        # crash: nothing is closed or flushed beyond what append already flushed
        second = CollectorHarness(settings, saved)
        for record in records[checkpoint:]:
            second.feed(record)
        second.end_of_input()
        assert snapshot(settings.buckets_dir) == expected, (checkpoint, crash)
        versions = {d.version: d.bucket_starts for d in first.datasets + second.datasets}
        assert versions == VERSIONS
        assert first.dead == second.dead == []


def test_start_without_state_moves_old_files_aside_and_keeps_counting_versions(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, collector_parts=2, parallelism=2)
    first = CollectorHarness(settings)
    for record in [ev(1, "4"), ev(2, "0"), ev(150, "4"), ev(260, "0")]:
        first.feed(record)
    first.end_of_input()
    assert [d.version for d in first.datasets] == [0, 1, 2]
    fresh = CollectorHarness(settings)  # e.g. redeployed without savepoint: the source replays from the start
    for record in [ev(1, "4"), ev(2, "0"), ev(150, "4")]:
        fresh.feed(record)
    fresh.end_of_input()
    assert [d.version for d in fresh.datasets] == [3, 4]
    buckets = settings.buckets_dir
    assert bf.count_rows(buckets / f"dt_bucket_{T0}_part-0.csv") == 1  # not 2: the old file went to the trash
    assert (buckets / f"dt_bucket_{T0 + 200}_part-1.csv.deleted").exists()


def test_fresh_start_with_parts_moves_the_single_writers_files_aside(tmp_path: Path) -> None:
    single = CollectorHarness(settings_for(tmp_path))
    for record in [ev(1), ev(150)]:
        single.feed(record)
    single.end_of_input()
    parallel = CollectorHarness(settings_for(tmp_path, collector_parts=2, parallelism=2))
    for record in [ev(1), ev(150)]:
        parallel.feed(record)
    parallel.end_of_input()
    names = sorted(snapshot(tmp_path / "buckets"))
    assert f"dt_bucket_{T0}.csv.deleted" in names and f"dt_bucket_{T0}.csv" not in names
    assert [d.version for d in parallel.datasets] == [2, 3]


def test_late_event_reaches_dead_letters(tmp_path: Path) -> None:
    harness = CollectorHarness(settings_for(tmp_path, collector_parts=2, parallelism=2))
    for record in [ev(1, "4"), ev(120, "4"), ev(50, "0")]:  # vessel 0's part never had bucket 0
        harness.feed(record)
    (letter,) = harness.dead
    assert sum(s.runtime.dead_letters() for s in harness.subtasks) == 1
    assert (
        letter.job == "collector_job"
        and "late event" in letter.reason
        and f'"timestamp": {T0 + 50}' in letter.payload
    )


def test_ack_of_a_version_never_published_deletes_nothing(tmp_path: Path) -> None:
    harness = CollectorHarness(settings_for(tmp_path, collector_parts=2, parallelism=2))
    for record in [ev(1, "4"), ev(2, "0"), ev(150), ev(260)]:  # versions 0 and 1 published, 200 still open
        harness.feed(record)
    buckets = tmp_path / "buckets"
    files = snapshot(buckets)
    for record in [ack_of(2, 100, 200), ack_of(9, 0), ack_of(2**53 - 1, 0, 100)]:
        harness.feed(record)
    assert snapshot(buckets) == files
    assert [d.source_topic for d in harness.dead] == ["assembly_reports"] * 3
    assert all("never published" in d.reason for d in harness.dead)
    assert harness.versioner_runtime.dead_letters() == 3
    for record in [ack_of(0, 0), ack_of(1, 0, 100)]:  # the genuine ACKs still release, every part
        harness.feed(record)
    assert (buckets / f"dt_bucket_{T0}_part-0.csv.deleted").exists()
    assert (buckets / f"dt_bucket_{T0}_part-1.csv.deleted").exists()


def test_replayed_ack_of_a_version_published_before_a_restore_releases_it_when_recreated(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    first = CollectorHarness(settings)
    first.feed(ev(1))
    saved = first.checkpoint()
    for record in [ev(150), ev(260)]:
        first.feed(record)
    assert [d.version for d in first.datasets] == [0, 1]
    second = CollectorHarness(settings, saved)  # restored to before both versions were published
    for record in [ack_of(0, 0), ack_of(1, 0, 100)]:  # the ACK topic replays first
        second.feed(record)
    assert second.dead == []
    for record in [ev(150), ev(260)]:
        second.feed(record)
    assert [d.version for d in second.datasets] == [0, 1]
    assert (tmp_path / "buckets" / f"dt_bucket_{T0}.csv.deleted").exists()


def test_a_deletion_after_the_checkpoint_is_undone_for_every_part(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, collector_parts=2, parallelism=2)
    first = CollectorHarness(settings)
    for record in [ev(1, "4"), ev(2, "0"), ev(150, "4"), ev(260, "0")]:
        first.feed(record)
    saved = first.checkpoint()
    for record in [ack_of(0, 0), ack_of(1, 0, 100)]:
        first.feed(record)
    buckets = settings.buckets_dir
    assert not (buckets / f"dt_bucket_{T0}_part-0.csv").exists()
    second = CollectorHarness(settings, saved)
    second.feed(ev(270, "4"))  # the versioner reconciles on its first element or timer
    second.advance(10**15)
    assert (buckets / f"dt_bucket_{T0}_part-0.csv").exists() and (
        buckets / f"dt_bucket_{T0}_part-1.csv"
    ).exists()
    assert bf.count_rows(buckets / f"dt_bucket_{T0}_part-1.csv") == 1
