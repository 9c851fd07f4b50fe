"""Benchmark of the embedded runtime (not a test): install, start-up, Kafka -> Flink -> Kafka round trip.

Prints each figure next to its target and writes everything, with the machine it ran on, to
``benchmarks/results/bench_runtime.json``. The runtime issue states no numeric targets for these; the
round trip's p99 is compared with 1 s (the system's reaction budget).

* **Warm install**: ``make -q install`` (is anything out of date?) and ``make install`` with the stamp files
  present, each timed as a subprocess.
* **Broker start**: a second, temporary KRaft broker on 19092/19093 with its own run folder (the shared one
  is never restarted): first start (storage format + start) and a restart, each until it answers.
* **Flink cluster start**: as recorded by the last ``make start`` (``run/flink/last_start.json``), else
  estimated from the JobManager log (entrypoint start -> first TaskManager registered), else not measured.
* **Round trip**: ``benchmarks/jobs/passthrough_job.py`` (read_topic -> Python identity map -> write_topic)
  submitted to the running cluster on its own topics. Latency: ``--rate`` records/s for ``--seconds`` with
  the send time in the payload; end to end = receive time at a consumer - send time. Throughput: a burst of
  ``--burst`` small records, output records/s from the first to the last output append timestamp.

The cluster part holds ``/tmp/rtcef-cluster.lock`` (unless ``RTCEF_CLUSTER_LOCK_HELD=1``), cancels its job
and deletes its topics.

Run: ``.venv/bin/python benchmarks/bench_runtime.py [--rate 500 --seconds 20 --burst 100000]``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
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
    machine,
    percentile,
    row,
    send_paced,
    write_results,
)

from rtcef_ops.flink_cluster import FlinkCluster  # noqa: E402
from rtcef_ops.isolated import cancel_jobs, cluster_lock, delete_topics, isolated_env, wait_running  # noqa: E402
from rtcef_ops.kafka_broker import KafkaBroker, port_open  # noqa: E402
from rtcef_ops.paths import RuntimePaths  # noqa: E402
from rtcef_ops.submit import submit_script  # noqa: E402

PASSTHROUGH = ROOT / "benchmarks" / "jobs" / "passthrough_job.py"
ROUND_TRIP_P99_TARGET_S = 1.0
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})")


def bench_install(force: bool = False) -> dict[str, Any]:
    """``make -q install`` and ``make install`` when nothing changed (the stamp files are present).

    When ``make -q`` says something is out of date, ``make install`` is not run (unless ``force``): it would
    reinstall into the venv the running cluster's Python workers use, and it would not be a warm install.
    """
    t0 = time.perf_counter()
    query = subprocess.run(["make", "-q", "install"], cwd=ROOT, capture_output=True, text=True, check=False)
    query_s = time.perf_counter() - t0
    if query.returncode != 0 and not force:
        return {"up_to_date": False, "make_q_s": query_s, "make_install_s": None,
                "note": "stamps out of date: run `make install` once, then re-run for the warm figure"}
    t0 = time.perf_counter()
    install = subprocess.run(["make", "install"], cwd=ROOT, capture_output=True, text=True, check=False)
    install_s = time.perf_counter() - t0
    return {"up_to_date": query.returncode == 0, "make_q_s": query_s, "make_install_s": install_s,
            "make_install_rc": install.returncode, "make_install_output": install.stdout[-500:]}  # fmt: skip


def bench_broker_start(port: int = 19092, controller_port: int = 19093) -> dict[str, Any]:
    """Start, stop and restart a temporary broker in a throw-away run folder; return the timings."""
    if port_open("127.0.0.1", port) or port_open("127.0.0.1", controller_port):
        return {"error": f"port {port} or {controller_port} is taken; not measured"}
    run_dir = Path(tempfile.mkdtemp(prefix="bench-broker-"))
    broker = KafkaBroker(RuntimePaths(run_dir=run_dir), port=port, controller_port=controller_port)
    out: dict[str, Any] = {"bootstrap": broker.bootstrap}
    try:
        t0 = time.perf_counter()
        broker.start()
        out["first_start_s"] = time.perf_counter() - t0
        broker.stop()
        t0 = time.perf_counter()
        broker.start()
        out["restart_s"] = time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001 - reported, not fatal for the other figures
        out["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        broker.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
    return out


def flink_start_time() -> dict[str, Any]:
    """The shared cluster's last start: recorded by ``make start``, else estimated from its log."""
    paths = RuntimePaths()
    recorded = FlinkCluster(paths).last_start_seconds()
    if recorded is not None:
        return {"seconds": recorded, "source": "recorded by the last `make start`"}
    logs = sorted(paths.flink_log.glob("flink-*-standalonesession-*.log"))
    for log in logs:
        first = registered = None
        with log.open(errors="replace") as handle:
            for line in handle:
                match = LOG_TIME.match(line)
                if match and first is None:
                    first = match.group(1)
                if match and "Registering TaskManager" in line:
                    registered = match.group(1)
                    break
        if first and registered:
            fmt = "%Y-%m-%d %H:%M:%S,%f"
            span = (datetime.strptime(registered, fmt) - datetime.strptime(first, fmt)).total_seconds()
            return {"seconds": span, "source": f"estimated from {log.name}: JobManager entrypoint start -> "
                    "first TaskManager registered (excludes JVM launch and the start scripts)"}  # fmt: skip
    return {"seconds": None, "source": "not measured (shared cluster running)"}


