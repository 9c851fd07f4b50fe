"""Claim checks confined to their folder: every way out, every non-file and every oversize file is refused."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shared_volume import claims
from shared_volume.claims import (
    ClaimError,
    MissingClaimError,
    confined_path,
    open_confined,
    read_confined_bytes,
    read_confined_text,
)

LIMIT = 1024


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    inside = tmp_path / "data" / "buckets"
    (inside / "sub").mkdir(parents=True)
    (inside / "a.csv").write_bytes(b"timestamp\n1\n")
    (inside / "sub" / "b.csv").write_bytes(b"timestamp\n2\n")
    (tmp_path / "secret.txt").write_bytes(b"not yours\n")
    return inside


def _refused(call: Callable[[], Any], *words: str) -> str:
    with pytest.raises(ClaimError) as caught:
        call()
    reason = str(caught.value)
    assert "\n" not in reason
    for word in words:
        assert word in reason
    return reason


def _within(seconds: float, call: Callable[[], Any]) -> BaseException | None:
    """Run ``call`` in a daemon thread; fail the test if it has not returned after ``seconds``."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds} s"
    return outcome[0]


def test_a_file_inside_is_read_and_resolved(folder: Path) -> None:
    assert read_confined_bytes(folder / "a.csv", folder, LIMIT) == b"timestamp\n1\n"
    assert read_confined_text(str(folder / "sub" / "b.csv"), folder, LIMIT) == "timestamp\n2\n"
    assert confined_path(folder / "sub" / ".." / "a.csv", folder, LIMIT) == folder.resolve() / "a.csv"


def test_a_relative_path_is_taken_relative_to_the_folder(folder: Path) -> None:
    assert confined_path("sub/b.csv", folder, LIMIT) == folder.resolve() / "sub" / "b.csv"


def test_a_symlink_that_stays_inside_is_followed(folder: Path) -> None:
    (folder / "link.csv").symlink_to(folder / "sub" / "b.csv")
    assert confined_path(folder / "link.csv", folder, LIMIT) == folder.resolve() / "sub" / "b.csv"


def test_a_symlink_out_is_refused(folder: Path, tmp_path: Path) -> None:
    (folder / "out.csv").symlink_to(tmp_path / "secret.txt")
    (folder / "outdir").symlink_to(tmp_path)
    _refused(lambda: read_confined_bytes(folder / "out.csv", folder, LIMIT), "outside", "secret.txt")
    _refused(lambda: read_confined_bytes(folder / "outdir" / "secret.txt", folder, LIMIT), "outside")


def test_dot_dot_is_refused(folder: Path) -> None:
    _refused(lambda: read_confined_bytes(folder / ".." / ".." / "secret.txt", folder, LIMIT), "outside")
    _refused(lambda: read_confined_bytes("../../secret.txt", folder, LIMIT), "outside")


def test_an_absolute_path_elsewhere_is_refused(folder: Path) -> None:
    _refused(lambda: read_confined_bytes("/etc/passwd", folder, LIMIT), "outside", "/etc/passwd")


def test_the_folder_itself_is_refused(folder: Path) -> None:
    _refused(lambda: confined_path("", folder, LIMIT), "outside")
    _refused(lambda: confined_path(folder, folder, LIMIT), "outside")


def test_a_device_is_refused(folder: Path) -> None:
    _refused(lambda: read_confined_bytes("/dev/zero", folder, LIMIT), "outside")
    # even where a device is inside the folder, it is not a regular file
    _refused(lambda: read_confined_bytes("/dev/zero", Path("/dev"), LIMIT), "character device")


def test_a_fifo_is_refused_without_blocking(folder: Path) -> None:
    os.mkfifo(folder / "pipe")
    error = _within(5.0, lambda: read_confined_bytes(folder / "pipe", folder, LIMIT))
    assert isinstance(error, ClaimError) and "FIFO" in str(error)
    error = _within(5.0, lambda: confined_path(folder / "pipe", folder, LIMIT))
    assert isinstance(error, ClaimError)


