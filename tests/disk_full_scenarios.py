"""What the collector, the factory and the model writer do when the shared volume fills up.

Each function runs in a child process on a tiny tmpfs (:func:`tests.small_volume.run_on_small_volume`), fills
it until the kernel answers ``ENOSPC``, and returns what it saw as JSON-able data for the test to assert.
"""

from __future__ import annotations

import contextlib
import errno
from pathlib import Path
from typing import Any

import pandas as pd

COLUMNS = ("timestamp", "mmsi", "lon", "lat", "note")


def _row(i: int) -> dict[str, Any]:
    return {"timestamp": 1_700_000_000 + i, "mmsi": "227592820", "lon": -4.5 + i / 1e4, "lat": 48.3,
            "note": "x" * 60}  # fmt: skip


def _fill(path: Path) -> int:
    """Grow ``path`` until the volume is full; returns the bytes written."""
    written = 0
    with contextlib.suppress(OSError), path.open("ab", buffering=0) as handle:
        while True:
            written += handle.write(b"\0" * 512)
    return written


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def collector_appends_until_full(mount: str) -> dict[str, Any]:
    """Append bucket rows until the volume is full; then free some room and append again."""
    from collector_job.bucket_files import BucketWriter, count_rows, row_offsets

    root = Path(mount)
    spare = root / "spare"
    spare.write_bytes(b"\0" * 16384)
    path = root / "buckets" / "dt_bucket_0.csv"
    writer = BucketWriter(root / "buckets", fsync_rows=1)
    appended, error = 0, None
    for i in range(1_000_000):
        try:
            writer.append(path, COLUMNS, _row(i))
        except OSError as exc:
            error = exc
            break
        appended += 1
    assert error is not None, "the volume never filled up"
    offsets = row_offsets(path)
    full = {
        "errno": error.errno,
        "type": type(error).__name__,
        "message": str(error),
        "appended": appended,
        "rows_on_disk": count_rows(path),
        "ends_on_a_row": bool(offsets) and offsets[-1] == path.stat().st_size,
    }
    spare.unlink()
    writer = BucketWriter(root / "buckets", fsync_rows=1)
    for i in range(appended, appended + 10):
        writer.append(path, COLUMNS, _row(i))
    writer.close_all()
    timestamps = pd.read_csv(path)["timestamp"].tolist()
    return {**full, "rows_after": count_rows(path), "in_order": timestamps == sorted(set(timestamps))}


def factory_assembles_on_a_full_volume(mount: str) -> dict[str, Any]:
    """Assemble a dataset when there is no room for it, then again once there is."""
    from factory_job.assembly import assemble_dataset
    from protocol.messages import DatasetVersion

    root = Path(mount)
    buckets, datasets = root / "buckets", root / "datasets"
    buckets.mkdir()
    paths = []
    for b in range(2):
        path = buckets / f"dt_bucket_{b}.csv"
        pd.DataFrame([_row(i) for i in range(b * 60, b * 60 + 60)]).to_csv(path, index=False)
        paths.append(str(path))
    message = DatasetVersion(version=3, timestamp=0, bucket_starts=(0, 1), bucket_paths=tuple(paths))
    _fill(root / "spare")
    refused = assemble_dataset(message, datasets, buckets)
    left = _listing(datasets)
    (root / "spare").unlink()
    retried = assemble_dataset(message, datasets, buckets)
    return {
        "refused": refused.dataset is None,
        "problems": list(refused.problems),
        "left_behind": left,
        "buckets_kept": _listing(buckets),
        "rows_after": None if retried.dataset is None else retried.dataset.rows,
        "datasets_after": _listing(datasets),
    }


def model_written_on_a_full_volume(mount: str) -> dict[str, Any]:
    """Save a model over an existing one when the volume is full: the old file must stay intact."""
    from tests.wayeb_py._spst_helpers import demo_model
    from wayeb_py.model_file import write_model

    root = Path(mount)
    model = demo_model()
    target = root / "models" / "m1.spst"
    write_model(model, target)
    before = target.read_bytes()
    _fill(root / "spare")
    failure = None
    try:
        write_model(model, target)
    except OSError as exc:
        failure = exc.errno
    return {
        "errno": failure,
        "enospc": errno.ENOSPC,
        "unchanged": target.read_bytes() == before,
        "files": _listing(target.parent),
    }
