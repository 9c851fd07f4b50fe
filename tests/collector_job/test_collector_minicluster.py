"""The collector graph in a local MiniCluster: interleaved vessels over three buckets, bad records and
event-time outliers among them, ACKs that name nothing the collector published; and the same stream
written by two bucket writers, assembled by the factory into the datasets of one writer."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from pyflink.common import Types
from pyflink.datastream import StreamExecutionEnvironment

from collector_job import bucket_files as bf
from collector_job.main import build_graph
from factory_job.assembly import assemble_dataset, event_time_order
from flink_common.loopback import bind_loopback_only
from protocol.codec import encode
from protocol.messages import AssemblyAck, DatasetVersion, DeadLetter
from protocol.settings import BucketAlignment, Settings

HOUR = 3600
BASE = 1_443_830_400  # a UTC midnight: hourly buckets start at BASE, BASE+1h, BASE+2h
FUTURE = 4_000_000_000  # 2096: valid on the wire, decades ahead of the stream


def tag_dataset(text: str) -> str:
    return "D" + text


def tag_dead(text: str) -> str:
    return "X" + text


def run_collector(
    settings: Settings, events: list[str], acks: list[str], *, input_partitions: int = 0
) -> tuple[list[DatasetVersion], list[DeadLetter]]:
    """Run the collector graph on bounded inputs (everything at parallelism 1 but the bucket writers, which
    run at ``settings.parallelism``); returns the dataset versions and the dead letters. With
    ``input_partitions`` the events are partition-tagged values, as the Kafka source gives them."""
    bind_loopback_only()
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    env.set_python_executable(sys.executable)
    datasets, dead = build_graph(
        env.from_collection(events, type_info=Types.STRING()),
        env.from_collection(acks, type_info=Types.STRING()),
        settings,
        tagged=input_partitions > 0,
        input_partitions=max(1, input_partitions),
    )
    merged = datasets.map(tag_dataset, output_type=Types.STRING()).union(
        dead.map(tag_dead, output_type=Types.STRING())
    )
    with merged.execute_and_collect("collector_job-test") as results:
        outputs = list(results)
    versions = [DatasetVersion.model_validate_json(o[1:]) for o in outputs if o.startswith("D")]
    letters = [DeadLetter.model_validate_json(o[1:]) for o in outputs if o.startswith("X")]
    return versions, letters


@pytest.mark.minicluster
def test_collector_graph_buckets_announces_and_survives_bad_records(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        bucket_size_s=HOUR,
        bucket_alignment=BucketAlignment.FIRST_EVENT,
        history_k=2,
        watermark_delay_s=60,
        checkpoint_interval_ms=3_600_000,
    )
    events = [
        json.dumps(
            {
                "timestamp": BASE + minute * 60 + vessel,
                "mmsi": 227592820 + vessel,
                "lon": -4.5,
                "lat": 48.3,
                "speed": 10.0 + vessel,
                "entry_fishing": vessel % 2,
            }
        )
        for minute in range(0, 180, 10)
        for vessel in range(3)
    ]
    events.insert(5, '{"timestamp": "yesterday"}')
    outlier = events[0].replace(str(BASE), str(FUTURE))
    events.insert(30, outlier)  # far ahead, in the middle of good traffic
    events.insert(0, outlier.replace(str(FUTURE), str(FUTURE + 1)))  # far ahead, and the first event
    huge = json.dumps({"timestamp": 10**16, "mmsi": 227592820, "lon": -4.5, "lat": 48.3})
    events.insert(20, huge)  # 1e16 (once fatal to the job): outside the contract
    # ACKs the factory cannot have sent, whichever of the two inputs runs first: a version the collector
    # never published, and version 0 with buckets it never listed
    acks = [
        encode(AssemblyAck(version=7, bucket_starts=(BASE,))),
        encode(AssemblyAck(version=0, bucket_starts=(BASE + 5 * HOUR,))),
    ]

    versions, letters = run_collector(settings, events, acks)
    assert [(v.version, v.bucket_starts) for v in versions] == [
        (0, (BASE,)),
        (1, (BASE, BASE + HOUR)),
        (2, (BASE + HOUR, BASE + 2 * HOUR)),
    ]
    buckets = settings.buckets_dir
    assert versions[2].bucket_paths == tuple(
        str(bf.bucket_path(buckets, settings.bucket_prefix, s)) for s in versions[2].bucket_starts
    )
    by_topic = sorted((d.source_topic, d.job) for d in letters)
    assert (
        by_topic
        == [(settings.assembly_topic, "collector_job")] * 2 + [(settings.input_topic, "collector_job")] * 4
    )
    input_letters = [d for d in letters if d.source_topic == settings.input_topic]
    assert sum("ahead of the stream" in d.reason for d in input_letters) == 2
    assert {d.payload for d in input_letters if "ahead of the stream" in d.reason} == {
        outlier,
        outlier.replace(str(FUTURE), str(FUTURE + 1)),
    }
    undecodable = {d.payload for d in input_letters if "timestamp" in d.reason}
    assert undecodable == {'{"timestamp": "yesterday"}', huge}

    # no ACK named a published version with its buckets: nothing released, nothing lost
    for start in (BASE, BASE + HOUR, BASE + 2 * HOUR):
        rows = bf.read_rows(bf.bucket_path(buckets, settings.bucket_prefix, start))
        assert len(rows) == 18  # 6 ten-minute steps x 3 vessels
        assert {r["mmsi"] for r in rows} == {"227592820", "227592821", "227592822"}
        assert list(rows[0])[-1] == "entry_fishing"
        assert all(start <= int(r["timestamp"]) < start + HOUR for r in rows)


@pytest.mark.minicluster
def test_two_bucket_writers_give_the_datasets_of_one(tmp_path: Path) -> None:
    """Eight vessels over three hourly buckets, some reports a little out of order, one too late: at
    parallelism 2 each bucket has a ``_part-0`` and a ``_part-1`` file, and every dataset the factory
    assembles from them has the rows of the single writer's dataset, each vessel's rows in the same order,
    and equals it once that is put in event-time order."""
    events = []
    for minute in range(0, 180, 5):
        for vessel in range(8):
            ts = BASE + minute * 60 + vessel
            report = {"timestamp": ts, "mmsi": 227592820 + vessel, "lon": -4.5 + vessel / 10, "lat": 48.3}
            events.append(json.dumps(report | {"entry_fishing": vessel % 2}))
        if minute % 15 == 10:  # 40 s behind the stream: within the 60 s delay
            events.append(json.dumps({"timestamp": BASE + minute * 60 - 40, "mmsi": 227592821, "lon": 0.0,
                                      "lat": 0.0, "entry_fishing": 1}))  # fmt: skip
    events.append(json.dumps({"timestamp": BASE + 3, "mmsi": 227592822, "lon": 0.0, "lat": 0.0}))  # late
    acks = [encode(AssemblyAck(version=7, bucket_starts=(BASE,)))]

    runs = {}
    for parallelism in (1, 2):
        settings = Settings(
            data_dir=tmp_path / f"p{parallelism}",
            bucket_size_s=HOUR,
            bucket_alignment=BucketAlignment.FIRST_EVENT,
            history_k=2,
            watermark_delay_s=60,
            checkpoint_interval_ms=3_600_000,
            parallelism=parallelism,
        )
        versions, letters = run_collector(settings, events, acks)
        runs[parallelism] = settings, versions, letters

    (one, one_versions, one_letters), (two, two_versions, two_letters) = runs[1], runs[2]
    assert [(v.version, v.bucket_starts, v.timestamp) for v in two_versions] == [
        (v.version, v.bucket_starts, v.timestamp) for v in one_versions
    ]
    assert [v.bucket_starts for v in two_versions] == [
        (BASE,),
        (BASE, BASE + HOUR),
        (BASE + HOUR, BASE + 2 * HOUR),
    ]
    assert sorted((d.source_topic, d.reason, d.payload) for d in two_letters) == sorted(
        (d.source_topic, d.reason, d.payload) for d in one_letters
    )
    assert sum("late event" in d.reason for d in two_letters) == 1
    prefix = two.bucket_prefix
    for start in (BASE, BASE + HOUR, BASE + 2 * HOUR):
        for part in (0, 1):
            assert bf.bucket_path(two.buckets_dir, prefix, start, part).exists()
        assert not bf.bucket_path(two.buckets_dir, prefix, start).exists()
    assert two_versions[2].bucket_paths == tuple(
        str(bf.bucket_path(two.buckets_dir, prefix, s, p))
        for s in (BASE + HOUR, BASE + 2 * HOUR)
        for p in (0, 1)
    )

    for single, parallel in zip(one_versions, two_versions, strict=True):
        frames = []
        for settings, version in ((one, single), (two, parallel)):
            result = assemble_dataset(version, settings.datasets_dir, settings.buckets_dir, key_column="mmsi")
            assert result.problems == () and result.dataset is not None
            frames.append(pd.read_csv(result.dataset.path, dtype=str, keep_default_na=False))
        whole, merged = frames
        assert Counter(map(tuple, merged.to_numpy())) == Counter(map(tuple, whole.to_numpy()))
        for _, rows in whole.groupby("mmsi"):
            assert (
                merged[merged["mmsi"] == rows["mmsi"].iloc[0]].to_numpy().tolist() == rows.to_numpy().tolist()
            )
        pd.testing.assert_frame_equal(merged, event_time_order(whole, "mmsi"))
        assert not merged.equals(whole)  # the rows that came out of order did move


@pytest.mark.minicluster
def test_two_input_partitions_read_in_chunks_lose_no_event(tmp_path: Path) -> None:
    """A backlog of two Kafka partitions arrives in alternating chunks, one partition hours ahead of the
    other at times: no event is late, every one is in a bucket row, and the versions are those of the
    same stream in event-time order on one partition."""
    vessels = [227592820 + v for v in range(6)]
    stream = [(minute * 60 + v, vessel) for minute in range(0, 6 * 60, 4) for v, vessel in enumerate(vessels)]
    partition_of = {vessel: v % 2 for v, vessel in enumerate(vessels)}  # one vessel stays on one partition
    parts: list[list[str]] = [[], []]
    for offset, vessel in stream:
        event = {"timestamp": BASE + offset, "mmsi": vessel, "lon": -4.5, "lat": 48.3}
        parts[partition_of[vessel]].append(f"{partition_of[vessel]}\t{json.dumps(event)}")
    chunked, sizes = [], [150, 40, 90, 200, 60]  # partition 0 runs far ahead, then 1 catches up, ...
    while parts[0] or parts[1]:
        for part in (0, 1):
            size = sizes[len(chunked) % len(sizes)]
            chunked += parts[part][:size]
            parts[part] = parts[part][size:]
    settings = Settings(
        data_dir=tmp_path / "tagged",
        bucket_size_s=HOUR,
        history_k=2,
        watermark_delay_s=60,
        checkpoint_interval_ms=3_600_000,
        parallelism=2,
    )
    versions, letters = run_collector(settings, chunked, [], input_partitions=2)
    assert letters == []
    rows = Counter()
    for path in settings.buckets_dir.glob("*.csv"):
        for row in pd.read_csv(path).itertuples():
            rows[(int(row.mmsi), int(row.timestamp))] += 1
    assert rows == Counter((vessel, BASE + offset) for offset, vessel in stream)
    assert [v.bucket_starts[-1] for v in versions] == [BASE + h * HOUR for h in range(6)]
