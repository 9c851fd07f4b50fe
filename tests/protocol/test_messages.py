"""The wire contract: round trips, strictness, versioning, clear reasons for bad payloads."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from protocol import (
    SCHEMA_VERSION,
    AssemblyAck,
    CommandType,
    DatasetVersion,
    DecodeError,
    EngineSync,
    FactoryCommand,
    FactoryReport,
    Hyperparameters,
    Instruction,
    InstructionType,
    MaritimeEvent,
    MetricSet,
    ReportStatus,
    ScoreReport,
    SyncType,
    dead_letter,
    decode,
    encode,
)

PARAMS = Hyperparameters(confidence=0.4, order=3, p_min=0.001, gamma=0.002)

EXAMPLES = [
    Instruction(
        id="instr-0", type=InstructionType.OPTIMIZE, timestamp=1447884005, metrics=MetricSet(mcc=0.1)
    ),
    FactoryCommand(id="s1-2", type=CommandType.OPT_STEP, timestamp=1, session_id="s1", step=2, params=PARAMS),
    FactoryReport(
        reply_id="s1-2",
        command_type=CommandType.OPT_STEP,
        status=ReportStatus.SUCCESS,
        metrics=MetricSet(tp=3, tn=10, fp=1, fn=2, mcc=0.41),
        objective=-0.41,
        params=PARAMS,
    ),
    EngineSync(
        type=SyncType.PLAY, timestamp=5, model_id="m-3", model_path="/x/m-3.spst", production_time=12.5
    ),
    DatasetVersion(version=3, timestamp=9, bucket_starts=(0, 10), bucket_paths=("/b/0.csv", "/b/10.csv")),
    AssemblyAck(version=3, bucket_starts=(0, 10)),
    ScoreReport(timestamp=1, interval_start=0, model_id="m", batch=MetricSet(), runtime=MetricSet()),
]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip_is_lossless(message: object) -> None:
    text = encode(message)  # type: ignore[arg-type]
    assert decode(type(message), text) == message  # type: ignore[arg-type]
    assert json.loads(text)["schema_version"] == SCHEMA_VERSION


def test_messages_are_frozen() -> None:
    with pytest.raises(ValidationError):
        EXAMPLES[0].id = "other"  # type: ignore[misc]


def test_unknown_fields_are_rejected_in_control_messages() -> None:
    raw = json.dumps({"id": "1", "type": "retrain", "timestamp": 3, "surprise": 1})
    with pytest.raises(DecodeError, match="surprise"):
        decode(Instruction, raw)


def test_newer_schema_version_is_refused_with_reason() -> None:
    raw = json.dumps({"id": "1", "type": "retrain", "timestamp": 3, "schema_version": SCHEMA_VERSION + 1})
    with pytest.raises(DecodeError, match="schema_version"):
        decode(Instruction, raw)


def test_not_json_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="Instruction"):
        decode(Instruction, b"\x00not json")


def test_maritime_event_keeps_extra_attributes_and_coerces_mmsi() -> None:
    raw = '{"timestamp": 1443650400, "mmsi": 227592820, "lon": -4.5, "lat": 48.3, "flag": 1}'
    event = decode(MaritimeEvent, raw)
    assert event.mmsi == "227592820"
    assert event.key() == "227592820"
    assert event.model_extra == {"flag": 1}


@pytest.mark.parametrize(
    ("field", "value"),
    [("lat", 91.0), ("lon", -181.0), ("speed", -1.0), ("timestamp", -5), ("lat", "NaN")],
)
def test_maritime_event_rejects_impossible_values(field: str, value: object) -> None:
    payload = {"timestamp": 1443650400, "mmsi": "1", "lon": 0.0, "lat": 0.0, field: value}
    with pytest.raises(DecodeError, match=field):
        decode(MaritimeEvent, json.dumps(payload))


def test_dataset_version_needs_a_bucket() -> None:
    with pytest.raises(ValidationError, match="at least one bucket"):
        DatasetVersion(version=0, timestamp=0, bucket_starts=(), bucket_paths=())


def test_dead_letter_carries_reason_and_truncates_huge_payloads() -> None:
    letter = dead_letter(source_topic="input", job="inference_job", reason="bad", payload=b"x" * 100_000)
    assert letter.reason == "bad"
    assert len(letter.payload) == 64 * 1024
    assert decode(type(letter), encode(letter)) == letter
