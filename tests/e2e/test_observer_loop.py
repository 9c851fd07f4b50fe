"""End to end without any manual instruction: the observer notices degrading scores and adapts the model.

A short drifting synthetic stream with daily buckets and daily score reports is replayed at 20 000x. The
inference job's observer must issue instructions on its own; the controller pauses the engine, the factory
produces a model, the controller plays it, and the engine's forecasts switch to it. No event may be lost:
every event gets exactly one forecast, the ones buffered during pauses included. (Bucket rows are checked by
test_closed_loop.py: here daily buckets are released by retention while the test runs.)
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from e2e_support import (
    TopicReader,
    cancel_jobs,
    delete_topics,
    isolated_env,
    observed_adaptation,
    run_module,
    wait_running,
)

from rtcef_ops.paths import RuntimePaths
from rtcef_ops.submit import JOBS, submit

DAY = 24 * 3600


@pytest.mark.e2e
def test_observer_driven_adaptation_loses_no_event(tmp_path: Path, kafka_bootstrap: str) -> None:
    env, settings, _run_id = isolated_env(
        tmp_path / "data",
        kafka_bootstrap,
        {
            "BUCKET_SIZE_S": str(DAY),
            "REPORTING_INTERVAL_S": str(DAY),
            "HISTORY_K": "3",
            "OPTIMISER_STEPS": "3",
            "MIN_DATASET_EVENTS": "50",
            "CHECKPOINT_INTERVAL_MS": "2000",
        },
    )
    stream = tmp_path / "stream.csv"
    run_module(["-m", "mocks.synthetic", "--out", str(stream), "--weeks", "2", "--vessels", "6",
                "--seed", "11", "--compress", "4", "--drift-week", "1"], env)  # fmt: skip
    frame = pd.read_csv(stream)
    run_module(["-m", "inference_job.bootstrap", "--stream", str(stream), "--weeks", "0.5",
                "--optimise-steps", "5"], env)  # fmt: skip

    readers = {
        name: TopicReader(settings.kafka_bootstrap_servers, topic)
        for name, topic in (
            ("instructions", settings.instruction_topic),
            ("syncs", settings.sync_topic),
            ("reports", settings.report_topic),
            ("forecasts", settings.forecast_topic),
        )
    }
    job_ids: list[str] = []
    try:
        job_ids = [submit(job, RuntimePaths(), extra_env=env) for job in JOBS]
        wait_running(job_ids, timeout=180)
        # Paced at ~4 s per day of event time: the loop reacts in wall-clock seconds, so a stream replayed
        # faster than that would be fully forecast before the first pause arrives.
        run_module(["-m", "mocks.data_feeder", "--stream", str(stream), "--speedup", "20000", "--quiet"],
                   env)  # fmt: skip

        # Every event is forecast exactly once, by the initial model before the swap and a new one after.
        observed_adaptation(readers, instruction_s=240, play_s=300, forecast_s=240)
        forecasts = readers["forecasts"]
        expected = Counter(zip(frame["mmsi"].astype(str), frame["timestamp"].astype(int), strict=True))
        deadline_polls = 120
        while deadline_polls and len(forecasts.records) < len(frame):
            forecasts.poll(1.0)
            deadline_polls -= 1
        got = Counter((r["key"], int(r["timestamp"])) for r in forecasts.records)
        assert got == expected
    except BaseException:
        for name in ("instructions", "syncs", "reports"):
            readers[name].poll(1)
            print(name, [{k: r.get(k) for k in ("id", "type", "timestamp", "model_id", "reply_id",
                                                "command_type", "status", "production_time")}
                         for r in readers[name].records])  # fmt: skip
        models = Counter(r["model_id"] for r in readers["forecasts"].records)
        print("forecasts by model", models, "of", len(frame))
        raise
    finally:
        for reader in readers.values():
            reader.close()
        cancel_jobs(job_ids)
        delete_topics(settings)
