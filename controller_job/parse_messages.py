"""First operator of each controller input: raw JSON -> validated message JSON, bad ones -> dead letters."""

from __future__ import annotations

from pydantic import BaseModel
from pyflink.datastream import OutputTag

from flink_common.first_operator import DecodeOrDeadLetter
from protocol.codec import decode, encode

__all__ = ["JOB_NAME", "ParseMessages"]

JOB_NAME = "controller_job"


class ParseMessages(DecodeOrDeadLetter):
    """Decode each value as ``model``; emit it re-encoded (canonical JSON) or a dead letter on ``dead_tag``.

    Emitting text keeps the stream Java-serialisable; the key selectors and the controller decode it again
    (control messages are rare and small, so the repeated parse costs nothing that matters).
    """

    log_rejects = True

    def __init__(self, model: type[BaseModel], source_topic: str, dead_tag: OutputTag) -> None:
        super().__init__(JOB_NAME, source_topic, dead_tag)
        self.model = model

    def convert(self, value: str) -> str:
        return encode(decode(self.model, value))
