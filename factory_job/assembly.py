"""Dataset assembly: concatenate a dataset version's bucket files into one CSV on the shared volume.

The collector announces a :class:`~protocol.messages.DatasetVersion` listing its closed bucket files. The
factory copies them, oldest bucket first and rows in file order, into ``datasets/dataset_v<version>.csv``. The
copy is what training reads, so the collector may delete the buckets as soon as the factory acknowledges
(:class:`~protocol.messages.AssemblyAck`).

Bucket files are CSV with a header row. Their column order may differ (the collector writes whatever fields an
event carries); columns are aligned by name, in order of first appearance, and a field missing from a bucket
is written empty. Values are copied as text, so nothing is re-typed on the way (``mmsi`` stays ``"0123"``).

Bucket paths are claim checks that arrived in a message, so each is read through
:mod:`shared_volume.claims`: it must resolve (symbolic links included) inside the buckets folder and be a
regular file of at most ``max_bucket_bytes``. A path that escapes the folder, names a FIFO, a device or a
directory, or is too large refuses the whole dataset version: nothing is assembled, and the reason is a
problem (the factory turns problems into dead letters and goes on).

A bucket that is missing or unreadable is skipped and reported as a problem; the dataset is still assembled
from the remaining buckets. With no readable bucket at all there is no dataset.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from factory_job.state import DatasetInfo
from protocol.messages import DatasetVersion
from protocol.settings import Settings
from shared_volume.claims import ClaimError, MissingClaimError, read_confined_bytes
from shared_volume.files import StorageError, atomic_path, remove_quietly

__all__ = [
    "AssemblyResult",
    "TIMESTAMP_COLUMN",
    "assemble_dataset",
    "dataset_path",
    "delete_unused_datasets",
]

TIMESTAMP_COLUMN = "timestamp"
_DATASET_FILE = re.compile(r"^dataset_v(\d+)\.csv$")
_MAX_BUCKET_BYTES: int = Settings.model_fields["max_bucket_bytes"].default


@dataclass(frozen=True)
class AssemblyResult:
    """The assembled dataset (None when nothing could be read) and one line per skipped bucket."""

    dataset: DatasetInfo | None
    problems: tuple[str, ...] = field(default=())


def dataset_path(datasets_dir: Path, version: int) -> Path:
    """Where dataset ``version`` is assembled."""
    return datasets_dir / f"dataset_v{version}.csv"


def _ordered_buckets(message: DatasetVersion) -> list[str]:
    """Bucket paths oldest first: by bucket start when the starts match the paths, else as listed."""
    if len(message.bucket_starts) == len(message.bucket_paths):
        pairs = sorted(zip(message.bucket_starts, message.bucket_paths, strict=True), key=lambda p: p[0])
        return [path for _, path in pairs]
    return list(message.bucket_paths)


def _read_bucket(raw: bytes) -> pd.DataFrame:
    """A bucket's content as text columns; an empty file (or header only) is an empty frame."""
    try:
        return pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _time_range(frame: pd.DataFrame) -> tuple[int | None, int | None]:
    """First and last event time (gap markers ``-1`` excluded); None when there is no usable timestamp."""
    if TIMESTAMP_COLUMN not in frame.columns or frame.empty:
        return None, None
    ts = pd.to_numeric(frame[TIMESTAMP_COLUMN], errors="coerce").dropna()
    ts = ts[ts >= 0]
    if ts.empty:
        return None, None
    return int(ts.min()), int(ts.max())


def assemble_dataset(
    message: DatasetVersion,
    datasets_dir: Path,
    buckets_dir: Path,
    max_bucket_bytes: int = _MAX_BUCKET_BYTES,
) -> AssemblyResult:
    """Concatenate the buckets of ``message`` (confined to ``buckets_dir``) into ``dataset_v<version>.csv``
    (written atomically)."""
    frames: list[pd.DataFrame] = []
    problems: list[str] = []
    for bucket in _ordered_buckets(message):
        try:
            raw = read_confined_bytes(bucket, buckets_dir, max_bucket_bytes)
        except MissingClaimError:
            problems.append(f"dataset v{message.version}: bucket file missing: {bucket}")
            continue
        except ClaimError as exc:
            problems.append(f"dataset v{message.version} refused: {exc}")
            return AssemblyResult(dataset=None, problems=tuple(problems))
        try:
            frame = _read_bucket(raw)
        except (ValueError, pd.errors.ParserError) as exc:
            problems.append(f"dataset v{message.version}: bucket file unreadable: {bucket}: {exc}")
            continue
        frames.append(frame)
    if not frames:
        problems.append(f"dataset v{message.version}: no readable bucket, nothing assembled")
        return AssemblyResult(dataset=None, problems=tuple(problems))

    non_empty = [f for f in frames if len(f.columns)]
    columns: list[str] = []
    for frame in non_empty:
        columns.extend(c for c in frame.columns if c not in columns)
    merged = (
        pd.concat([f.reindex(columns=columns, fill_value="") for f in non_empty], ignore_index=True)
        if non_empty
        else pd.DataFrame()
    )
    target = dataset_path(datasets_dir, message.version)
    try:
        with atomic_path(target) as tmp:
            merged.to_csv(tmp, index=False)
    except OSError as exc:  # a full disk: nothing half-written stays, the buckets wait for a later version
        error = StorageError(f"dataset v{message.version} not written: could not write", target, exc)
        problems.append(f"{error}; its buckets stay on the volume until a later version is assembled")
        return AssemblyResult(dataset=None, problems=tuple(problems))
    first, last = _time_range(merged)
    info = DatasetInfo(
        version=message.version,
        path=str(target),
        rows=len(merged),
        first_ts=first,
        last_ts=last,
        bucket_starts=message.bucket_starts,
    )
    return AssemblyResult(dataset=info, problems=tuple(problems))


def delete_unused_datasets(datasets_dir: Path, keep: Iterable[str]) -> list[str]:
    """Delete every assembled dataset file not in ``keep`` (the current one and the locked ones).

    Listing the directory, rather than remembering what was written, also removes files left behind by a crash
    between writing a dataset and checkpointing the state that knew about it.
    """
    kept = {str(Path(p).resolve()) for p in keep}
    deleted: list[str] = []
    if not datasets_dir.is_dir():
        return deleted
    for candidate in sorted(datasets_dir.iterdir()):
        unused = _DATASET_FILE.match(candidate.name) and str(candidate.resolve()) not in kept
        if unused and remove_quietly(candidate):
            deleted.append(str(candidate))
    return deleted
