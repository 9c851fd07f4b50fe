"""End to end on the real runtime: the inference job pauses, buffers, and swaps models in stream time.

Only the inference job runs; the test plays the controller by writing ``EngineSync`` messages to the run's
sync topic. A synthetic stream (4 vessels, 3 weeks) is fed in three parts:

1. week 0 while running on the bootstrap model ``initial``;
2. PAUSE, then week 1, which must be buffered (no forecast appears while paused);
3. PLAY with a second model (trained with ``wayeb_py`` on two weeks into the run's data folder) and a
   production time of 3.5 days, so the swap falls in the middle of the buffered week; then week 2.

What must hold: one forecast per fed event (nothing dropped during the pause), every forecast before
``play.timestamp + production_time`` (event time) stamped ``initial`` and every one at or after it stamped
with the new model, and per key exactly the forecasts of an offline replay in which each key adopts its run
into the new model at its first event at or after the swap time (``wayeb_py`` ``adopt``: no restart of
the run). The score reports end on the new model, with creation method ``retrain`` (it is not in the
registry the job reads). Finally the job is stopped with a savepoint (``rtcef_ops.recovery``).
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import pytest
from confluent_kafka import Producer
from e2e_support import (
    TopicReader,
    cancel_jobs,
    delete_topics,
    isolated_env,
    job_state,
    run_module,
    wait_running,
)
from restart_support import (
    ForecastKey,
    Swap,
    forecast_key,
    reference_run,
    stream_events,
    wait_until,
    write_csv,
)

from inference_job.bootstrap import bootstrap
from protocol.codec import encode
from protocol.messages import EngineSync, SyncType
from rtcef_ops.flink_cluster import FlinkCluster
from rtcef_ops.paths import RuntimePaths
from rtcef_ops.recovery import discard_checkpoints, local_path, stop_with_savepoint
from rtcef_ops.submit import submit

DAY = 24 * 3600
PRODUCTION_TIME_S = 3.5 * DAY
NEW_MODEL = "swap-m2"


def _by_key(forecasts: list[ForecastKey]) -> dict[str, list[ForecastKey]]:
    grouped: dict[str, list[ForecastKey]] = defaultdict(list)
    for f in forecasts:
        grouped[f[0]].append(f)
    return dict(grouped)


def _send(bootstrap_servers: str, topic: str, sync: EngineSync) -> None:
    producer = Producer({"bootstrap.servers": bootstrap_servers, "enable.idempotence": True})
    producer.produce(topic, value=encode(sync))
    assert producer.flush(30) == 0


@pytest.mark.e2e
def test_pause_buffers_and_play_swaps_at_stream_time(tmp_path: Path, kafka_bootstrap: str) -> None:
    if not FlinkCluster(RuntimePaths()).healthy():
        pytest.fail("no Flink cluster on :8081; run `make start`")
    env, settings, run_id = isolated_env(
        tmp_path / "data",
        kafka_bootstrap,
        {"REPORTING_INTERVAL_S": str(DAY), "CHECKPOINT_INTERVAL_MS": "1000", "WATERMARK_DELAY_S": "60"},
    )
    stream = tmp_path / "stream.csv"
    synthetic = ["--weeks", "3", "--vessels", "4", "--seed", "11", "--compress", "6", "--no-drift"]
    run_module(["-m", "mocks.synthetic", "--out", str(stream), *synthetic], env)
    events = stream_events(stream)
    t0 = int(events[0]["timestamp"])
    cut1 = next(i for i, e in enumerate(events) if int(e["timestamp"]) >= t0 + 7 * DAY)
    cut2 = next(i for i, e in enumerate(events) if int(e["timestamp"]) >= t0 + 14 * DAY)
    parts = [write_csv(tmp_path / f"part{n}.csv", chunk)
             for n, chunk in enumerate((events[:cut1], events[cut1:cut2], events[cut2:]))]  # fmt: skip
    initial_path = run_module(["-m", "inference_job.bootstrap", "--stream", str(stream), "--weeks", "1"], env)
    initial_path = initial_path.strip().splitlines()[-1]
    new_path = bootstrap(settings, stream, 2, settings.models_dir / f"{NEW_MODEL}.spst", model_id=NEW_MODEL,
                         registry_path=tmp_path / "side-registry.json")  # fmt: skip

    pause_ts = int(events[cut1 - 1]["timestamp"])
    swap_at = pause_ts + int(PRODUCTION_TIME_S)
    buffered = [int(e["timestamp"]) for e in events[cut1:cut2]]
    assert min(buffered) < swap_at <= max(buffered)  # the swap falls inside the buffered week
    expected = reference_run(initial_path, events, swap=Swap(swap_at, str(new_path), NEW_MODEL))
    assert len(expected.forecasts) == len(events)  # both models forecast at every event

    forecasts = TopicReader(settings.kafka_bootstrap_servers, settings.forecast_topic)
    scores = TopicReader(settings.kafka_bootstrap_servers, settings.score_topic)
    dead = TopicReader(settings.kafka_bootstrap_servers, settings.dlq_topic(settings.input_topic))
    dead_sync = TopicReader(settings.kafka_bootstrap_servers, settings.dlq_topic(settings.sync_topic))
    job_ids: list[str] = []
    try:
        job_ids = [submit("inference_job", RuntimePaths(), extra_env=env)]
        wait_running(job_ids, timeout=180)
        run_module(["-m", "mocks.data_feeder", "--stream", str(parts[0]), "--fast", "--quiet"], env)
        wait_until(forecasts, lambda r: len(r) >= cut1, 120, "forecasts of week 0")

        instruction = f"e2e-{run_id}"
        pause = EngineSync(type=SyncType.PAUSE, timestamp=pause_ts, instruction_id=instruction)
        _send(kafka_bootstrap, settings.sync_topic, pause)
        time.sleep(5)  # the broadcast PAUSE reaches the engine before the next week's events
        run_module(["-m", "mocks.data_feeder", "--stream", str(parts[1]), "--fast", "--quiet"], env)
        forecasts.poll(8)
        assert len(forecasts.records) == cut1, "events were processed while paused"

        play = EngineSync(
            type=SyncType.PLAY, timestamp=pause_ts, instruction_id=instruction, model_id=NEW_MODEL,
            model_path=str(new_path), production_time=PRODUCTION_TIME_S,
        )  # fmt: skip
        _send(kafka_bootstrap, settings.sync_topic, play)
        run_module(["-m", "mocks.data_feeder", "--stream", str(parts[2]), "--fast", "--quiet"], env)
        wait_until(forecasts, lambda r: len(r) >= len(events), 120, "a forecast for every event")
        wait_until(
            scores, lambda r: any(s["model_id"] == NEW_MODEL for s in r), 60, "a report on the new model"
        )
        forecasts.poll(3)
        scores.poll(2)
        dead.poll(1)
        dead_sync.poll(1)

        got = [forecast_key(r) for r in forecasts.records]
        assert len(got) == len(events)
        assert sorted((f[0], f[1]) for f in got) == sorted(
            (str(e["mmsi"]), int(e["timestamp"])) for e in events
        )
        assert all((f[2] == NEW_MODEL) == (f[1] >= swap_at) for f in got), "a forecast has the wrong model"
        assert _by_key(got) == _by_key(expected.forecasts)
        assert scores.records[-1]["model_id"] == NEW_MODEL
        assert scores.records[-1]["creation_method"] == "retrain"
        assert dead.records == [] and dead_sync.records == []

        # A planned stop: stop-with-savepoint leaves a restorable savepoint and a finished job.
        savepoint = local_path(stop_with_savepoint(job_ids[0], tmp_path / "savepoints"))
        assert savepoint.parent == tmp_path / "savepoints" and (savepoint / "_metadata").is_file()
        assert job_state(job_ids[0]) == "FINISHED"
    finally:
        for reader in (forecasts, scores, dead, dead_sync):
            reader.close()
        cancel_jobs(job_ids)
        for job_id in job_ids:
            discard_checkpoints(job_id)
        delete_topics(settings)
