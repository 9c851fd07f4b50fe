"""The read-only inputs of the tests, in the repository's ``data/`` folder (origin and licence in its README).

Every test input lives inside the repository: a clone in an empty folder must pass its tests. A missing file
is a test failure with the path, never a skip.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_ROOT = REPO_ROOT / "data"
MARITIME_COLUMNS = ["timestamp", "mmsi", "lon", "lat", "speed", "heading", "cog", "annotation"]
VESSEL_TRACK = ("maritime", "227592820.csv")


def data_file(*parts: str) -> Path:
    """Path of a file under ``data/``; the calling test fails with the path when it is missing."""
    path = DATA_ROOT.joinpath(*parts)
    if not path.is_file():
        pytest.fail(f"repository data file missing: {path} (see data/README.md)")
    return path


def pattern_files(name: str, pattern: str = "pattern.sre") -> tuple[Path, Path]:
    """``(pattern, declarations)`` paths of one folder of ``data/patterns``."""
    return data_file("patterns", name, pattern), data_file("patterns", name, "declarations.sre")


def maritime_frame(rows: int | None = None) -> pd.DataFrame:
    """The single-vessel AIS track near Brest (30,193 rows; the first ``rows`` if given), mmsi as text."""
    return pd.read_csv(
        data_file(*VESSEL_TRACK),
        header=None,
        names=MARITIME_COLUMNS,
        dtype={"mmsi": str, "annotation": str},
        nrows=rows,
    )


def demo_frame() -> pd.DataFrame:
    """The 100-event demo stream with columns ``type`` (A/B/C) and ``timestamp``."""
    return pd.read_csv(data_file("demo", "data.csv"), header=None, names=["type", "timestamp"])
