"""Idempotent creation and listing of the system's Kafka topics, dead-letter topics included.

Besides the topics named in :class:`Settings`, every topic a job consumes has a ``<topic>.dlq`` companion
(:meth:`Settings.dead_letter_topics`). The broker does not auto-create topics, so they must exist before a
job's dead-letter sink writes to them.
"""

from __future__ import annotations

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from protocol.settings import Settings


def ensure_topics(settings: Settings, *, partitions: int = 1, timeout_s: float = 30.0) -> list[str]:
    """Create every topic of ``settings`` and each ``.dlq`` topic not there yet; return the names created."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = [name for name in settings.all_topics() if name not in existing]
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
    """Records (high minus low watermark) per system and dead-letter topic; -1 for a missing topic."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "rtcef-status"})
    try:
        metadata = consumer.list_topics(timeout=timeout_s)
        sizes: dict[str, int] = {}
        for name in settings.all_topics():
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
