"""First operator on the assembly-report topic: parse each factory ACK, dead-letter what cannot be used."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pyflink.datastream import OutputTag
from pyflink.datastream.functions import ProcessFunction, RuntimeContext

from flink_common.dead_letters import DeadLetterCounter
from protocol.codec import DecodeError, dead_letter, decode, encode
from protocol.messages import AssemblyAck

JOB_NAME = "collector_job"


@dataclass(frozen=True)
class ParsedAck:
    """A valid ACK and its raw payload (for a dead letter if it turns out stale)."""

    ack: AssemblyAck
    payload: str


class ParseAcks(ProcessFunction):
    """Raw JSON string -> :class:`ParsedAck`; invalid payloads -> encoded DeadLetter on ``dead_tag``."""

    def __init__(self, source_topic: str, dead_tag: OutputTag) -> None:
        self._source_topic = source_topic
        self._dead_tag = dead_tag
        self._dead_letters = DeadLetterCounter()

    def open(self, runtime_context: RuntimeContext) -> None:
        self._dead_letters.bind(runtime_context)

    def process_element(self, value: str, ctx: ProcessFunction.Context) -> Iterator[Any]:
        try:
            yield ParsedAck(ack=decode(AssemblyAck, value), payload=value)
        except DecodeError as exc:
            letter = dead_letter(
                source_topic=self._source_topic, job=JOB_NAME, reason=str(exc), payload=value
            )
            self._dead_letters.inc()
            yield self._dead_tag, encode(letter)
