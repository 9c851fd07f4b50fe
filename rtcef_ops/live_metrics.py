"""The jobs' live figures, read from the Flink REST API (``make status``) or a Prometheus endpoint.

Flink's REST API lists a vertex's metrics at ``/jobs/<job>/vertices/<vertex>/metrics`` as ids
``<subtask>.<operator>.<metric>`` (a key/value group adds ``<group>.<key>.`` before the metric), and returns
their values, as text, for ``?get=<id>,<id>...``. :func:`job_metrics` reads the custom metrics of every
vertex of a job (docs/metrics.md); :func:`summarise` adds up the subtasks (counters and sizes are summed,
flags and versions take the maximum) and :func:`describe` turns the result into one line per job, which is
what ``python -m rtcef_ops status`` prints under each running job.

:func:`parse_prometheus` reads the text format the Prometheus reporter serves (one sample per line,
``name{label="value",...} number``); :func:`scrape` fetches it from one port.
"""

from __future__ import annotations

import re
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "OPERATORS",
    "Sample",
    "describe",
    "job_metrics",
    "parse_prometheus",
    "scrape",
    "select",
    "summarise",
]

OPERATORS = frozenset(
    {"engine", "score-aggregator", "observer", "controller", "factory", "bucket-writer", "versioner"}
)
"""The operators whose custom metrics the status reads (the parsers only count dead letters)."""

_MAXIMUM = frozenset({"paused", "model_version", "announced_model_version", "in_use", "state"})
"""Gauges combined across subtasks by their maximum; every other metric is summed."""

_METRIC_ID = re.compile(r"^(\d+)\.([^.]+)\.(.+)$")
_PHASES = {0: "idle", 1: "initializing", 2: "waiting_for_report", 3: "optimizing", 4: "finalizing",
           5: "retraining"}  # fmt: skip
_BATCH = 40
"""Metric ids per REST request (a long ``get`` list makes a long URL)."""


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None  # a distribution, shown by Flink as text


def job_metrics(job_id: str, get: Callable[[str], Any]) -> dict[str, dict[str, float]]:
    """``{operator: {metric: [values per subtask] combined}}`` of a job's operators in :data:`OPERATORS`.

    ``get`` is a REST GET returning decoded JSON (``rtcef_ops.flink_cluster.rest_get``).
    """
    raw: dict[str, str] = {}
    for vertex in get(f"/jobs/{job_id}").get("vertices", []):
        base = f"/jobs/{job_id}/vertices/{vertex['id']}/metrics"
        ids = [m["id"] for m in get(base) if _wanted(m.get("id", ""))]
        for start in range(0, len(ids), _BATCH):
            query = urllib.parse.quote(",".join(ids[start : start + _BATCH]), safe=",")
            raw.update({m["id"]: m.get("value", "") for m in get(f"{base}?get={query}")})
    return summarise(raw)


def _wanted(metric_id: str) -> bool:
    match = _METRIC_ID.match(metric_id)
    return match is not None and match.group(2) in OPERATORS


