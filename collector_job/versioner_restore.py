"""Restore planning of the dataset versioner: make the closed buckets' files match its restored state.

After a restart the versioner holds the buckets it had closed (or was closing) at the checkpoint, with the
rows of every part file. :func:`plan_reconcile` puts back the part files of those buckets that were trashed
after the checkpoint and cuts each file to its rows; without any state (a start without checkpoint) it moves
to the trash the bucket files no writer of this layout owns (another ``COLLECTOR_PARTS``, or the single
writer's files), as each writer does with its own. :func:`adopt_rows` takes what is on disk afterwards.
The writers' open buckets are theirs to reconcile (:mod:`collector_job.writer_state`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from collector_job.bucket_files import BucketFile, Discard, FileAction, Restore, Truncate
from collector_job.parts import part_ids
from collector_job.versioner_state import BucketParts, VersionerConfig, VersionerState

__all__ = ["adopt_rows", "plan_reconcile"]


def plan_reconcile(
    state: VersionerState, files: list[BucketFile], config: VersionerConfig, *, fresh: bool = False
) -> tuple[list[FileAction], list[str]]:
    """What to do to the directory so that the buckets ``state`` holds are exactly what it recorded.

    ``files`` are every bucket file in the folder (all parts, live and trashed).

    * each part file of a closed (or closing) bucket is cut to its rows; if only its trashed copy exists
      (deleted after the checkpoint) the copy is restored first;
    * without any state (``fresh``), live files that no writer of this layout owns (the single writer's
      files when there are parts, other parts' files otherwise) are moved to the trash, as each writer
      does with its own;
    * everything else is the writers' (open buckets) or nobody's (trashed files) and is left alone.

    Returns the actions and the problems found (closed part files that are gone).
    """
    actions: list[FileAction] = []
    problems: list[str] = []
    live = {(f.start, f.part) for f in files if not f.trashed}
    trashed = {(f.start, f.part) for f in files if f.trashed}
    for bucket in sorted((*state.closed, *state.closing), key=lambda b: b.start):
        for part in bucket.parts:
            path = config.path(bucket.start, part.part)
            if (bucket.start, part.part) not in live:
                if (bucket.start, part.part) in trashed:
                    actions.append(Restore(bucket.start, path))
                else:
                    problems.append(f"bucket {bucket.start}: {part.rows} rows but {path} is missing")
                    continue
            actions.append(Truncate(bucket.start, path, part.rows))
    if fresh:
        owned = set(part_ids(config.parts))
        actions += [Discard(f.start, f.path) for f in files if not f.trashed and f.part not in owned]
    return actions, problems


def adopt_rows(
    state: VersionerState, rows: Mapping[Path, int], config: VersionerConfig
) -> tuple[VersionerState, list[str]]:
    """Take the row counts found after truncation; a shortfall (lost fsync'd-late rows) is reported."""
    problems: list[str] = []

    def fix(bucket: BucketParts) -> BucketParts:
        parts = []
        for part in bucket.parts:
            actual = rows.get(config.path(bucket.start, part.part), part.rows)
            if actual < part.rows:
                path = config.path(bucket.start, part.part)
                problems.append(f"bucket {bucket.start}: {part.rows} rows in {path}, only {actual} on disk")
                part = part.model_copy(update={"rows": actual})
            parts.append(part)
        return bucket.model_copy(update={"parts": tuple(parts)})

    update = {"closed": tuple(fix(b) for b in state.closed), "closing": tuple(fix(b) for b in state.closing)}
    return state.model_copy(update=update), problems
