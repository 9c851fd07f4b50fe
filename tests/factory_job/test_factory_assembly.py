"""Dataset assembly from bucket CSV files, and deletion of datasets no longer needed."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pandas as pd
import pytest
from factory_fakes import write_buckets

from factory_job.assembly import (
    AssemblyResult,
    assemble_dataset,
    dataset_path,
    delete_unused_datasets,
    event_time_order,
)
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


# ------------------------------------------------------------------- buckets written in parts (parallel)


def _rows(*rows: tuple[int, str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"timestamp": [r[0] for r in rows], "mmsi": [r[1] for r in rows], "lon": [r[2] for r in rows]}
    )


def _write(folder: Path, name: str, frame: pd.DataFrame) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / name, index=False)
    return str(folder / name)


def _assembled(tmp_path: Path, paths: list[str], starts: list[int], version: int = 1) -> pd.DataFrame:
    result = assemble_dataset(
        _message(version, paths, starts), tmp_path / "datasets", tmp_path / "buckets", key_column="mmsi"
    )
    assert result.problems == ()
    return pd.read_csv(result.dataset.path, dtype=str, keep_default_na=False)


def test_the_parts_of_a_bucket_are_merged_in_event_time_order_whatever_the_parts(tmp_path: Path) -> None:
    """Three vessels, one arriving out of order; one file, two parts or three parts: the same dataset."""
    a = [(10, "a", 0.1), (20, "a", 0.2), (15, "a", 0.3), (30, "a", 0.4)]  # 15 came 5 s late
    b = [(10, "b", 1.1), (25, "b", 1.2)]
    c = [(12, "c", 2.1), (20, "c", 2.2), (40, "c", 2.3)]
    later = [(105, "a", 3.1), (101, "b", 3.2)]
    folder = tmp_path / "buckets"
    two = [
        _write(folder, "dt_0_part-0.csv", _rows(*a, *c)),
        _write(folder, "dt_0_part-1.csv", _rows(*b)),
        _write(folder, "dt_100_part-1.csv", _rows(*later)),
    ]
    three = [
        _write(folder, "x_0_part-0.csv", _rows(*b)),
        _write(folder, "x_0_part-1.csv", _rows(*c)),
        _write(folder, "x_0_part-2.csv", _rows(*a)),
        _write(folder, "x_100_part-0.csv", _rows(later[1])),
        _write(folder, "x_100_part-2.csv", _rows(later[0])),
    ]
    got_two = _assembled(tmp_path, two, [0, 100], version=1)
    got_three = _assembled(tmp_path, three, [0, 100], version=2)
    expected = [
        ("10", "a"), ("10", "b"), ("12", "c"), ("20", "a"), ("15", "a"), ("20", "c"), ("25", "b"),
        ("30", "a"), ("40", "c"), ("101", "b"), ("105", "a"),
    ]  # fmt: skip
    assert list(zip(got_two["timestamp"], got_two["mmsi"], strict=True)) == expected
    pd.testing.assert_frame_equal(got_two, got_three)


def test_a_bucket_in_one_file_keeps_its_file_order(tmp_path: Path) -> None:
    rows = [(10, "b", 0.1), (10, "a", 0.2), (9, "c", 0.3)]
    path = _write(tmp_path / "buckets", "dt_0.csv", _rows(*rows))
    got = _assembled(tmp_path, [path], [0])
    assert got["mmsi"].tolist() == ["b", "a", "c"]


def test_a_missing_part_is_a_problem_and_the_other_parts_are_assembled(tmp_path: Path) -> None:
    folder = tmp_path / "buckets"
    kept = _write(folder, "dt_0_part-0.csv", _rows((1, "a", 0.0), (2, "a", 0.0)))
    gone = str(folder / "dt_0_part-1.csv")
    result = assemble_dataset(
        _message(3, [kept, gone], [0]), tmp_path / "datasets", folder, key_column="mmsi"
    )
    assert result.dataset.rows == 2 and len(result.problems) == 1 and gone in result.problems[0]


def test_event_time_order_keeps_each_keys_rows_in_their_order() -> None:
    frame = _rows((5, "a", 0.0), (3, "a", 1.0), (4, "b", 2.0), (5, "b", 3.0), (4, "a", 4.0))
    ordered = event_time_order(frame, "mmsi")
    assert list(zip(ordered["timestamp"], ordered["mmsi"], strict=True)) == [
        (4, "b"), (5, "a"), (3, "a"), (4, "a"), (5, "b"),
    ]  # fmt: skip
    assert event_time_order(frame.drop(columns="timestamp"), "mmsi").equals(frame.drop(columns="timestamp"))
