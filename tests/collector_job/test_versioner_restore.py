"""Restore planning of the versioner: trashed parts of held buckets come back, files of another layout
go to the trash on a start without state, and what is on disk is adopted."""

from __future__ import annotations

from pathlib import Path

from test_versioner_state import config

from collector_job.bucket_files import BucketFile, Discard, Restore, Truncate
from collector_job.versioner_restore import adopt_rows, plan_reconcile
from collector_job.versioner_state import BucketParts, PartFile, VersionerConfig, VersionerState


def files(cfg: VersionerConfig, *entries: tuple[int, int | None, bool]) -> list[BucketFile]:
    return [
        BucketFile(start, p, Path(str(cfg.path(start, p)) + (".deleted" if trashed else "")), trashed)
        for start, p, trashed in entries
    ]


def test_reconcile_restores_trashed_parts_of_held_buckets_and_leaves_the_writers_files() -> None:
    cfg = config(parts=2)
    state = VersionerState(
        closed=(BucketParts(start=0, parts=(PartFile(part=0, rows=5), PartFile(part=1, rows=2))),),
        closing=(BucketParts(start=10, parts=(PartFile(part=1, rows=4),)),),
    )
    found = files(cfg, (0, 0, True), (0, 1, False), (10, 1, False), (20, 0, False), (30, None, False))
    actions, problems = plan_reconcile(state, found, cfg)
    p = cfg.path
    assert actions == [
        Restore(0, p(0, 0)),
        Truncate(0, p(0, 0), 5),
        Truncate(0, p(0, 1), 2),
        Truncate(10, p(10, 1), 4),
    ]  # bucket 20 is a writer's open bucket; the single writer's 30 is left alone with state
    assert problems == []


def test_reconcile_without_state_moves_files_of_another_layout_aside() -> None:
    cfg = config(parts=2)
    found = files(cfg, (0, None, False), (0, 0, False), (0, 2, False), (10, 1, False), (20, None, True))
    actions, _ = plan_reconcile(VersionerState(), found, cfg, fresh=True)
    assert actions == [Discard(0, cfg.path(0, None)), Discard(0, cfg.path(0, 2))]
    single = config(parts=1)
    actions, _ = plan_reconcile(VersionerState(), found, single, fresh=True)
    assert [a.path for a in actions] == [cfg.path(0, 0), cfg.path(0, 2), cfg.path(10, 1)]


def test_reconcile_reports_closed_parts_without_a_file_and_adopts_shortfalls() -> None:
    cfg = config(parts=2)
    state = VersionerState(closed=(BucketParts(start=0, parts=(PartFile(part=1, rows=3),)),))
    actions, problems = plan_reconcile(state, [], cfg)
    assert actions == [] and "missing" in problems[0]
    fixed, shortfalls = adopt_rows(state, {cfg.path(0, 1): 2}, cfg)
    assert fixed.closed[0].parts[0].rows == 2 and "only 2" in shortfalls[0]
