"""First operator of each controller input: raw JSON -> validated message JSON, bad ones -> dead letters."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from pyflink.datastream import OutputTag
from pyflink.datastream.functions import ProcessFunction, RuntimeContext

from flink_common.dead_letters import DeadLetterCounter
from protocol.codec import DecodeError, dead_letter, decode, encode

__all__ = ["JOB_NAME", "ParseMessages"]

LOG = logging.getLogger(__name__)

JOB_NAME = "controller_job"


class ParseMessages(ProcessFunction):
    """Decode each value as ``model``; emit it re-encoded (canonical JSON) or a dead letter on ``dead_tag``.

    Emitting text keeps the stream Java-serialisable; the key selectors and the controller decode it again
    (control messages are rare and small, so the repeated parse costs nothing that matters).
    """

    def __init__(self, model: type[BaseModel], source_topic: str, dead_tag: OutputTag) -> None:
        self.model = model
        self.source_topic = source_topic
        self.dead_tag = dead_tag
        self.dead_letters = DeadLetterCounter()

    def open(self, runtime_context: RuntimeContext) -> None:
        self.dead_letters.bind(runtime_context)

    def process_element(self, value: str, ctx: ProcessFunction.Context) -> Iterator[Any]:
        try:
            message = decode(self.model, value)
        except DecodeError as exc:
            LOG.warning("undecodable payload on %s: %s", self.source_topic, exc)
            letter = dead_letter(source_topic=self.source_topic, job=JOB_NAME, reason=str(exc), payload=value)
            self.dead_letters.inc()
            yield self.dead_tag, encode(letter)
            return
        yield encode(message)
