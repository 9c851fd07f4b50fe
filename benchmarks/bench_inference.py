"""Benchmark of the data plane (not a test): Kafka -> inference_job -> Kafka at parallelism 2, and where the
time goes.

Prints each figure next to its target and writes everything, with the machine it ran on, to
``benchmarks/results/bench_inference.json``. Targets (data-plane issue): >= 2e4 events/s sustained;
p99 event-to-forecast latency < 1 s at 1e4 events/s offered; keyed state <= 2 KB per key.

Set-up (no cluster): a ``mocks.synthetic`` stream (``--vessels`` vessels, ``--compress``), a bootstrap model
trained with ``inference_job.bootstrap`` on its first week in a temporary DATA_DIR. Then, without Flink, the
job's per-event Python path (``inference_profile``): us/event on one core, a cProfile split by stage and the
keyed state sizes (the engine's pickled ``KeyState``, the wayeb ``RunState`` JSON inside it) for these keys.

Then, for each variant of the job's latency settings (``VARIANTS``: Python bundle time, network buffer
timeout, event batch window, set through Settings or ``flink run -D``), holding
``/tmp/rtcef-cluster.lock`` (unless ``RTCEF_CLUSTER_LOCK_HELD=1``), on fresh topics with 2 partitions and
``PARALLELISM=2``:

1. **throughput**: ``--backlog`` events are written before the job is submitted; the job works the backlog
   off at full speed; sustained rate = forecasts/s from the end of the first output burst to the last
   forecast (append times; `bench_common.sustained_rate`);
2. **latency at 1e4/s**: ``--rate`` events/s offered for ``--seconds``; latency of an event = the append
   timestamp of its forecast record - the append timestamp of its input record (the broker stamps both,
   ``LogAppendTime``), matched by (key, event timestamp); events without a forecast after the drain
   timeout count as infinitely late;
3. **latency at light load**: ``--light-rate`` events/s for 5 s (what the job adds when it is not saturated).

The job is cancelled and the topics deleted before the lock is released. Each variant runs ``--repeat`` times
(default 2; the machine is shared and runs vary by 10-20 %); the summary gives min / median / max.

Run: ``.venv/bin/python benchmarks/bench_inference.py [--variants default,bundle-small,...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_common import (  # noqa: E402
    TopicCollector,
    bench_producer,
    cpu_breakdown,
    cpu_snapshot,
    machine,
    percentile,
    read_back,
    row,
    send_paced,
    sustained_rate,
    write_results,
)
from inference_profile import STATE_TARGET_BYTES, profile_path  # noqa: E402

from inference_job.main import BUFFER_TIMEOUT_MS, BUNDLE_TIME_MS  # noqa: E402
from inference_job.models import resolve_initial_model  # noqa: E402
from mocks.data_feeder import FeedRecord, load_records, order_by_event_time  # noqa: E402
from protocol.settings import load_settings  # noqa: E402
from rtcef_ops.flink_cluster import FlinkCluster, rest_get  # noqa: E402
from rtcef_ops.isolated import cancel_jobs, cluster_lock, delete_topics, isolated_env, wait_running  # noqa: E402
from rtcef_ops.paths import RuntimePaths  # noqa: E402
from rtcef_ops.submit import submit, submit_script  # noqa: E402

TARGETS = {"sustained_eps": 2e4, "p99_latency_s": 1.0, "offered_eps": 1e4, "state_bytes_per_key": 2048}
PARTITIONS = 2
PASSTHROUGH = ROOT / "benchmarks" / "jobs" / "passthrough_job.py"
DEFAULT_VARIANTS = "default,throughput,low-latency"
VARIANTS: dict[str, dict[str, str]] = {
    "default": {},
    "throughput": {},  # set through Settings (SETTINGS_VARIANTS), like the two below
    "low-latency": {},
    "shards-32": {},
    "shards-16": {},
    "object-reuse": {"pipeline.object-reuse": "true"},
}  # fmt: skip
SETTINGS_VARIANTS: dict[str, dict[str, str]] = {
    "throughput": {"PYTHON_BUNDLE_TIME_MS": "1000", "BUFFER_TIMEOUT_MS": "100", "EVENT_BATCH_MS": "100"},
    "low-latency": {"PYTHON_BUNDLE_SIZE": "1000", "PYTHON_BUNDLE_TIME_MS": "20", "BUFFER_TIMEOUT_MS": "10",
                    "EVENT_BATCH_MS": "20"},
    "shards-32": {"ENGINE_SHARDS": "32"},
    "shards-16": {"ENGINE_SHARDS": "16"},
}  # fmt: skip
DESCRIPTIONS = {
    "default": "the job's defaults: bundle 100000 / 50 ms, buffer timeout 10 ms, 50 ms event batches",
    "throughput": "PyFlink's bundle time (1000 ms), buffer timeout 100 ms, 100 ms event batches",
    "low-latency": "bundle 1000 / 20 ms, buffer timeout 10 ms, 20 ms event batches",
    "shards-32": "the defaults with ENGINE_SHARDS=32 (fewer, larger shard batches and state commits)",
    "shards-16": "the defaults with ENGINE_SHARDS=16",
    "object-reuse": "the defaults with pipeline.object-reuse (chained JVM operators pass records uncopied)",
}


def prepare(tmp: Path, vessels: int, weeks: int, compress: int) -> tuple[list[FeedRecord], Path]:
    """Synthetic stream + bootstrap model in ``tmp/data``; return the events in event-time order."""
    stream = tmp / "stream.csv"
    env = {**os.environ, "DATA_DIR": str(tmp / "data")}
    for args in (
        ["-m", "mocks.synthetic", "--out", str(stream), "--weeks", str(weeks), "--vessels", str(vessels),
         "--seed", "11", "--compress", str(compress), "--no-drift"],
        ["-m", "inference_job.bootstrap", "--stream", str(stream), "--weeks", "1"],
    ):  # fmt: skip
        result = subprocess.run([sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                                check=False)  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"{args[1]} failed:\n{result.stderr[-2000:]}")
    return order_by_event_time(load_records(stream).records), tmp / "data"


def _failure(job_id: str) -> str:
    try:
        root = rest_get(f"/jobs/{job_id}/exceptions").get("root-exception") or ""
    except Exception as exc:  # noqa: BLE001 - descriptive only
        return f"(no exception history: {exc})"
    return root.strip().splitlines()[0][:300] if root else "(no root exception)"


def _latencies(phase: list[FeedRecord], inputs: dict[tuple[str, int], int],
               forecasts: dict[tuple[str, int], int]) -> dict[str, Any]:  # fmt: skip
    values = []
    missing = 0
    for record in phase:
        key = (record.key, record.timestamp)
        if key in forecasts and key in inputs:
            values.append((forecasts[key] - inputs[key]) / 1000)
        else:
            missing += 1
    values += [float("inf")] * missing
    return {"events": len(phase), "without_forecast": missing, "p50_s": percentile(values, 0.5),
            "p99_s": percentile(values, 0.99), "max_s": max(values, default=float("nan"))}  # fmt: skip


def run_variant(
    name: str, records: list[FeedRecord], data_dir: Path, args: argparse.Namespace, parallelism: int = 2
) -> dict[str, Any]:
    """Submit inference_job with the variant's options on fresh topics, measure, cancel, delete."""
    out: dict[str, Any] = {"variant": name, "options": VARIANTS[name], "description": DESCRIPTIONS[name],
                           "settings": SETTINGS_VARIANTS.get(name, {}), "parallelism": parallelism,
                           "taskmanagers": FlinkCluster(RuntimePaths()).taskmanager_count()}  # fmt: skip
    backlog = records[: args.backlog]
    n_lat = int(args.rate * args.seconds)
    loaded = records[args.backlog : args.backlog + n_lat]
    light: list[FeedRecord] = []
    job_ids: list[str] = []
    with cluster_lock():
        overrides = {"PARALLELISM": str(parallelism), **SETTINGS_VARIANTS.get(name, {})}
        env, settings, run_id = isolated_env(data_dir, None, overrides, prefix="benchinf",
                                             partitions=PARTITIONS)  # fmt: skip
        bootstrap = settings.kafka_bootstrap_servers
        producer = bench_producer(bootstrap)
        collector: TopicCollector | None = None
        try:
            send_paced(producer, settings.input_topic, [(r.key, r.value) for r in backlog], None)
            t0 = time.perf_counter()
            options = VARIANTS[name]
            job_ids.append(submit("inference_job", RuntimePaths(), extra_env=env, flink_options=options))
            try:
                wait_running(job_ids, timeout=90)
            except RuntimeError:
                out["error"] = f"job did not run: {_failure(job_ids[0])}"
                return out
            out["submit_to_running_s"] = time.perf_counter() - t0
            collector = TopicCollector(bootstrap, settings.forecast_topic, PARTITIONS)
            collector.wait_count(1, args.drain_timeout)
            cpu_before, t1 = cpu_snapshot(), time.perf_counter()  # from the first forecast on
            done = collector.wait_count(len(backlog), args.drain_timeout)
            if not done and len(collector.records) == 0:
                out["error"] = f"no forecast within {args.drain_timeout:.0f} s: {_failure(job_ids[0])}"
                return out
            window_s = time.perf_counter() - t1
            cpu = cpu_breakdown(cpu_before, cpu_snapshot())
            out["cpu_backlog"] = {"window_s": window_s, "cores": {k: v / window_s for k, v in cpu.items()}}
            stamps = [a for _k, _v, a, _r in collector.records]
            span = max((max(stamps) - min(stamps)) / 1000, 1e-9)
            out["backlog"] = {"events": len(backlog), "forecasts": len(stamps), "complete": done,
                              "sustained_eps": sustained_rate(stamps),
                              "overall_eps": len(stamps) / span}  # fmt: skip
            base = len(collector.records)
            start, last = send_paced(producer, settings.input_topic, [(r.key, r.value) for r in loaded],
                                     args.rate)  # fmt: skip
            out["offered_eps"] = len(loaded) / max(last - start, 1e-9)
            out["vertices_saturated"] = _vertex_load(job_ids[0])  # while the job is still behind
            collector.wait_count(base + len(loaded), args.drain_timeout)
            phase_stamps = [a for _k, _v, a, _r in collector.records[base:]]
            out["loaded_output_eps"] = sustained_rate(phase_stamps)
            light_rate = args.light_rate
            light = records[args.backlog + n_lat : args.backlog + n_lat + int(light_rate * 5)]
            base = len(collector.records)
            send_paced(producer, settings.input_topic, [(r.key, r.value) for r in light], light_rate)
            collector.wait_count(base + len(light), 20)
            inputs = {}
            for _key, value, stamp in read_back(bootstrap, settings.input_topic, PARTITIONS):
                event = json.loads(value)
                inputs[(str(event["mmsi"]), int(event["timestamp"]))] = stamp
            forecasts = {}
            for _key, value, stamp, _recv in collector.records:
                record = json.loads(value)
                forecasts.setdefault((str(record["key"]), int(record["timestamp"])), stamp)
            out["latency_loaded"] = _latencies(loaded, inputs, forecasts) | {"rate": args.rate}
            out["latency_light"] = _latencies(light, inputs, forecasts) | {"rate": light_rate}
        finally:  # inside the lock: the next holder must find our job gone
            if collector is not None:
                collector.close()
            cancel_jobs(job_ids)
            delete_topics(settings)
    return out


