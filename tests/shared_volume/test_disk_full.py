"""A full shared volume, for real (a tiny tmpfs): clear errors, no torn file, and writing resumes with room.

The collector's bucket append raises a :class:`~shared_volume.files.StorageError` that names the file and the
room left, after cutting the file back to its last complete row (the job then fails over and replays from
its checkpoint). The factory reports a dataset it cannot write as a problem, leaves no temporary file, keeps
the buckets for a later version, and assembles once there is room. A model file is replaced atomically or not
at all.
"""

from __future__ import annotations

import errno
from pathlib import Path

from tests.small_volume import run_on_small_volume


def test_collector_cuts_the_torn_row_and_says_the_disk_is_full(tmp_path: Path) -> None:
    seen = run_on_small_volume("collector_appends_until_full", tmp_path / "volume")
    assert seen["errno"] == errno.ENOSPC and seen["type"] == "StorageError"
    assert "dt_bucket_0.csv" in seen["message"] and "No space left on device" in seen["message"]
    assert "free on its volume" in seen["message"]
    assert seen["appended"] > 50  # the volume did hold rows before it filled up
    assert seen["rows_on_disk"] == seen["appended"] and seen["ends_on_a_row"]
    assert seen["rows_after"] == seen["appended"] + 10 and seen["in_order"]


def test_factory_reports_a_dataset_it_cannot_write_and_assembles_it_with_room(tmp_path: Path) -> None:
    seen = run_on_small_volume("factory_assembles_on_a_full_volume", tmp_path / "volume")
    assert seen["refused"] and len(seen["problems"]) == 1
    problem = seen["problems"][0]
    assert "dataset v3 not written" in problem and "No space left on device" in problem
    assert seen["left_behind"] == []  # no temporary or partial dataset file
    assert seen["buckets_kept"] == ["dt_bucket_0.csv", "dt_bucket_1.csv"]
    assert seen["rows_after"] == 120 and seen["datasets_after"] == ["dataset_v3.csv"]


def test_a_model_file_is_replaced_whole_or_not_at_all(tmp_path: Path) -> None:
    seen = run_on_small_volume("model_written_on_a_full_volume", tmp_path / "volume")
    assert seen["errno"] == seen["enospc"]
    assert seen["unchanged"] and seen["files"] == ["m1.spst"]
