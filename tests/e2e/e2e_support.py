"""Shared helpers of the end-to-end tests: an isolated run (own topics and data folder), topic readers, jobs.

Every run uses its own topic names, consumer groups and data folder, so it never sees another run's records.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from protocol import load_settings
from protocol.settings import Settings
from rtcef_ops.flink_cluster import rest_get
from rtcef_ops.recovery import cancel, discard_checkpoints
from rtcef_ops.topics import ensure_topics

REPO = Path(__file__).resolve().parents[2]


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
    run_id = uuid.uuid4().hex[:8]
    base = load_settings()
    env = dict(os.environ)
    env.update({name.upper(): f"e2e{run_id}-{topic}" for name, topic in base.topics().items()})
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "DATA_DIR": str(data_dir),
            "CONSUMER_GROUP_PREFIX": f"e2e{run_id}",
        }
    )
    env.update(overrides)
    settings = Settings(**{k.lower(): v for k, v in env.items() if k.lower() in Settings.model_fields})
    ensure_topics(settings)
    return env, settings, run_id


def delete_topics(settings: Settings) -> None:
    """Delete the run's topics (best effort)."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    for future in admin.delete_topics(list(settings.all_topics())).values():
        try:
            future.result(timeout=30)
        except Exception as exc:  # noqa: BLE001 - cleanup
            print(f"cleanup: {exc}")


class TopicReader:
    """Reads a topic from the beginning, remembering what it has seen."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"e2e-{uuid.uuid4().hex}"})
        self.consumer.assign([TopicPartition(topic, 0, 0)])
        self.records: list[dict[str, Any]] = []

    def poll(self, seconds: float = 0.5) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = self.consumer.poll(0.2)
            if message is not None and message.error() is None:
                self.records.append(json.loads(message.value()))

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


def job_state(job_id: str) -> str:
    """The job's state as the cluster reports it."""
    return str(rest_get(f"/jobs/{job_id}")["state"])


def wait_running(job_ids: Iterable[str], timeout: float = 180) -> None:
    """Wait until every job is RUNNING; fail at once if one failed or was cancelled."""
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {jid: job_state(jid) for jid in job_ids}
        if any(state in ("FAILED", "CANCELED", "FINISHED") for state in states.values()):
            break
        if all(state == "RUNNING" for state in states.values()):
            return
        time.sleep(2)
    pytest.fail(f"jobs not running: {states}")


def cancel_jobs(job_ids: Iterable[str]) -> None:
    """Cancel the jobs (best effort, waiting until they stopped) and delete their retained checkpoints."""
    for job_id in job_ids:
        try:
            cancel(job_id)
        except Exception as exc:  # noqa: BLE001 - cleanup must go on for the other jobs
            print(f"cleanup: cannot cancel {job_id}: {exc}")
        discard_checkpoints(job_id)