def run_identity(
    records: list[FeedRecord], data_dir: Path, args: argparse.Namespace, parallelism: int
) -> dict[str, Any]:
    """The floor of the data plane on the same backlog and cluster: the PyFlink identity job
    (``benchmarks/jobs/passthrough_job.py``: Kafka -> one Python map -> Kafka) at the same parallelism
    and with the inference job's default bundle time and buffer timeout (with PyFlink's 1 s bundles its
    output leaves in bursts that the sustained-rate measure overstates)."""
    out: dict[str, Any] = {"variant": "identity", "parallelism": parallelism,
                           "taskmanagers": FlinkCluster(RuntimePaths()).taskmanager_count()}  # fmt: skip
    backlog = records[: args.backlog]
    job_ids: list[str] = []
    with cluster_lock():
        latency = {"PYTHON_BUNDLE_TIME_MS": str(BUNDLE_TIME_MS), "BUFFER_TIMEOUT_MS": str(BUFFER_TIMEOUT_MS)}
        env, settings, _ = isolated_env(data_dir, None, {"PARALLELISM": str(parallelism), **latency},
                                        prefix="benchid", partitions=PARTITIONS)  # fmt: skip
        collector: TopicCollector | None = None
        try:
            send_paced(bench_producer(settings.kafka_bootstrap_servers), settings.input_topic,
                       [(r.key, r.value) for r in backlog], None)  # fmt: skip
            job_ids.append(submit_script(PASSTHROUGH, RuntimePaths(), name="bench_passthrough",
                                         extra_env=env))  # fmt: skip
            wait_running(job_ids, timeout=90)
            collector = TopicCollector(settings.kafka_bootstrap_servers, settings.forecast_topic, PARTITIONS)
            collector.wait_count(len(backlog), args.drain_timeout)
            stamps = [a for _k, _v, a, _r in collector.records]
            out["backlog"] = {"events": len(backlog), "records": len(stamps),
                              "sustained_eps": sustained_rate(stamps)}  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - reported in the results, the benchmark goes on
            out["error"] = f"identity job: {exc}"
        finally:
            if collector is not None:
                collector.close()
            cancel_jobs(job_ids)
            delete_topics(settings)
    return out


