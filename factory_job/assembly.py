"""Dataset assembly: concatenate a dataset version's bucket files into one CSV on the shared volume.

The collector announces a :class:`~protocol.messages.DatasetVersion` listing its closed bucket files. The
factory copies them, oldest bucket first, into ``datasets/dataset_v<version>.csv``. The copy is what
training reads, so the collector may delete the buckets as soon as the factory acknowledges
(:class:`~protocol.messages.AssemblyAck`).

A bucket is one file (rows copied in file order) or, from a collector with several bucket writers, one file
per part (``<bucket>_part-<n>.csv``, listed together). The parts of a bucket are read as one and put in
*event-time order* (:func:`event_time_order`): by timestamp, ties by partition key, and a key's rows keep
their file order (an out-of-order row sorts at the newest time its key had reached). A key's rows are all
in one part, so the result does not depend on how many parts wrote the bucket; it equals the single
file's rows put in the same order, and each key's rows are in the order the single file has them.

Bucket files are CSV with a header row. Their column order may differ (the collector writes whatever fields an
event carries); columns are aligned by name, in order of first appearance, and a field missing from a bucket
is written empty. Values are copied as text, so nothing is re-typed on the way (``mmsi`` stays ``"0123"``).

Bucket paths are claim checks that arrived in a message, so each is read through
:mod:`shared_volume.claims`: it must resolve (symbolic links included) inside the buckets folder and be a
regular file of at most ``max_bucket_bytes``. A path that escapes the folder, names a FIFO, a device or a
directory, or is too large refuses the whole dataset version: nothing is assembled, and the reason is a
problem (the factory turns problems into dead letters and goes on).

A bucket file that is missing or unreadable is skipped and reported as a problem; the dataset is still
assembled from the remaining files. With no readable bucket file at all there is no dataset.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
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
    "event_time_order",
]

TIMESTAMP_COLUMN = "timestamp"
_DATASET_FILE = re.compile(r"^dataset_v(\d+)\.csv$")
_PART_FILE = re.compile(r"^(?P<bucket>.+)_part-\d+(?P<suffix>\.[A-Za-z0-9]+)?$")
"""A bucket file written by one of several parts: ``<bucket>_part-<n>.csv``."""
_MAX_BUCKET_BYTES: int = Settings.model_fields["max_bucket_bytes"].default


@dataclass(frozen=True)
class AssemblyResult:
    """The assembled dataset (None when nothing could be read) and one line per skipped bucket."""

    dataset: DatasetInfo | None
    problems: tuple[str, ...] = field(default=())


def dataset_path(datasets_dir: Path, version: int) -> Path:
    """Where dataset ``version`` is assembled."""
    return datasets_dir / f"dataset_v{version}.csv"


def _bucket_of(path: str) -> str | None:
    """The bucket a part file belongs to (its path without ``_part-<n>``); None for a whole bucket file."""
    match = _PART_FILE.match(Path(path).name)
    if match is None:
        return None
    return str(Path(path).with_name(match["bucket"] + (match["suffix"] or "")))


def _ordered_buckets(message: DatasetVersion) -> list[tuple[str, ...]]:
    """The files of each bucket, buckets oldest first: by bucket start when the starts match the buckets,
    else as listed. The part files of one bucket form one entry, in the order listed."""
    groups: dict[object, list[str]] = {}
    for index, path in enumerate(message.bucket_paths):
        bucket = _bucket_of(path)
        groups.setdefault(index if bucket is None else bucket, []).append(path)
    buckets = [tuple(paths) for paths in groups.values()]
    if len(message.bucket_starts) == len(buckets):
        pairs = sorted(zip(message.bucket_starts, buckets, strict=True), key=lambda p: p[0])
        return [paths for _, paths in pairs]
    return buckets


def _read_bucket(raw: bytes) -> pd.DataFrame:
    """A bucket's content as text columns; an empty file (or header only) is an empty frame."""
    try:
        return pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _aligned(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames concatenated, columns aligned by name in order of first appearance (missing cells empty)."""
    non_empty = [f for f in frames if len(f.columns)]
    if not non_empty:
        return pd.DataFrame()
    columns: list[str] = []
    for frame in non_empty:
        columns.extend(c for c in frame.columns if c not in columns)
    return pd.concat([f.reindex(columns=columns, fill_value="") for f in non_empty], ignore_index=True)


def event_time_order(frame: pd.DataFrame, key_column: str | None) -> pd.DataFrame:
    """The rows of ``frame`` by event time, ties by ``key_column``, each key's rows in their given order.

    A row sorts at the newest timestamp its key has reached so far (its own, unless it came out of order),
    so a key's rows are never reordered. Without a timestamp column the frame is returned as it is; without
    the key column all rows count as one key.
    """
    if frame.empty or TIMESTAMP_COLUMN not in frame.columns:
        return frame
    times = pd.to_numeric(frame[TIMESTAMP_COLUMN], errors="coerce").astype(float).fillna(-math.inf)
    if key_column and key_column in frame.columns:
        keys = frame[key_column].astype(str)
    else:
        keys = pd.Series("", index=frame.index)
    reached = times.groupby(keys, sort=False).cummax()
    order = pd.DataFrame({"t": reached.to_numpy(), "k": keys.to_numpy(), "i": np.arange(len(frame))})
    order = order.sort_values(["t", "k", "i"], kind="stable")
    return frame.iloc[order["i"].to_numpy()].reset_index(drop=True)


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
    key_column: str | None = None,
) -> AssemblyResult:
    """Concatenate the buckets of ``message`` (confined to ``buckets_dir``) into ``dataset_v<version>.csv``
    (written atomically). ``key_column`` is the partition key the parts of a bucket are merged by."""
    frames: list[pd.DataFrame] = []
    problems: list[str] = []
    for files in _ordered_buckets(message):
        parts: list[pd.DataFrame] = []
        for bucket in files:
            try:
                raw = read_confined_bytes(bucket, buckets_dir, max_bucket_bytes)
            except MissingClaimError:
                problems.append(f"dataset v{message.version}: bucket file missing: {bucket}")
                continue
            except ClaimError as exc:
                problems.append(f"dataset v{message.version} refused: {exc}")
                return AssemblyResult(dataset=None, problems=tuple(problems))
            try:
                parts.append(_read_bucket(raw))
            except (ValueError, pd.errors.ParserError) as exc:
                problems.append(f"dataset v{message.version}: bucket file unreadable: {bucket}: {exc}")
        if parts and _bucket_of(files[0]) is not None:
            frames.append(event_time_order(_aligned(parts), key_column))
        else:
            frames.extend(parts)
    if not frames:
        problems.append(f"dataset v{message.version}: no readable bucket, nothing assembled")
        return AssemblyResult(dataset=None, problems=tuple(problems))

    merged = _aligned(frames)
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
