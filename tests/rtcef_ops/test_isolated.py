"""Benchmark/e2e support of the runtime without a cluster: run folders, per-job Flink options, the lock."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from rtcef_ops import isolated, submit
from rtcef_ops.flink_cluster import FlinkCluster
from rtcef_ops.kafka_broker import KafkaBroker
from rtcef_ops.paths import RuntimePaths


def test_a_custom_run_folder_moves_the_state_but_keeps_the_shared_jars(tmp_path: Path) -> None:
    shared = RuntimePaths()
    own = RuntimePaths(run_dir=tmp_path)
    broker = KafkaBroker(own, port=19092, controller_port=19093)
    assert broker.pid_file.parent == tmp_path / "kafka"
    assert broker.bootstrap == "127.0.0.1:19092"
    assert own.kafka_lib == shared.kafka_lib
    assert own.flink_dir == tmp_path / "flink"


def test_submit_passes_per_job_flink_options_before_the_program(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.append(command)
        return subprocess.CompletedProcess(command, 0, "Job has been submitted with JobID 42ab\n", "")

    monkeypatch.setattr(submit.subprocess, "run", run)
    options = {"python.execution-mode": "thread", "python.fn-execution.bundle.time": "20"}
    assert submit.submit("inference_job", RuntimePaths(), flink_options=options) == "42ab"
    command = seen[0]
    pairs = [command[i + 1] for i, item in enumerate(command) if item == "-D"]
    assert pairs == ["python.execution-mode=thread", "python.fn-execution.bundle.time=20"]
    assert command.index("-D") < command.index("-py")
    assert command[-1].endswith("inference_job/main.py")


def test_the_flink_start_time_is_read_back_when_recorded(tmp_path: Path) -> None:
    cluster = FlinkCluster(RuntimePaths(run_dir=tmp_path))
    assert cluster.last_start_seconds() is None
    cluster.last_start_file.parent.mkdir(parents=True)
    cluster.last_start_file.write_text('{"seconds": 7.5, "at": 1}')
    assert cluster.last_start_seconds() == 7.5


def test_the_cluster_lock_waits_for_another_holder_unless_the_caller_says_it_holds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = tmp_path / "cluster.lock"
    release = tmp_path / "release"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock), str(release)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        monkeypatch.setenv(isolated.LOCK_HELD_VARIABLE, "1")
        with isolated.cluster_lock(lock):  # the caller says it holds the lock: no wait
            pass
        monkeypatch.delenv(isolated.LOCK_HELD_VARIABLE)
        entered = threading.Event()

        def take() -> None:
            with isolated.cluster_lock(lock):
                entered.set()

        waiter = threading.Thread(target=take, daemon=True)
        waiter.start()
        assert not entered.wait(0.5)  # blocked by the other process
        release.touch()
        assert entered.wait(10)
        waiter.join(5)
    finally:
        holder.kill()
        holder.wait()


HOLDER = """
import fcntl, pathlib, sys, time
handle = open(sys.argv[1], "a")
fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
print("locked", flush=True)
while not pathlib.Path(sys.argv[2]).exists():
    time.sleep(0.05)
"""
