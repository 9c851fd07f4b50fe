"""``forecast_line`` decodes to the record the serialiser would write, for any valid values."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.bounds import MAX_ID_CHARS, MAX_SAFE_INT, STREAM_TIME_MAX
from protocol.codec import decode, encode
from protocol.forecast_lines import forecast_line
from protocol.messages import ForecastRecord

_ids = st.text(min_size=1, max_size=MAX_ID_CHARS)
_index = st.integers(-1, MAX_SAFE_INT)


@settings(max_examples=300, deadline=None)
@given(
    key=_ids,
    timestamp=st.integers(0, STREAM_TIME_MAX),
    model_id=_ids,
    probability=st.floats(0.0, 1.0) | st.sampled_from([1e-300, 5e-324, 1e-5, 0.1 + 0.2]),
    start=_index,
    end=_index,
    positive=st.booleans(),
)
def test_line_decodes_to_the_encoded_record(
    key: str, timestamp: int, model_id: str, probability: float, start: int, end: int, positive: bool
) -> None:
    record = ForecastRecord(
        key=key, timestamp=timestamp, model_id=model_id, probability=probability, start=start, end=end,
        positive=positive,
    )  # fmt: skip
    line = forecast_line(key, timestamp, model_id, probability, start, end, positive)
    assert "\n" not in line
    assert decode(ForecastRecord, line) == record
    assert json.loads(line) == json.loads(encode(record))
    assert list(json.loads(line)) == list(json.loads(encode(record)))


@given(probability=st.floats(allow_nan=True, allow_infinity=True))
def test_probability_is_clamped(probability: float) -> None:
    line = forecast_line("k", 1, "m", probability, 1, 2, False)
    value = decode(ForecastRecord, line).probability
    assert 0.0 <= value <= 1.0
    if 0.0 <= probability <= 1.0:
        assert value == probability


def test_numpy_values_are_written_as_json_numbers() -> None:
    import numpy as np

    line = forecast_line("k", np.int64(7), "m", np.float64(0.25), np.int32(1), np.int64(3), np.bool_(True))
    assert json.loads(line) == {"schema_version": 1, "key": "k", "timestamp": 7, "model_id": "m",
                                "probability": 0.25, "start": 1, "end": 3, "positive": True}  # fmt: skip
