"""The wire contract's limits: duplicated keys, string, list and message sizes, and hostile input that must
become a readable :class:`DecodeError` (never another exception); dead letters that wrap anything."""

from __future__ import annotations

import json
from typing import Any

import pytest
from contract_cases import MODELS, accepted, all_models, golden, rejected, with_value

from protocol import bounds, messages
from protocol.codec import TOMBSTONE, dead_letter, decode, encode

# ------------------------------------------------------------------------------------ duplicated keys


def test_a_duplicated_top_level_key_is_refused_with_a_clear_reason() -> None:
    text = json.dumps(golden("maritime_event"))[:-1] + ', "timestamp": 1443650401}'
    reason = rejected("maritime_event", text)
    assert 'duplicated key "timestamp"' in reason


def test_a_duplicated_nested_key_is_refused() -> None:
    text = with_value("score_report", "batch.tp", 12).replace('"tp": 12', '"tp": 12, "tp": 13')
    assert 'duplicated key "tp"' in rejected("score_report", text)


def test_a_duplicate_spelled_with_an_escape_is_still_a_duplicate() -> None:
    text = json.dumps(golden("instruction"))[:-1] + ', "\\u0069d": "other"}'
    assert 'duplicated key "id"' in rejected("instruction", text)


def test_a_duplicated_extra_attribute_is_refused() -> None:
    text = json.dumps(golden("maritime_event"))[:-1] + ', "entry_fishing": 0}'
    assert "duplicated key" in rejected("maritime_event", text)


# ---------------------------------------------------------------------------------------- size limits

STRING_LIMITS = [
    ("instruction", "id", bounds.MAX_ID_CHARS),
    ("instruction", "model_id", bounds.MAX_ID_CHARS),
    ("maritime_event", "mmsi", bounds.MAX_ID_CHARS),
    ("card_transaction", "pan", bounds.MAX_ID_CHARS),
    ("factory_command", "session_id", bounds.MAX_ID_CHARS),
    ("factory_report", "reply_id", bounds.MAX_ID_CHARS),
    ("factory_report", "model_path", bounds.MAX_PATH_CHARS),
    ("factory_report", "error", bounds.MAX_REASON_CHARS),
    ("engine_sync", "instruction_id", bounds.MAX_ID_CHARS),
    ("engine_sync", "model_path", bounds.MAX_PATH_CHARS),
    ("dataset_version", "bucket_paths.0", bounds.MAX_PATH_CHARS),
    ("assembly_ack", "dataset_path", bounds.MAX_PATH_CHARS),
    ("forecast_record", "key", bounds.MAX_ID_CHARS),
    ("score_report", "model_id", bounds.MAX_ID_CHARS),
    ("dead_letter", "source_topic", bounds.MAX_NAME_CHARS),
    ("dead_letter", "job", bounds.MAX_NAME_CHARS),
    ("dead_letter", "reason", bounds.MAX_REASON_CHARS),
    ("dead_letter", "payload", bounds.MAX_PAYLOAD_CHARS),
]


@pytest.mark.parametrize(("name", "path", "limit"), STRING_LIMITS)
def test_every_string_field_has_a_maximum_length(name: str, path: str, limit: int) -> None:
    accepted(name, with_value(name, path, "x" * limit))
    reason = rejected(name, with_value(name, path, "x" * (limit + 1)))
    assert f"at most {limit} characters" in reason


def test_every_integer_string_and_list_of_every_model_is_bounded() -> None:
    """Read from the JSON schemas, so that a new field without bounds fails here."""
    unbounded = []
    for model in all_models():
        for where, node in _schema_nodes(model.model_json_schema(), model.__name__):
            kind = node.get("type")
            if kind == "integer" and not {"minimum", "maximum"} <= set(node):
                unbounded.append(where)
            if kind == "string" and "enum" not in node and "maxLength" not in node:
                unbounded.append(where)
            if kind == "array" and "maxItems" not in node:
                unbounded.append(where)
    assert unbounded == []


@pytest.mark.parametrize(
    ("name", "path"), [("dataset_version", "bucket_starts"), ("assembly_ack", "bucket_starts")]
)
def test_lists_are_bounded(name: str, path: str) -> None:
    accepted(name, with_value(name, path, [0] * bounds.MAX_BUCKETS))
    assert "at most" in rejected(name, with_value(name, path, [0] * (bounds.MAX_BUCKETS + 1)))
    paths = ["/b"] * (bounds.MAX_BUCKETS + 1)
    assert "bucket_paths" in rejected("dataset_version", with_value("dataset_version", "bucket_paths", paths))


