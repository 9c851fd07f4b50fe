"""``runtime/check-prereqs.sh``: what `make install` says when Python 3.11, Java 17 or Maven is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.repo_data import REPO_ROOT

SCRIPT = REPO_ROOT / "runtime" / "check-prereqs.sh"


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def _tools(folder: Path, *, java_version: str | None = "17", maven: bool = True, go: bool = True) -> None:
    """A PATH folder with the shell tools the script uses, the real Python, and stub java/mvn/go."""
    folder.mkdir()
    for tool in ("sed", "head", "cat"):
        (folder / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    (folder / "python3.11").symlink_to(sys.executable)
    if java_version is not None:
        _stub(folder, "java", f"echo '    java.specification.version = {java_version}' >&2")
    if maven:
        _stub(folder, "mvn", "echo 'Apache Maven 3.9.9'")
    if go:
        _stub(folder, "go", "echo 'go version go1.22.0 linux/amd64'")


def _run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(folder), "HOME": os.environ.get("HOME", "/tmp")}
    command = ["/bin/bash", str(SCRIPT), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def test_all_present_passes_silently(tmp_path: Path) -> None:
    _tools(tmp_path / "bin")
    result = _run(tmp_path / "bin")
    assert (result.returncode, result.stderr) == (0, "")


def test_old_java_and_no_maven_give_one_line_each_with_a_remedy(tmp_path: Path) -> None:
    _tools(tmp_path / "bin", java_version="11", maven=False)
    result = _run(tmp_path / "bin")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1
    assert len(lines) == 2
    assert "Java 17" in lines[0] and "version 11" in lines[0] and "install" in lines[0]
    assert lines[1].startswith("missing prerequisite: Maven") and "apt-get install maven" in lines[1]


def test_java_8_style_version_is_read(tmp_path: Path) -> None:
    _tools(tmp_path / "bin", java_version="1.8")
    result = _run(tmp_path / "bin")
    assert result.returncode == 1 and "version 8" in result.stderr


def test_missing_python_names_the_command_and_the_override(tmp_path: Path) -> None:
    _tools(tmp_path / "bin")
    result = _run(tmp_path / "bin", "python3.11-absent")
    assert result.returncode == 1
    assert "python3.11-absent (Python 3.11)" in result.stderr and "PYTHON_SYS=" in result.stderr


def test_wrong_python_version_is_refused(tmp_path: Path) -> None:
    _tools(tmp_path / "bin")
    _stub(tmp_path / "bin", "python-old", "echo 3.9")
    result = _run(tmp_path / "bin", "python-old")
    assert result.returncode == 1 and "python-old is 3.9" in result.stderr


def test_missing_go_is_a_note_not_a_failure(tmp_path: Path) -> None:
    _tools(tmp_path / "bin", go=False)
    result = _run(tmp_path / "bin")
    assert result.returncode == 0
    assert result.stderr.startswith("note: Go not found") and "Compose loader" in result.stderr
