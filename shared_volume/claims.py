"""Claim checks confined to their folder: open a path that arrived in a message only if it is safe to read.

A message names a file on the shared volume (a collector's bucket, a factory's model) instead of carrying
its bytes. Such a path is input like any other: it may point outside the volume (``..``, an absolute path,
a symbolic link), at something that is not a file (a FIFO that blocks the reader forever, ``/dev/zero``
that never ends, a directory), or at a file far too large to load. The helpers here accept a path only if

* it resolves, symbolic links included, to an entry strictly inside ``folder`` (a relative path is taken
  relative to ``folder``);
* that entry is a regular file of at most ``max_bytes`` bytes.

Anything else raises :class:`ClaimError` with a one-line reason, meant for a dead letter; a path that is
inside but names nothing raises its subclass :class:`MissingClaimError`.

The checks are made on the open file, not on the name: every directory below ``folder`` is opened with
``O_NOFOLLOW`` relative to its parent's descriptor, the file itself with
``O_RDONLY | O_NONBLOCK | O_NOFOLLOW`` (a FIFO opens without waiting for a writer), and type and size come
from ``fstat`` of that descriptor. Replacing a component by a symbolic link between the resolution and the
open therefore fails instead of escaping, and at most ``max_bytes + 1`` bytes are ever read.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "ClaimError",
    "MissingClaimError",
    "confined_path",
    "open_confined",
    "read_confined_bytes",
    "read_confined_text",
]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
_CHUNK = 1 << 20

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)


class ClaimError(ValueError):
    """A path from a message is refused; ``str(error)`` is a one-line reason naming the path."""


class MissingClaimError(ClaimError):
    """The path is inside its folder but names nothing (yet, or any more): a race, not an attack."""


def _refused(shown: str, reason: str, kind: type[ClaimError] = ClaimError) -> ClaimError:
    one_line = reason.replace("\r", "\\r").replace("\n", "\\n")  # file names may hold line breaks
    return kind(f"claim check {shown!r}: {one_line}")


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _resolve(path: str | Path, folder: Path) -> tuple[Path, Path]:
    """``(root, resolved)``: the folder and the path with every ``..`` and symbolic link resolved."""
    try:
        root = Path(os.path.realpath(folder))
        resolved = Path(os.path.realpath(root / Path(path)))
    except (OSError, ValueError) as exc:  # a NUL byte, a symbolic-link loop
        raise _refused(str(path), f"cannot be resolved: {exc}") from None
    if resolved == root or not resolved.is_relative_to(root):
        raise _refused(str(path), f"resolves to {resolved}, outside {root}")
    return root, resolved


def _open_below(root: Path, resolved: Path, shown: str) -> int:
    """Open ``resolved`` (inside ``root``) component by component without following any symbolic link."""
    parts = resolved.relative_to(root).parts
    try:
        current = os.open(root, _DIR_FLAGS)
    except OSError as exc:
        raise _refused(shown, f"folder {root} cannot be opened: {exc.strerror}") from None
    try:
        for part in parts[:-1]:
            parent, current = current, os.open(part, _DIR_FLAGS, dir_fd=current)
            os.close(parent)
        return os.open(parts[-1], _FILE_FLAGS, dir_fd=current)
    except FileNotFoundError:
        raise _refused(shown, f"no such file {resolved}", MissingClaimError) from None
    except OSError as exc:  # ELOOP/ENOTDIR: a component became a link; ENXIO: a socket
        raise _refused(shown, f"{resolved} cannot be opened safely: {exc.strerror}") from None
    finally:
        os.close(current)


@contextlib.contextmanager
def open_confined(path: str | Path, folder: Path, max_bytes: int) -> Iterator[tuple[int, Path]]:
    """Yield ``(fd, resolved)``: a read-only descriptor of the checked file and its resolved path.

    The descriptor is closed on exit. Raises :class:`ClaimError` when the path escapes ``folder``, does not
    exist, is not a regular file or is larger than ``max_bytes``.
    """
    shown = str(path)
    root, resolved = _resolve(path, folder)
    fd = _open_below(root, resolved, shown)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refused(shown, f"{resolved} is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > max_bytes:
            raise _refused(shown, f"{resolved} has {info.st_size} bytes, more than the limit {max_bytes}")
        yield fd, resolved
    finally:
        os.close(fd)


def confined_path(path: str | Path, folder: Path, max_bytes: int) -> Path:
    """The resolved path of a claim check that passes every check of :func:`open_confined`.

    For callers whose reader takes a path (a model loader): the file is opened and checked once here, and
    the returned path has no symbolic link left to follow.
    """
    with open_confined(path, folder, max_bytes) as (_, resolved):
        return resolved


def read_confined_bytes(path: str | Path, folder: Path, max_bytes: int) -> bytes:
    """The content of a checked claim check; a file that grows past ``max_bytes`` while read is refused."""
    with open_confined(path, folder, max_bytes) as (fd, resolved):
        chunks: list[bytes] = []
        remaining = max_bytes + 1
        while remaining > 0:
            try:
                chunk = os.read(fd, min(_CHUNK, remaining))
            except OSError as exc:
                raise _refused(str(path), f"{resolved} unreadable: {exc.strerror}") from None
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        if remaining <= 0:
            raise _refused(str(path), f"{resolved} grew past the limit {max_bytes} bytes")
        return b"".join(chunks)


def read_confined_text(path: str | Path, folder: Path, max_bytes: int, encoding: str = "utf-8") -> str:
    """:func:`read_confined_bytes` decoded; undecodable content is a :class:`ClaimError` too."""
    raw = read_confined_bytes(path, folder, max_bytes)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _refused(str(path), f"not {encoding} text: {exc.reason}") from None