def print_ratios(results: list[dict[str, Any]]) -> dict[str, float]:
    """Median sustained rate of each inference variant over the identity job's, per cluster shape."""
    ratios: dict[str, float] = {}
    shapes = dict.fromkeys((v.get("taskmanagers"), v.get("parallelism")) for v in results)
    for tms, par in shapes:
        same = [v for v in results if (v.get("taskmanagers"), v.get("parallelism")) == (tms, par)
                and "error" not in v]  # fmt: skip
        floor = [v["backlog"]["sustained_eps"] for v in same if v["variant"] == "identity"]
        if not floor:
            continue
        identity = statistics.median(floor)
        for name in dict.fromkeys(v["variant"] for v in same if v["variant"] != "identity"):
            eps = statistics.median(v["backlog"]["sustained_eps"] for v in same if v["variant"] == name)
            label = f"{name} tm{tms} p{par}"
            ratios[label] = eps / identity
            row(f"{label}: inference / identity", f"{eps:,.0f} / {identity:,.0f} = {eps / identity:.2f}",
                ">= 0.80", eps / identity >= 0.8)
    return ratios


def _print_cpu(variant: dict[str, Any], us_per_event: float) -> None:
    """Where the CPU went while the job worked off the backlog, against the engine's own Python cost."""
    cpu = variant["cpu_backlog"]
    eps = variant["backlog"]["overall_eps"]
    print(f"    CPU while working off the backlog ({cpu['window_s']:.0f} s from the first forecast), cores:")
    for label, cores in cpu["cores"].items():
        if cores >= 0.01:
            print(f"      {cores:4.2f}  {label}")
    print(f"      {us_per_event * eps / 1e6:4.2f}  of which the engine's own Python path would need at "
          f"{eps:,.0f} ev/s ({us_per_event:.0f} us/event outside Flink)")
    print("    operator chains while saturated (max over subtasks, ms/s): busy / back-pressured")
    for vertex in variant.get("vertices_saturated", []):
        busy, pressured = _num(vertex.get("busy_ms_per_s")), _num(vertex.get("backpressured_ms_per_s"))
        print(f"      {busy:>6} / {pressured:>6}  p{vertex.get('parallelism', '?')}  {vertex['name']}")


