"""First operator of each input: raw JSON text -> typed message, bad records -> dead letters."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from flink_common.first_operator import DecodeOrDeadLetter
from flink_common.io import string_tag
from protocol.codec import decode

__all__ = ["DEAD_LETTERS", "JOB_NAME", "ParseMessages"]

JOB_NAME = "inference_job"

DEAD_LETTERS = string_tag("dead_letters")
"""Side output of every operator of this job that rejects a record (DeadLetter JSON)."""


class ParseMessages(DecodeOrDeadLetter):
    """Decode each raw value as ``model``; emit the message or a dead letter.

    Used for the engine-sync input; input events are decoded by the engine itself, inside their batches
    (:mod:`~inference_job.event_batches`).
    """

    def __init__(self, model: type[BaseModel], source_topic: str) -> None:
        super().__init__(JOB_NAME, source_topic, DEAD_LETTERS)
        self.model = model

    def convert(self, value: str) -> Any:
        return decode(self.model, value)
