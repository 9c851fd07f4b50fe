"""End to end on two TaskManagers: the one running the jobs is killed (SIGKILL) while the stream flows.

The collector and the inference job run at parallelism 2 on an embedded cluster of two TaskManager
processes. A synthetic stream (6 vessels, 3 weeks) is fed at a steady pace. Once a checkpoint has completed
and more input has been consumed after it, the TaskManager hosting the jobs' tasks is killed with SIGKILL,
so the tasks fail over to the other TaskManager from that checkpoint and the input after it is *replayed*.
A replacement TaskManager is started meanwhile. Afterwards:

* **collector** (both modes): the bucket files hold exactly the fed events (as a multiset), none lost and
  none written twice: restore truncates each file to the rows its checkpoint committed. Dataset versions
  cover 0, 1, 2, ... with each version naming one list of buckets (the control topic is at-least-once, so
  a version emitted after the checkpoint may appear twice, identically).
* **inference, exactly-once outputs** (``OUTPUT_GUARANTEE=exactly-once``): read committed, every key's
  forecasts are exactly the uninterrupted job's, each once, and the score reports equal the uninterrupted
  job's record for record.
* **inference, at-least-once outputs** (the default): nothing is lost (every forecast and report of the
  uninterrupted job is there) and whatever appears twice is a true repeat of the same record.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cluster_faults import (
    hosting_taskmanagers,
    latest_completed,
    taskmanager_pid,
    taskmanagers,
    wait_restored,
)
from confluent_kafka import Consumer, TopicPartition
from e2e_support import (
    REPO,
    TopicReader,
    cancel_jobs,
    delete_topics,
    isolated_env,
    run_module,
    running_cluster,
)
from e2e_support import wait_running as wait_jobs_running
from restart_support import bucket_rows, forecast_key, reference_run, report_key, stream_events, wait_until

from rtcef_ops.paths import RuntimePaths
from rtcef_ops.recovery import discard_checkpoints
from rtcef_ops.submit import submit

DAY = 24 * 3600
DELAY_S = 60
JOBS = ("collector_job", "inference_job")
FEED_SECONDS = 45


@pytest.mark.e2e
@pytest.mark.parametrize("guarantee", ["exactly-once", "at-least-once"])
def test_killing_the_taskmanager_of_the_jobs_mid_stream_loses_and_repeats_nothing(
    tmp_path: Path, kafka_bootstrap: str, guarantee: str
) -> None:
    cluster = running_cluster()
    env, settings, _ = isolated_env(
        tmp_path / "data",
        kafka_bootstrap,
        {
            "BUCKET_SIZE_S": str(3 * DAY),
            "HISTORY_K": "4",
            "REPORTING_INTERVAL_S": str(DAY),
            "CHECKPOINT_INTERVAL_MS": "4000",
            "WATERMARK_DELAY_S": str(DELAY_S),
            "PARALLELISM": "2",
            "OUTPUT_GUARANTEE": guarantee,
        },
    )
    stream = tmp_path / "stream.csv"
    synthetic = ["--weeks", "3", "--vessels", "6", "--seed", "11", "--compress", "6", "--no-drift"]
    run_module(["-m", "mocks.synthetic", "--out", str(stream), *synthetic], env)
    events = stream_events(stream)
    span = int(events[-1]["timestamp"]) - int(events[0]["timestamp"])
    bootstrap = run_module(["-m", "inference_job.bootstrap", "--stream", str(stream), "--weeks", "1"], env)
    reference = reference_run(bootstrap.strip().splitlines()[-1], events)
    reports_all = reference.reports(DAY, int(events[-1]["timestamp"]) - DELAY_S - 1)
    assert len(reference.forecasts) == len(events) and len(reports_all) >= 10

    readers = {
        name: TopicReader(settings.kafka_bootstrap_servers, topic)
        for name, topic in (
            ("forecasts", settings.forecast_topic),
            ("scores", settings.score_topic),
            ("datasets", settings.datasets_topic),
        )
    }
    job_ids: list[str] = []
    feeder: subprocess.Popen[bytes] | None = None
    with taskmanagers(cluster, 2):
        try:
            job_ids = [submit(job, RuntimePaths(), extra_env=env) for job in JOBS]
            wait_jobs_running(job_ids, timeout=180)
            speedup = str(span / FEED_SECONDS)
            feeder = subprocess.Popen(
                [sys.executable, "-m", "mocks.data_feeder", "--stream", str(stream), "--speedup", speedup,
                 "--quiet"], env=env, cwd=REPO,
            )  # fmt: skip

            # Kill between checkpoints: after one completed, once more input has been consumed after it.
            victim = _kill_between_checkpoints(cluster, job_ids, settings, len(events))
            restored = wait_restored(job_ids)
            assert feeder.wait(timeout=FEED_SECONDS * 4) == 0
            _wait_all(readers, settings.buckets_dir, len(events), len(reports_all))
            for reader in readers.values():
                reader.poll(5)  # anything more would be a duplicate: collect it too
        finally:
            if feeder is not None and feeder.poll() is None:
                feeder.kill()
            for reader in readers.values():
                reader.close()
            cancel_jobs(job_ids)
            for job_id in job_ids:
                discard_checkpoints(job_id)
            delete_topics(settings)

    print(f"killed {victim}; restored from checkpoints {restored}")
    # -- collector: every event in exactly one bucket row; versions continue, each naming one bucket list
    assert bucket_rows(settings.buckets_dir) == Counter((str(e["mmsi"]), int(e["timestamp"])) for e in events)
    versions: dict[int, tuple[Any, ...]] = {}
    for record in readers["datasets"].records:
        listed = tuple(record["bucket_starts"])
        assert versions.setdefault(int(record["version"]), listed) == listed, "a version renumbered"
    assert sorted(versions) == list(range(len(versions))) and len(versions) >= 5

    got = [forecast_key(r) for r in readers["forecasts"].records]
    reports = [report_key(r) for r in readers["scores"].records]
    if guarantee == "exactly-once":
        assert _per_key(got) == _per_key(reference.forecasts), "forecasts differ from the uninterrupted run"
        assert reports == reports_all, "score reports differ from the uninterrupted run"
    else:
        assert set(got) == set(reference.forecasts) and len(got) >= len(reference.forecasts)
        assert _without_repeats(_per_key(got)) == _per_key(reference.forecasts)
        assert set(reports) == set(reports_all)
        repeated = len(got) - len(reference.forecasts)
        print(f"repeated after the failover: {repeated} forecasts, {len(reports) - len(reports_all)} reports")
        assert repeated > 0  # the kill came after forecasts that the checkpoint did not cover: replayed


def _kill_between_checkpoints(cluster: Any, job_ids: list[str], settings: Any, total: int) -> str:
    """SIGKILL the TaskManager that runs the inference job once a checkpoint of both jobs has completed and
    an event appended to the input *after* that checkpoint was triggered has been forecast (seen in the
    open transaction as well: the probe reads uncommitted), while that checkpoint is still the latest, so
    the failover must replay the event. Returns the killed TaskManager's resource id."""
    forecasts = _Probe(settings.kafka_bootstrap_servers, settings.forecast_topic)
    inputs = _Probe(settings.kafka_bootstrap_servers, settings.input_topic)
    victim = sorted(hosting_taskmanagers(job_ids[1]))[0]
    pid = taskmanager_pid(cluster, victim)
    try:
        deadline = time.monotonic() + 120
        while len(forecasts.seen) < total // 5:
            assert time.monotonic() < deadline, "no fifth of the forecasts"
            forecasts.poll(1.0)
        while True:
            marks = {j: latest_completed(j)[0] for j in job_ids}
            while any(latest_completed(j)[0] <= marks[j] for j in job_ids):  # a fresh checkpoint of each
                assert time.monotonic() < deadline, "no checkpoint completed"
                time.sleep(0.1)
            latest = {j: latest_completed(j) for j in job_ids}
            triggered = max(stamp for _, stamp in latest.values())
            while True:  # an event appended after that checkpoint, and forecast
                forecasts.poll(0.2)
                inputs.poll(0.2)
                after = {key for key, stamp in inputs.seen.items() if stamp > triggered + 300}
                if after & forecasts.seen.keys():
                    break
                assert time.monotonic() < deadline, "no forecast of an event after the checkpoint"
            if all(latest_completed(j)[0] == latest[j][0] for j in job_ids):  # still the latest: kill now
                cluster.stop_taskmanager(pid, kill=True)
                break
    finally:
        forecasts.close()
        inputs.close()
    cluster.add_taskmanager()  # the replacement the tasks may use when it has registered
    return victim


