"""First operator of each input: raw JSON text -> typed message, bad records -> dead letters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from pyflink.datastream.functions import ProcessFunction, RuntimeContext

from flink_common.dead_letters import DeadLetterCounter
from flink_common.io import string_tag
from protocol.codec import DecodeError, dead_letter, decode, encode

__all__ = ["DEAD_LETTERS", "JOB_NAME", "ParseMessages"]

JOB_NAME = "inference_job"

DEAD_LETTERS = string_tag("dead_letters")
"""Side output of every operator of this job that rejects a record (DeadLetter JSON)."""


class ParseMessages(ProcessFunction):
    """Decode each raw value as ``model``; emit the message (or its dict, ``as_dict``) or a dead letter."""

    def __init__(self, model: type[BaseModel], source_topic: str, *, as_dict: bool = False) -> None:
        self.model = model
        self.source_topic = source_topic
        self.as_dict = as_dict
        self.dead_letters = DeadLetterCounter()

    def open(self, runtime_context: RuntimeContext) -> None:
        self.dead_letters.bind(runtime_context)

    def process_element(self, value: str, ctx: ProcessFunction.Context) -> Iterator[Any]:
        try:
            message = decode(self.model, value)
        except DecodeError as exc:
            letter = dead_letter(source_topic=self.source_topic, job=JOB_NAME, reason=str(exc), payload=value)
            self.dead_letters.inc()
            yield DEAD_LETTERS, encode(letter)
            return
        yield message.model_dump(mode="json") if self.as_dict else message
