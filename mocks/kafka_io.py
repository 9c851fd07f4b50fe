"""Small confluent-kafka helpers shared by the mock CLIs: producer settings, reachability, delivery tally.

Why a module: both CLIs must fail fast with one readable line when the broker is down (librdkafka would
otherwise retry quietly for minutes and print its own multi-line logs), and both count delivery reports
the same way so that "sent" means "acknowledged by the broker".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Message, Producer


class BrokerUnreachable(RuntimeError):
    """No broker answered a metadata request within the timeout, or the topic does not exist."""


class ProducerLike(Protocol):
    """The part of :class:`confluent_kafka.Producer` the mocks use (a fake implements it in tests)."""

    def produce(self, topic: str, *args: Any, **kwargs: Any) -> None: ...

    def poll(self, timeout: float = ...) -> int: ...

    def flush(self, timeout: float = ...) -> int: ...


def producer_config(bootstrap: str, *, delivery_timeout_s: float = 30.0) -> dict[str, Any]:
    """Idempotent producer (no duplicates on retries, per-partition order kept), quiet logs.

    ``log_level`` 0 and a no-op ``error_cb`` keep librdkafka's own connection messages off the
    terminal; failures surface through :func:`ensure_reachable` and the delivery reports instead.
    """
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "message.timeout.ms": int(delivery_timeout_s * 1000),
        "log_level": 0,
        "error_cb": lambda _err: None,
    }


def make_producer(bootstrap: str, *, delivery_timeout_s: float = 30.0) -> Producer:
    """A real idempotent producer for ``bootstrap``."""
    return Producer(producer_config(bootstrap, delivery_timeout_s=delivery_timeout_s))


def ensure_reachable(client: Any, bootstrap: str, timeout_s: float, topic: str | None = None) -> None:
    """Raise :class:`BrokerUnreachable` unless a broker answers within ``timeout_s`` (and has ``topic``).

    The topic check matters because brokers of this system run without topic auto-creation: a
    message for a missing topic would otherwise wait silently until its delivery timeout.
    """
    try:
        metadata = client.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise BrokerUnreachable(
            f"no Kafka broker reachable at {bootstrap} within {timeout_s:g} s ({exc})"
        ) from None
    if not metadata.brokers:
        raise BrokerUnreachable(f"no Kafka broker reachable at {bootstrap} within {timeout_s:g} s")
    if topic is not None and topic not in metadata.topics:
        raise BrokerUnreachable(f"topic {topic!r} does not exist on {bootstrap} (create it first)")


@dataclass
class DeliveryTally:
    """Counts delivery reports; keeps the first error so that a failure can be explained in one line."""

    delivered: int = 0
    failed: int = 0
    first_error: str | None = None

    def on_delivery(self, err: KafkaError | None, msg: Message | None) -> None:
        if err is None:
            self.delivered += 1
            return
        self.failed += 1
        if self.first_error is None:
            self.first_error = str(err.str() if hasattr(err, "str") else err)
