"""Crash-safe file writes on the shared volume: write a sibling temp file, fsync it, then ``os.replace``.

Readers on other jobs (the inference job loading a model, the CLI reading the registry) either see the old
file or the complete new one, never a torn write.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["StorageError", "atomic_path", "free_bytes", "fsync_dir", "remove_quietly", "write_text_atomic"]


class StorageError(OSError):
    """A write to the shared volume failed (a full disk, a quota, an I/O error): what, where and how much
    room is left, with the original ``errno`` kept so callers can still tell ``ENOSPC`` apart."""

    def __init__(self, action: str, path: Path | str, cause: OSError) -> None:
        free = free_bytes(Path(path).parent)
        room = "unknown" if free is None else f"{free} bytes"
        message = f"{action} {path}: {cause.strerror or cause} (free on its volume: {room})"
        super().__init__(cause.errno, message)
        self.path = str(path)


def free_bytes(directory: Path) -> int | None:
    """Bytes an unprivileged writer may still use on the volume of ``directory`` (``None`` if unknown)."""
    try:
        stats = os.statvfs(directory)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def fsync_dir(directory: Path) -> None:
    """Persist the rename itself (best effort: some filesystems refuse to open directories)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temp path to write to; on success it is fsynced and renamed onto ``target``.

    The writer may be any library that takes a path (pandas, a model's ``save``). On error the temp file is
    removed and ``target`` is untouched.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    finally:
        remove_quietly(tmp)


def write_text_atomic(target: Path, text: str) -> None:
    """Replace ``target`` with ``text`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def remove_quietly(path: Path | str, *, log: Callable[[str], None] | None = None) -> bool:
    """Delete a file if it exists; True when something was deleted."""
    try:
        os.remove(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        if log:
            log(f"could not delete {path}: {exc}")
        return False
    return True
