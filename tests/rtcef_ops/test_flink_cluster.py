"""Python workers left behind by a dead TaskManager are found and stopped; live ones are left alone."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from rtcef_ops.flink_cluster import orphaned_python_workers, stop_processes

_SLEEPER = "import time; time.sleep(120)"


def _worker_command() -> list[str]:
    """A process whose command line looks like a Beam boot worker of this installation."""
    return [sys.executable, "-c", _SLEEPER, "-m", "pyflink.fn_execution.beam.beam_boot", "--id=9-9"]


def _wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_worker_without_a_java_ancestor_is_orphaned_and_stopped() -> None:
    worker = subprocess.Popen(_worker_command())
    try:
        assert _wait_for(lambda: worker.pid in {p.pid for p in orphaned_python_workers()})
        stop_processes([p for p in orphaned_python_workers() if p.pid == worker.pid], timeout_s=5.0)
        assert worker.wait(timeout=10) is not None
    finally:
        if worker.poll() is None:
            worker.kill()


def test_a_worker_under_a_java_process_is_not_touched(tmp_path: Path) -> None:
    java = tmp_path / "java"  # a shell under the name a TaskManager's process has
    shutil.copy("/bin/sh", java)
    command = " ".join(f"'{part}'" for part in _worker_command())
    parent = subprocess.Popen([str(java), "-c", f"{command} & wait"])
    try:
        assert _wait_for(lambda: len(psutil.Process(parent.pid).children()) == 1)
        child = psutil.Process(parent.pid).children()[0].pid
        assert child not in {p.pid for p in orphaned_python_workers()}
    finally:
        for process in psutil.Process(parent.pid).children(recursive=True):
            process.kill()
        parent.kill()
        parent.wait(timeout=10)


def test_an_unrelated_python_process_is_not_a_worker() -> None:
    other = subprocess.Popen([sys.executable, "-c", _SLEEPER])
    try:
        time.sleep(0.3)
        assert other.pid not in {p.pid for p in orphaned_python_workers()}
    finally:
        other.kill()
        other.wait(timeout=10)
