"""Scale benchmark (not a test): millions of maritime events through all four jobs, counted one by one.

``make bench-scale`` generates a ``mocks.synthetic`` stream of ``--vessels`` vessels over ``--weeks`` weeks
(defaults: 5 000 vessels, 8 weeks, ``--compress 10``: 5.7 M events, concept drift at week 4), trains
a bootstrap model on its first week (``inference_job.bootstrap``, a few offline optimisation steps), submits
collector_job, factory_job, controller_job and inference_job with the observer on (the default settings:
weekly buckets, ``HISTORY_K`` 4, weekly score reports, ``PARALLELISM`` 2), writes the whole stream to the
input topic as fast as the broker takes it and follows the system until every event is done. Figures:

* wall time and events/s end to end (first event produced -> every forecast and every bucket row seen);
* **every event forecast exactly once**: the ``forecasts`` topic is read in a thread and each forecast's
  ``(mmsi, timestamp)`` is packed into an int64 (``mmsi * 2**32 + timestamp - t0``); at the end
  ``np.unique`` over those and over the stream's own pairs gives the events lost, the duplicated forecasts
  and the forecasts of no event;
* **bucket rows = events**: the collector's retention deletes a bucket file once every dataset version that
  used it was acknowledged, so the live files alone undercount. The bucket folder is sampled every
  ``--bucket-every`` seconds and the rows of each bucket file are counted incrementally (the files are
  append-only; only closed buckets are renamed to ``*.csv.deleted`` and purged, weeks of event time after
  they closed), keeping the highest row count seen per bucket: their sum is the rows the collector wrote.
  A file that shrank (a restore truncating rows) is recounted from the start and reported;
* datasets (versions on the ``datasets`` topic) and models produced (successful ``train`` / ``opt_finalise``
  factory reports), the observer's instructions, and MPPT = production time of those models (the finalise
  report's covers its whole optimisation session) over the run's wall time, in percent;
* peak RSS of every process of the runtime, sampled every ``--rss-every`` seconds with psutil: the Kafka
  broker, the Flink JobManager and TaskManager JVMs and the Python workers under the TaskManagers (each
  attributed to the job whose submission started it; workers older than the run are left out), per process
  and summed per role;
* keyed state: size of each job's latest completed checkpoint (REST ``/jobs/<id>/checkpoints``) while
  running and after the last event, with the biggest operator;
* disk: bytes of ``buckets/`` (peak, final, and everything written) against what retention keeps, and of
  ``datasets/`` and ``models/``;
* where the time goes: busy / back-pressured ms/s of every operator chain of the four jobs (REST, as
  ``bench_inference`` reads them), sampled while the backlog lasts, and the busiest one.

The input and forecasts topics have one partition, as ``make start`` creates them (``--partitions`` for
more). With two input partitions the collector loses events: its watermark is assigned after its global
event guard has merged the partitions, so events of the partition that is behind arrive later than the
watermark delay allows and are dead-lettered as late (1 062 of 84 589 events in a trial). This benchmark
reports such letters (``input.dlq``) and ends once they account for what is missing.

It holds ``/tmp/rtcef-cluster.lock`` (``rtcef_ops.isolated.cluster_lock``) from the submission to the
clean-up, runs on its own topics, groups and data folder (``isolated_env``), and always cancels its jobs and
deletes its topics before releasing the lock. A job that fails is reported with its root exception.
Writes ``benchmarks/results/bench_scale.json`` (``bench_scale_<size>.json`` for other sizes).

Run: ``flock /tmp/rtcef-e2e.lock .venv/bin/python benchmarks/bench_scale.py [--vessels 200 --weeks 3]``.

This file drives the run; its parts: ``scale_stream`` (the stream, its check and the feed), ``scale_counts``
(forecasts and bucket rows counted), ``scale_system`` (processes, disk and jobs read off the runtime),
``scale_watch`` (the run in progress and the figures drawn from it), ``scale_report`` (the printed table).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_common import TopicCollector, machine, write_results  # noqa: E402
from scale_counts import BucketTracker, ForecastCounter, exactly_once  # noqa: E402
from scale_report import TARGETS, print_table  # noqa: E402
from scale_stream import Feeder, Stream, bootstrap_model, check_encoding, generate  # noqa: E402
from scale_system import (  # noqa: E402
    TERMINAL,
    ResourceSampler,
    add_partitions,
    end_offsets,
    folder_bytes,
    root_exception,
    wait_tasks_running,
)
from scale_watch import Watch, end_state, log, loop_figures  # noqa: E402

from rtcef_ops.flink_cluster import FlinkCluster  # noqa: E402
from rtcef_ops.isolated import cancel_jobs, cluster_lock, delete_topics, isolated_env, job_state  # noqa: E402
from rtcef_ops.paths import RuntimePaths  # noqa: E402
from rtcef_ops.recovery import wait_for_checkpoint  # noqa: E402
from rtcef_ops.submit import JOBS, submit  # noqa: E402

DEFAULT_SIZE = {"vessels": 5000, "weeks": 8, "compress": 10.0}


def run(args: argparse.Namespace, tmp: Path, results: dict[str, Any]) -> None:
    """Generate, bootstrap, submit, feed, follow, check; fills ``results`` as it goes."""
    t_gen = time.perf_counter()
    log(f"[1/5] generating {args.vessels} vessels x {args.weeks} weeks (--compress {args.compress:g}) ...")
    stream = generate(tmp, args)
    results["stream"] = {"events": stream.events, "vessels": stream.vessels, "t0": stream.t0,
                         "span_weeks": round((stream.t_last - stream.t0) / (7 * 86400), 2),
                         "csv_bytes": stream.path.stat().st_size,
                         "generate_s": round(time.perf_counter() - t_gen, 1)}  # fmt: skip
    checked = check_encoding(stream.path, max(stream.events // 2000, 1))
    log(f"  {stream.events:,} events of {stream.vessels} vessels in {results['stream']['generate_s']} s "
        f"({stream.path.stat().st_size / 1e6:.0f} MB CSV); fast encoding checked on {checked} lines")
    data_dir = tmp / "data"
    log(f"[2/5] bootstrap model on the first {args.bootstrap_weeks:g} week(s) ({args.bootstrap_steps} "
        "optimisation steps)")
    seconds = bootstrap_model(stream.path, {**os.environ, "DATA_DIR": str(data_dir)}, args.bootstrap_weeks,
                              args.bootstrap_steps)  # fmt: skip
    results["bootstrap_s"] = round(seconds, 1)
    log(f"  {results['bootstrap_s']} s")
    job_ids: dict[str, str] = {}
    with cluster_lock():
        if not FlinkCluster(RuntimePaths()).healthy():
            raise RuntimeError("no Flink cluster on :8081 (the shared runtime is not running)")
        overrides = {"PARALLELISM": str(args.parallelism)}
        env, settings, run_id = isolated_env(data_dir, None, overrides, prefix="benchscale")
        results["run_id"] = run_id
        results["settings"] = {"parallelism": settings.parallelism,
                               "partitions_input_forecasts": args.partitions,
                               "bucket_size_s": settings.bucket_size_s, "history_k": settings.history_k,
                               "reporting_interval_s": settings.reporting_interval_s,
                               "observer_policy": str(settings.observer_policy),
                               "checkpoint_interval_ms": settings.checkpoint_interval_ms,
                               "taskmanagers": FlinkCluster(RuntimePaths()).taskmanager_count()}  # fmt: skip
        bootstrap = settings.kafka_bootstrap_servers
        readers: dict[str, TopicCollector] = {}
        counter: ForecastCounter | None = None
        sampler: ResourceSampler | None = None
        try:
            add_partitions(settings, [settings.input_topic, settings.forecast_topic], args.partitions)
            sampler = ResourceSampler({"buckets": settings.buckets_dir, "datasets": settings.datasets_dir,
                                       "models": settings.models_dir}, args.rss_every)  # fmt: skip
            sampler.start()
            log(f"[3/5] submitting the four jobs (PARALLELISM={args.parallelism}, run {run_id})")
            workers: dict[str, list[int]] = {}
            t_submit = time.perf_counter()
            for job in JOBS:
                job_ids[job] = submit(job, RuntimePaths(), extra_env=env)
                wait_tasks_running(job_ids[job])
                time.sleep(2)  # the last operator's worker may still be starting
                workers[job] = sampler.attribute(job)
            results["submit_s"] = round(time.perf_counter() - t_submit, 1)
            results["job_ids"] = job_ids
            results["python_workers"] = workers
            log(f"  running after {results['submit_s']} s; Python workers per job: "
                + ", ".join(f"{job} {len(pids)}" for job, pids in workers.items()))
            counter = ForecastCounter(bootstrap, settings.forecast_topic, args.partitions, stream.t0)
            for name, topic in (("datasets", settings.datasets_topic), ("reports", settings.report_topic),
                                ("instructions", settings.instruction_topic), ("syncs", settings.sync_topic),
                                ("scores", settings.score_topic)):  # fmt: skip
                readers[name] = TopicCollector(bootstrap, topic, 1)
            watch = Watch(settings, job_ids, counter, readers, sampler, BucketTracker(settings.buckets_dir))
            follow(args, stream, watch, results)
        finally:  # inside the lock: the next holder must find our jobs and topics gone
            for reader in readers.values():
                reader.close()
            if counter is not None:
                counter.close()
            if sampler is not None:
                sampler.close()
            cancel_jobs(job_ids.values())
            delete_topics(settings)


def follow(args: argparse.Namespace, stream: Stream, watch: Watch, results: dict[str, Any]) -> None:
    """Feed the stream and print progress until every event is forecast and in a bucket (or the run
    stops: a job ended, the feed failed, nothing moved for ``--stall-timeout``, ``--timeout``)."""
    feeder = Feeder(stream, watch.settings)
    log(f"[4/5] feeding {stream.events:,} events as fast as the broker takes them; progress every "
        f"{args.progress_every:g} s")  # fmt: skip
    feeder.start()
    started = time.time()
    forecasts_done: float | None = None
    buckets_done: float | None = None
    failure: str | None = None
    outcome = "timeout"
    letters = 0  # records on input.dlq (events the collector or the engine refused)
    s = watch.settings
    last_change, last_seen = time.monotonic(), (0, 0)
    next_progress = next_jobs = next_check = time.monotonic()
    next_load = next_progress + 30  # the operators' load figures need a few seconds of work
    while time.time() - started < args.timeout:
        time.sleep(args.bucket_every)
        now = time.monotonic()
        seen = (watch.counter.count, watch.buckets.sample())
        if seen != last_seen:
            last_change, last_seen = now, seen
        if forecasts_done is None and watch.counter.count >= stream.events and now >= next_check:
            next_check = now + 10  # np.unique over millions of pairs: not at every tick
            if exactly_once(stream.packed, watch.counter.packed())["exactly_once"] == stream.events:
                forecasts_done = watch.counter.last_at or time.time()
        if buckets_done is None and watch.buckets.total >= stream.events:
            buckets_done = time.time()
        if now >= next_load and forecasts_done is None:  # where the time goes while there is a backlog
            watch.sample_loads()
            next_load = now + args.load_every
        if now >= next_jobs:
            watch.sample_jobs()
            next_jobs = now + 30
        if now >= next_progress:
            next_progress = now + args.progress_every
            p = watch.progress(time.time() - started, feeder.sent)
            letters = end_offsets(s.kafka_bootstrap_servers, s.dlq_topic(s.input_topic), 1)
            watch.timeline.append(vars(p) | {"input_dead_letters": letters})
            log(f"  {p.elapsed:6.0f} s  fed {p.fed:>10,}  forecasts {p.forecasts:>10,} "
                f"({p.forecasts / max(p.elapsed, 1e-9) / 1000:4.1f}k/s)  bucket rows {p.bucket_rows:>10,}  "
                f"datasets {p.datasets:>2}  models {p.models:>2}  instructions {p.instructions:>2}"
                + (f"  input dead letters {letters:,}" if letters else ""))  # fmt: skip
            states = {job: job_state(job_id) for job, job_id in watch.job_ids.items()}
            ended = {job: state for job, state in states.items() if state in TERMINAL}
            if ended:
                failure = "; ".join(f"{job} {state}: {root_exception(watch.job_ids[job])}"
                                    for job, state in ended.items())  # fmt: skip
                outcome = "job failed"
                break
        if feeder.error:
            failure, outcome = f"feeder: {feeder.error}", "feed failed"
            break
        if forecasts_done is not None and buckets_done is not None:
            outcome = "complete"
            break
        settled = ((forecasts_done is not None or watch.counter.count + letters >= stream.events)
                   and (buckets_done is not None or watch.buckets.total + letters >= stream.events))
        if settled and now - last_change > 30:  # the dead letters account for what is missing
            outcome = "settled: some events were dead-lettered"
            break
        if now - last_change > args.stall_timeout:
            outcome = f"no progress for {args.stall_timeout:.0f} s"
            break
    stopped = time.time()
    log(f"[5/5] {outcome} after {stopped - started:.0f} s; measuring the end state")
    end = max(forecasts_done or 0, buckets_done or 0) if outcome == "complete" else stopped
    complete = outcome == "complete"
    results.update({"outcome": outcome, "failure": failure, "wall_s": round(end - started, 1),
                    "events_per_s": round(stream.events / (end - started), 1) if complete else None,
                    "feed": {"sent": feeder.sent, "error": feeder.error,
                             "input_topic_records": end_offsets(s.kafka_bootstrap_servers, s.input_topic,
                                                                args.partitions),
                             "seconds": round((feeder.finished_at or stopped) - feeder.started_at, 1)},
                    })  # fmt: skip
    for _ in range(int(args.settle)):
        time.sleep(1)
        watch.buckets.sample()
    for job_id in watch.job_ids.values():  # a checkpoint that covers every event
        with contextlib.suppress(Exception):
            wait_for_checkpoint(job_id, after_ms=int(stopped * 1000), timeout_s=60)
    watch.sampler.sample()
    verdict = exactly_once(stream.packed, watch.counter.packed())
    results["forecasts"] = verdict | {
        "unparsed_records": watch.counter.unparsed,
        "complete_after_s": round(forecasts_done - started, 1) if forecasts_done else None,
        "first_after_s": round(watch.counter.first_at - started, 1) if watch.counter.first_at else None,
    }
    results["buckets"] = {
        "rows": watch.buckets.total, "equals_events": watch.buckets.total == stream.events,
        "complete_after_s": round(buckets_done - started, 1) if buckets_done else None,
        "files_seen": len(watch.buckets.rows), "rows_per_file": dict(sorted(watch.buckets.rows.items())),
        "truncations": watch.buckets.truncations, "written_bytes": watch.buckets.written_bytes,
        "files_trashed_seen": len(watch.buckets.trashed), "files_purged": len(watch.buckets.gone),
        "peak_bytes_on_disk": watch.buckets.peak_bytes, "peak_files_on_disk": watch.buckets.peak_files,
        "final_bytes_on_disk": folder_bytes(s.buckets_dir),
        "retention": f"HISTORY_K={s.history_k}: a closed bucket stays until every version listing it is "
                     "ACKed and while it is one of the newest K-1; plus the open bucket",
    }  # fmt: skip
    results.update(loop_figures(watch, stream, results["wall_s"]))
    results.update(end_state(watch))


def build_parser() -> argparse.ArgumentParser:
    """Options of the scale benchmark, all kebab-case."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--vessels", type=int, default=DEFAULT_SIZE["vessels"], help="vessels of the synthetic stream")
    add("--weeks", type=int, default=DEFAULT_SIZE["weeks"], help="weeks of the synthetic stream")
    add("--compress", type=float, default=DEFAULT_SIZE["compress"],
        help="divide the trips per week by about this (10: ~1 140 events per vessel in 8 weeks)")
    add("--seed", type=int, default=17, help="seed of the synthetic stream")
    add("--bootstrap-weeks", type=float, default=1.0, help="weeks the bootstrap model learns on")
    add("--bootstrap-steps", type=int, default=3, help="offline optimisation steps of the bootstrap model")
    add("--parallelism", type=int, default=2, help="PARALLELISM of the jobs")
    add("--partitions", type=int, default=1,
        help="partitions of the input and forecasts topics (1, as `make start` creates them)")
    add("--timeout", type=float, default=5400.0, help="seconds to wait for every forecast and bucket row")
    add("--stall-timeout", type=float, default=600.0, help="give up after this long without any progress")
    add("--settle", type=float, default=5.0, help="seconds to keep sampling after the last event")
    add("--progress-every", type=float, default=10.0, help="seconds between progress lines")
    add("--bucket-every", type=float, default=2.0, help="seconds between samples of the bucket folder")
    add("--rss-every", type=float, default=5.0, help="seconds between RSS samples")
    add("--load-every", type=float, default=60.0, help="seconds between operator load samples")
    add("--keep", action="store_true", help="keep the temporary folder (stream, DATA_DIR)")
    return parser


def result_name(args: argparse.Namespace) -> str:
    """``bench_scale`` for the default size, ``bench_scale_v<vessels>_w<weeks>_c<compress>`` otherwise."""
    if {k: getattr(args, k) for k in DEFAULT_SIZE} == DEFAULT_SIZE:
        return "bench_scale"
    return f"bench_scale_v{args.vessels}_w{args.weeks}_c{args.compress:g}"


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through the clean-up in run()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit status (0 when every count is right)."""
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.perf_counter()
    results: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
                               "targets": TARGETS, "args": vars(args)}  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    ok = False
    try:
        run(args, tmp, results)
        print_table(results)
        forecasts = results["forecasts"]
        ok = (results["outcome"] == "complete" and forecasts["lost"] == 0 and forecasts["duplicated"] == 0
              and forecasts["unexpected"] == 0 and results["buckets"]["equals_events"])  # fmt: skip
    except Exception as exc:
        results["error"] = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        results["total_s"] = round(time.perf_counter() - started, 1)
        path = write_results(result_name(args), results)
        print(f"\nresults written to {path.relative_to(ROOT)} ({results['total_s']:.0f} s in all)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