def bench_round_trip(
    rate: float, seconds: float, burst: int, options: dict[str, str] | None = None
) -> dict[str, Any]:
    """Latency at ``rate``/s and burst throughput of the pass-through job on the shared cluster.

    ``options`` are per-job Flink options (``flink run -D``), e.g. a shorter Python bundle time.
    """
    data_dir = Path(tempfile.mkdtemp(prefix="bench-runtime-"))
    env, settings, run_id = isolated_env(data_dir, None, {}, prefix="benchrt")
    bootstrap = settings.kafka_bootstrap_servers
    producer = bench_producer(bootstrap)
    out: dict[str, Any] = {"run_id": run_id, "rate": rate, "seconds": seconds, "burst": burst,
                           "flink_options": options or {}}
    job_ids: list[str] = []
    collector: TopicCollector | None = None
    with cluster_lock():
        try:
            t0 = time.perf_counter()
            job_ids.append(submit_script(PASSTHROUGH, RuntimePaths(), name="passthrough", extra_env=env,
                                         flink_options=options))
            wait_running(job_ids, timeout=120)
            out["submit_to_running_s"] = time.perf_counter() - t0
            collector = TopicCollector(bootstrap, settings.forecast_topic, 1)
            # warm-up: until the first record comes back (the source starts once it has its partition)
            warm = 0
            while not collector.records:
                probe = [(None, json.dumps({"phase": "warm", "i": warm}))]
                send_paced(producer, settings.input_topic, probe, None)
                warm += 1
                collector.wait_count(1, 1.0)
                if warm > 120:
                    raise TimeoutError("no output from the pass-through job within ~2 minutes")
            out["warmup_records"] = warm
            collector.wait_count(warm, 10)
            base = len(collector.records)

            def timed(i: int) -> tuple[None, str]:
                return None, json.dumps({"phase": "lat", "i": i, "sent": time.time()})

            n = int(rate * seconds)
            send_paced(producer, settings.input_topic, n, rate, make=timed)
            collector.wait_count(base + n, 60)
            lat = [json.loads(v) | {"recv": r, "append": a} for _k, v, a, r in collector.records[base:]]
            lat = [x for x in lat if x.get("phase") == "lat"]
            e2e = [x["recv"] - x["sent"] for x in lat]
            to_append = [x["append"] / 1000 - x["sent"] for x in lat]
            out["latency"] = {"received": len(lat), "sent": n,
                              "e2e_p50_s": percentile(e2e, 0.5), "e2e_p99_s": percentile(e2e, 0.99),
                              "e2e_max_s": max(e2e, default=float("nan")),
                              "to_output_append_p50_s": percentile(to_append, 0.5),
                              "to_output_append_p99_s": percentile(to_append, 0.99)}  # fmt: skip
            base = len(collector.records)
            small = [(None, f'{{"phase":"burst","i":{i}}}') for i in range(burst)]
            first_send, last_send = send_paced(producer, settings.input_topic, small, None)
            complete = collector.wait_count(base + burst, 120)
            stamps = [a for _k, _v, a, _r in collector.records[base:]]
            span = (max(stamps) - min(stamps)) / 1000 if len(stamps) > 1 else float("nan")
            eps = len(stamps) / span if span > 0 else float("nan")
            out["throughput"] = {"received": len(stamps), "complete": complete, "events_per_s": eps,
                                 "produce_s": last_send - first_send, "output_span_s": span}  # fmt: skip
        finally:  # inside the lock: the next holder must find our job gone
            if collector is not None:
                collector.close()
            cancel_jobs(job_ids)
            delete_topics(settings)
            shutil.rmtree(data_dir, ignore_errors=True)
    return out


