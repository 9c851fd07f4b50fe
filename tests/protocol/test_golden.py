"""Golden wire examples: one hand-written JSON file per message type, in ``tests/protocol/golden``.

Each file shows the documented wire form of its message with every field present, in the order ``encode``
writes them. Decoding a file and encoding the result must give the same JSON byte for byte (after the
file's indentation is removed): a renamed field, a changed default, a new required field, a changed enum
value or a changed field order fails here before it reaches a topic.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from protocol import messages
from protocol.codec import decode, encode

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


def compact(text: str) -> str:
    """The golden file without its indentation: the form ``encode`` writes (key order kept)."""
    return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)


def test_every_message_type_has_exactly_one_golden_file() -> None:
    wire_types = set(typing.get_args(messages.Message)) | set(typing.get_args(messages.InputEvent))
    assert set(MODELS.values()) == wire_types
    assert {path.stem for path in GOLDEN.glob("*.json")} == set(MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_golden_file_round_trips_to_identical_json(name: str) -> None:
    text = (GOLDEN / f"{name}.json").read_text(encoding="utf-8")
    message = decode(MODELS[name], text)
    assert encode(message) == compact(text)
    assert decode(MODELS[name], encode(message)) == message


@pytest.mark.parametrize("name", sorted(MODELS))
def test_golden_file_spells_out_every_declared_field(name: str) -> None:
    written = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    declared = list(MODELS[name].model_fields)
    assert list(written)[: len(declared)] == declared
