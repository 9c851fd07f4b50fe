"""The strict wire contract, rule by rule: no lax coercion, bounded numbers and times, finite floats.

Each case starts from a golden message and breaks exactly one rule (sizes, duplicated keys and hostile
input: ``test_contract_limits``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from contract_cases import accepted, get, golden, raw_with, rejected, with_value
from pydantic import ValidationError

from protocol import bounds, messages
from protocol.codec import decode, encode

# ------------------------------------------------------------------------------------ no lax coercion

INT_FIELDS = [
    ("maritime_event", "timestamp"),
    ("card_transaction", "trx_no"),
    ("card_transaction", "time_diff"),
    ("instruction", "timestamp"),
    ("instruction", "metrics.tp"),
    ("factory_command", "step"),
    ("factory_command", "params.order"),
    ("factory_report", "dataset_version"),
    ("dataset_version", "version"),
    ("dataset_version", "bucket_starts.0"),
    ("assembly_ack", "version"),
    ("forecast_record", "start"),
    ("score_report", "events"),
    ("dead_letter", "timestamp_ms"),
    ("engine_sync", "schema_version"),
]


@pytest.mark.parametrize(("name", "path"), INT_FIELDS)
@pytest.mark.parametrize("spelling", ["text", "boolean", "float"])
def test_an_integer_field_takes_only_a_json_integer(name: str, path: str, spelling: str) -> None:
    value = get(golden(name), path)
    assert isinstance(value, int) and value > 0
    bad = {"text": str(value), "boolean": True, "float": float(value)}[spelling]
    assert "valid integer" in rejected(name, with_value(name, path, bad))


FLOAT_FIELDS = [
    ("maritime_event", "lon"),
    ("card_transaction", "amount"),
    ("factory_report", "production_time"),
    ("factory_report", "metrics.mcc"),
    ("engine_sync", "production_time"),
    ("forecast_record", "probability"),
]


@pytest.mark.parametrize(("name", "path"), FLOAT_FIELDS)
@pytest.mark.parametrize("bad", ["1", True])
def test_a_float_field_refuses_text_and_booleans(name: str, path: str, bad: Any) -> None:
    assert "number" in rejected(name, with_value(name, path, bad))


@pytest.mark.parametrize(("name", "path"), FLOAT_FIELDS)
def test_a_float_field_takes_an_integer(name: str, path: str) -> None:
    message = accepted(name, with_value(name, path, 1 if "probability" in path else 2))
    assert isinstance(get(json.loads(encode(message)), path), float)


@pytest.mark.parametrize("bad", [1, "true", 0])
def test_a_boolean_field_takes_only_true_or_false(bad: Any) -> None:
    rejected("forecast_record", with_value("forecast_record", "positive", bad))


@pytest.mark.parametrize("bad", [1, True, 1.5, ["a"]])
def test_a_string_field_refuses_other_json_types(bad: Any) -> None:
    assert "valid string" in rejected("instruction", with_value("instruction", "id", bad))
    assert "model_path" in rejected("factory_report", with_value("factory_report", "model_path", bad))


def test_enums_parse_from_their_json_strings_under_strict_decoding() -> None:
    message = accepted("instruction", with_value("instruction", "type", "retrain"))
    assert isinstance(message, messages.Instruction) and message.type is messages.InstructionType.RETRAIN
    assert "type" in rejected("instruction", with_value("instruction", "type", "RETRAIN"))
    assert "type" in rejected("instruction", with_value("instruction", "type", 1))


def test_python_mode_strictness_would_refuse_enum_strings_which_is_why_decode_parses_json() -> None:
    data = golden("instruction")
    with pytest.raises(ValidationError, match="instance of InstructionType"):
        messages.Instruction.model_validate(data, strict=True)
    assert decode(messages.Instruction, json.dumps(data)).type is messages.InstructionType.OPTIMIZE


def test_python_producers_may_build_messages_from_lists_and_enum_text() -> None:
    ack = messages.AssemblyAck(version=1, bucket_starts=[5, 6])  # type: ignore[arg-type]
    sync = messages.EngineSync(type="pause", timestamp=3)  # type: ignore[arg-type]
    assert ack.bucket_starts == (5, 6) and sync.type is messages.SyncType.PAUSE


def test_mmsi_is_the_one_id_that_may_arrive_as_a_number() -> None:
    event = accepted("maritime_event", with_value("maritime_event", "mmsi", 227592820))
    assert isinstance(event, messages.MaritimeEvent) and event.mmsi == "227592820"
    for bad in (True, -1, 2**53, 227592820.0):
        assert "mmsi" in rejected("maritime_event", with_value("maritime_event", "mmsi", bad))


def test_pan_must_be_text_as_a_number_may_have_lost_digits() -> None:
    assert "pan" in rejected("card_transaction", with_value("card_transaction", "pan", 4000123412341234))


# ------------------------------------------------------------------------------------ bounded numbers

TIME_CASES = [
    # model, field, lowest valid, highest valid
    ("maritime_event", "timestamp", bounds.EPOCH_S_MIN, bounds.EPOCH_S_MAX),
    ("card_transaction", "timestamp", bounds.EPOCH_MS_MIN, bounds.EPOCH_MS_MAX),
    ("dead_letter", "timestamp_ms", bounds.EPOCH_MS_MIN, bounds.EPOCH_MS_MAX),
    ("instruction", "timestamp", 0, bounds.STREAM_TIME_MAX),
    ("factory_command", "timestamp", 0, bounds.STREAM_TIME_MAX),
    ("engine_sync", "timestamp", 0, bounds.STREAM_TIME_MAX),
    ("dataset_version", "timestamp", 0, bounds.STREAM_TIME_MAX),
    ("dataset_version", "bucket_starts.0", 0, bounds.STREAM_TIME_MAX),
    ("assembly_ack", "bucket_starts.0", 0, bounds.STREAM_TIME_MAX),
    ("forecast_record", "timestamp", 0, bounds.STREAM_TIME_MAX),
    ("score_report", "timestamp", 0, bounds.STREAM_TIME_MAX),
    ("score_report", "interval_start", 0, bounds.STREAM_TIME_MAX),
]


@pytest.mark.parametrize(("name", "path", "low", "high"), TIME_CASES)
def test_times_lie_in_the_sane_range_of_their_unit(name: str, path: str, low: int, high: int) -> None:
    accepted(name, with_value(name, path, low))
    accepted(name, with_value(name, path, high))
    for bad in (low - 1, high + 1, -1, 10**16, 2**63, 10**30):
        assert path.split(".")[0] in rejected(name, with_value(name, path, bad))


def test_event_times_in_the_other_domains_unit_are_refused() -> None:
    seconds, millis = 1_443_650_400, 1_443_650_400_000
    rejected("maritime_event", with_value("maritime_event", "timestamp", millis))
    rejected("card_transaction", with_value("card_transaction", "timestamp", seconds))


COUNT_CASES = [
    ("instruction", "metrics.tp", 0),
    ("score_report", "events", 0),
    ("score_report", "batch.fn", 0),
    ("dataset_version", "version", 0),
    ("assembly_ack", "version", 0),
    ("factory_report", "dataset_version", 0),
    ("factory_command", "step", -1),
    ("factory_command", "best_step", -1),
    ("factory_report", "step", -1),
    ("forecast_record", "start", -1),
    ("forecast_record", "end", -1),
    ("card_transaction", "trx_no", -1),
]


@pytest.mark.parametrize(("name", "path", "low"), COUNT_CASES)
def test_counts_versions_and_steps_are_bounded(name: str, path: str, low: int) -> None:
    accepted(name, with_value(name, path, low))
    accepted(name, with_value(name, path, bounds.MAX_SAFE_INT))
    for bad in (low - 1, bounds.MAX_SAFE_INT + 1, 2**64, 10**400):
        rejected(name, with_value(name, path, bad))


@pytest.mark.parametrize("name", ["factory_report", "engine_sync"])
def test_production_time_is_at_most_a_year(name: str) -> None:
    accepted(name, with_value(name, "production_time", bounds.MAX_PRODUCTION_TIME_S))
    for bad in (bounds.MAX_PRODUCTION_TIME_S + 1, -0.5, 1e300):
        assert "production_time" in rejected(name, with_value(name, "production_time", bad))


def test_a_transactions_time_diff_is_bounded_by_the_event_time_range() -> None:
    accepted("card_transaction", with_value("card_transaction", "time_diff", -bounds.MAX_SPAN_MS))
    rejected("card_transaction", with_value("card_transaction", "time_diff", bounds.MAX_SPAN_MS + 1))


# -------------------------------------------------------------------------------------- finite floats

NON_FINITE_TEXTS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]


@pytest.mark.parametrize("literal", NON_FINITE_TEXTS)
@pytest.mark.parametrize(("name", "path"), FLOAT_FIELDS)
def test_no_float_field_holds_inf_or_nan(name: str, path: str, literal: str) -> None:
    rejected(name, raw_with(name, path, literal))


@pytest.mark.parametrize("literal", [*NON_FINITE_TEXTS, "9007199254740992", "1" + "0" * 400])
@pytest.mark.parametrize("name", ["maritime_event", "card_transaction"])
def test_extra_attributes_are_bounded_like_declared_fields(name: str, literal: str) -> None:
    extra = "entry_fishing" if name == "maritime_event" else "merchant"
    rejected(name, raw_with(name, extra, literal))
    rejected(name, raw_with(name, extra, f'{{"deep": [1, {literal}]}}'))


def test_extra_attributes_may_be_any_bounded_json() -> None:
    value = {"zones": ["a", "b"], "flags": {"fishing": True, "n": 9007199254740991}, "note": None}
    event = accepted("maritime_event", with_value("maritime_event", "entry_fishing", value))
    assert event.model_extra == {"entry_fishing": value}


def test_python_built_events_have_bounded_extras_too() -> None:
    fields = {"timestamp": bounds.EPOCH_S_MIN, "mmsi": "1", "lon": 0, "lat": 0}
    with pytest.raises(ValidationError, match="not finite"):
        messages.MaritimeEvent.model_validate({**fields, "flag": float("inf")})
    with pytest.raises(ValidationError, match="not a JSON value"):
        messages.MaritimeEvent.model_validate({**fields, "flag": object()})
