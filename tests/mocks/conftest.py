"""Fakes shared by the mock tests: a producer that records what it is given and answers like Kafka."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class FakeError:
    """Stands for a :class:`confluent_kafka.KafkaError` in delivery reports."""

    reason: str

    def str(self) -> str:  # noqa: A003 - mirrors KafkaError.str()
        return self.reason


@dataclass
class FakeProducer:
    """Records produced messages; delivery reports are served on poll/flush, as librdkafka does.

    ``fail_every``: every n-th message gets a failed delivery report. ``buffer_full_once``: the first
    produce raises BufferError (a full local queue). ``stuck``: flush leaves this many messages pending.
    """

    fail_every: int = 0
    buffer_full_once: bool = False
    stuck: int = 0
    sent: list[tuple[str, str, str]] = field(default_factory=list)
    produce_calls: int = 0
    _queue: list[tuple[Callable[..., None] | None, Any]] = field(default_factory=list)

    def produce(self, topic: str, value: Any = None, key: Any = None, on_delivery: Any = None) -> None:
        self.produce_calls += 1
        if self.buffer_full_once:
            self.buffer_full_once = False
            raise BufferError("Local: Queue full")
        self.sent.append((topic, key, value))
        n = len(self.sent)
        err = (
            FakeError("Broker: Not enough in-sync replicas")
            if self.fail_every and n % self.fail_every == 0
            else None
        )
        self._queue.append((on_delivery, err))

    def poll(self, timeout: float = 0) -> int:
        served = 0
        while len(self._queue) > self.stuck:
            callback, err = self._queue.pop(0)
            if callback is not None:
                callback(err, None)
            served += 1
        return served

    def flush(self, timeout: float = 0) -> int:
        self.poll(0)
        return len(self._queue)


@pytest.fixture
def fake_producer() -> type[FakeProducer]:
    """The fake producer class (tests instantiate it with the behaviour they need)."""
    return FakeProducer
