"""Dataset assembly from bucket CSV files, and deletion of datasets no longer needed."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pandas as pd
import pytest
from factory_fakes import write_buckets

from factory_job.assembly import AssemblyResult, assemble_dataset, dataset_path, delete_unused_datasets
from protocol.messages import DatasetVersion


def _frame(n: int, start: int = 1000) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": range(start, start + n),
            "mmsi": ["0227"] * n,
            "lon": [-4.5 + i / 1000 for i in range(n)],
            "lat": [48.3] * n,
        }
    )


def _message(version: int, paths: list[str], starts: list[int] | None = None) -> DatasetVersion:
    return DatasetVersion(
        version=version,
        timestamp=0,
        bucket_starts=tuple(starts if starts is not None else range(len(paths))),
        bucket_paths=tuple(paths),
    )


def test_buckets_are_concatenated_oldest_first_aligned_by_column_name(tmp_path):
    frame = _frame(30)
    paths = write_buckets(tmp_path / "buckets", frame, 3, shuffle_columns=True)
    # Listed newest first: the bucket starts decide the order.
    message = _message(4, paths[::-1], [20, 10, 0])
    result = assemble_dataset(message, tmp_path / "datasets", tmp_path / "buckets")
    assert result.problems == ()
    info = result.dataset
    assert info.path == str(dataset_path(tmp_path / "datasets", 4)) and info.rows == 30
    assert (info.first_ts, info.last_ts) == (1000, 1029)
    assert info.bucket_starts == (20, 10, 0)
    back = pd.read_csv(info.path, dtype={"mmsi": str})
    assert list(back.columns) == ["timestamp", "mmsi", "lon", "lat"]
    assert back["timestamp"].tolist() == list(range(1000, 1030))
    assert back["mmsi"].tolist() == ["0227"] * 30  # copied as text, no leading zero lost
    assert back["lon"].tolist() == frame["lon"].tolist()


def test_missing_bucket_is_a_problem_and_the_rest_is_assembled(tmp_path):
    paths = write_buckets(tmp_path / "buckets", _frame(20), 2)
    gone = str(tmp_path / "buckets" / "dt_bucket_9")
    message = _message(1, [paths[0], gone, paths[1]])
    result = assemble_dataset(message, tmp_path / "datasets", tmp_path / "buckets")
    assert result.dataset.rows == 20
    assert len(result.problems) == 1 and "missing" in result.problems[0] and gone in result.problems[0]


def test_no_readable_bucket_means_no_dataset(tmp_path):
    result = assemble_dataset(_message(1, [str(tmp_path / "nope")]), tmp_path / "datasets", tmp_path)
    assert result.dataset is None and len(result.problems) == 2
    assert not dataset_path(tmp_path / "datasets", 1).exists()


def test_empty_and_extra_column_buckets(tmp_path):
    folder = tmp_path / "buckets"
    folder.mkdir()
    (folder / "empty").write_text("")
    (folder / "header_only").write_text("timestamp,mmsi,lon,lat\n")
    a = _frame(3)
    b = _frame(2, start=2000).assign(speed=[1.5, 2.5])
    a.to_csv(folder / "a", index=False)
    b.to_csv(folder / "b", index=False)
    paths = [str(folder / n) for n in ("empty", "a", "header_only", "b")]
    result = assemble_dataset(_message(2, paths), tmp_path / "datasets", folder)
    back = pd.read_csv(result.dataset.path)
    assert result.problems == () and result.dataset.rows == 5
    assert list(back.columns) == ["timestamp", "mmsi", "lon", "lat", "speed"]
    assert back["speed"].isna().tolist() == [True, True, True, False, False]


def test_gap_markers_do_not_count_in_the_time_range(tmp_path):
    frame = _frame(4)
    frame.loc[0, "timestamp"] = -1
    paths = write_buckets(tmp_path / "b", frame, 1)
    info = assemble_dataset(_message(0, paths), tmp_path / "d", tmp_path / "b").dataset
    assert (info.first_ts, info.last_ts, info.rows) == (1001, 1003, 4)


def test_delete_unused_datasets_keeps_current_and_locked(tmp_path):
    folder = tmp_path / "datasets"
    folder.mkdir()
    for v in range(4):
        dataset_path(folder, v).write_text("timestamp\n1\n")
    (folder / "notes.txt").write_text("not a dataset")
    deleted = delete_unused_datasets(folder, [str(dataset_path(folder, 1)), str(dataset_path(folder, 3))])
    assert sorted(deleted) == [str(dataset_path(folder, 0)), str(dataset_path(folder, 2))]
    assert sorted(p.name for p in folder.iterdir()) == ["dataset_v1.csv", "dataset_v3.csv", "notes.txt"]
    assert delete_unused_datasets(tmp_path / "absent", []) == []


# ----------------------------------------------------------- claim checks confined to the buckets folder


def _assemble(tmp_path: Path, paths: list[str], **limits: int) -> AssemblyResult:
    return assemble_dataset(_message(7, paths), tmp_path / "datasets", tmp_path / "buckets", **limits)


def _refused(result: AssemblyResult, tmp_path: Path, *words: str) -> None:
    assert result.dataset is None
    assert not dataset_path(tmp_path / "datasets", 7).exists()
    assert "dataset v7 refused" in result.problems[-1]
    for word in words:
        assert word in result.problems[-1]


@pytest.fixture
def bucket(tmp_path: Path) -> str:
    return write_buckets(tmp_path / "buckets", _frame(5), 1)[0]


def test_a_bucket_path_outside_the_buckets_folder_refuses_the_version(tmp_path: Path, bucket: str) -> None:
    (tmp_path / "secret.csv").write_text("timestamp,password\n1,hunter2\n")
    _refused(_assemble(tmp_path, [bucket, str(tmp_path / "secret.csv")]), tmp_path, "outside")
    _refused(_assemble(tmp_path, [bucket, "/etc/passwd"]), tmp_path, "outside", "/etc/passwd")
    _refused(_assemble(tmp_path, [str(tmp_path / "buckets" / ".." / "secret.csv")]), tmp_path, "outside")


def test_a_symlink_out_of_the_buckets_folder_refuses_the_version(tmp_path: Path, bucket: str) -> None:
    (tmp_path / "secret.csv").write_text("timestamp\n1\n")
    (tmp_path / "buckets" / "dt_bucket_9").symlink_to(tmp_path / "secret.csv")
    _refused(_assemble(tmp_path, [bucket, str(tmp_path / "buckets" / "dt_bucket_9")]), tmp_path, "outside")


def test_a_device_a_directory_or_a_fifo_refuses_the_version(tmp_path: Path, bucket: str) -> None:
    _refused(_assemble(tmp_path, ["/dev/zero"]), tmp_path, "outside")
    (tmp_path / "buckets" / "folder").mkdir()
    _refused(_assemble(tmp_path, [str(tmp_path / "buckets" / "folder")]), tmp_path, "a directory")
    os.mkfifo(tmp_path / "buckets" / "pipe")
    results: list[AssemblyResult] = []
    thread = threading.Thread(
        target=lambda: results.append(_assemble(tmp_path, [str(tmp_path / "buckets" / "pipe")])), daemon=True
    )
    thread.start()
    thread.join(5.0)
    assert not thread.is_alive(), "assembly blocked on a FIFO"
    _refused(results[0], tmp_path, "a FIFO")


def test_a_bucket_over_the_size_limit_refuses_the_version(tmp_path: Path, bucket: str) -> None:
    size = Path(bucket).stat().st_size
    _refused(_assemble(tmp_path, [bucket], max_bucket_bytes=size - 1), tmp_path, "more than the limit")
    assert _assemble(tmp_path, [bucket], max_bucket_bytes=size).dataset.rows == 5


def test_a_relative_bucket_path_is_read_from_the_buckets_folder(tmp_path: Path, bucket: str) -> None:
    result = _assemble(tmp_path, [Path(bucket).name])
    assert result.problems == () and result.dataset.rows == 5
