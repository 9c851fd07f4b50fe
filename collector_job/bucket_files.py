"""Bucket files on the shared volume: naming, CSV rows, append with fsync, truncate, scan, trash.

A bucket file is ``<buckets_dir>/<prefix><bucket_start>[_part-<n>].csv``: UTF-8 CSV with one header row,
then one record per event. With several bucket writers (``COLLECTOR_PARTS`` > 1) each bucket has one file
per part that had rows in it, written by that part alone (:mod:`collector_job.parts`). Files are only ever
appended to (never rewritten); the only other operations are truncation back to a committed row count on
restore, and moving to / out of the trash.

Records may contain quoted newlines (free-text extra attributes), so rows are counted with a CSV-aware
byte scanner (:func:`row_offsets`), never by counting lines.

Deleting a bucket is two-phase: :meth:`BucketWriter.trash` renames ``x.csv`` to ``x.csv.deleted``, and the
file is purged later. A restore from a checkpoint taken before the deletion can thus bring it back.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from shared_volume.files import StorageError, write_text_atomic

LOG = logging.getLogger(__name__)

SUFFIX = ".csv"
TRASH_SUFFIX = ".deleted"
VERSION_FLOOR_FILE = ".collector_next_version"
"""Next dataset version, kept beside the buckets so a start without checkpoint does not reuse numbers."""


@dataclass(frozen=True)
class BucketFile:
    """A bucket file found on disk."""

    start: int
    part: int | None
    path: Path
    trashed: bool


def bucket_path(directory: Path | str, prefix: str, start: int, part: int | None = None) -> Path:
    """Path of the bucket file starting at ``start`` (``part``: the writer part, ``None`` with one writer)."""
    suffix = "" if part is None else f"_part-{part}"
    return Path(directory) / f"{prefix}{start}{suffix}{SUFFIX}"


def trash_path(path: Path) -> Path:
    """Where :meth:`BucketWriter.trash` moves a bucket file."""
    return path.with_name(path.name + TRASH_SUFFIX)


def parse_name(name: str, prefix: str) -> BucketFile | None:
    """Recognise a bucket file name; ``None`` for anything else (foreign files are left alone)."""
    pattern = rf"{re.escape(prefix)}(-?\d+)(?:_part-(\d+))?{re.escape(SUFFIX)}({re.escape(TRASH_SUFFIX)})?"
    match = re.fullmatch(pattern, name)
    if match is None:
        return None
    part = None if match.group(2) is None else int(match.group(2))
    return BucketFile(int(match.group(1)), part, Path(name), match.group(3) is not None)


def scan(directory: Path | str, prefix: str, part: int | None = None) -> list[BucketFile]:
    """Bucket files of one writer (same ``part``) in ``directory``, live and trashed, by start."""
    return [f for f in scan_all(directory, prefix) if f.part == part]


def scan_all(directory: Path | str, prefix: str) -> list[BucketFile]:
    """Every bucket file in ``directory`` (all parts), live and trashed, by start, part and trashed."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for entry in directory.iterdir():
        parsed = parse_name(entry.name, prefix)
        if parsed is not None and entry.is_file():
            found.append(BucketFile(parsed.start, parsed.part, entry, parsed.trashed))
    return sorted(found, key=lambda f: (f.start, -1 if f.part is None else f.part, f.trashed))


# ------------------------------------------------------------------------------------------- CSV rows


def columns_for(record: Mapping[str, Any], declared: Sequence[str]) -> tuple[str, ...]:
    """Header of a new bucket: the model's declared fields in order, then the extra attributes sorted."""
    extras = sorted(k for k in record if k not in declared)
    return (*[c for c in declared if c in record], *extras)


def cell(value: Any) -> str:
    """Text of one CSV cell: numbers as Python prints them, booleans lower-case, nested data as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def render(cells: Sequence[str]) -> str:
    """One CSV record, ``\\n`` terminated (minimal quoting)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


def render_row(columns: Sequence[str], record: Mapping[str, Any]) -> str:
    """The record's values in header order (missing attributes are empty cells)."""
    return render([cell(record.get(c)) for c in columns])


def row_offsets(path: Path) -> list[int]:
    """Byte offset just after each complete CSV record of ``path`` (the header is record 0).

    A record ends at a newline outside quotes; ``""`` inside a quoted cell toggles twice, so counting
    quotes is exact. A trailing partial record (a write cut short) has no entry.
    """
    offsets = []
    in_quotes = False
    position = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            for index, byte in enumerate(chunk):
                if byte == 0x22:  # '"'
                    in_quotes = not in_quotes
                elif byte == 0x0A and not in_quotes:  # '\n'
                    offsets.append(position + index + 1)
            position += len(chunk)
    return offsets


def count_rows(path: Path) -> int:
    """Complete data records of a bucket file (header excluded); 0 for a missing file."""
    if not path.exists():
        return 0
    return max(0, len(row_offsets(path)) - 1)


def read_rows(path: Path) -> list[dict[str, str]]:
    """All records of a bucket file as dicts (for tests and tools)."""
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@dataclass(frozen=True)
class TruncateResult:
    """Rows before and after :func:`truncate_to_rows` (``after < requested`` means rows are missing)."""

    before: int
    after: int


def truncate_to_rows(path: Path, rows: int) -> TruncateResult:
    """Cut ``path`` back to its header plus ``rows`` records, dropping anything after (fsync'd).

    ``rows == 0`` keeps only the header. If the file holds fewer complete rows than asked, only a partial
    trailing record is cut and the result says how many rows there are.
    """
    offsets = row_offsets(path)
    before = max(0, len(offsets) - 1)
    keep = min(rows + 1, len(offsets))
    size = offsets[keep - 1] if keep > 0 else 0
    if path.stat().st_size != size:
        with path.open("r+b") as handle:
            handle.truncate(size)
            handle.flush()
            os.fsync(handle.fileno())
    return TruncateResult(before=before, after=max(0, keep - 1))