def _num(value: Any) -> str:
    try:
        return f"{float(value):.0f}"
    except (TypeError, ValueError):
        return "?"


def _vertex_load(job_id: str) -> list[dict[str, Any]]:
    """Busy and back-pressured ms/s (max over subtasks) of every operator chain, from Flink's REST API."""
    rows: list[dict[str, Any]] = []
    try:
        for vertex in rest_get(f"/jobs/{job_id}")["vertices"]:
            metrics = rest_get(f"/jobs/{job_id}/vertices/{vertex['id']}/subtasks/metrics"
                               "?get=busyTimeMsPerSecond,backPressuredTimeMsPerSecond&agg=max")  # fmt: skip
            values = {m["id"]: m.get("max") for m in metrics}
            rows.append({"name": vertex["name"][:70], "parallelism": vertex["parallelism"],
                         "busy_ms_per_s": values.get("busyTimeMsPerSecond"),
                         "backpressured_ms_per_s": values.get("backPressuredTimeMsPerSecond")})  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - descriptive only
        rows.append({"name": f"(metrics unavailable: {exc})"})
    return rows


def _ms(seconds: float) -> str:
    return "never" if seconds == float("inf") else f"{seconds * 1000:,.0f} ms"


def print_table(variants: list[dict[str, Any]]) -> None:
    """One line per variant: throughput, latency under 1e4/s and under light load."""
    head = (f"  {'variant':<26}{'backlog ev/s':>11}{'@1e4: out ev/s':>16}{'p50':>11}{'p99':>11}"
            f"{'light p50':>11}{'light p99':>11}")  # fmt: skip
    print(head)
    for v in variants:
        if "error" in v:
            print(f"  {v['variant']:<14}  {v['error']}")
            continue
        lo, li = v["latency_loaded"], v["latency_light"]
        label = f"{_label(v)} #{v.get('run', 1)}"
        print(f"  {label:<26}{v['backlog']['sustained_eps']:>11,.0f}{v['loaded_output_eps']:>16,.0f}"
              f"{_ms(lo['p50_s']):>11}{_ms(lo['p99_s']):>11}{_ms(li['p50_s']):>11}{_ms(li['p99_s']):>11}")
    for v in {v["variant"]: v for v in variants}.values():
        print(f"    {v['variant']}: {v['description']}")


