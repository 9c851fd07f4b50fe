"""Bucket files: naming, CSV rows with awkward values, append/fsync, truncation, scan, trash."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector_job import bucket_files as bf

COLUMNS = ("timestamp", "mmsi", "note")


def write(tmp_path: Path, rows: list[dict], start: int = 100) -> Path:
    path = bf.bucket_path(tmp_path, "dt_bucket_", start)
    writer = bf.BucketWriter(tmp_path, fsync_rows=2)
    for row in rows:
        writer.append(path, COLUMNS, row)
    writer.close_all()
    return path


def test_names_round_trip() -> None:
    path = bf.bucket_path("/d", "dt_bucket_", 1443830400)
    assert path == Path("/d/dt_bucket_1443830400.csv")
    assert bf.bucket_path("/d", "p_", 5, part=2).name == "p_5_part-2.csv"
    parsed = bf.parse_name("dt_bucket_1443830400_part-3.csv.deleted", "dt_bucket_")
    assert parsed is not None and (parsed.start, parsed.part, parsed.trashed) == (1443830400, 3, True)
    assert bf.parse_name("dt_bucket_x.csv", "dt_bucket_") is None
    assert bf.parse_name("other_1.csv", "dt_bucket_") is None


def test_columns_are_declared_fields_then_sorted_extras() -> None:
    record = {"zeta": 1, "timestamp": 5, "alpha": 2, "mmsi": "a"}
    assert bf.columns_for(record, ("timestamp", "mmsi", "lon")) == ("timestamp", "mmsi", "alpha", "zeta")


def test_append_writes_header_once_and_rows_in_order(tmp_path: Path) -> None:
    rows = [{"timestamp": i, "mmsi": "v", "note": f"n{i}"} for i in range(5)]
    path = write(tmp_path, rows)
    assert path.read_text().splitlines()[0] == "timestamp,mmsi,note"
    assert [r["timestamp"] for r in bf.read_rows(path)] == ["0", "1", "2", "3", "4"]
    # appending again later (a new writer) continues the file, no second header
    writer = bf.BucketWriter(tmp_path)
    writer.append(path, COLUMNS, {"timestamp": 5, "mmsi": "v"})
    writer.close_all()
    assert bf.count_rows(path) == 6
    assert path.read_text().count("timestamp,mmsi,note") == 1


def test_cells_keep_types_readable() -> None:
    assert bf.cell(None) == "" and bf.cell(True) == "true" and bf.cell(1.5) == "1.5"
    assert bf.cell({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'


def test_rows_with_quoted_newlines_are_counted_and_truncated_as_records(tmp_path: Path) -> None:
    rows = [
        {"timestamp": 1, "mmsi": "a", "note": "line one\nline two"},
        {"timestamp": 2, "mmsi": "b", "note": 'say "hi"\r\n, ok'},
        {"timestamp": 3, "mmsi": "c", "note": ""},
    ]
    path = write(tmp_path, rows)
    assert bf.count_rows(path) == 3
    result = bf.truncate_to_rows(path, 2)
    assert (result.before, result.after) == (3, 2)
    assert [r["note"] for r in bf.read_rows(path)] == ["line one\nline two", 'say "hi"\r\n, ok']


def test_truncate_cuts_a_partial_trailing_record(tmp_path: Path) -> None:
    path = write(tmp_path, [{"timestamp": 1, "mmsi": "a"}])
    with path.open("a") as handle:
        handle.write('2,b,"half a rec')  # a write cut short by a crash
    result = bf.truncate_to_rows(path, 5)  # asks for more rows than exist
    assert (result.before, result.after) == (1, 1)
    assert path.read_text() == "timestamp,mmsi,note\n1,a,\n"


def test_truncate_to_zero_keeps_the_header(tmp_path: Path) -> None:
    path = write(tmp_path, [{"timestamp": 1, "mmsi": "a"}])
    bf.truncate_to_rows(path, 0)
    assert path.read_text() == "timestamp,mmsi,note\n"


def test_scan_trash_and_purge(tmp_path: Path) -> None:
    a = write(tmp_path, [{"timestamp": 1}], start=100)
    b = write(tmp_path, [{"timestamp": 2}], start=200)
    (tmp_path / "unrelated.txt").write_text("x")
    bf.bucket_path(tmp_path, "dt_bucket_", 300, part=1).write_text("h\n")
    writer = bf.BucketWriter(tmp_path)
    writer.trash(b)
    writer.trash(b)  # a replayed delete of a missing file is harmless
    found = bf.scan(tmp_path, "dt_bucket_")
    assert [(f.start, f.trashed) for f in found] == [(100, False), (200, True)]
    assert [f.start for f in bf.scan(tmp_path, "dt_bucket_", part=1)] == [300]
    everything = bf.scan_all(tmp_path, "dt_bucket_")
    assert [(f.start, f.part, f.trashed) for f in everything] == [
        (100, None, False),
        (200, None, True),
        (300, 1, False),
    ]
    writer.purge(b)
    assert not bf.trash_path(b).exists() and a.exists()


def test_execute_restores_discards_and_truncates(tmp_path: Path) -> None:
    a = write(tmp_path, [{"timestamp": i} for i in range(3)], start=100)
    b = write(tmp_path, [{"timestamp": 9}], start=200)
    bf.BucketWriter(tmp_path).trash(a)
    rows = bf.execute([bf.Restore(100, a), bf.Truncate(100, a, 1), bf.Discard(200, b)])
    assert rows == {a: 1}
    assert bf.count_rows(a) == 1 and not b.exists() and bf.trash_path(b).exists()


def test_version_floor_never_goes_down(tmp_path: Path) -> None:
    assert bf.read_version_floor(tmp_path) == 0
    bf.write_version_floor(tmp_path, 5)
    bf.write_version_floor(tmp_path, 3)
    assert bf.read_version_floor(tmp_path) == 5


@pytest.mark.parametrize("fsync_rows", [1, 3])
def test_fsync_batches_do_not_change_content(tmp_path: Path, fsync_rows: int) -> None:
    path = bf.bucket_path(tmp_path, "p_", 1)
    writer = bf.BucketWriter(tmp_path, fsync_rows=fsync_rows)
    for i in range(7):
        writer.append(path, ("timestamp",), {"timestamp": i})
        assert bf.count_rows(path) == i + 1  # flushed per row: visible to readers at once
    writer.close_all()


def test_execute_removes_post_checkpoint_files(tmp_path: Path) -> None:
    path = write(tmp_path, [{"timestamp": 1}], start=300)
    assert bf.execute([bf.Remove(300, path)]) == {}
    assert not path.exists() and not bf.trash_path(path).exists()
