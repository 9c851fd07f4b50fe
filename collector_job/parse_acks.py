"""First operator on the assembly-report topic: parse each factory ACK, dead-letter what cannot be used."""

from __future__ import annotations

from dataclasses import dataclass

from pyflink.datastream import OutputTag

from flink_common.first_operator import DecodeOrDeadLetter
from protocol.codec import decode
from protocol.messages import AssemblyAck

JOB_NAME = "collector_job"


@dataclass(frozen=True)
class ParsedAck:
    """A valid ACK and its raw payload (for a dead letter if it turns out stale)."""

    ack: AssemblyAck
    payload: str


class ParseAcks(DecodeOrDeadLetter):
    """Raw JSON string -> :class:`ParsedAck`; invalid payloads -> encoded DeadLetter on ``dead_tag``."""

    def __init__(self, source_topic: str, dead_tag: OutputTag) -> None:
        super().__init__(JOB_NAME, source_topic, dead_tag)

    def convert(self, value: str) -> ParsedAck:
        return ParsedAck(ack=decode(AssemblyAck, value), payload=value)
