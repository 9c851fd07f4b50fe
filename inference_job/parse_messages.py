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
    """Decode each raw value as ``model``; emit the message (or its dict, ``as_dict``) or a dead letter."""

    def __init__(self, model: type[BaseModel], source_topic: str, *, as_dict: bool = False) -> None:
        super().__init__(JOB_NAME, source_topic, DEAD_LETTERS)
        self.model = model
        self.as_dict = as_dict

    def convert(self, value: str) -> Any:
        message = decode(self.model, value)
        return message.model_dump(mode="json") if self.as_dict else message
