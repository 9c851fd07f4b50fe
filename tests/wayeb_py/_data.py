"""Locations of the shared, read-only test inputs (kept beside the repository, never copied into it)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
MARITIME_COLUMNS = ["timestamp", "mmsi", "lon", "lat", "speed", "heading", "cog", "annotation"]


def data_path(*parts: str) -> Path:
    """Path of a shared data file; raises a clear error (tests never skip) when it is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(
            f"shared test data not found: {path.resolve()} - the tests expect the read-only data set in "
            "'../shared/data' next to the repository root (see that folder's README.md)"
        )
    return path


def pattern_files(name: str, pattern: str = "pattern.sre") -> tuple[Path, Path]:
    """``(pattern, declarations)`` paths of one of the shared pattern folders."""
    return data_path("patterns", name, pattern), data_path("patterns", name, "declarations.sre")


def maritime_frame() -> pd.DataFrame:
    """The single-vessel AIS track near Brest (30,193 rows)."""
    return pd.read_csv(
        data_path("maritime", "227592820.csv"),
        header=None,
        names=MARITIME_COLUMNS,
        dtype={"mmsi": str, "annotation": str},
    )


def demo_frame() -> pd.DataFrame:
    """The 100-event demo stream with columns ``type`` (A/B/C) and ``timestamp``."""
    return pd.read_csv(data_path("demo", "data.csv"), header=None, names=["type", "timestamp"])
