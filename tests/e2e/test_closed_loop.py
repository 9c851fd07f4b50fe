"""End to end on the real runtime: Kafka broker + Flink session cluster + the four submitted jobs.

A short synthetic stream is fed in two halves. Between them a RETRAIN instruction goes to the controller,
which pauses the engine, has the factory train a model on the collected buckets, and plays the engine with
the new model. The test then checks that the loop closed (report, play, forecasts stamped with the new
model), that no event was lost (bucket rows = events fed; every event reached the engine) and that no
record was dead-lettered (every `<topic>.dlq` of the run and the catch-all topic stay empty).

It runs twice: on one TaskManager at parallelism 1, and on two TaskManager processes at parallelism 2, where
both engine subtasks must have had events and every vessel's last forecast must come from the new model
(so the swap reached every subtask).

Every run uses its own topics and data folder, so it never sees another run's records.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from cluster_faults import taskmanagers
from e2e_support import (
    LOOP_OVERRIDES,
    WEEK,
    TopicReader,
    bucket_rows,
    cancel_jobs,
    delete_topics,
    isolated_env,
    run_module,
    running_cluster,
    wait_running,
)
from restart_support import wait_until

from protocol.settings import Settings
from rtcef_ops.flink_cluster import FlinkCluster, rest_get
from rtcef_ops.paths import RuntimePaths
from rtcef_ops.submit import JOBS, submit


@pytest.fixture()
def cluster() -> FlinkCluster:
    return running_cluster()


@pytest.fixture(params=[1, 2], ids=["1tm-p1", "2tm-p2"])
def e2e_env(
    request: pytest.FixtureRequest, tmp_path: Path, kafka_bootstrap: str, cluster: FlinkCluster
) -> Iterator[tuple[dict[str, str], Settings]]:
    parallelism = int(request.param)
    env, settings, _run_id = isolated_env(
        tmp_path / "data",
        kafka_bootstrap,
        {**LOOP_OVERRIDES, "PARALLELISM": str(parallelism)},
    )
    with taskmanagers(cluster, parallelism):
        yield env, settings


@pytest.mark.e2e
def test_retrain_closes_the_loop_without_losing_events(
    tmp_path: Path, e2e_env: tuple[dict[str, str], Settings], cluster: FlinkCluster
) -> None:
    env, settings = e2e_env
    stream = tmp_path / "stream.csv"
    run_module(["-m", "mocks.synthetic", "--out", str(stream), "--weeks", "3", "--vessels", "6",
                "--seed", "5", "--compress", "6", "--no-drift"], env)  # fmt: skip
    frame = pd.read_csv(stream).sort_values("timestamp", kind="stable")
    t0 = int(frame["timestamp"].iloc[0])
    first = frame[frame["timestamp"] < t0 + 2 * WEEK + 3600]
    second = frame[frame["timestamp"] >= t0 + 2 * WEEK + 3600]
    assert len(first) > 200 and len(second) > 50
    first_path, second_path = tmp_path / "first.csv", tmp_path / "second.csv"
    first.to_csv(first_path, index=False)
    second.to_csv(second_path, index=False)

    run_module(["-m", "inference_job.bootstrap", "--stream", str(stream), "--weeks", "1"], env)

    job_ids = [submit(job, RuntimePaths(), extra_env=env) for job in JOBS]
    reports = TopicReader(settings.kafka_bootstrap_servers, settings.report_topic)
    syncs = TopicReader(settings.kafka_bootstrap_servers, settings.sync_topic)
    forecasts = TopicReader(settings.kafka_bootstrap_servers, settings.forecast_topic)
    datasets = TopicReader(settings.kafka_bootstrap_servers, settings.datasets_topic)
    dead = [
        TopicReader(settings.kafka_bootstrap_servers, topic)
        for topic in [*settings.dead_letter_topics().values(), settings.dead_letter_topic]
    ]
    try:
        wait_running(job_ids, timeout=180)
        run_module(["-m", "mocks.data_feeder", "--stream", str(first_path), "--fast", "--quiet"], env)
        closed = datasets.wait_for(lambda r: len(r["bucket_paths"]) >= 1, 180, "a closed bucket")
        forecasts.wait_for(lambda r: True, 120, "a first forecast")

        # As the observer would: an instruction about the data up to the end of the last closed bucket (the
        # factory waits for a dataset that reaches the instruction's time).
        instruction_ts = int(closed["bucket_starts"][-1]) + 1
        run_module(["-m", "mocks.mock_instruction_producer", "--type", "retrain", "--timestamp",
              str(instruction_ts)], env)
        report = reports.wait_for(lambda r: r["command_type"] == "train", 240, "the factory's train report")
        assert report["status"] == "success", report
        assert Path(report["model_path"]).exists()
        play = syncs.wait_for(lambda r: r["type"] == "play", 120, "play after the retrain")
        assert play["model_id"] == report["model_id"]
        assert syncs.records[0]["type"] == "pause"

        run_module(["-m", "mocks.data_feeder", "--stream", str(second_path), "--fast", "--quiet"], env)
        swapped = forecasts.wait_for(
            lambda r: r["model_id"] == report["model_id"], 240, "a forecast from the new model"
        )
        assert swapped["timestamp"] >= instruction_ts
        vessels = set(second["mmsi"].astype(str))
        wait_until(forecasts, lambda records: len(records) >= len(frame), 120, "every event's forecast")
        last = {r["key"]: r["model_id"] for r in forecasts.records}
        assert {key: last[key] for key in vessels} == dict.fromkeys(vessels, report["model_id"])
        if settings.parallelism > 1:  # the swap reached every engine subtask: all of them had events
            counts = _engine_records_in(job_ids[-1])
            assert all(count > 0 for count in counts), f"an idle engine subtask: records in {counts}"

        # No event lost: every event is in a bucket file (the last bucket may still be open).
        deadline = time.monotonic() + 120
        rows = 0
        while time.monotonic() < deadline:
            rows = bucket_rows(Path(env["DATA_DIR"]) / "buckets")
            if rows >= len(frame):
                break
            time.sleep(2)
        assert rows == len(frame)
        letters: dict[str, list[dict]] = {}
        for reader in dead:  # every <topic>.dlq of this run, and the catch-all topic
            reader.poll(1)
            letters.update({reader.topic: reader.records} if reader.records else {})
        assert letters == {}, {topic: records[:3] for topic, records in letters.items()}
    finally:
        for reader in (reports, syncs, forecasts, datasets, *dead):
            reader.close()
        cancel_jobs(job_ids)
        delete_topics(settings)



def _engine_records_in(job_id: str, timeout: float = 60) -> list[int]:
    """Events each subtask of the inference job's engine has taken in (its ``events_in`` counter,
    docs/metrics.md), once every subtask has reported some or after ``timeout`` seconds (the REST API's
    metric values lag by up to its fetch interval)."""
    deadline = time.monotonic() + timeout
    while True:
        counts: dict[int, int] = {}
        for vertex in rest_get(f"/jobs/{job_id}")["vertices"]:
            base = f"/jobs/{job_id}/vertices/{vertex['id']}/metrics"
            ids = [m["id"] for m in rest_get(base) if m["id"].endswith(".engine.events_in")]
            if ids:
                for metric in rest_get(f"{base}?get={','.join(ids)}"):
                    counts[int(metric["id"].split(".")[0])] = int(float(metric["value"]))
                parallelism = int(vertex["parallelism"])
                values = [counts.get(index, 0) for index in range(parallelism)]
                if all(values) or time.monotonic() > deadline:
                    return values
        if time.monotonic() > deadline:
            return []
        time.sleep(2)
