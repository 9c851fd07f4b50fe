"""End to end on the real runtime: an OPTIMIZE instruction runs a whole optimisation session.

The collector, factory and controller jobs run on the session cluster with their own topics and data folder.
A short synthetic stream is fed until the factory has assembled a dataset; then one OPTIMIZE instruction goes
to the controller. The test reads what the jobs wrote and checks the protocol end to end:

* the exact sequence PAUSE -> opt_initialise -> N opt_step -> opt_finalise(best) -> PLAY, every command
  answered by one successful report with ``reply_id`` = the command id;
* PLAY names the finalised model; the model file exists, loads, carries the best step's parameters, is in the
  registry as current and has a history line with the best step's metrics; candidate files are gone;
* each step's reported metrics equal a direct ``wayeb_py`` evaluation (a fresh ``SPSTForecaster`` with the
  step's parameters and the shared settings, fitted and scored in sample on the assembled dataset file,
  one run per ``partitionBy`` value), and the finalised file scores the same as the best step.

The controller's Kafka sources start at the latest offset on a first start, so the instruction is sent once
the job runs; it is re-sent with the *same id* until PAUSE appears (the controller ignores a seen id), which
makes the test independent of how long the source takes to initialise.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from e2e_support import (
    TopicReader,
    cancel_jobs,
    delete_topics,
    isolated_env,
    job_state,
    run_module,
    wait_running,
)

from rtcef_ops.flink_cluster import FlinkCluster
from rtcef_ops.paths import RuntimePaths
from rtcef_ops.submit import submit
from shared_volume.registry import history_path, load_history, load_registry
from wayeb_py.engine import SPSTModel
from wayeb_py.estimator import SPSTForecaster
from wayeb_py.io import read_events
from wayeb_py.patterns import load_pattern

WEEK = 7 * 24 * 3600
STEPS = 4
JOBS = ("collector_job", "factory_job", "controller_job")


@pytest.mark.e2e
def test_optimize_instruction_runs_a_full_session_and_plays_the_best_model(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    if not FlinkCluster(RuntimePaths()).healthy():
        pytest.fail("no Flink cluster on :8081; run `make start`")
    env, settings, run_id = isolated_env(
        tmp_path / "data",
        kafka_bootstrap,
        {
            "BUCKET_SIZE_S": str(WEEK),
            "HISTORY_K": "4",
            "MIN_DATASET_EVENTS": "50",
            "CHECKPOINT_INTERVAL_MS": "2000",
            "WATERMARK_DELAY_S": "60",
            "OPTIMISER_STEPS": str(STEPS),
            "REPORT_TIMEOUT_S": "600",
        },
    )
    stream = tmp_path / "stream.csv"
    run_module(["-m", "mocks.synthetic", "--out", str(stream), "--weeks", "3", "--vessels", "6", "--seed",
                "5", "--compress", "6", "--no-drift"], env)
    last_ts = int(pd.read_csv(stream)["timestamp"].max())

    readers = {
        name: TopicReader(settings.kafka_bootstrap_servers, topic)
        for name, topic in (
            ("commands", settings.command_topic),
            ("reports", settings.report_topic),
            ("syncs", settings.sync_topic),
            ("acks", settings.assembly_topic),
        )
    }
    job_ids: list[str] = []
    try:
        job_ids = [submit(job, RuntimePaths(), extra_env=env) for job in JOBS]
        wait_running(job_ids, timeout=180)
        run_module(["-m", "mocks.data_feeder", "--stream", str(stream), "--fast", "--quiet"], env)
        # Weeks 0 and 1 close (week 2 stays open): wait for the factory's ACK of the two-bucket dataset.
        ack = readers["acks"].wait_for(lambda r: len(r["bucket_starts"]) == 2, 180, "a two-bucket dataset")

        # An instruction about the data up to the last closed bucket, as the observer would send it.
        last_ts = int(ack["bucket_starts"][-1]) + 1
        instruction_id = f"e2e-opt-{run_id}"
        syncs = readers["syncs"]
        deadline = time.monotonic() + 90
        while syncs.find(lambda r: r["type"] == "pause") is None:
            assert time.monotonic() < deadline, "the controller never paused after the OPTIMIZE instruction"
            assert job_state(job_ids[2]) == "RUNNING", "controller job stopped"
            run_module(["-m", "mocks.mock_instruction_producer", "--type", "optimize", "--id", instruction_id,
                        "--timestamp", str(last_ts)], env)
            syncs.poll(15)
        play = syncs.wait_for(lambda r: r["type"] == "play", 240, "PLAY after the optimisation")
        for reader in readers.values():
            reader.poll(3)  # anything after PLAY would be a protocol error: collect it too

        # -- the exact protocol sequence
        assert [(s["type"], s["instruction_id"]) for s in syncs.records] == [
            ("pause", instruction_id),
            ("play", instruction_id),
        ]
        commands = readers["commands"].records
        assert [c["type"] for c in commands] == ["opt_initialise"] + ["opt_step"] * STEPS + ["opt_finalise"]
        assert len({c["id"] for c in commands}) == len(commands)
        assert {c["session_id"] for c in commands} == {commands[0]["session_id"]}
        assert [c["step"] for c in commands[1:-1]] == list(range(STEPS))

        reports = {r["reply_id"]: r for r in readers["reports"].records}
        assert len(reports) == len(readers["reports"].records) == len(commands)
        assert set(reports) == {c["id"] for c in commands}
        for command in commands:
            report = reports[command["id"]]
            assert report["status"] == "success", report
            assert report["command_type"] == command["type"]
            assert report["dataset_version"] == ack["version"]

        steps = [reports[c["id"]] for c in commands[1:-1]]
        for command, report in zip(commands[1:-1], steps, strict=True):
            assert report["params"] == command["params"] and report["step"] == command["step"]
            assert report["objective"] == -report["metrics"]["mcc"]
        objectives = [r["objective"] for r in steps]
        best = commands[-1]["best_step"]
        assert best == objectives.index(min(objectives))  # the first minimum
        final = reports[commands[-1]["id"]]
        assert final["creation_method"] == "optimisation"
        assert final["params"] == steps[best]["params"] and final["metrics"] == steps[best]["metrics"]

        # -- PLAY names the finalised model, which is on disk, published and recorded
        assert (play["model_id"], play["model_path"]) == (final["model_id"], final["model_path"])
        assert play["production_time"] == final["production_time"] > 0.0
        model_path = Path(final["model_path"])
        assert model_path.parent == settings.models_dir and model_path.exists()
        model = SPSTModel.load(model_path)
        best_params = steps[best]["params"]
        assert (model.learn_params.order, model.learn_params.p_min, model.learn_params.gamma) == (
            best_params["order"], best_params["p_min"], best_params["gamma"]
        )
        assert model.forecast_params.threshold == best_params["confidence"]
        assert not any((settings.models_dir / f"{r['model_id']}.spst").exists() for r in steps)
        registry = load_registry(settings.registry_path)
        assert registry.current == final["model_id"]
        history = load_history(history_path(settings.registry_path))
        [line] = [h for h in history if h.model_id == play["model_id"]]
        assert line.metrics is not None and line.metrics.model_dump() == final["metrics"]
        assert line.dataset_version == ack["version"] and line.params.model_dump() == best_params

        # -- the factory's scores are exactly what wayeb_py computes directly on the assembled dataset
        dataset = Path(ack["dataset_path"])
        assert dataset.exists(), "the session's dataset is still the current one and must be on disk"
        frame = read_events(dataset, settings.domain.value)
        assert len(frame) > 1000
        pattern = load_pattern(*settings.resolved_pattern())
        assert pattern.partition_by == "mmsi"
        for report in steps:
            p = report["params"]
            direct = SPSTForecaster(
                pattern, order=p["order"], p_min=p["p_min"], alpha=settings.alpha, gamma=p["gamma"],
                r=settings.r, threshold=p["confidence"], horizon=settings.horizon,
                max_spread=settings.max_spread, partitioned=True,
            ).fit(frame).score(frame)
            got = report["metrics"]
            counts = (direct.tp, direct.tn, direct.fp, direct.fn)
            assert (got["tp"], got["tn"], got["fp"], got["fn"]) == counts
            assert got["mcc"] == pytest.approx(direct.mcc, abs=1e-12)
        finalised = SPSTForecaster.from_model(model).score(frame)
        assert (finalised.tp, finalised.tn, finalised.fp, finalised.fn) == tuple(
            final["metrics"][k] for k in ("tp", "tn", "fp", "fn")
        )
        assert final["metrics"]["tp"] + final["metrics"]["fn"] > 0  # vessels do enter: not a trivial score
    finally:
        for reader in readers.values():
            reader.close()
        cancel_jobs(job_ids)
        delete_topics(settings)