def summarise(raw: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """Metric ids and their text values -> per operator, per metric (key/value groups kept as
    ``group.key.metric``), the subtasks combined; values that are not numbers are left out."""
    combined: dict[str, dict[str, float]] = {}
    for metric_id, text in raw.items():
        match = _METRIC_ID.match(metric_id)
        value = _number(text)
        if match is None or value is None:
            continue
        operator, metric = match.group(2), match.group(3)
        metrics = combined.setdefault(operator, {})
        if metric in metrics:
            leaf = metric.rsplit(".", 1)[-1]
            metrics[metric] = max(metrics[metric], value) if leaf in _MAXIMUM else metrics[metric] + value
        else:
            metrics[metric] = value
    return combined


def _keyed(metrics: Mapping[str, float], group: str, name: str) -> dict[str, float]:
    """``{key: value}`` of gauge ``name`` in the key/value group ``group``."""
    prefix, suffix = f"{group}.", f".{name}"
    return {m[len(prefix) : -len(suffix)]: v for m, v in metrics.items()
            if m.startswith(prefix) and m.endswith(suffix)}  # fmt: skip


def _mcc(milli: float | None) -> str:
    return "-" if milli is None else f"{milli / 1000:.3f}"


def _flag(value: float | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _int(value: float | None) -> str:
    """A gauge: ``-`` until it has a value."""
    return "-" if value is None else f"{int(value)}"


def _count(value: float | None) -> str:
    """A counter: PyFlink reports one only once it moved, so an absent counter is 0."""
    return "0" if value is None else f"{int(value)}"


def _size(value: float | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _inference(engine: Mapping[str, float], scores: Mapping[str, float]) -> str:
    in_use = sorted(k for k, v in _keyed(engine, "model_key", "in_use").items() if v)
    return " · ".join([
        f"model {', '.join(in_use) or '-'}",
        f"MCC batch {_mcc(scores.get('batch_mcc_milli'))} runtime {_mcc(scores.get('runtime_mcc_milli'))}",
        f"paused {_flag(engine.get('paused'))}",
        f"buffered {_int(engine.get('buffered_events'))}",
        f"events in {_count(engine.get('events_in'))}",
        f"forecasts {_count(engine.get('forecasts_out'))}",
        f"reports {_count(scores.get('reports'))}",
    ])  # fmt: skip


def _controller(controller: Mapping[str, float]) -> str:
    busy = []
    for key, code in sorted(_keyed(controller, "model_key", "state").items()):
        if not code:
            continue  # idle keys (one per model ever instructed) are left out
        text = f"{key} {_PHASES.get(int(code), str(int(code)))}"
        step = controller.get(f"model_key.{key}.opt_step")
        if step:
            text += f" step {int(step)}/{_int(controller.get(f'model_key.{key}.opt_steps'))}"
        busy.append(text)
    return " · ".join([
        ", ".join(busy) or "idle",
        f"instructions {_count(controller.get('instructions_received'))}",
        f"queued {_count(controller.get('instructions_queued'))}",
        f"timeouts {_count(controller.get('timeouts'))}",
        f"retries {_count(controller.get('retries'))}",
    ])  # fmt: skip


def _factory(factory: Mapping[str, float]) -> str:
    commands = [f"{m.removeprefix('commands_')} {int(v)}" for m, v in sorted(factory.items())
                if m.startswith("commands_") and v]  # fmt: skip
    return " · ".join([
        f"commands {' '.join(commands) or '0'}",
        f"last train {_int(factory.get('last_train_ms'))} ms",
        f"last score {_int(factory.get('last_score_ms'))} ms",
        f"dataset {_int(factory.get('dataset_rows'))} rows",
        f"models {_count(factory.get('models_produced'))}",
        f"errors {_count(factory.get('errors'))}",
    ])  # fmt: skip


def _collector(collector: Mapping[str, float]) -> str:
    return " · ".join([
        f"events written {_count(collector.get('events_written'))}",
        f"open buckets {_int(collector.get('open_buckets'))}",
        f"on disk {_int(collector.get('disk_files'))} files {_size(collector.get('disk_bytes'))}",
        f"ACKs {_count(collector.get('acks'))}",
        f"buckets deleted {_count(collector.get('buckets_deleted'))}",
    ])  # fmt: skip


def describe(combined: Mapping[str, Mapping[str, float]]) -> list[str]:
    """The key live figures, one line per job part present (empty when no metric has arrived yet)."""
    lines: list[str] = []
    if "engine" in combined:
        lines.append(_inference(combined["engine"], combined.get("score-aggregator", {})))
    if "controller" in combined:
        lines.append(_controller(combined["controller"]))
    if "factory" in combined:
        lines.append(_factory(combined["factory"]))
    if "bucket-writer" in combined or "versioner" in combined:  # the collector's two operators, one line
        lines.append(_collector({**combined.get("bucket-writer", {}), **combined.get("versioner", {})}))
    return lines


# ----------------------------------------------------------------------------------------- Prometheus


@dataclass(frozen=True)
class Sample:
    """One line of the Prometheus text format."""

    name: str
    labels: Mapping[str, str]
    value: float


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
_ESCAPE = re.compile(r"\\(.)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _unescape(match: re.Match[str]) -> str:
    """A label value's escape (``\\\\``, ``\\"``, ``\\n``) -> the character."""
    return "\n" if match.group(1) == "n" else match.group(1)


def parse_prometheus(text: str) -> list[Sample]:
    """The samples of a Prometheus text exposition (comments and malformed lines skipped)."""
    samples: list[Sample] = []
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if match is None or line.startswith("#"):
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        pairs = _LABEL.findall(match.group(2) or "")
        labels = {k: _ESCAPE.sub(_unescape, v) for k, v in pairs}
        samples.append(Sample(match.group(1), labels, value))
    return samples


def scrape(port: int, host: str = "127.0.0.1", timeout: float = 3.0) -> str:
    """The text one Prometheus endpoint serves (``http://host:port/metrics``)."""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout) as resp:
        return str(resp.read().decode())


def select(samples: Iterable[Sample], name: str, **labels: str) -> list[Sample]:
    """The samples named ``name`` whose labels include ``labels``."""
    return [s for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