def _label(variant: dict[str, Any]) -> str:
    """``default tm1 p2``: the variant, the TaskManagers it ran on and the job's parallelism."""
    return f"{variant['variant']} tm{variant.get('taskmanagers', 1)} p{variant.get('parallelism', 2)}"


def summarize(variants: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per variant and cluster shape, over its runs: min / median / max of the sustained rate and of the
    loaded p99."""
    summary: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(_label(v) for v in variants):
        runs = [v for v in variants if _label(v) == name and "error" not in v]
        if not runs:
            continue
        eps = sorted(v["backlog"]["sustained_eps"] for v in runs)
        p99 = sorted(v["latency_loaded"]["p99_s"] for v in runs)
        summary[name] = {"runs": len(runs), "sustained_eps": [eps[0], statistics.median(eps), eps[-1]],
                         "p99_loaded_s": [p99[0], statistics.median(p99), p99[-1]]}  # fmt: skip
    return summary


def print_summary(summary: dict[str, dict[str, Any]]) -> None:
    print("\n[over the runs: min / median / max]")
    for name, s in summary.items():
        eps, p99 = s["sustained_eps"], s["p99_loaded_s"]
        row(f"{name}: sustained ({s['runs']} runs)", " / ".join(f"{e / 1000:.1f}k" for e in eps),
            ">= 20.0k median", eps[1] >= TARGETS["sustained_eps"])
        row(f"{name}: p99 at 1e4/s offered", " / ".join(f"{x * 1000:.0f}" for x in p99) + " ms",
            "< 1,000 ms median", p99[1] < TARGETS["p99_latency_s"])


def build_parser() -> argparse.ArgumentParser:
    """Options of the inference benchmark, all kebab-case."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vessels", type=int, default=200, help="vessels of the synthetic stream")
    parser.add_argument("--weeks", type=int, default=8, help="weeks of the synthetic stream")
    parser.add_argument("--compress", type=int, default=6, help="divide the trips per week by about this")
    parser.add_argument("--backlog", type=int, default=150_000, help="events written before the job starts")
    parser.add_argument("--rate", type=float, default=1e4, help="offered events/s of the latency run")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of the latency run")
    parser.add_argument("--light-rate", type=float, default=500.0, help="events/s of the light-load run")
    parser.add_argument("--drain-timeout", type=float, default=45.0, help="seconds to wait for forecasts")
    parser.add_argument(
        "--profile-events", type=int, default=20_000, help="events of the per-event profile outside Flink"
    )
    parser.add_argument("--variants", default=DEFAULT_VARIANTS,
                        help=f"comma list of {', '.join(VARIANTS)} (default {DEFAULT_VARIANTS})")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=2, help="runs of each variant (the machine is shared)")
    parser.add_argument("--taskmanagers", default="1",
                        help="comma list of TaskManager counts (the embedded cluster is resized)")
    parser.add_argument("--parallelism", default="2", help="comma list of job parallelisms to measure")
    parser.add_argument("--no-identity", action="store_true",
                        help="skip the PyFlink identity job (the floor the ratio is taken against)")
    return parser


