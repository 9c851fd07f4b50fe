"""Shared cases of the contract tests: the golden messages by name, and helpers that break one rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from protocol import messages
from protocol.codec import DecodeError, decode, encode

GOLDEN = Path(__file__).resolve().parent / "golden"

MODELS: dict[str, type[BaseModel]] = {
    "maritime_event": messages.MaritimeEvent,
    "card_transaction": messages.CardTransaction,
    "instruction": messages.Instruction,
    "factory_command": messages.FactoryCommand,
    "factory_report": messages.FactoryReport,
    "engine_sync": messages.EngineSync,
    "dataset_version": messages.DatasetVersion,
    "assembly_ack": messages.AssemblyAck,
    "forecast_record": messages.ForecastRecord,
    "score_report": messages.ScoreReport,
    "dead_letter": messages.DeadLetter,
}


def golden(name: str) -> dict[str, Any]:
    """The golden message ``name`` as a dict (a fresh copy each call)."""
    data: dict[str, Any] = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    return data


def with_value(name: str, path: str, value: Any) -> str:
    """The golden message with the field at dotted ``path`` set to ``value``, as JSON text."""
    data = golden(name)
    *parents, last = path.split(".")
    target: Any = data
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return json.dumps(data)


def rejected(name: str, text: str | bytes) -> str:
    """The reason ``text`` is refused as ``MODELS[name]``; fails the test if it is accepted."""
    with pytest.raises(DecodeError) as info:
        decode(MODELS[name], text)
    reason = str(info.value)
    assert "\n" not in reason and reason.startswith(MODELS[name].__name__ + ": ")
    return reason


def accepted(name: str, text: str | bytes) -> BaseModel:
    """``text`` decoded as ``MODELS[name]``; it must also survive a round trip unchanged."""
    message = decode(MODELS[name], text)
    assert decode(MODELS[name], encode(message)) == message
    return message


def raw_with(name: str, path: str, literal: str) -> str:
    """The golden message with the value at ``path`` replaced by the raw JSON ``literal``."""
    marker = "__RAW_VALUE__"
    return with_value(name, path, marker).replace(f'"{marker}"', literal)


def get(data: Any, path: str) -> Any:
    """The value at dotted ``path`` (list indices as numbers)."""
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def all_models() -> list[type[BaseModel]]:
    """Every model class defined in :mod:`protocol.messages`."""
    return [
        obj
        for obj in vars(messages).values()
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == messages.__name__
    ]
