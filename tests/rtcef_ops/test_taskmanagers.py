"""More than one TaskManager process on the embedded cluster: each with its own folders, all registered."""

from __future__ import annotations

import time

import pytest

from rtcef_ops.flink_cluster import FlinkCluster
from rtcef_ops.paths import RuntimePaths
from rtcef_ops.sockets import is_loopback, listeners, process_tree


def _wait_count(cluster: FlinkCluster, count: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while cluster.taskmanager_count() != count:
        assert time.monotonic() < deadline, f"{cluster.taskmanager_count()} TaskManagers, expected {count}"
        time.sleep(1)


@pytest.mark.e2e
def test_a_second_taskmanager_registers_with_its_own_folders_and_leaves_cleanly() -> None:
    cluster = FlinkCluster(RuntimePaths())
    if not cluster.healthy():
        pytest.fail("no Flink cluster on :8081; run `make start`")
    before_pids = cluster.taskmanager_pids()
    before = cluster.taskmanager_count()
    index = cluster.add_taskmanager()
    try:
        _wait_count(cluster, before + 1)
        new = [pid for pid in cluster.taskmanager_pids() if pid not in before_pids]
        assert len(new) == 1
        folder = cluster.taskmanager_dir(index)
        assert (folder / "tmp").is_dir() and (folder / "work").is_dir()
        ids = {tm["id"] for tm in cluster.taskmanagers()}
        assert f"tm-{index}" in ids
        assert all(tm["slots"] > 0 for tm in cluster.taskmanagers())
        exposed = [lst for lst in listeners(process_tree(new)) if not is_loopback(lst.ip)]
        assert exposed == []
    finally:
        for pid in [p for p in cluster.taskmanager_pids() if p not in before_pids]:
            cluster.stop_taskmanager(pid)
    assert sorted(cluster.taskmanager_pids()) == sorted(before_pids)
