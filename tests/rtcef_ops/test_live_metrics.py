"""Live figures for ``make status`` from the Flink REST API (a fake one here); the Prometheus text format."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest

from rtcef_ops import __main__ as cli
from rtcef_ops.live_metrics import describe, job_metrics, parse_prometheus, select, summarise

VALUES = {
    "v-engine": {
        "0.engine.events_in": "120",
        "1.engine.events_in": "80",
        "0.engine.forecasts_out": "190",
        "1.engine.forecasts_out": "0",
        "0.engine.paused": "0",
        "1.engine.paused": "1",
        "0.engine.buffered_events": "3",
        "1.engine.buffered_events": "4",
        "0.engine.model_key.wayeb_7.in_use": "1",
        "0.engine.model_key.initial.in_use": "0",
        "1.engine.model_key.initial.in_use": "0",
        "0.engine.forecast_latency_ms": "DistributionResult{sum=10, count=2, min=4, max=6}",
        "0.engine.numRecordsIn": "200",
        "0.numRecordsIn": "200",
    },
    "v-scores": {
        "0.score-aggregator.batch_mcc_milli": "734",
        "0.score-aggregator.runtime_mcc_milli": "-12",
        "0.score-aggregator.reports": "5",
    },
}


class FakeRest:
    """``GET`` of the three REST endpoints :func:`job_metrics` uses, recording the paths asked."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, path: str) -> Any:
        self.paths.append(path)
        parsed = urllib.parse.urlparse(path)
        parts = parsed.path.strip("/").split("/")
        if len(parts) == 2:
            return {"vertices": [{"id": v, "name": v} for v in VALUES]}
        values = VALUES[parts[3]]
        wanted = urllib.parse.parse_qs(parsed.query).get("get")
        if wanted is None:
            return [{"id": metric} for metric in values]
        return [{"id": metric, "value": values[metric]} for metric in wanted[0].split(",")]


def test_job_metrics_reads_only_the_custom_operators_and_combines_subtasks() -> None:
    rest = FakeRest()
    combined = job_metrics("job1", rest)
    assert rest.paths[0] == "/jobs/job1"
    engine = combined["engine"]
    assert engine["events_in"] == 200 and engine["buffered_events"] == 7  # summed over subtasks
    assert engine["paused"] == 1  # any subtask paused
    assert engine["model_key.wayeb_7.in_use"] == 1 and engine["model_key.initial.in_use"] == 0
    assert "forecast_latency_ms" not in engine  # a distribution is text, not a number
    assert set(combined) == {"engine", "score-aggregator"}  # task metrics (0.numRecordsIn) are not asked


def test_describe_prints_model_mcc_paused_and_buffered() -> None:
    (line,) = describe(job_metrics("job1", FakeRest()))
    assert line.startswith("model wayeb_7 · MCC batch 0.734 runtime -0.012 · paused yes · buffered 7")
    assert "events in 200" in line and "forecasts 190" in line and "reports 5" in line


def test_describe_the_other_jobs() -> None:
    combined = summarise({
        "0.controller.model_key.wayeb_3.state": "2", "0.controller.model_key.wayeb_3.opt_step": "4",
        "0.controller.model_key.wayeb_3.opt_steps": "15", "0.controller.instructions_received": "2",
        "0.factory.commands_train": "1", "0.factory.commands_opt_step": "15",
        "0.factory.commands_opt_finalise": "0", "0.factory.last_train_ms": "120",
        "0.factory.dataset_rows": "5000", "0.bucket-writer.events_written": "4000",
        "1.bucket-writer.events_written": "5000", "0.versioner.disk_bytes": "2621440",
        "0.versioner.disk_files": "4",
    })  # fmt: skip
    controller, factory, collector = describe(combined)
    assert controller.startswith("wayeb_3 waiting_for_report step 4/15 · instructions 2 · queued 0")
    assert factory.startswith("commands opt_step 15 train 1 · last train 120 ms · last score - ms")
    assert "dataset 5000 rows" in factory
    assert collector.startswith("events written 9000 · open buckets - · on disk 4 files 2.5 MB")
    assert describe({}) == []
    (idle,) = describe(summarise({"0.controller.model_key.wayeb_1.state": "0", "0.controller.timeouts": "1"}))
    assert idle == "idle · instructions 0 · queued 0 · timeouts 1 · retries 0"


def test_status_prints_the_figures_under_each_running_job(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Cluster:
        def __init__(self, paths: Any) -> None: ...

        def healthy(self) -> bool:
            return True

        def taskmanagers(self) -> list[dict[str, Any]]:
            return []

        def jobs(self) -> list[dict[str, Any]]:
            return [{"id": "job1", "name": "inference_job", "state": "RUNNING"},
                    {"id": "job0", "name": "inference_job", "state": "CANCELED"}]  # fmt: skip

    class Broker:
        def __init__(self, paths: Any) -> None: ...

        def running(self) -> bool:
            return False

    monkeypatch.setattr(cli, "FlinkCluster", Cluster)
    monkeypatch.setattr(cli, "KafkaBroker", Broker)
    monkeypatch.setattr(cli, "rest_get", FakeRest())
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out.splitlines()
    job = out.index("  inference_job    RUNNING    job1")
    assert out[job + 1].startswith("    model wayeb_7 · MCC batch 0.734")
    assert out[-1] == "  inference_job    CANCELED   job0"  # no figures for a job that is not running


PROMETHEUS = """# HELP flink_taskmanager_job_task_operator_events_in events_in (scope: operator)
# TYPE flink_taskmanager_job_task_operator_events_in gauge
flink_taskmanager_job_task_operator_events_in{job_id="abc",operator_name="engine",subtask_index="0",} 42.0
flink_taskmanager_job_task_operator_model_key_in_use{job_id="abc",model_key="wayeb_7",task_name="a \\"b\\""} 1
flink_jobmanager_numRunningJobs 3.0
broken line
"""


def test_parse_prometheus_reads_names_labels_and_values() -> None:
    samples = parse_prometheus(PROMETHEUS)
    assert len(samples) == 3
    (events,) = select(samples, "flink_taskmanager_job_task_operator_events_in", job_id="abc")
    assert events.value == 42.0 and events.labels["operator_name"] == "engine"
    (in_use,) = select(samples, "flink_taskmanager_job_task_operator_model_key_in_use", model_key="wayeb_7")
    assert in_use.labels["task_name"] == 'a "b"'
    assert select(samples, "flink_taskmanager_job_task_operator_events_in", job_id="other") == []
