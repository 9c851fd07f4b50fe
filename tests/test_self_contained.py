"""The repository is self-contained: nothing reads the folder it was cloned into or anything beside it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.repo_audit import IN_TEMP_FOLDER, OUTSIDE_READS, is_beside_repo
from tests.repo_data import REPO_ROOT

# Spelled in pieces so that this file does not match its own scan.
_FORBIDDEN = ("../" + "shared", "RTCEF_" + "SHARED_DATA", '"shared" / ' + '"data"', "parent / " + '"shared"')


def _project_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return [REPO_ROOT / name for name in listed if (REPO_ROOT / name).is_file()]


def test_no_project_file_refers_to_a_folder_beside_the_repository() -> None:
    offenders = []
    for path in _project_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        offenders += [f"{path.relative_to(REPO_ROOT)}: {needle}" for needle in _FORBIDDEN if needle in text]
    assert offenders == []


def test_every_data_file_has_its_origin_in_the_data_readme() -> None:
    readme = (REPO_ROOT / "data" / "README.md").read_text()
    files = [p for p in (REPO_ROOT / "data").rglob("*") if p.is_file() and p.name != "README.md"]
    assert files, "data/ is empty"
    folders = {str(p.parent.relative_to(REPO_ROOT / "data")) for p in files}
    assert [f for f in sorted(folders) if f"`{f}/" not in readme] == []


def test_an_open_beside_the_repository_is_recorded() -> None:
    sibling = REPO_ROOT.parent / "not-part-of-the-project.txt"
    before = len(OUTSIDE_READS)
    with pytest.raises(OSError):
        open(sibling)  # noqa: SIM115 - the attempt is what is audited
    assert OUTSIDE_READS[before:] == ([] if IN_TEMP_FOLDER else [str(sibling)])
    del OUTSIDE_READS[before:]


@pytest.mark.parametrize(
    ("path", "beside"),
    [
        (str(REPO_ROOT / "data" / "demo" / "data.csv"), False),
        (str(REPO_ROOT.parent / "sibling" / "x.csv"), True),
        (str(REPO_ROOT) + "-other/file", True),
        (str(REPO_ROOT.parent / ".cache" / "pip" / "x"), False),
        (str(REPO_ROOT), False),
    ],
)
def test_is_beside_repo(path: str, beside: bool) -> None:
    assert is_beside_repo(path) is (beside and not IN_TEMP_FOLDER)
