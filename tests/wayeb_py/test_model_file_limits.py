"""Bounded model loading: size, nesting depth and file type limits give a ModelFileError, never a crash."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import pytest
from _spst_helpers import decode_hand_pattern, demo_model

from wayeb_py.engine import SPSTModel
from wayeb_py.model_file import (
    DEFAULT_MAX_DEPTH,
    FORMAT_VERSION,
    MAGIC,
    ModelFileError,
    write_model,
)


def _signed(body: bytes) -> bytes:
    """A header with a correct checksum for ``body``: only the content limits can refuse it."""
    return f"{MAGIC} {FORMAT_VERSION} sha256={hashlib.sha256(body).hexdigest()}\n".encode() + body


def test_a_deeply_nested_file_is_a_model_file_error(tmp_path: Path) -> None:
    levels = 200_000
    body = b'{"format":"wayeb_py.spst","format_version":1,"pattern":' + b"[" * levels + b"]" * levels + b"}"
    with pytest.raises(RecursionError):
        json.loads(body)  # what an unbounded parser would do with it
    path = tmp_path / "deep.spst"
    path.write_bytes(_signed(body))
    with pytest.raises(ModelFileError, match=f"nests {levels + 1} levels, more than the limit"):
        SPSTModel.load(path)


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path: Path) -> None:
    body = json.dumps({"format": "other", "text": "[" * 500 + '\\"{' * 100}).encode()
    with pytest.raises(ModelFileError, match="not a wayeb_py.spst document"):
        SPSTModel.from_bytes(_signed(body), max_depth=2)


def test_a_real_model_fits_the_default_depth_and_a_tighter_limit_refuses_it(tmp_path: Path) -> None:
    path = write_model(demo_model(), tmp_path / "m.spst")
    assert SPSTModel.load(path, pattern_decoder=decode_hand_pattern).key == demo_model().key
    with pytest.raises(ModelFileError, match="more than the limit of 2"):
        SPSTModel.load(path, pattern_decoder=decode_hand_pattern, max_depth=2)
    assert DEFAULT_MAX_DEPTH >= 32


def test_size_limit_is_checked_before_reading(tmp_path: Path) -> None:
    path = write_model(demo_model(), tmp_path / "m.spst")
    size = path.stat().st_size
    with pytest.raises(ModelFileError, match=f"{size} bytes, more than the limit of {size - 1}"):
        SPSTModel.load(path, max_bytes=size - 1)
    assert SPSTModel.load(path, pattern_decoder=decode_hand_pattern, max_bytes=size).key == demo_model().key


def test_a_truncated_file_is_a_model_file_error(tmp_path: Path) -> None:
    good = write_model(demo_model(), tmp_path / "m.spst").read_bytes()
    for cut in (0, 10, good.index(b"\n"), len(good) // 2, len(good) - 1):
        path = tmp_path / f"cut{cut}.spst"
        path.write_bytes(good[:cut])
        with pytest.raises(ModelFileError):
            SPSTModel.load(path, pattern_decoder=decode_hand_pattern)


def test_a_device_and_a_directory_are_not_model_files(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not a regular file"):
        SPSTModel.load("/dev/zero")
    with pytest.raises(ModelFileError, match="not a regular file"):
        SPSTModel.load(tmp_path)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.spst")
    errors: list[BaseException] = []

    def load() -> None:
        try:
            SPSTModel.load(tmp_path / "pipe.spst")
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            errors.append(exc)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(5.0)
    assert not thread.is_alive(), "reading a FIFO blocked"
    assert len(errors) == 1 and isinstance(errors[0], ModelFileError)
    assert "not a regular file" in str(errors[0])


@pytest.mark.parametrize(
    "body",
    [
        b'{"format":"wayeb_py.spst","format_version":1,"pattern":[]}',
        b'{"format":"wayeb_py.spst","format_version":1,"pattern":"x","pst":1}',
        b'{"format":"wayeb_py.spst","format_version":1,"n":' + b"9" * 5000 + b"}",
        b'{"format":"wayeb_py.spst","format_version":1,"pattern":{"sdfa":null}}',
        b"\xff\xfe not utf-8",
        b'["an array"]',
    ],
)
def test_malformed_content_is_a_model_file_error(body: bytes) -> None:
    with pytest.raises(ModelFileError):
        SPSTModel.from_bytes(_signed(body), source="hostile.spst")
