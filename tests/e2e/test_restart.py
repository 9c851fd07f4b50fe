"""End to end on the real runtime: the collector and inference jobs crash and restart from a checkpoint.

A synthetic stream (4 vessels, 3 weeks, 3-day buckets, 1-day score intervals) is fed in two parts. After
the first part has been fully processed and a checkpoint *triggered after that* has completed, both jobs
are cancelled without a savepoint: a crash, whose checkpoint is retained. The second part is fed while
they are down; then both are resubmitted from their retained checkpoints (``flink run -s``).

What must hold afterwards:

* **collector**: the bucket files hold exactly the fed events, as a multiset of ``(mmsi, timestamp)``: none
  lost, none written twice (the bucket open at the crash continues in the same file). Dataset versions are
  numbered 0, 1, 2, … in emission order across the restart, one per closed bucket, and a version number
  never names two different bucket lists.
* **inference**: the forecasts (each key's sequence; keys interleave differently) and score reports equal,
  record for record, those of an *uninterrupted* job, computed offline with ``wayeb_py`` and the job's own
  scoring functions. Per-key runs carry state (the SDFA state, the PST context, the forecasts still pending
  resolution), so a job that lost or reset a key's state would forecast differently after the restart, and
  its runtime counts would restart. The test checks that the reference itself detects this: replaying with
  every key's run dropped at the crash point gives different forecasts and reports. Because the checkpoint
  covers the whole first part and the second part reaches the jobs only after the restart, nothing is
  replayed: even duplicates (which the at-least-once sinks would allow after a replay) are absent.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from e2e_support import TopicReader, cancel_jobs, delete_topics, isolated_env, run_module, wait_running
from restart_support import (
    ForecastKey,
    bucket_rows,
    forecast_key,
    reference_run,
    report_key,
    stream_events,
    wait_until,
    write_csv,
)

from rtcef_ops.flink_cluster import FlinkCluster, rest_get
from rtcef_ops.paths import RuntimePaths
from rtcef_ops.recovery import crash, discard_checkpoints, local_path
from rtcef_ops.submit import submit

DAY = 24 * 3600
BUCKET_S = 3 * DAY
INTERVAL_S = DAY
DELAY_S = 60
JOBS = ("collector_job", "inference_job")


def _closed_bucket_starts(timestamps: list[int], upto: int) -> list[int]:
    """Starts of the buckets (grid anchored at the first event) that events up to ``upto`` close."""
    t0 = timestamps[0]
    starts = sorted({t0 + (ts - t0) // BUCKET_S * BUCKET_S for ts in timestamps})
    return [s for s in starts if s + BUCKET_S <= upto - DELAY_S]


@pytest.mark.e2e
def test_crash_and_restart_from_checkpoint_loses_and_duplicates_nothing(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    if not FlinkCluster(RuntimePaths()).healthy():
        pytest.fail("no Flink cluster on :8081; run `make start`")
    env, settings, _ = isolated_env(
        tmp_path / "data",
        kafka_bootstrap,
        {
            "BUCKET_SIZE_S": str(BUCKET_S),
            "HISTORY_K": "4",
            "REPORTING_INTERVAL_S": str(INTERVAL_S),
            "CHECKPOINT_INTERVAL_MS": "1000",
            "WATERMARK_DELAY_S": str(DELAY_S),
        },
    )
    stream = tmp_path / "stream.csv"
    synthetic = ["--weeks", "3", "--vessels", "4", "--seed", "5", "--compress", "6", "--no-drift"]
    run_module(["-m", "mocks.synthetic", "--out", str(stream), *synthetic], env)
    events = stream_events(stream)
    t0 = int(events[0]["timestamp"])
    split = next(i for i, e in enumerate(events) if int(e["timestamp"]) >= t0 + 13 * DAY + DAY // 2)
    first, second = events[:split], events[split:]
    first_path, second_path = (
        write_csv(tmp_path / "first.csv", first),
        write_csv(tmp_path / "second.csv", second),
    )
    bootstrap = run_module(["-m", "inference_job.bootstrap", "--stream", str(stream), "--weeks", "1"], env)
    model_path = bootstrap.strip().splitlines()[-1]

    # What an uninterrupted job outputs, and what one that lost its keyed state at the crash would.
    reference = reference_run(model_path, events)
    amnesiac = reference_run(model_path, events, fresh_from=split)
    last_first, last = int(first[-1]["timestamp"]), int(events[-1]["timestamp"])
    reports_first = reference.reports(INTERVAL_S, last_first - DELAY_S - 1)
    reports_all = reference.reports(INTERVAL_S, last - DELAY_S - 1)
    assert len(reference.forecasts) == len(events)  # this model forecasts at every event
    assert reference.forecasts[split:] != amnesiac.forecasts[split:]
    assert reports_all != amnesiac.reports(INTERVAL_S, last - DELAY_S - 1)
    timestamps = [int(e["timestamp"]) for e in events]
    closed_first = _closed_bucket_starts(timestamps[:split], last_first)
    closed_all = _closed_bucket_starts(timestamps, last)
    assert len(closed_first) >= 3 and len(closed_all) > len(closed_first)
    assert len(reports_first) >= 5 and len(reports_all) > len(reports_first)

    readers = {
        name: TopicReader(settings.kafka_bootstrap_servers, topic)
        for name, topic in (
            ("forecasts", settings.forecast_topic),
            ("scores", settings.score_topic),
            ("datasets", settings.datasets_topic),
            ("dead", settings.dead_letter_topic),
            ("dead_input", settings.dlq_topic(settings.input_topic)),
            ("dead_acks", settings.dlq_topic(settings.assembly_topic)),
        )
    }
    buckets = settings.buckets_dir
    job_ids: list[str] = []
    crashed: list[str] = []
    try:
        job_ids = [submit(job, RuntimePaths(), extra_env=env) for job in JOBS]
        wait_running(job_ids, timeout=180)
        run_module(["-m", "mocks.data_feeder", "--stream", str(first_path), "--fast", "--quiet"], env)
        _wait_outputs(readers, buckets, len(first), len(reports_first), len(closed_first))
        all_seen_ms = int(time.time() * 1000)

        # Crash: cancel without savepoint once a checkpoint triggered after everything was seen completed.
        checkpoints = [crash(job_id, after_ms=all_seen_ms) for job_id in job_ids]
        before = {name: len(reader.records) for name, reader in readers.items()}
        run_module(["-m", "mocks.data_feeder", "--stream", str(second_path), "--fast", "--quiet"], env)
        crashed, job_ids = job_ids, []
        job_ids = [
            submit(job, RuntimePaths(), extra_env=env, restore_from=path)
            for job, path in zip(JOBS, checkpoints, strict=True)
        ]
        wait_running(job_ids, timeout=180)
        for job_id, path in zip(job_ids, checkpoints, strict=True):
            restored = rest_get(f"/jobs/{job_id}/checkpoints")["latest"]["restored"]
            assert restored is not None and local_path(restored["external_path"]) == local_path(path)
        _wait_outputs(readers, buckets, len(events), len(reports_all), len(closed_all))
        for reader in readers.values():
            reader.poll(3)  # anything more would be a duplicate: collect it too

        # -- collector: every event in exactly one bucket row; versions continue, never renumbered
        assert bucket_rows(buckets) == Counter((str(e["mmsi"]), int(e["timestamp"])) for e in events)
        versions = readers["datasets"].records
        assert [v["version"] for v in versions] == list(range(len(closed_all)))
        assert [v["bucket_starts"][-1] for v in versions] == closed_all
        assert before["datasets"] == len(closed_first)
        for version in versions:
            assert version["bucket_starts"] == sorted(version["bucket_starts"])
            assert len(version["bucket_starts"]) == min(version["version"] + 1, settings.history_k)
            assert all(Path(p).exists() for p in version["bucket_paths"])  # no factory: nothing deleted

        # -- inference: exactly the uninterrupted job's forecasts and reports, once each
        # (per key: the engine emits the forecasts of a shard's batch together, so keys interleave
        # differently from the input; each key's own sequence must be exactly the reference's)
        got = [forecast_key(r) for r in readers["forecasts"].records]
        assert before["forecasts"] == split
        assert _per_key(got[:split]) == _per_key(reference.forecasts[:split])
        after = _per_key(got[split:])
        assert after == _per_key(reference.forecasts[split:]), "forecasts after the restart differ"
        reports = [report_key(r) for r in readers["scores"].records]
        assert reports[: before["scores"]] == reports_first
        assert reports == reports_all, "score reports after the restart differ"
        runtime_before = sum(reports_first[-1][4])
        assert all(sum(r[4]) >= runtime_before for r in reports[len(reports_first) :])
        assert readers["dead"].records == []
        assert readers["dead_input"].records == [] and readers["dead_acks"].records == []
    finally:
        for reader in readers.values():
            reader.close()
        cancel_jobs(job_ids)
        for job_id in [*crashed, *job_ids]:
            discard_checkpoints(job_id)
        delete_topics(settings)


def _per_key(forecasts: list[ForecastKey]) -> dict[str, list[ForecastKey]]:
    """Forecasts grouped by key (the first field), each key's in output order."""
    grouped: dict[str, list[ForecastKey]] = {}
    for forecast in forecasts:
        grouped.setdefault(forecast[0], []).append(forecast)
    return grouped


def _wait_outputs(
    readers: dict[str, TopicReader], buckets: Path, rows: int, reports: int, versions: int
) -> None:
    """Wait until the jobs have written ``rows`` bucket rows and emitted all forecasts/reports/versions."""
    deadline = time.monotonic() + 150
    while sum(bucket_rows(buckets).values()) < rows:
        assert time.monotonic() < deadline, f"bucket rows: {sum(bucket_rows(buckets).values())} < {rows}"
        time.sleep(1)
    wait_until(readers["forecasts"], lambda r: len(r) >= rows, 120, f"{rows} forecasts")
    wait_until(readers["scores"], lambda r: len(r) >= reports, 60, f"{reports} score reports")
    wait_until(readers["datasets"], lambda r: len(r) >= versions, 60, f"{versions} dataset versions")
