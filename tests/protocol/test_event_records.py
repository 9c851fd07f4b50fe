"""``as_record`` of input events equals the serialiser's JSON-mode dump, extras and key order included."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.bounds import EPOCH_MS_MAX, EPOCH_MS_MIN, EPOCH_S_MAX, EPOCH_S_MIN, MAX_SAFE_INT
from protocol.codec import decode
from protocol.messages import CardTransaction, MaritimeEvent

_DECLARED = set(MaritimeEvent.model_fields) | set(CardTransaction.model_fields)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INT, MAX_SAFE_INT)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_extras = st.dictionaries(
    st.text(min_size=1, max_size=8).filter(lambda name: name not in _DECLARED), _json_values, max_size=4
)
_finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9)


@st.composite
def maritime_payloads(draw: st.DrawFn) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "timestamp": draw(st.integers(EPOCH_S_MIN, EPOCH_S_MAX)),
        "mmsi": draw(st.integers(0, MAX_SAFE_INT) | st.text("0123456789", min_size=1, max_size=12)),
        "lon": draw(st.floats(-180.0, 180.0)),
        "lat": draw(st.floats(-90.0, 90.0)),
    }
    for name in ("speed", "heading", "cog"):
        if draw(st.booleans()):
            payload[name] = abs(draw(_finite)) if name == "speed" else draw(_finite)
    return {**draw(_extras), **payload}


@st.composite
def card_payloads(draw: st.DrawFn) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "timestamp": draw(st.integers(EPOCH_MS_MIN, EPOCH_MS_MAX)),
        "pan": draw(st.text("0123456789", min_size=1, max_size=19)),
        "amount": draw(_finite),
        "amount_diff": draw(_finite),
        "is_fraud": draw(st.integers(0, 1)),
    }
    if draw(st.booleans()):
        payload["trx_no"] = draw(st.integers(-1, 10**9))
    return {**draw(_extras), **payload}


def _check_record(model: type[MaritimeEvent] | type[CardTransaction], payload: dict[str, Any]) -> None:
    event = decode(model, json.dumps(payload))
    dumped = event.model_dump(mode="json")
    record = event.as_record()
    assert record == dumped
    assert list(record) == list(dumped)
    assert json.dumps(record) == json.dumps(dumped)


@settings(max_examples=200, deadline=None)
@given(payload=maritime_payloads())
def test_maritime_record_equals_json_dump(payload: dict[str, Any]) -> None:
    _check_record(MaritimeEvent, payload)


@settings(max_examples=200, deadline=None)
@given(payload=card_payloads())
def test_card_record_equals_json_dump(payload: dict[str, Any]) -> None:
    _check_record(CardTransaction, payload)


def test_record_is_a_copy() -> None:
    """Changing the returned dict leaves the frozen event as it was."""
    event = decode(MaritimeEvent, '{"timestamp": 1704067641, "mmsi": 7, "lon": 1.0, "lat": 2.0, "area": "x"}')
    record = event.as_record()
    record["lon"] = 99.0
    record["area"] = "y"
    assert event.lon == 1.0
    assert event.as_record()["area"] == "x"
    assert record["mmsi"] == "7"
