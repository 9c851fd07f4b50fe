"""Faults on the real embedded cluster: several TaskManagers, and killing the one that runs a job's tasks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psutil
import pytest

from rtcef_ops.flink_cluster import FlinkCluster, rest_get
from rtcef_ops.recovery import completed_checkpoint


@contextmanager
def taskmanagers(cluster: FlinkCluster, count: int, timeout: float = 120) -> Iterator[None]:
    """At least ``count`` TaskManagers for the block; the ones started here are stopped afterwards (a
    TaskManager killed inside the block is replaced by a new one, which is stopped as well)."""
    before = set(cluster.taskmanager_pids())
    try:
        for _ in range(count - len(before)):
            cluster.add_taskmanager()
        wait_taskmanagers(cluster, count, timeout)
        yield
    finally:
        for pid in set(cluster.taskmanager_pids()) - before:
            cluster.stop_taskmanager(pid)
        missing = len(before) - len(cluster.taskmanager_pids())
        for _ in range(max(0, missing)):  # a killed original: the cluster keeps its size for the next tests
            cluster.add_taskmanager()
        wait_taskmanagers(cluster, len(before), timeout)


def wait_taskmanagers(cluster: FlinkCluster, count: int, timeout: float = 120) -> None:
    """Wait until ``count`` TaskManagers are registered with the JobManager."""
    deadline = time.monotonic() + timeout
    while cluster.taskmanager_count() < count:
        if time.monotonic() > deadline:
            pytest.fail(f"{cluster.taskmanager_count()} TaskManagers registered, expected {count}")
        time.sleep(1)


def hosting_taskmanagers(job_id: str) -> set[str]:
    """Resource ids (``tm-<n>``) of the TaskManagers that run any subtask of the job."""
    hosts: set[str] = set()
    for vertex in rest_get(f"/jobs/{job_id}")["vertices"]:
        answer = rest_get(f"/jobs/{job_id}/vertices/{vertex['id']}/taskmanagers")
        hosts |= {tm["taskmanager-id"] for tm in answer.get("taskmanagers", [])}
    return hosts


def taskmanager_pid(cluster: FlinkCluster, resource_id: str) -> int:
    """The pid of the live TaskManager process started with ``taskmanager.resource-id=<resource_id>``."""
    for pid in cluster.taskmanager_pids():
        try:
            if f"taskmanager.resource-id={resource_id}" in psutil.Process(pid).cmdline():
                return pid
        except psutil.NoSuchProcess:
            continue
    pytest.fail(f"no live TaskManager process with resource id {resource_id}")


def latest_completed(job_id: str) -> tuple[int, int]:
    """``(id, trigger time ms)`` of the job's latest completed checkpoint, ``(-1, 0)`` if none."""
    latest = completed_checkpoint(rest_get(f"/jobs/{job_id}/checkpoints"))
    if latest is None:
        return -1, 0
    return int(latest["id"]), int(latest.get("trigger_timestamp", 0))


def restored_checkpoint(job_id: str) -> int | None:
    """Id of the checkpoint the job's current execution was restored from (``None``: not restored)."""
    restored = rest_get(f"/jobs/{job_id}/checkpoints").get("latest", {}).get("restored")
    return None if restored is None else int(restored["id"])


def wait_restored(job_ids: list[str], timeout: float = 180) -> dict[str, int]:
    """Wait until every job runs again after a failover, restored from a checkpoint; returns the ids."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = {j: rest_get(f"/jobs/{j}") for j in job_ids}
        states = {j: str(job["state"]) for j, job in jobs.items()}
        tasks_up = all(v["status"] == "RUNNING" for job in jobs.values() for v in job["vertices"])
        restored = {j: restored_checkpoint(j) for j in job_ids}
        if tasks_up and all(s == "RUNNING" for s in states.values()) and None not in restored.values():
            return {j: int(r) for j, r in restored.items() if r is not None}
        if any(s in {"FAILED", "CANCELED", "FINISHED"} for s in states.values()):
            pytest.fail(f"a job did not fail over: {states}")
        if time.monotonic() > deadline:
            pytest.fail(f"jobs not restored after {timeout:.0f}s: {states}, restored from {restored}")
        time.sleep(1)