class _Probe:
    """Records seen on a topic, uncommitted ones included: ``(key, event timestamp) -> append time ms``."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid.uuid4().hex}",
                                  "isolation.level": "read_uncommitted"})  # fmt: skip
        self.consumer.assign([TopicPartition(topic, 0, 0)])
        self.seen: dict[tuple[str, int], int] = {}

    def poll(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = self.consumer.poll(0.1)
            if message is None or message.error() is not None or message.value() is None:
                continue
            record = json.loads(message.value())
            key = str(record.get("key", record.get("mmsi")))
            self.seen.setdefault((key, int(record["timestamp"])), message.timestamp()[1])

    def close(self) -> None:
        self.consumer.close()


def _wait_all(readers: dict[str, TopicReader], buckets: Path, events: int, reports: int) -> None:
    deadline = time.monotonic() + 180
    while sum(bucket_rows(buckets).values()) < events:
        assert time.monotonic() < deadline, f"bucket rows: {sum(bucket_rows(buckets).values())} < {events}"
        time.sleep(1)
    wait_until(readers["forecasts"], lambda r: len(r) >= events, 180, f"{events} forecasts")
    wait_until(readers["scores"], lambda r: len(r) >= reports, 120, f"{reports} score reports")


def _per_key(forecasts: list[Any]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for forecast in forecasts:
        grouped.setdefault(forecast[0], []).append(forecast)
    return grouped


def _without_repeats(per_key: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Each key's forecasts with a replayed stretch removed: a record that was already seen for that key
    (forecasts carry the event timestamp, so a genuine repeat is impossible)."""
    kept: dict[str, list[Any]] = {}
    for key, records in per_key.items():
        seen: set[Any] = set()
        kept[key] = [r for r in records if not (r in seen or seen.add(r))]
    return kept
