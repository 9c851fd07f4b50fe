"""Per-shard event batches: the shard function, and the JVM batching + keying + line splitting on real Kafka.

The Kafka test runs ``read_topic`` (unbounded, as the deployed job) -> :func:`batch_in_jvm` ->
:func:`key_by_shard` -> a keyed Python function that tags each event of its batch with the Flink key ->
:func:`split_lines_in_jvm`, in a local MiniCluster, and reads results until every event came back.
Every event must come back once, all events of a vessel under one shard, in produce order per vessel.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import Producer
from pyflink.common import Types
from pyflink.datastream.functions import KeyedProcessFunction
from pyflink.table import StreamTableEnvironment

from flink_common.io import make_env, read_topic
from inference_job.event_batches import (
    batch_in_jvm,
    events_of,
    key_by_shard,
    shard_of,
    shard_of_raw,
    split_lines,
    split_lines_in_jvm,
)
from protocol.settings import Settings

SHARDS = 16


def test_shards_are_in_range_and_spread() -> None:
    shards = [shard_of(str(227_000_000 + k), SHARDS) for k in range(2000)]
    assert set(shards) == set(range(SHARDS))
    assert shard_of("227000001", SHARDS) == shard_of("227000001", SHARDS)


def test_the_shard_of_a_raw_event_is_that_of_its_partition_key_text() -> None:
    assert shard_of_raw('{"mmsi": 227592820}', "mmsi", SHARDS) == shard_of("227592820", SHARDS)
    assert shard_of_raw('{"mmsi": "227592820"}', "mmsi", SHARDS) == shard_of("227592820", SHARDS)
    assert shard_of_raw('{"pan": "p1"}', "pan", SHARDS) == shard_of("p1", SHARDS)
    for unusable in ["not json", "[1, 2]", '{"mmsi": {"nested": 1}}', '{"lat": 1.0}', '{"mmsi": null}']:
        assert shard_of_raw(unusable, "mmsi", SHARDS) == shard_of("", SHARDS), unusable


def test_batches_and_lines_round_trip() -> None:
    raw = ['{"mmsi": 1}', "not json\nwith a newline", '{"mmsi": 2}']
    assert events_of(json.dumps(raw)) == raw
    assert split_lines("a\nb") == ["a", "b"]


class TagWithKey(KeyedProcessFunction):
    """Each event of a batch -> ``<flink key>\\t<raw event>``; the batch leaves as one record of lines."""

    def process_element(self, value: str, ctx: KeyedProcessFunction.Context) -> Iterator[str]:
        yield "\n".join(f"{ctx.get_current_key()}\t{json.dumps(raw)}" for raw in events_of(value))


@pytest.fixture()
def input_topic(new_topic: Callable[..., str]) -> str:
    return new_topic(partitions=2, prefix="batches")


@pytest.mark.kafka
def test_jvm_batches_keep_every_event_once_under_its_shard_in_order(
    kafka_bootstrap: str, input_topic: str
) -> None:
    vessels = [str(227_000_000 + v) for v in range(12)]
    produced: list[tuple[str, str]] = []
    for n in range(600):
        key = vessels[n % len(vessels)] if n % 7 else vessels[(n * 5) % len(vessels)]
        produced.append((key, json.dumps({"mmsi": int(key), "timestamp": n, "lat": 45.0, "lon": 0.0})))
    produced.insert(100, ("", "not json at all"))
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for key, value in produced:  # keyed like the data feeder: one vessel stays on one partition
        producer.produce(input_topic, key=key or None, value=value)
    assert producer.flush(30) == 0

    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        input_topic=input_topic,
        consumer_group_prefix=f"batches-{uuid.uuid4().hex[:6]}",
        parallelism=2,
        checkpoint_interval_ms=1000,
    )
    env = make_env(settings)
    t_env = StreamTableEnvironment.create(env)
    events = read_topic(env, settings, input_topic, group="batches")
    batches = batch_in_jvm(t_env, events, "mmsi", SHARDS, window_ms=50)
    tagged = key_by_shard(batches).process(TagWithKey(), output_type=Types.STRING())
    lines = split_lines_in_jvm(tagged)

    received: list[tuple[int, str]] = []
    with lines.execute_and_collect() as results:  # unbounded: closing the iterator cancels the job
        for line in results:
            shard, raw = line.split("\t", 1)
            received.append((int(shard), json.loads(raw)))
            if len(received) == len(produced):
                break

    assert sorted(raw for _, raw in received) == sorted(value for _, value in produced)  # each once
    assert {shard for shard, _ in received} <= set(range(SHARDS))
    for vessel in vessels:
        assert len({shard for shard, raw in received if _key_of(raw) == vessel}) == 1, vessel
        expected = [value for key, value in produced if key == vessel]
        assert [raw for _, raw in received if _key_of(raw) == vessel] == expected, vessel


def _key_of(raw: str) -> str | None:
    try:
        return str(json.loads(raw)["mmsi"])
    except (ValueError, KeyError):
        return None


@pytest.mark.minicluster
def test_the_jvm_split_gives_each_line_as_a_record_in_order() -> None:
    env = make_env(Settings(parallelism=1), with_kafka=True)
    batches = ['{"a": 1}\n{"b": 2}\n{"c": 3}', '{"d": 4}', "x\n\ny", ""]
    lines = split_lines_in_jvm(env.from_collection(batches, type_info=Types.STRING()))
    with lines.execute_and_collect() as results:
        received = list(results)
    assert received == [line for batch in batches for line in split_lines(batch)]
    assert received[:4] == ['{"a": 1}', '{"b": 2}', '{"c": 3}', '{"d": 4}'] and received[-1] == ""