LIMITS = [
    ("maritime_event", bounds.MAX_EVENT_BYTES),
    ("card_transaction", bounds.MAX_EVENT_BYTES),
    ("instruction", bounds.MAX_CONTROL_BYTES),
    ("factory_report", bounds.MAX_CONTROL_BYTES),
    ("dataset_version", bounds.MAX_CLAIM_CHECK_BYTES),
    ("assembly_ack", bounds.MAX_CLAIM_CHECK_BYTES),
    ("dead_letter", bounds.MAX_DEAD_LETTER_BYTES),
]


@pytest.mark.parametrize(("name", "limit"), LIMITS)
def test_the_whole_message_is_bounded_before_parsing(name: str, limit: int) -> None:
    assert MODELS[name].max_message_bytes == limit  # type: ignore[attr-defined]
    text = json.dumps(golden(name))
    padded = text[:-1] + " " * (limit - len(text.encode())) + "}"
    assert len(padded.encode()) == limit
    accepted(name, padded)
    over = padded[:-1] + " }"
    for raw in (over, over.encode()):
        assert f"is {limit + 1} bytes, over the limit of {limit} bytes" in rejected(name, raw)
    assert "over the limit" in rejected(name, "[" * (limit + 1))


def test_text_far_over_the_limit_is_refused_without_being_encoded() -> None:
    reason = rejected("instruction", "é" * (bounds.MAX_CONTROL_BYTES + 1))
    assert "at least" in reason and "over the limit" in reason


# ------------------------------------------------------------------------------------- hostile input

HOSTILE: list[Any] = [
    b"",
    b"\xff\xfe\x00",
    b'{"id": "\xc3"}',
    "\x00",
    '{"id": "a\x00b"}',
    '{"id": "\ud800"}',
    "9" * 5000,
    '{"timestamp": ' + "9" * 5000 + "}",
    "[" * 60_000,
    '{"a":' * 10_000,
    "{" * 5 + "}" * 5,
    "null",
    "[]",
    '"text"',
    "1e400",
    None,
    12,
    ["{}"],
    bytearray(b"{}"),
    memoryview(b"{}"),
    TOMBSTONE,
]


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("raw", HOSTILE, ids=lambda r: repr(r)[:24])
def test_hostile_input_is_a_decode_error_never_another_exception(name: str, raw: Any) -> None:
    rejected(name, raw)


def test_reasons_are_readable() -> None:
    assert "not UTF-8 text" in rejected("instruction", b'{"id": "\xc3"}')
    assert "not valid Unicode" in rejected("instruction", '{"id": "\ud800"}')
    assert "recursion limit" in rejected("instruction", "[" * 60_000)
    assert "no value" in rejected("instruction", None)  # type: ignore[arg-type]
    assert "tombstone" in rejected("instruction", TOMBSTONE)


def test_a_reason_is_one_short_line_even_for_a_key_made_of_line_breaks() -> None:
    text = json.dumps(golden("instruction"))[:-1] + ', "' + "a\\n" * 5000 + '": 1}'
    reason = rejected("instruction", text)
    assert "\\n" in reason and len(reason) <= 500


# --------------------------------------------------------------------------------------- dead letters


def test_a_dead_letter_can_wrap_anything_and_still_be_decoded() -> None:
    for payload in (b"\xff" * 10, "\ud800 lone", "\x00" * bounds.MAX_PAYLOAD_CHARS * 2, b"[" * 10**6):
        letter = dead_letter(source_topic="t" * 1000, job="j", reason="r\ud800" * 5000, payload=payload)
        text = encode(letter)
        assert len(text.encode()) <= bounds.MAX_DEAD_LETTER_BYTES
        assert decode(messages.DeadLetter, text) == letter
        assert len(letter.reason) <= bounds.MAX_REASON_CHARS


def _schema_nodes(node: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    """Every sub-schema of a JSON schema with its path (definitions included)."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        found.append((where, node))
        for key, child in node.items():
            found.extend(_schema_nodes(child, f"{where}.{key}"))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            found.extend(_schema_nodes(child, f"{where}[{i}]"))
    return found
