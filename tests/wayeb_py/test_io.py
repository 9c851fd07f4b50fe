"""Stream readers: header detection, column mapping, JSON lines and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _data import data_path

from wayeb_py.io import StreamFormatError, read_events


def test_real_maritime_csv_without_header() -> None:
    frame = read_events(data_path("maritime", "227592820.csv"), "maritime", nrows=50)
    assert list(frame.columns)[:4] == ["timestamp", "mmsi", "lon", "lat"] and len(frame) == 50
    assert frame["timestamp"].dtype.kind == "i" and frame["lon"].iloc[0] == pytest.approx(-4.489492)


def test_demo_csv() -> None:
    frame = read_events(data_path("demo", "data.csv"), "demo")
    assert list(frame.columns) == ["type", "timestamp"] and len(frame) == 100 and frame["type"].iloc[2] == "B"


def test_csv_with_header_and_custom_columns(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("time,pan,isFraud\n1,p1,0.0\n2,p1,1.0\n")
    frame = read_events(path, "finance", rename={"time": "timestamp"})
    assert list(frame.columns) == ["timestamp", "pan", "is_fraud"]
    headerless = tmp_path / "g.csv"
    headerless.write_text("1,p1,0.0\n")
    with pytest.raises(StreamFormatError, match="column names"):
        read_events(headerless, "finance")
    assert (
        list(read_events(headerless, "finance", columns=["timestamp", "pan", "is_fraud"]).columns)[1] == "pan"
    )


def test_maritime_jsonl_renames_fields(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    rows = [{"timestamp": 1, "mmsi": 7, "lon": -4.4, "lat": 48.3, "speed": 1.0, "trh": 90.0}, {}]
    path.write_text(json.dumps(rows[0]) + "\n\n" + json.dumps({**rows[0], "timestamp": -1}) + "\n")
    frame = read_events(path, "maritime")
    assert "heading" in frame.columns and frame["timestamp"].tolist() == [1, -1]


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("{bad json\n", ".jsonl", "invalid JSON"),
        ("1,2\n", ".csv", "fields per line"),
        ('{"lon": 1.0}\n', ".jsonl", "missing column"),
        ("x,1,2,3,4,5,6,7\n", ".csv", "non-numeric timestamp"),
    ],
)
def test_bad_streams(tmp_path: Path, content: str, suffix: str, message: str) -> None:
    path = tmp_path / f"s{suffix}"
    path.write_text(content)
    with pytest.raises(StreamFormatError, match=message):
        read_events(path, "maritime", header=False if suffix == ".csv" else None)


def test_unknown_domain_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StreamFormatError, match="domain"):
        read_events(tmp_path / "x.csv", "weather")
    with pytest.raises(StreamFormatError, match="not found"):
        read_events(tmp_path / "x.csv", "demo")