# ------------------------------------------------------------------------------------------- writing


class BucketWriter:
    """Appends rows to bucket files, keeping open handles, flushing per row and fsyncing per batch.

    Each row is flushed to the OS at once (a crash of the job loses nothing written); ``fsync`` runs every
    ``fsync_rows`` rows per file and when a bucket closes, which bounds what a power loss can take without
    paying a blocking fsync per event.
    """

    def __init__(self, directory: Path | str, *, fsync_rows: int = 1000) -> None:
        self.directory = Path(directory)
        self.fsync_rows = max(1, fsync_rows)
        self._handles: dict[Path, IO[str]] = {}
        self._unsynced: dict[Path, int] = {}

    def append(self, path: Path, columns: Sequence[str], record: Mapping[str, Any]) -> None:
        """Append one record; a new (empty) file first gets the header row.

        A failed write (a full disk) raises :class:`~shared_volume.files.StorageError` after cutting the file
        back to its last complete row, so no torn row is left behind (the job then fails over and replays
        from its checkpoint, whose restore truncates to the committed row count anyway).
        """
        try:
            handle = self._handles.get(path)
            if handle is None:
                self.directory.mkdir(parents=True, exist_ok=True)
                handle = path.open("a", encoding="utf-8", newline="")
                self._handles[path] = handle
                if handle.tell() == 0:
                    handle.write(render(columns))
            handle.write(render_row(columns, record))
            handle.flush()
        except OSError as exc:
            self._abandon(path)
            raise StorageError("collector: could not append a row to", path, exc) from exc
        self._unsynced[path] = self._unsynced.get(path, 0) + 1
        if self._unsynced[path] >= self.fsync_rows:
            self.sync(path)

    def sync(self, path: Path) -> None:
        """fsync one open file (no-op when it is not open)."""
        handle = self._handles.get(path)
        if handle is not None:
            try:
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as exc:
                self._abandon(path)
                raise StorageError("collector: could not sync", path, exc) from exc
        self._unsynced.pop(path, None)

    def _abandon(self, path: Path) -> None:
        """Drop the handle of a file whose write failed and cut the file back to its complete rows."""
        handle = self._handles.pop(path, None)
        self._unsynced.pop(path, None)
        if handle is not None:
            with contextlib.suppress(OSError):  # closing flushes the buffer: it may fail again
                handle.close()
        with contextlib.suppress(OSError):
            if path.exists():
                truncate_to_rows(path, len(row_offsets(path)))

    def close(self, path: Path) -> None:
        """fsync and close a file (its bucket closed)."""
        self.sync(path)
        handle = self._handles.pop(path, None)
        if handle is not None:
            handle.close()

    def close_all(self) -> None:
        for path in list(self._handles):
            self.close(path)

    def trash(self, path: Path) -> None:
        """First phase of a deletion: move the file aside (missing files are fine: replayed deletes)."""
        self.close(path)
        if path.exists():
            os.replace(path, trash_path(path))
            fsync_dir(path.parent)

    def purge(self, path: Path) -> None:
        """Second phase of a deletion: remove the trashed copy (missing is fine)."""
        trash_path(path).unlink(missing_ok=True)


def fsync_dir(directory: Path) -> None:
    """Make renames and creations in ``directory`` durable (best effort where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def read_version_floor(directory: Path | str) -> int:
    """The next dataset version recorded beside the buckets (0 when absent or unreadable)."""
    path = Path(directory) / VERSION_FLOOR_FILE
    try:
        return max(0, int(path.read_text(encoding="utf-8").strip()))
    except (OSError, ValueError):
        return 0


def write_version_floor(directory: Path | str, next_version: int) -> None:
    """Record the next dataset version atomically (write, fsync, rename); never lowers it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if read_version_floor(directory) >= next_version:
        return
    write_text_atomic(directory / VERSION_FLOOR_FILE, f"{next_version}\n")


# ---------------------------------------------------------------------------------- reconciliation


@dataclass(frozen=True)
class Truncate:
    """Cut a known bucket file back to the rows committed in the restored state."""

    start: int
    path: Path
    rows: int


@dataclass(frozen=True)
class Restore:
    """Bring a trashed file back: the restored state still needs its bucket."""

    start: int
    path: Path


@dataclass(frozen=True)
class Discard:
    """Move a live file the restored state does not know to the trash (its rows will be replayed)."""

    start: int
    path: Path


@dataclass(frozen=True)
class Remove:
    """Delete a live file written after the checkpoint: every row of it will be replayed."""

    start: int
    path: Path


FileAction = Truncate | Restore | Discard | Remove


def execute(actions: Sequence[FileAction]) -> dict[Path, int]:
    """Carry out a reconciliation plan; returns the data rows each truncated file now holds, by path."""
    rows: dict[Path, int] = {}
    for action in actions:
        if isinstance(action, Restore):
            os.replace(trash_path(action.path), action.path)
        elif isinstance(action, Discard):
            os.replace(action.path, trash_path(action.path))
        elif isinstance(action, Remove):
            action.path.unlink(missing_ok=True)
        else:
            if not action.path.exists():
                rows[action.path] = 0
                continue
            result = truncate_to_rows(action.path, action.rows)
            if result.before != result.after:
                LOG.info("truncated %s from %d to %d rows", action.path, result.before, result.after)
            rows[action.path] = result.after
    if actions:
        fsync_dir(actions[0].path.parent)
    return rows