def build_parser() -> argparse.ArgumentParser:
    """Options of the runtime benchmark (kebab-case; ``-D`` as in Flink's own command line)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0, help="records/s of the latency run")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the latency run")
    parser.add_argument("--burst", type=int, default=100_000, help="records of the throughput burst")
    parser.add_argument("-D", dest="options", action="append", default=[], metavar="KEY=VALUE",
                        help="per-job Flink option of the pass-through job (repeatable)")
    parser.add_argument("--force-install", action="store_true", help="run `make install` even if out of date")
    parser.add_argument("--skip-broker", action="store_true", help="do not start the temporary broker")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit status."""
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    results: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
                               "targets": {"round_trip_p99_s": ROUND_TRIP_P99_TARGET_S}}  # fmt: skip
    print("[install]")
    results["install"] = inst = bench_install(args.force_install)
    row("`make -q install` (is it up to date?)", f"{inst['make_q_s']:.2f} s", "none stated")
    if inst["make_install_s"] is None:
        print(f"    {inst['note']}")
    else:
        warm = "warm" if inst["up_to_date"] else "NOT warm"
        row(f"`make install` ({warm})", f"{inst['make_install_s']:.2f} s", "none stated")
    print("[start-up]")
    results["broker_start"] = broker = {} if args.skip_broker else bench_broker_start()
    if "first_start_s" in broker:
        row("temporary KRaft broker: format + start", f"{broker['first_start_s']:.1f} s", "none stated")
        restart = broker.get("restart_s", float("nan"))
        row("temporary KRaft broker: restart", f"{restart:.1f} s", "none stated")
    else:
        print(f"  broker start: {broker.get('error', 'skipped')}")
    results["flink_start"] = flink = flink_start_time()
    value = f"{flink['seconds']:.1f} s" if flink["seconds"] is not None else "n/a"
    row("Flink session cluster start", value, "none stated")
    print(f"    ({flink['source']})")
    print(f"[Kafka -> Flink (identity map) -> Kafka, parallelism 1, {args.rate:.0f}/s for "
          f"{args.seconds:.0f} s, burst {args.burst}]")  # fmt: skip
    options = dict(item.split("=", 1) for item in args.options)
    if options:
        print(f"    per-job Flink options: {options}")
    results["round_trip"] = rt = bench_round_trip(args.rate, args.seconds, args.burst, options)
    lat, thr = rt["latency"], rt["throughput"]
    row("submit -> RUNNING", f"{rt['submit_to_running_s']:.1f} s", "none stated")
    row("round trip p50 (send -> consumer)", f"{lat['e2e_p50_s'] * 1000:.0f} ms", "none stated")
    row("round trip p99 (send -> consumer)", f"{lat['e2e_p99_s'] * 1000:.0f} ms", "< 1000 ms",
        lat["e2e_p99_s"] < ROUND_TRIP_P99_TARGET_S)
    print(f"    received {lat['received']}/{lat['sent']}; send -> output append p50 "
          f"{lat['to_output_append_p50_s'] * 1000:.0f} ms, p99 {lat['to_output_append_p99_s'] * 1000:.0f} ms")
    row("pass-through throughput (burst)", f"{thr['events_per_s']:,.0f} ev/s", "none stated")
    print(f"    received {thr['received']}/{args.burst} in {thr['output_span_s']:.1f} s "
          f"(produced in {thr['produce_s']:.1f} s)")
    results["wall_s"] = time.perf_counter() - started
    # a run with per-job options is an exploration: it does not replace the default figures
    path = write_results("bench_runtime" if not options else "bench_runtime_options", results)
    print(f"\nresults written to {path.relative_to(ROOT)} ({results['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
