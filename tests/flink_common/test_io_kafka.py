"""The shared Kafka I/O on a real broker: a bounded PyFlink job (local MiniCluster) that decodes input events.

``make_env`` + ``read_topic(bounded=True)`` -> a decoding operator -> ``write_topic`` for the good events and
``write_dead_letters`` for the rest. Good events must come out complete and in order; every malformed payload
(bad JSON, wrong field types, bytes that are not UTF-8, a tombstone: a record with no value) must land on
``<input>.dlq`` with its reason and raw payload, and nothing on the catch-all dead-letter topic. Run it
holding the cluster lock (it uses the broker).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from pyflink.common import Types

from flink_common import make_env, read_topic, string_tag, write_dead_letters, write_topic
from flink_common.first_operator import DecodeOrDeadLetter
from protocol.codec import TOMBSTONE, decode, encode
from protocol.messages import DeadLetter, MaritimeEvent
from protocol.settings import Settings

GOOD_EVENTS = 40
DEAD_TAG = string_tag("dead_letters")
BAD_JSON = b'{"timestamp": 1443650400, "mmsi": "227", "lon": '
WRONG_TYPES = b'{"timestamp": "yesterday", "mmsi": "227", "lon": "east", "lat": 48.1}'
NOT_UTF8 = b"\xff\xfe-binary"


class DecodeEvents(DecodeOrDeadLetter):
    """Raw JSON -> re-encoded MaritimeEvent; undecodable payloads -> dead letters (counted)."""

    def __init__(self, source_topic: str) -> None:
        super().__init__("io-test", source_topic, DEAD_TAG)

    def convert(self, value: str) -> str:
        return encode(decode(MaritimeEvent, value))


def good_event(i: int) -> bytes:
    return json.dumps(
        {"timestamp": 1_443_650_400 + 60 * i, "mmsi": str(227_000_000 + i % 3), "lon": -4.5, "lat": 48.3}
    ).encode()


def read_all(bootstrap: str, topic: str, expected: int, timeout_s: float) -> list[bytes]:
    """Every value of ``topic`` from the start; waits until ``expected`` arrived, then a little longer."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"io-test-{uuid.uuid4().hex}"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                values.append(message.value())
            elif len(values) >= expected:  # idle after the expected count: catch duplicates or extras
                break
    finally:
        consumer.close()
    return values


@pytest.fixture()
def io_settings(kafka_bootstrap: str) -> Iterator[tuple[Settings, str]]:
    """Settings whose topics are unique to this run; the four topics the job touches exist, then go."""
    run = uuid.uuid4().hex[:8]
    overrides: dict[str, Any] = {name: f"io{run}-{topic}" for name, topic in Settings().topics().items()}
    settings = Settings(
        **overrides,
        kafka_bootstrap_servers=kafka_bootstrap,
        consumer_group_prefix=f"io{run}",
        checkpoint_interval_ms=1000,
        parallelism=1,
    )
    output = f"io{run}-decoded"
    dlq = settings.dlq_topic(settings.input_topic)
    topics = [settings.input_topic, dlq, settings.dead_letter_topic, output]
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    new_topics = [NewTopic(topic, num_partitions=1, replication_factor=1) for topic in topics]
    for future in admin.create_topics(new_topics).values():
        future.result(timeout=30)
    try:
        yield settings, output
    finally:
        for future in admin.delete_topics(topics).values():
            future.result(timeout=30)


@pytest.mark.kafka
def test_bounded_job_decodes_in_order_and_dead_letters_each_bad_payload_on_the_topic_dlq(
    io_settings: tuple[Settings, str],
) -> None:
    settings, output = io_settings
    payloads: list[bytes | None] = [good_event(i) for i in range(GOOD_EVENTS)]
    payloads.insert(5, BAD_JSON)
    payloads.insert(17, WRONG_TYPES)
    payloads.append(NOT_UTF8)
    payloads.insert(30, None)  # a tombstone
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "enable.idempotence": True})
    for payload in payloads:
        producer.produce(settings.input_topic, value=payload)
    assert producer.flush(30) == 0

    env = make_env(settings)
    raw = read_topic(env, settings, settings.input_topic, group="io-test", bounded=True)
    decoded = raw.process(DecodeEvents(settings.input_topic), output_type=Types.STRING()).name("decode")
    write_topic(decoded, settings, output)
    write_dead_letters(decoded.get_side_output(DEAD_TAG), settings)
    started = time.monotonic()
    env.execute("flink_common-io-test")  # bounded: returns when the source has read to the start-time end
    print(f"bounded job ran in {time.monotonic() - started:.1f}s")

    bootstrap = settings.kafka_bootstrap_servers
    outputs = [MaritimeEvent.model_validate_json(v) for v in read_all(bootstrap, output, GOOD_EVENTS, 30)]
    expected = [MaritimeEvent.model_validate_json(good_event(i)) for i in range(GOOD_EVENTS)]
    assert outputs == expected  # all of them, in order, nothing extra

    dlq = settings.dlq_topic(settings.input_topic)
    letters = [DeadLetter.model_validate_json(v) for v in read_all(bootstrap, dlq, 4, 30)]
    assert [letter.source_topic for letter in letters] == [settings.input_topic] * 4
    assert all(letter.reason.startswith("MaritimeEvent: ") and letter.job == "io-test" for letter in letters)
    bad_json, wrong_types, tombstone, not_utf8 = letters
    assert "tombstone" in tombstone.reason and tombstone.payload == TOMBSTONE
    assert bad_json.payload == BAD_JSON.decode() and "json" in bad_json.reason.lower()
    assert wrong_types.payload == WRONG_TYPES.decode() and "(+" in wrong_types.reason  # several fields wrong
    # The source decodes values as UTF-8: bytes that are not UTF-8 arrive as U+FFFD, the rest unchanged.
    assert not_utf8.payload.endswith("-binary") and "\ufffd" in not_utf8.payload
    assert read_all(bootstrap, settings.dead_letter_topic, 0, 3) == []


@pytest.mark.kafka
def test_partition_tagged_values_name_their_partition_and_never_fail(
    kafka_bootstrap: str, new_topic: Any
) -> None:
    """``read_topic(tag_partitions=True)``: every value, tombstones and non-UTF-8 bytes included, arrives as
    ``"<partition>\\t<text>"`` with the partition it was written to (the JVM deserializer of
    runtime/kafka-records)."""
    topic = new_topic(partitions=2, prefix="tagged")
    written: list[tuple[int, bytes | None]] = []
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(30):
        written.append((i % 2, good_event(i)))
    written += [(1, None), (0, NOT_UTF8)]
    for partition, value in written:
        producer.produce(topic, value=value, partition=partition)
    assert producer.flush(30) == 0
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, input_topic=topic,
                        consumer_group_prefix=f"tagged-{uuid.uuid4().hex[:6]}")  # fmt: skip
    env = make_env(settings)
    env.set_parallelism(1)
    values = read_topic(env, settings, topic, group="tagged", bounded=True, tag_partitions=True)
    with values.execute_and_collect() as results:
        got = list(results)
    expected = [
        f"{p}\t{TOMBSTONE if v is None else v.decode('utf-8', errors='replace')}" for p, v in written
    ]
    assert sorted(got) == sorted(expected)
    for partition in (0, 1):  # each partition in the order it was written
        mine = [g for g in got if g.startswith(f"{partition}\t")]
        assert mine == [e for e in expected if e.startswith(f"{partition}\t")]
