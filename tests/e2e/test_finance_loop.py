"""End to end in the finance domain: card transactions in epoch milliseconds, the observer adapts the model.

The maritime loop (test_observer_loop.py) runs in epoch seconds; this one runs the same four jobs on a short
synthetic card stream (``mocks.synthetic_cards``: 150 cards, two weeks, the fraud runs' ``amount_diff``
range drifts after one week) with ``DOMAIN=finance`` and the finance pattern. Buckets and score reports are
daily, set in seconds (``BUCKET_SIZE_S``, ``REPORTING_INTERVAL_S``) as in every domain; the jobs convert
them to milliseconds. No instruction is sent by hand: the observer must notice the drift, the controller
pause the engine and play a model the factory produced, and the engine's forecasts switch to it. No
transaction may be lost or forecast twice (forecast keys are ``pan``; before the first swap the forecasts are
exactly those of the bootstrap model replayed offline), every one must be in a bucket file, reports and
buckets must lie on a grid of whole days in milliseconds, and nothing may be dead-lettered.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pandas as pd
import pytest
from e2e_support import (
    REPO,
    TopicReader,
    bucket_rows,
    cancel_jobs,
    delete_topics,
    isolated_env,
    observed_adaptation,
    run_module,
    running_cluster,
    wait_running,
)

from protocol.settings import Domain
from rtcef_ops.paths import RuntimePaths
from rtcef_ops.submit import JOBS, submit

DAY_S = 24 * 3600
DAY_MS = DAY_S * Domain.FINANCE.ticks_per_second
PATTERNS = REPO / "patterns" / "finance"


def initial_forecasts(model_path: Path, frame: pd.DataFrame, before: int) -> set[tuple[str, int]]:
    """``(pan, timestamp)`` of the transactions before ``before`` the model forecasts (one run per card)."""
    from wayeb_py.engine import SPSTModel

    model = SPSTModel.load(model_path)
    runs: dict[str, object] = {}
    out: set[tuple[str, int]] = set()
    for record in frame[frame["timestamp"] < before].to_dict("records"):
        pan = str(record["pan"])
        state, result = model.step(runs.get(pan) or model.new_run(), record)  # type: ignore[arg-type]
        runs[pan] = state
        if result.forecast is not None:
            out.add((pan, int(record["timestamp"])))
    return out


def settle(syncs: TopicReader, *readers: TopicReader, quiet: float = 6.0, limit: float = 90.0) -> None:
    """Poll until every pause has its play and no reader has seen a new record for ``quiet`` seconds."""
    deadline = time.monotonic() + limit
    seen, still = -1, 0.0
    while time.monotonic() < deadline and still < quiet:
        for reader in (syncs, *readers):
            reader.poll(0.5)
        counts = Counter(r["type"] for r in syncs.records)
        total = sum(len(reader.records) for reader in (syncs, *readers))
        still = (
            still + 0.5 * (1 + len(readers)) if total == seen and counts["pause"] == counts["play"] else 0.0
        )
        seen = total


@pytest.mark.e2e
def test_observer_adapts_the_card_model_without_losing_a_transaction(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    running_cluster()
    env, settings, _run_id = isolated_env(
        tmp_path / "data",
        kafka_bootstrap,
        {
            "DOMAIN": "finance",
            "PATTERN_PATH": str(PATTERNS / "pattern.sre"),
            "DECLARATIONS_PATH": str(PATTERNS / "declarations.sre"),
            "BUCKET_SIZE_S": str(DAY_S),
            "REPORTING_INTERVAL_S": str(DAY_S),
            # More daily buckets per dataset than the stream has days: retention releases none of them, so
            # the bucket files must hold every transaction at the end.
            "HISTORY_K": "21",
            "OPTIMISER_STEPS": "3",
            "MIN_DATASET_EVENTS": "50",
            "CHECKPOINT_INTERVAL_MS": "2000",
        },
    )
    stream = tmp_path / "cards.csv"
    run_module(["-m", "mocks.synthetic_cards", "--out", str(stream), "--weeks", "2", "--cards", "150",
                "--seed", "11", "--drift-weeks", "1", "--fraud-prob", "0.3"], env)  # fmt: skip
    frame = pd.read_csv(stream).sort_values("timestamp", kind="stable")
    assert 5000 < len(frame) < 12000 and frame["timestamp"].min() > 10**12  # epoch milliseconds
    run_module(["-m", "inference_job.bootstrap", "--stream", str(stream), "--weeks", "0.5",
                "--optimise-steps", "5"], env)  # fmt: skip

    readers = {
        name: TopicReader(settings.kafka_bootstrap_servers, topic)
        for name, topic in (
            ("instructions", settings.instruction_topic),
            ("syncs", settings.sync_topic),
            ("reports", settings.report_topic),
            ("forecasts", settings.forecast_topic),
            ("scores", settings.score_topic),
            ("datasets", settings.datasets_topic),
        )
    }
    dead = [
        TopicReader(settings.kafka_bootstrap_servers, topic)
        for topic in [*settings.dead_letter_topics().values(), settings.dead_letter_topic]
    ]
    job_ids: list[str] = []
    try:
        job_ids = [submit(job, RuntimePaths(), extra_env=env) for job in JOBS]
        wait_running(job_ids, timeout=180)
        # ~4 s per day of event time: the loop reacts in wall-clock seconds (see test_observer_loop.py).
        run_module(["-m", "mocks.data_feeder", "--stream", str(stream), "--speedup", "20000", "--quiet"],
                   env)  # fmt: skip

        observed_adaptation(readers, instruction_s=120, play_s=180, forecast_s=120)
        forecasts = readers["forecasts"]
        plays = [r for r in readers["syncs"].records if r["type"] == "play" and r.get("model_id")]

        # Forecasts are keyed by card, and no transaction is forecast twice or invented. (Unlike the port
        # pattern, not every card event gets a forecast: where no interval of at most MAX_SPREAD events
        # reaches the threshold, Wayeb emits none.)
        transactions = Counter(zip(frame["pan"].astype(str), frame["timestamp"].astype(int), strict=True))
        settle(readers["syncs"], readers["scores"], forecasts)
        got = Counter((r["key"], int(r["timestamp"])) for r in forecasts.records)
        assert max(got.values()) == 1 and not got - transactions, (got - transactions).most_common(3)
        # Before the first play every card runs the bootstrap model: its forecasts are exactly those of
        # wayeb_py replaying the stream per card.
        first_play = min(int(p["timestamp"]) for p in plays)
        offline = initial_forecasts(Path(env["DATA_DIR"]) / "models" / "initial.spst", frame, first_play)
        assert {k for k in got if k[1] < first_play} == offline
        # Every transaction reached the engine exactly once: the reports count one score delta per
        # transaction, up to the end of the last reported day (the last day's report stays open).
        reports = readers["scores"].records
        reported_to = max(int(r["interval_start"]) for r in reports) + DAY_MS
        assert sum(int(r["events"]) for r in reports) == int((frame["timestamp"] < reported_to).sum())

        # A played model forecasts only from its swap point on: the play's event time plus the production
        # time, converted from seconds to milliseconds.
        for p in plays:
            swap_ms = int(p["timestamp"]) + math.ceil(float(p["production_time"]) * 1000)
            early = [
                r for r in forecasts.records if r["model_id"] == p["model_id"] and r["timestamp"] < swap_ms
            ]
            assert early == [], (p, early[:3])

        # Score reports and buckets lie on a grid of whole days in milliseconds, from the first transaction.
        starts = sorted(int(r["interval_start"]) for r in reports)
        assert len(starts) >= 10, starts
        assert all((s - starts[0]) % DAY_MS == 0 for s in starts), starts
        assert starts[0] - int(frame["timestamp"].min()) < DAY_MS
        readers["datasets"].poll(2)
        buckets = sorted({int(s) for r in readers["datasets"].records for s in r["bucket_starts"]})
        assert len(buckets) >= 10 and {b - a for a, b in pairwise(buckets)} == {DAY_MS}, buckets

        # No transaction lost on the way to the shared volume (the last day's bucket is still open).
        deadline = time.monotonic() + 60
        rows = 0
        while time.monotonic() < deadline:
            rows = bucket_rows(Path(env["DATA_DIR"]) / "buckets")
            if rows >= len(frame):
                break
            time.sleep(2)
        assert rows == len(frame)
        letters: dict[str, list[dict]] = {}
        for reader in dead:
            reader.poll(1)
            letters.update({reader.topic: reader.records} if reader.records else {})
        assert letters == {}, {topic: records[:3] for topic, records in letters.items()}
    except BaseException:
        for name in ("instructions", "syncs", "reports"):
            readers[name].poll(1)
            print(name, [{k: r.get(k) for k in ("id", "type", "timestamp", "model_id", "reply_id",
                                                "command_type", "status", "production_time")}
                         for r in readers[name].records])  # fmt: skip
        print(
            "forecasts by model",
            Counter(r["model_id"] for r in readers["forecasts"].records),
            "of",
            len(frame),
        )
        raise
    finally:
        for reader in (*readers.values(), *dead):
            reader.close()
        cancel_jobs(job_ids)
        delete_topics(settings)
