"""The scale benchmark's view of a run in progress (:class:`Watch`) and the figures drawn from it.

Part of ``bench_scale.py`` (see its docstring).
"""

from __future__ import annotations

import contextlib
import json
import statistics
from dataclasses import dataclass, field
from typing import Any

from bench_common import TopicCollector
from bench_inference import _vertex_load
from scale_counts import BucketTracker, ForecastCounter
from scale_stream import Stream
from scale_system import ResourceSampler, checkpoint_figures, folder_bytes, restarts, root_exception

from protocol.settings import Settings
from rtcef_ops.flink_cluster import rest_get
from rtcef_ops.live_metrics import job_metrics
from rtcef_ops.topics import topic_sizes

MODEL_COMMANDS = ("train", "opt_finalise")
"""Factory reports that publish a model; an ``opt_finalise``'s production time covers its whole session."""


def log(text: str) -> None:
    """One line of the live log."""
    print(text, flush=True)


@dataclass
class Progress:
    """What the main loop knows at one moment."""

    elapsed: float
    fed: int
    forecasts: int
    bucket_rows: int
    datasets: int
    models: int
    instructions: int


def decoded(collector: TopicCollector) -> list[dict[str, Any]]:
    """The JSON records a TopicCollector gathered so far (undecodable ones skipped)."""
    out = []
    for _key, value, _stamp, _received in list(collector.records):
        with contextlib.suppress(ValueError):
            out.append(json.loads(value))
    return out


def produced_models(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Successful train / finalise reports, once per model id."""
    models: dict[str, dict[str, Any]] = {}
    for report in reports:
        if report.get("command_type") in MODEL_COMMANDS and report.get("status") == "success":
            models.setdefault(str(report.get("model_id")), report)
    return list(models.values())


def busiest(samples: list[list[dict[str, Any]]], job: str) -> list[dict[str, Any]]:
    """Median busy / back-pressured ms/s per operator chain of one job over the samples."""
    by_name: dict[str, dict[str, list[float]]] = {}
    for sample in samples:
        for vertex in sample:
            entry = by_name.setdefault(vertex["name"], {"busy": [], "backpressured": []})
            for key, field_name in (("busy", "busy_ms_per_s"), ("backpressured", "backpressured_ms_per_s")):
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    entry[key].append(float(vertex[field_name]))
    rows = [{"job": job, "name": name,
             "busy_ms_per_s": statistics.median(v["busy"]) if v["busy"] else None,
             "backpressured_ms_per_s": statistics.median(v["backpressured"]) if v["backpressured"] else None,
             "samples": len(v["busy"])} for name, v in by_name.items()]  # fmt: skip
    return sorted(rows, key=lambda r: -(r["busy_ms_per_s"] or 0))


@dataclass
class Watch:
    """What the main loop gathers while the system works: its readers and its samples."""

    settings: Settings
    job_ids: dict[str, str]
    counter: ForecastCounter
    readers: dict[str, TopicCollector]
    sampler: ResourceSampler
    buckets: BucketTracker
    loads: dict[str, list[list[dict[str, Any]]]] = field(default_factory=dict)
    peak_state: dict[str, int] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)

    def progress(self, elapsed: float, fed: int) -> Progress:
        """The figures of one progress line."""
        return Progress(elapsed, fed, self.counter.count, self.buckets.total,
                        len({r.get("version") for r in decoded(self.readers["datasets"])}),
                        len(produced_models(decoded(self.readers["reports"]))),
                        len(self.readers["instructions"].records))  # fmt: skip

    def sample_loads(self) -> None:
        """Busy / back-pressured time of every operator chain of every job, now."""
        for job, job_id in self.job_ids.items():
            self.loads.setdefault(job, []).append(_vertex_load(job_id))

    def sample_jobs(self) -> None:
        """Checkpoint sizes (peak kept) and failovers; a new failover is logged with its root exception."""
        for job, job_id in self.job_ids.items():
            with contextlib.suppress(Exception):
                state = int(checkpoint_figures(job_id)["state_size"] or 0)
                self.peak_state[job] = max(self.peak_state.get(job, 0), state)
            count = restarts(job_id)
            if count > self.restarts.get(job, 0):
                log(f"  ! {job} restarted ({count} failovers): {root_exception(job_id)}")
            self.restarts[job] = max(count, self.restarts.get(job, 0))


def loop_figures(watch: Watch, stream: Stream, wall_s: float) -> dict[str, Any]:
    """Datasets, models, instructions and MPPT, from the control topics."""
    reports = decoded(watch.readers["reports"])
    datasets = decoded(watch.readers["datasets"])
    models = produced_models(reports)
    production = sum(float(r.get("production_time", 0.0)) for r in models)
    outcomes = sorted({(str(r.get("command_type")), str(r.get("status"))) for r in reports})
    return {
        "datasets": {"versions": len({r.get("version") for r in datasets}),
                     "largest_bucket_list": max((len(r.get("bucket_paths", [])) for r in datasets),
                                                default=0)},
        "models": [{k: r.get(k) for k in ("model_id", "command_type", "creation_method", "production_time",
                                           "dataset_version", "objective")} for r in models],
        "factory_reports": {f"{c} {s}": sum(1 for r in reports
                                            if (str(r.get("command_type")), str(r.get("status"))) == (c, s))
                            for c, s in outcomes},
        "instructions": [{k: r.get(k) for k in ("id", "type", "timestamp")}
                         for r in decoded(watch.readers["instructions"])],
        "engine_syncs": [{k: r.get(k) for k in ("type", "model_id", "production_time")}
                         for r in decoded(watch.readers["syncs"])],
        "score_reports": len(watch.readers["scores"].records),
        "production_time_s": round(production, 1),
        "mppt_percent": round(100 * production / wall_s, 3) if wall_s > 0 else None,
        "mppt_stream_percent": round(100 * production / max(stream.t_last - stream.t0, 1), 5),
    }  # fmt: skip


def end_state(watch: Watch) -> dict[str, Any]:
    """Keyed state, memory, disk, failovers, dead letters, the jobs' own metrics and the operator load."""
    state: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    for job, job_id in watch.job_ids.items():
        try:
            state[job] = checkpoint_figures(job_id, details=True)
        except Exception as exc:  # noqa: BLE001 - descriptive only
            state[job] = {"error": str(exc)}
        final = int(state[job].get("state_size") or 0)
        state[job]["peak_state_size"] = max(watch.peak_state.get(job, 0), final)
        with contextlib.suppress(Exception):
            metrics[job] = job_metrics(job_id, lambda path: rest_get(path, timeout=10))
    s = watch.settings
    letters = {topic: n for topic, n in topic_sizes(s).items()
               if n > 0 and (topic.endswith(".dlq") or topic == s.dead_letter_topic)}  # fmt: skip
    load = [entry for job, samples in watch.loads.items() for entry in busiest(samples, job)]
    return {
        "state": state,
        "rss": watch.sampler.report(),
        "disk": {"peak_bytes": watch.sampler.peak_disk,
                 "final_bytes": {name: folder_bytes(path) for name, path in watch.sampler.folders.items()}},
        "restarts": {job: restarts(job_id) for job, job_id in watch.job_ids.items()},
        "root_exceptions": {job: text for job, job_id in watch.job_ids.items()
                            if (text := root_exception(job_id))},
        "dead_letters": letters,
        "job_metrics": metrics,
        "operator_load": sorted(load, key=lambda r: -(r["busy_ms_per_s"] or 0)),
        "timeline": watch.timeline,
    }  # fmt: skip
