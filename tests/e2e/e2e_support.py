"""Shared helpers of the end-to-end tests: an isolated run (own topics and data folder), topic readers, jobs.

Every run uses its own topic names, consumer groups and data folder, so it never sees another run's records.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from protocol.settings import Settings
from rtcef_ops.flink_cluster import FlinkCluster
from rtcef_ops.isolated import cancel_jobs, delete_topics, job_state
from rtcef_ops.isolated import isolated_env as _isolated_env
from rtcef_ops.isolated import wait_running as _wait_running
from rtcef_ops.paths import RuntimePaths

__all__ = ["TopicReader", "cancel_jobs", "delete_topics", "isolated_env", "job_state", "run_module",
           "wait_running"]  # fmt: skip

REPO = Path(__file__).resolve().parents[2]


WEEK = 7 * 24 * 3600
LOOP_OVERRIDES = {
    "BUCKET_SIZE_S": str(WEEK),
    "HISTORY_K": "4",
    "REPORTING_INTERVAL_S": str(WEEK // 7),
    "MIN_DATASET_EVENTS": "50",
    "CHECKPOINT_INTERVAL_MS": "2000",
    "WATERMARK_DELAY_S": "60",
}
"""Settings of a short closed-loop run: weekly buckets, daily reports, small datasets, 2 s checkpoints."""


def running_cluster() -> FlinkCluster:
    """The embedded session cluster; the test fails if it is not up."""
    cluster = FlinkCluster(RuntimePaths())
    if not cluster.healthy():
        pytest.fail("no Flink cluster on :8081; run `make start`")
    return cluster


def bucket_rows(folder: Path) -> int:
    """Data rows in all bucket files of ``folder`` (headers not counted)."""
    total = 0
    for path in folder.glob("*.csv"):
        with path.open() as handle:
            total += max(sum(1 for _ in handle) - 1, 0)
    return total


def run_module(args: list[str], env: dict[str, str], timeout: float = 300) -> str:
    """Run ``python <args>`` in the repository with ``env``; fail the test with its output if it fails."""
    result = subprocess.run(
        [sys.executable, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip
    output = f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{output}"
    return result.stdout


def isolated_env(
    data_dir: Path, bootstrap: str, overrides: dict[str, str]
) -> tuple[dict[str, str], Settings, str]:
    """Environment, settings and run id of one run; its topics are created."""
    return _isolated_env(data_dir, bootstrap, overrides, prefix="e2e")


def _json_object(value: bytes | None) -> dict[str, Any] | None:
    """``value`` as a JSON object, or ``None`` if it is not one (a tombstone, junk)."""
    try:
        record = json.loads(value) if value is not None else None
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


class TopicReader:
    """Reads a topic from the beginning, remembering what it has seen."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"e2e-{uuid.uuid4().hex}"})
        self.topic = topic
        self.consumer.assign([TopicPartition(topic, 0, 0)])
        self.records: list[dict[str, Any]] = []

    def poll(self, seconds: float = 0.5) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = self.consumer.poll(0.2)
            if message is not None and message.error() is None:
                record = _json_object(message.value())
                if record is not None:  # a test may have written junk onto the topic on purpose
                    self.records.append(record)

    def find(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        """The first record seen so far that matches, if any."""
        return next((r for r in self.records if predicate(r)), None)

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        """Poll until a record matches; fail the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.find(predicate)
            if found is not None:
                return found
            self.poll(1.0)
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; saw {self.records[-5:]}")

    def close(self) -> None:
        self.consumer.close()


def wait_running(job_ids: Iterable[str], timeout: float = 180) -> None:
    """Wait until every job is RUNNING; fail at once if one failed or was cancelled."""
    try:
        _wait_running(job_ids, timeout)
    except RuntimeError as exc:
        pytest.fail(str(exc))


def observed_adaptation(
    readers: dict[str, TopicReader], instruction_s: float, play_s: float, forecast_s: float
) -> dict[str, Any]:
    """What an observer-driven loop must show, in order: an instruction of the observer, a pause, a play of
    a new model that the factory reports as produced, and forecasts by a played model (a key applies the
    latest play on its next event, so it may skip a model superseded before then). ``readers`` holds the
    ``instructions``, ``syncs``, ``reports`` and ``forecasts`` topics. Returns the play."""
    instruction = readers["instructions"].wait_for(lambda r: True, instruction_s, "an observer instruction")
    assert instruction["id"].startswith("instr-")
    play = readers["syncs"].wait_for(
        lambda r: r["type"] == "play" and r.get("model_id"), play_s, "a play with a new model"
    )
    produced = readers["reports"].wait_for(
        lambda r: r["status"] == "success" and r.get("model_id") == play["model_id"], 60, "its report"
    )
    assert produced["command_type"] in ("train", "opt_finalise")
    assert Path(play["model_path"]).exists()
    assert readers["syncs"].records[0]["type"] == "pause"
    forecasts, deadline = readers["forecasts"], time.monotonic() + forecast_s
    while True:
        readers["syncs"].poll(0.5)
        syncs = readers["syncs"].records
        played = {r["model_id"] for r in syncs if r["type"] == "play" and r.get("model_id")}
        if any(r["model_id"] in played for r in forecasts.records):
            return play
        assert time.monotonic() < deadline, f"no forecast by a played model {played}"
        forecasts.poll(1.0)
