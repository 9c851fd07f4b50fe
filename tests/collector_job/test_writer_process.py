"""The bucket writer's Flink function: parts on their own subtasks, files per part, restore per part."""

from __future__ import annotations

import json
from pathlib import Path

from collector_harness import T0, CollectorHarness, ev, settings_for

from collector_job import bucket_files as bf
from collector_job.guard_process import TrustedEvent
from collector_job.parts import part_of, routing_keys, subtask_of
from collector_job.writer_process import PartKey, apply_effects
from collector_job.writer_state import WriterConfig
from protocol.settings import Domain


def trusted(ts: int, key: str, field: str = "mmsi") -> TrustedEvent:
    return TrustedEvent(ts=ts, record={"timestamp": ts, field: key}, payload="{}", origin=ts, watermark=ts)


def test_part_key_routes_each_part_to_the_subtask_of_its_number() -> None:
    for parts in (1, 2, 3, 4):
        selector = PartKey(parts, "mmsi")
        for mmsi in ("227592820", "1", "x"):
            expected = part_of(mmsi, parts)
            route = selector.get_key(trusted(T0, mmsi))
            assert routing_keys(parts).index(route) == (expected or 0)
            assert subtask_of(route, parts) == (expected or 0)
    finance = PartKey(2, "pan")
    assert finance.get_key(trusted(T0, "4000", "pan")) == routing_keys(2)[part_of("4000", 2) or 0]


def test_each_part_writes_its_keys_to_its_own_files(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, collector_parts=2, parallelism=2)
    harness = CollectorHarness(settings)
    vessels = [str(v) for v in range(8)]
    for ts in range(0, 60, 10):
        for vessel in vessels:
            harness.feed(ev(ts, mmsi=vessel))
    buckets = settings.buckets_dir
    for part in (0, 1):
        rows = bf.read_rows(bf.bucket_path(buckets, settings.bucket_prefix, T0, part))
        assert {r["mmsi"] for r in rows} == {v for v in vessels if part_of(v, 2) == part}
        assert len(rows) == 6 * len({r["mmsi"] for r in rows})
    assert not bf.bucket_path(buckets, settings.bucket_prefix, T0).exists()
    assert [s.runtime.count("events_written") for s in harness.subtasks] == [
        sum(part_of(v, 2) == p for v in vessels) * 6 for p in (0, 1)
    ]  # one part per subtask


def test_a_restored_part_cuts_only_its_own_rows_beyond_the_checkpoint(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, collector_parts=2, parallelism=2)
    first = CollectorHarness(settings)
    vessels = ("4", "0")  # one vessel per part: 0, 1
    assert {part_of(v, 2) for v in vessels} == {0, 1}
    first.feed(ev(1, vessels[0]))
    first.feed(ev(2, vessels[1]))
    saved = first.checkpoint()
    for record in (ev(3, vessels[0]), ev(4, vessels[1]), ev(5, vessels[1])):
        first.feed(record)
    path = {
        v: bf.bucket_path(settings.buckets_dir, settings.bucket_prefix, T0, part_of(v, 2)) for v in vessels
    }
    assert [bf.count_rows(path[v]) for v in vessels] == [2, 3]
    second = CollectorHarness(settings, saved)
    second.feed(ev(3, vessels[0]))  # only part of vessel 0 has seen an element: only its file is cut
    assert [bf.count_rows(path[v]) for v in vessels] == [2, 3]
    assert [int(r["timestamp"]) for r in bf.read_rows(path[vessels[0]])] == [T0 + 1, T0 + 3]
    second.feed(ev(4, vessels[1]))
    assert [int(r["timestamp"]) for r in bf.read_rows(path[vessels[1]])] == [T0 + 2, T0 + 4]


def test_finance_events_use_milliseconds(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, domain=Domain.FINANCE, bucket_size_s=1)
    harness = CollectorHarness(settings)
    t0_ms = T0 * 1000
    harness.feed(("event", json.dumps({"timestamp": t0_ms + 1_500, "pan": "p1", "amount": 3.0})))
    (subtask,) = harness.subtasks
    assert {ms for _, ms in subtask.timers.timers} == {t0_ms + 1_999}
    harness.end_of_input()
    (dataset,) = harness.datasets
    assert dataset.bucket_starts == (t0_ms + 1_000,) and dataset.timestamp == t0_ms + 2_000


def test_apply_effects_ignores_empty_output(tmp_path: Path) -> None:
    config = WriterConfig.from_settings(settings_for(tmp_path))
    assert apply_effects([], bf.BucketWriter(tmp_path), None, config) == []
