"""Dead letters: the per-topic routing of rejected records and the ``dead_letters`` counter metric.

Every job sends the records it cannot use, wrapped in an encoded :class:`~protocol.messages.DeadLetter`, to
:func:`write_dead_letters`. The sink reads each letter's ``source_topic`` and writes the letter to that
topic's dead-letter topic (``<topic>.dlq``, see :meth:`Settings.dead_letter_topics`), so a poisoned stream
is visible by name; a letter whose source is empty or not a consumed topic of ``settings`` goes to the
catch-all ``dead_letter_topic`` (the broker does not create topics on the fly, so an unknown name must never
become a target).

Each operator that emits dead letters also counts them in a Flink metric named ``dead_letters``
(:class:`DeadLetterCounter`), visible in the web UI and the metrics reporters next to the operator.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream import DataStream
from pyflink.datastream.connectors.base import DeliveryGuarantee
from pyflink.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink

from flink_common.metrics import Counter
from protocol.settings import Settings

__all__ = [
    "DEAD_LETTER_METRIC",
    "DeadLetterCounter",
    "DeadLetterRouter",
    "route_dead_letter",
    "write_dead_letters",
]

DEAD_LETTER_METRIC = "dead_letters"
"""Name of the counter metric every dead-letter-emitting operator registers."""


def route_dead_letter(letter_json: str, routes: Mapping[str, str], fallback: str) -> str:
    """Target topic of one encoded dead letter: ``routes[source_topic]``, else ``fallback``.

    Only the ``source_topic`` field is read (plain JSON, no model validation): routing must never fail,
    whatever the letter holds.
    """
    try:
        letter = json.loads(letter_json)
    except (TypeError, ValueError, RecursionError):
        return fallback
    source = letter.get("source_topic") if isinstance(letter, dict) else None
    if not isinstance(source, str) or not source:
        return fallback
    return routes.get(source, fallback)


class DeadLetterRouter:
    """Picklable topic selector for the dead-letter sink (runs in the Python worker, once per letter)."""

    def __init__(self, routes: Mapping[str, str], fallback: str) -> None:
        self.routes = dict(routes)
        self.fallback = fallback

    @classmethod
    def from_settings(cls, settings: Settings) -> DeadLetterRouter:
        """Routes for every consumed topic of ``settings``; the catch-all topic as fallback."""
        return cls(settings.dead_letter_topics(), settings.dead_letter_topic)

    def __call__(self, letter_json: str) -> str:
        return route_dead_letter(letter_json, self.routes, self.fallback)


def write_dead_letters(stream: DataStream, settings: Settings) -> None:
    """Write a stream of encoded dead letters, each to the ``.dlq`` topic of its source (at-least-once)."""
    sink = (
        KafkaSink.builder()
        .set_bootstrap_servers(settings.kafka_bootstrap_servers)
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder()
            .set_topic_selector(DeadLetterRouter.from_settings(settings))
            .set_value_serialization_schema(SimpleStringSchema())
            .build()
        )
        .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE)
        .build()
    )
    # the uid is the one the single-topic sink had, so that savepoints taken before per-topic routing restore
    stream.sink_to(sink).name("kafka:dead-letters").uid(f"sink-{settings.dead_letter_topic}")


class DeadLetterCounter:
    """The operator's ``dead_letters`` count (a :class:`flink_common.metrics.Counter`: kept in the function,
    registered as a gauge in ``open``, so letters emitted from timer callbacks count too)."""

    def __init__(self) -> None:
        self._counter = Counter(DEAD_LETTER_METRIC)

    def bind(self, runtime_context: Any) -> None:
        """Register the count in the operator's metric group (call from ``open(runtime_context)``)."""
        self._counter.bind(runtime_context.get_metrics_group())

    def inc(self, count: int = 1) -> None:
        """Count ``count`` dead letters."""
        self._counter.inc(count)