def test_a_directory_is_refused(folder: Path) -> None:
    _refused(lambda: read_confined_bytes(folder / "sub", folder, LIMIT), "a directory")


def test_a_socket_is_refused(folder: Path) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(folder / "sock"))
        _refused(lambda: read_confined_bytes(folder / "sock", folder, LIMIT), "sock")
    finally:
        server.close()


def test_a_missing_file_is_refused(folder: Path) -> None:
    with pytest.raises(MissingClaimError, match="no such file"):
        read_confined_bytes(folder / "gone.csv", folder, LIMIT)
    with pytest.raises(MissingClaimError, match="no such file"):
        read_confined_bytes(folder / "nodir" / "gone.csv", folder, LIMIT)
    # missing and outside is an escape, not a missing file
    with pytest.raises(ClaimError) as caught:
        read_confined_bytes("/no/such/file", folder, LIMIT)
    assert not isinstance(caught.value, MissingClaimError) and "outside" in str(caught.value)


def test_a_file_over_the_limit_is_refused(folder: Path) -> None:
    (folder / "big.csv").write_bytes(b"x" * (LIMIT + 1))
    (folder / "exact.csv").write_bytes(b"x" * LIMIT)
    _refused(lambda: read_confined_bytes(folder / "big.csv", folder, LIMIT), "1025 bytes", "limit 1024")
    _refused(lambda: confined_path(folder / "big.csv", folder, LIMIT), "limit")
    assert len(read_confined_bytes(folder / "exact.csv", folder, LIMIT)) == LIMIT


def test_a_file_growing_after_the_check_is_not_read_past_the_limit(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / "growing.csv").write_bytes(b"x" * (10 * LIMIT))
    real_fstat = os.fstat

    def small_fstat(fd: int) -> os.stat_result:
        info = list(real_fstat(fd))
        info[6] = 10  # st_size as it was when checked
        return os.stat_result(info)

    monkeypatch.setattr(claims.os, "fstat", small_fstat)
    _refused(lambda: read_confined_bytes(folder / "growing.csv", folder, LIMIT), "grew past")


def test_a_component_swapped_for_a_link_after_resolution_is_not_followed(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "b.csv").write_bytes(b"stolen\n")
    (folder / "swapped").symlink_to(outside)
    (folder / "last.csv").symlink_to(tmp_path / "secret.txt")
    root = folder.resolve()
    # what the resolution saw a moment before the swap: plain entries inside the folder
    for seen in (root / "swapped" / "b.csv", root / "last.csv"):
        monkeypatch.setattr(claims, "_resolve", lambda path, f, seen=seen: (root, seen))
        _refused(lambda: read_confined_bytes("anything", folder, LIMIT), "cannot be opened safely")


def test_a_reason_stays_on_one_line_whatever_the_file_name(folder: Path) -> None:
    (folder / "two\nlines").mkdir()
    _refused(lambda: read_confined_bytes(folder / "two\nlines", folder, LIMIT), "a directory")


def test_unresolvable_and_undecodable_paths_are_refused(folder: Path) -> None:
    _refused(lambda: read_confined_bytes("a\0.csv", folder, LIMIT), "cannot be resolved")
    (folder / "latin1.csv").write_bytes("café".encode("latin-1"))
    _refused(lambda: read_confined_text(folder / "latin1.csv", folder, LIMIT), "not utf-8 text")


def test_open_confined_yields_a_readable_descriptor_and_closes_it(folder: Path) -> None:
    with open_confined(folder / "a.csv", folder, LIMIT) as (fd, resolved):
        assert os.read(fd, 100) == b"timestamp\n1\n" and resolved == folder.resolve() / "a.csv"
    with pytest.raises(OSError):
        os.fstat(fd)


def test_claim_errors_are_value_errors() -> None:
    assert issubclass(ClaimError, ValueError)
