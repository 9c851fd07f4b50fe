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
from protocol.codec import decode
from protocol.messages import CardTransaction, MaritimeEvent
from protocol.settings import Domain

JOB_NAME = "collector_job"


@dataclass(frozen=True)
class ParsedEvent:
    """A valid input event: its timestamp (stream units), its attributes, and the raw payload."""

    ts: int
    record: dict[str, Any]
    payload: str


def parse_event(domain: Domain, raw: str) -> ParsedEvent:
    """Decode one input payload of ``domain``; raises :class:`DecodeError` with a reason."""
    event: MaritimeEvent | CardTransaction
    event = decode(MaritimeEvent, raw) if domain is Domain.MARITIME else decode(CardTransaction, raw)
    return ParsedEvent(ts=event.timestamp, record=event.model_dump(mode="json"), payload=raw)


class ParseEvents(DecodeOrDeadLetter):
    """Raw JSON string -> :class:`ParsedEvent`; invalid payloads -> encoded DeadLetter on ``dead_tag``."""

    def __init__(self, domain: Domain, source_topic: str, dead_tag: OutputTag) -> None:
        super().__init__(JOB_NAME, source_topic, dead_tag)
        self._domain = domain

    def convert(self, value: str) -> ParsedEvent:
        return parse_event(self._domain, value)
