"""The first operator of every job input: decode each raw record, dead-letter the ones that cannot be used.

Each job's parsers differ only in what they make of a good record (:meth:`DecodeOrDeadLetter.convert`);
what happens to a bad one is the same everywhere: a :class:`~protocol.messages.DeadLetter` with the
decoder's reason and the raw payload on the side output ``dead_tag``, counted in the ``dead_letters``
metric. The job never fails on one record.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from pyflink.datastream import OutputTag
from pyflink.datastream.functions import ProcessFunction, RuntimeContext

from flink_common.dead_letters import DeadLetterCounter
from protocol.codec import DecodeError, dead_letter, encode

__all__ = ["DecodeOrDeadLetter"]

_LOG = logging.getLogger(__name__)


class DecodeOrDeadLetter(ProcessFunction):
    """Emit ``convert(value)``; a :class:`DecodeError` becomes an encoded dead letter on ``dead_tag``.

    ``log_rejects`` also logs each rejected record (for inputs where bad records are rare and notable).
    """

    log_rejects = False

    def __init__(self, job: str, source_topic: str, dead_tag: OutputTag) -> None:
        self.job = job
        self.source_topic = source_topic
        self.dead_tag = dead_tag
        self.dead_letters = DeadLetterCounter()

    def convert(self, value: str) -> Any:
        """The record made of a good raw value; raise :class:`DecodeError` (with the reason) otherwise."""
        raise NotImplementedError

    def payload_of(self, value: str) -> str:
        """The raw payload a dead letter carries for ``value`` (itself, unless the source wraps it)."""
        return value

    def open(self, runtime_context: RuntimeContext) -> None:
        self.dead_letters.bind(runtime_context)

    def process_element(self, value: str, ctx: ProcessFunction.Context) -> Iterator[Any]:
        try:
            converted = self.convert(value)
        except DecodeError as exc:
            if self.log_rejects:
                _LOG.warning("undecodable payload on %s: %s", self.source_topic, exc)
            letter = dead_letter(
                source_topic=self.source_topic, job=self.job, reason=str(exc), payload=self.payload_of(value)
            )
            self.dead_letters.inc()
            yield self.dead_tag, encode(letter)
            return
        yield converted
