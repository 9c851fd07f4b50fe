"""The embedded runtime that `make start` brings up: a real KRaft broker and a real Flink cluster."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from protocol import load_settings
from rtcef_ops.flink_cluster import FlinkCluster, rest_get
from rtcef_ops.paths import RuntimePaths
from rtcef_ops.topics import ensure_topics, topic_sizes


@pytest.mark.kafka
def test_broker_round_trip_keeps_order(kafka_bootstrap: str, unique_topic: str) -> None:
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for i in range(200):
        producer.produce(unique_topic, key=str(i % 7), value=str(i))
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": unique_topic})
    consumer.assign([TopicPartition(unique_topic, 0, 0)])
    values: list[int] = []
    deadline = time.monotonic() + 30
    while len(values) < 200 and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            values.append(int(message.value()))
    consumer.close()
    assert values == list(range(200))


@pytest.mark.kafka
def test_topic_creation_is_idempotent(kafka_bootstrap: str) -> None:
    settings = load_settings(kafka_bootstrap_servers=kafka_bootstrap)
    ensure_topics(settings)
    assert ensure_topics(settings) == []
    sizes = topic_sizes(settings)
    assert set(sizes) == set(settings.topics().values()) | set(settings.dead_letter_topics().values())
    assert f"{settings.input_topic}.dlq" in sizes
    assert all(size >= 0 for size in sizes.values())


@pytest.mark.e2e
def test_flink_cluster_is_healthy_with_free_slots() -> None:
    cluster = FlinkCluster(RuntimePaths())
    if not cluster.healthy():
        pytest.fail("no Flink cluster on :8081; run `make start`")
    overview = rest_get("/overview")
    assert overview["taskmanagers"] >= 1
    assert overview["slots-total"] >= 4
    assert cluster.pids(), "the cluster was not started by this project (no pid files)"
