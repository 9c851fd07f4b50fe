"""Idempotent creation and listing of the system's Kafka topics."""

from __future__ import annotations

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from protocol.settings import Settings


def ensure_topics(settings: Settings, *, partitions: int = 1, timeout_s: float = 30.0) -> list[str]:
    """Create every topic of ``settings`` that does not exist yet; return the names created."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = [name for name in settings.topics().values() if name not in existing]
    if not wanted:
        return []
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in wanted],
        request_timeout=timeout_s,
    )
    created: list[str] = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s)
            created.append(name)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    return sorted(created)


def topic_sizes(settings: Settings, *, timeout_s: float = 10.0) -> dict[str, int]:
    """Number of records (high watermark minus low watermark) per system topic."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "rtcef-status"})
    try:
        metadata = consumer.list_topics(timeout=timeout_s)
        sizes: dict[str, int] = {}
        for name in settings.topics().values():
            topic = metadata.topics.get(name)
            if topic is None or topic.error is not None:
                sizes[name] = -1
                continue
            total = 0
            for partition in topic.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=timeout_s)
                total += high - low
            sizes[name] = total
        return sizes
    finally:
        consumer.close()
