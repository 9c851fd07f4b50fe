"""First operator on the input topic: parse each raw event, dead-letter what cannot be used.

The domain (maritime or finance) picks the model; nothing here names a topic or a field literally except
through :mod:`protocol`. A good event leaves as a :class:`ParsedEvent` that keeps the raw payload, so that
a later dead letter (a late event) carries the bytes that came in, not a re-encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyflink.datastream import OutputTag

from flink_common.first_operator import DecodeOrDeadLetter
from flink_common.partitions import split_partition
from protocol.codec import DecodeError, decode
from protocol.messages import CardTransaction, MaritimeEvent
from protocol.settings import Domain

JOB_NAME = "collector_job"


@dataclass(frozen=True)
class ParsedEvent:
    """A valid input event: its timestamp (stream units), its attributes, the raw payload, and the Kafka
    partition it was read from (0 when the source does not say)."""

    ts: int
    record: dict[str, Any]
    payload: str
    partition: int = 0


def parse_event(domain: Domain, raw: str, partition: int = 0) -> ParsedEvent:
    """Decode one input payload of ``domain``; raises :class:`DecodeError` with a reason."""
    event: MaritimeEvent | CardTransaction
    event = decode(MaritimeEvent, raw) if domain is Domain.MARITIME else decode(CardTransaction, raw)
    return ParsedEvent(ts=event.timestamp, record=event.as_record(), payload=raw,
                       partition=partition)  # fmt: skip


class ParseEvents(DecodeOrDeadLetter):
    """Raw JSON string -> :class:`ParsedEvent`; invalid payloads -> encoded DeadLetter on ``dead_tag``.

    With ``tagged`` the values come from a source with ``tag_partitions`` (``"<partition>\t<json>"``,
    :func:`flink_common.io.split_partition`): the partition goes with the event, a dead letter carries the
    JSON only.
    """

    def __init__(
        self, domain: Domain, source_topic: str, dead_tag: OutputTag, *, tagged: bool = False
    ) -> None:
        super().__init__(JOB_NAME, source_topic, dead_tag)
        self._domain = domain
        self._tagged = tagged

    def convert(self, value: str) -> ParsedEvent:
        if self._tagged:
            try:
                partition, raw = split_partition(value)
            except ValueError as exc:
                raise DecodeError(str(exc)) from exc
            return parse_event(self._domain, raw, partition)
        return parse_event(self._domain, value)

    def payload_of(self, value: str) -> str:
        if self._tagged:
            try:
                return split_partition(value)[1]
            except ValueError:
                return value
        return value
