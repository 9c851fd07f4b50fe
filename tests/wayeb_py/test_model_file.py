"""The .spst model file: round trips, atomic writes and clear errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _data import demo_frame, maritime_frame, pattern_files
from _spst_helpers import decode_hand_pattern, demo_frame_inline, demo_model

from wayeb_py.engine import SPSTModel
from wayeb_py.estimator import SPSTForecaster
from wayeb_py.model_file import FORMAT_VERSION, MAGIC, ModelFileError, write_model
from wayeb_py.patterns import load_pattern
from wayeb_py.scoring import score_stream


def test_round_trip_with_hand_built_pattern(tmp_path: Path) -> None:
    model = demo_model()
    path = write_model(model, tmp_path / "demo.spst")
    loaded = SPSTModel.load(path, pattern_decoder=decode_hand_pattern)
    assert loaded.key == model.key and loaded.pst == model.pst
    assert loaded.provenance == model.provenance
    frame = demo_frame_inline()
    assert score_stream(loaded, frame) == score_stream(model, frame)
    assert [p.name for p in tmp_path.iterdir()] == ["demo.spst"]  # no temp file left behind


def test_round_trip_with_compiled_pattern(tmp_path: Path) -> None:
    pattern = load_pattern(*pattern_files("port"))
    frame = maritime_frame().head(3000)
    est = SPSTForecaster(pattern, p_min=0.001, gamma=0.001).fit(frame, dataset_id="slice-3000")
    path = est.save(tmp_path / "port.spst")
    loaded = SPSTModel.load(path)
    assert loaded.key == est.model_.key
    assert loaded.pattern.sdfa == pattern.sdfa and loaded.pattern.symbolizer == pattern.symbolizer
    assert loaded.provenance["dataset_id"] == "slice-3000" and loaded.provenance["rows"] == 3000
    assert score_stream(loaded, frame) == est.score(frame)
    again = SPSTForecaster.load(path)
    assert again.model_.key == loaded.key and again.p_min == 0.001


def test_file_layout_is_header_plus_json(tmp_path: Path) -> None:
    path = write_model(demo_model(), tmp_path / "m.spst")
    head, body = path.read_bytes().split(b"\n", 1)
    magic, version, checksum = head.decode().split(" ")
    assert magic == MAGIC and int(version) == FORMAT_VERSION and checksum.startswith("sha256=")
    doc = json.loads(body)
    assert doc["format"] == "wayeb_py.spst" and {"pattern", "pst", "learn_params", "forecast_params"} <= set(
        doc
    )
    assert b"pickle" not in body


def test_overwrite_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "m.spst"
    write_model(demo_model(), target)
    write_model(demo_model(), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.spst"]


def _corrupt(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_corrupt_foreign_and_newer_files_raise(tmp_path: Path) -> None:
    good = write_model(demo_model(), tmp_path / "good.spst").read_bytes()
    flipped = bytearray(good)
    flipped[-5] ^= 0x01
    cases = {
        "checksum": _corrupt(tmp_path / "flip.spst", bytes(flipped)),
        "checksum mismatch": _corrupt(tmp_path / "trunc.spst", good[:-20]),
        "not a wayeb_py": _corrupt(tmp_path / "foreign.spst", b"\xac\xed\x00\x05sr\x00java serialised"),
        "newer than supported": _corrupt(
            tmp_path / "newer.spst",
            good.replace(f"{MAGIC} {FORMAT_VERSION} ".encode(), f"{MAGIC} 99 ".encode(), 1),
        ),
    }
    for message, path in cases.items():
        with pytest.raises(ModelFileError, match=message):
            SPSTModel.load(path, pattern_decoder=decode_hand_pattern)
    with pytest.raises(ModelFileError, match="cannot read"):
        SPSTModel.load(tmp_path / "missing.spst")


def test_inconsistent_content_is_detected(tmp_path: Path) -> None:
    import hashlib

    good = write_model(demo_model(), tmp_path / "good.spst").read_bytes()
    doc = json.loads(good.split(b"\n", 1)[1])
    doc["pst"]["probs"][0][0] = 0.9  # edited model with a recomputed checksum
    body = json.dumps(doc).encode()
    header = f"{MAGIC} {FORMAT_VERSION} sha256={hashlib.sha256(body).hexdigest()}\n".encode()
    path = _corrupt(tmp_path / "edited.spst", header + body)
    with pytest.raises(ModelFileError, match="fingerprint"):
        SPSTModel.load(path, pattern_decoder=decode_hand_pattern)


def test_demo_model_from_compiled_pattern_round_trips(tmp_path: Path) -> None:
    pattern = load_pattern(*pattern_files("demo", "pattern-order1.sre"))
    est = SPSTForecaster(
        pattern, threshold=0.5, horizon=10, max_spread=10, distance=(0.0001, 1.0), finals_enabled=False
    ).fit(demo_frame())
    loaded = SPSTModel.load(est.save(tmp_path / "demo.spst"))
    assert score_stream(loaded, demo_frame()) == est.score(demo_frame())