def _counts(text: str) -> list[int]:
    """``"1,2"`` -> ``[1, 2]`` (positive integers)."""
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise ValueError(f"expected a comma list of positive integers, got {text!r}")
    return counts


def set_taskmanagers(cluster: FlinkCluster, count: int, timeout_s: float = 120.0) -> None:
    """Resize the embedded cluster to ``count`` TaskManager processes (the newest ones leave first)."""
    pids = cluster.taskmanager_pids()
    for pid in sorted(pids)[count:]:
        cluster.stop_taskmanager(pid)
    for _ in range(count - len(pids)):
        cluster.add_taskmanager()
    deadline = time.monotonic() + timeout_s
    while cluster.taskmanager_count() != count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{cluster.taskmanager_count()} TaskManagers registered, expected {count}")
        time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}")
    started = time.perf_counter()
    results: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
                               "targets": TARGETS, "args": vars(args)}  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="bench-inference-"))
    try:
        records, data_dir = prepare(tmp, args.vessels, args.weeks, args.compress)
        results["stream_events"] = len(records)
        initial = resolve_initial_model(load_settings(data_dir=data_dir))
        print(f"[per-event Python path outside Flink: {args.profile_events} events, {args.vessels} vessels]")
        prof = profile_path(initial, [r.value for r in records[: args.profile_events]])
        results["python_path"] = prof
        row("parse + engine + state + emit, one core", f"{prof['us_per_event']:.0f} us/event", "-")
        ceiling = f"{prof['events_per_s_one_core']:,.0f} ev/s"
        row("=> ceiling of one Python worker", ceiling, ">= 2e4 with 2 workers")
        for stage, share in sorted(prof["profile_stage_shares"].items(), key=lambda kv: -kv[1]):
            print(f"    {share * 100:5.1f} %  {stage}")
        state = prof["state"]
        row("engine KeyState pickled per key (p99)", f"{state['key_state']['p99']:.0f} B", "<= 2048 B",
            state["key_state"]["p99"] <= STATE_TARGET_BYTES)
        row("  of which wayeb RunState JSON (p99)", f"{state['run_state']['p99']:.0f} B", "-")
        row("  pickle round trip (state cache miss)", f"{state['pickle_round_trip_us_per_key']:.0f} us", "-")
        row("estimate for 1e5 keys (state payload)", f"{state['estimate_1e5_keys_mb']:.0f} MB", "-")
        if not FlinkCluster(RuntimePaths()).healthy():
            raise RuntimeError("no Flink cluster on :8081 (the shared runtime is not running)")
        results["variants"] = []
        cluster = FlinkCluster(RuntimePaths())
        original_tms = len(cluster.taskmanager_pids())
        # runs interleaved (identity, then each variant, per repeat), so that a slower spell of the shared
        # machine or a TaskManager still warming up weighs on all of them alike
        matrix = [(t, p, r, n) for t in _counts(args.taskmanagers) for p in _counts(args.parallelism)
                  for r in range(1, args.repeat + 1) for n in names]  # fmt: skip
        warmed: set[int] = set()
        for tms, parallelism, run, name in matrix:
            if len(cluster.taskmanager_pids()) != tms:
                set_taskmanagers(cluster, tms)
            if name == names[0] and not args.no_identity:
                if tms not in warmed:  # a fresh TaskManager JVM is slower for its first job: not counted
                    print(f"[{tms} TaskManager(s): warm-up run of the identity job, not counted]", flush=True)
                    run_identity(records, data_dir, args, parallelism)
                    warmed.add(tms)
                print(f"[{tms} TaskManager(s), parallelism {parallelism}, run {run}/{args.repeat}: the "
                      "PyFlink identity job on the same backlog]", flush=True)  # fmt: skip
                floor = run_identity(records, data_dir, args, parallelism)
                floor["run"] = run
                results["variants"].append(floor)
                if "error" in floor:
                    print(f"  {floor['error']}")
                else:
                    row(f"identity job (backlog, parallelism {parallelism})",
                        f"{floor['backlog']['sustained_eps']:,.0f} ev/s", "-")  # fmt: skip
            print(f"[{tms} TaskManager(s), parallelism {parallelism}, variant {name}, "
                  f"run {run}/{args.repeat}: {DESCRIPTIONS[name]}]", flush=True)  # fmt: skip
            variant = run_variant(name, records, data_dir, args, parallelism)
            variant["run"] = run
            results["variants"].append(variant)
            if "error" in variant:
                print(f"  {variant['error']}")
                continue
            lo = variant["latency_loaded"]
            sustained = variant["backlog"]["sustained_eps"]
            row(f"sustained (backlog, parallelism {parallelism})", f"{sustained:,.0f} ev/s",
                ">= 20,000 ev/s", sustained >= TARGETS["sustained_eps"])
            row(f"p99 event -> forecast at {variant['offered_eps']:,.0f} ev/s offered", _ms(lo["p99_s"]),
                "< 1,000 ms", lo["p99_s"] < TARGETS["p99_latency_s"])
            _print_cpu(variant, prof["us_per_event"])
        inference = [v for v in results["variants"] if v["variant"] != "identity"]
        print("\n[table]")
        print_table(inference)
        results["summary"] = summarize(inference)
        print_summary(results["summary"])
        print("\n[inference job vs the identity job, same backlog and cluster]")
        results["ratio_to_identity"] = print_ratios(results["variants"])
        if len(cluster.taskmanager_pids()) != original_tms:
            set_taskmanagers(cluster, original_tms)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        results["wall_s"] = time.perf_counter() - started
        # a run of some variants only, or of another matrix, does not replace the full figures
        name = "bench_inference" if names == list(VARIANTS) else "bench_inference_" + "_".join(names)
        if (args.taskmanagers, args.parallelism) != ("1", "2"):
            name += f"_tm{args.taskmanagers.replace(',', '-')}_p{args.parallelism.replace(',', '-')}"
        path = write_results(name, results)
        print(f"\nresults written to {path.relative_to(ROOT)} ({results['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
