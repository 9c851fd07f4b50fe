"""Command line of the embedded runtime.

``python -m rtcef_ops start|stop|status|logs|topics|submit|savepoint|checkpoint|crash|docker-config``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

from protocol.settings import SettingsError, load_settings
from rtcef_ops.flink_cluster import REST_PORT, FlinkCluster, rest_get
from rtcef_ops.flink_config import DOCKER_CONFIG, write_docker_config
from rtcef_ops.kafka_broker import KafkaBroker, RuntimeErrorWithHint
from rtcef_ops.live_metrics import describe, job_metrics
from rtcef_ops.paths import RuntimePaths, flink_home
from rtcef_ops.recovery import crash, latest_checkpoint, stop_with_savepoint
from rtcef_ops.submit import JOBS, submit
from rtcef_ops.topics import ensure_topics, topic_sizes


def _start(paths: RuntimePaths, taskmanagers: int = 1) -> None:
    KafkaBroker(paths).start()
    created = ensure_topics(load_settings())
    print(f"kafka: topics created: {', '.join(created) if created else 'none (all existed)'}")
    FlinkCluster(paths).start(taskmanagers=taskmanagers)


def _stop(paths: RuntimePaths) -> None:
    FlinkCluster(paths).stop()
    KafkaBroker(paths).stop()


def _status(paths: RuntimePaths) -> None:
    broker = KafkaBroker(paths)
    cluster = FlinkCluster(paths)
    print(f"kafka: {'running on ' + broker.bootstrap if broker.running() else 'stopped'}")
    if broker.running():
        for topic, size in sorted(topic_sizes(load_settings()).items()):
            print(f"  {topic:<24} {'missing' if size < 0 else f'{size} records'}")
    if cluster.healthy():
        print(f"flink: running, web UI http://localhost:{REST_PORT}")
        for tm in cluster.taskmanagers():
            print(f"  taskmanager {tm['id']:<28} slots {tm['free']}/{tm['slots']} free")
        for job in cluster.jobs():
            print(f"  {job['name']:<16} {job['state']:<10} {job['id']}")
            if job["state"] == "RUNNING":
                for line in _live_figures(job["id"]):
                    print(f"    {line}")
    else:
        print("flink: stopped")


def _live_figures(job_id: str) -> list[str]:
    """The job's key metrics (model, MCC, paused, buffered ...: docs/metrics.md) from the REST API."""
    try:
        return describe(job_metrics(job_id, rest_get))
    except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
        return [f"metrics unavailable: {exc}"]


def _logs(paths: RuntimePaths, follow: bool) -> None:
    files = [str(KafkaBroker(paths).log_file), *map(str, sorted(paths.flink_log.glob("*.log")))]
    subprocess.run(["tail", "-n", "40", *(["-F"] if follow else []), *files], check=False)


def _docker_config(paths: RuntimePaths, out: str | None, *, check: bool) -> int:
    """Write the Docker image's Flink configuration; with ``check`` only compare (exit status 1: stale)."""
    target = Path(out) if out else paths.root / DOCKER_CONFIG
    stale = write_docker_config(target, flink_home(), check=check)
    if check:
        print(f"{target}: {'stale; run `python -m rtcef_ops docker-config`' if stale else 'up to date'}")
        return 1 if stale else 0
    print(f"{target}: {'written' if stale else 'unchanged'}")
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``rtcef`` parser (also ``python -m rtcef_ops``): one subcommand per runtime operation."""
    parser = argparse.ArgumentParser(prog="rtcef", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    start = sub.add_parser("start", help="start Kafka (KRaft) and Flink, create topics")
    start.add_argument("--taskmanagers", type=_positive, default=1, metavar="N",
                       help="TaskManager processes to run (default 1); a running cluster gets the "
                       "missing ones")  # fmt: skip
    sub.add_parser("stop", help="stop what `start` started (by pid)")
    sub.add_parser("status", help="show topics, Flink jobs and their live figures (model, MCC, paused ...)")
    sub.add_parser("topics", help="create missing topics")
    logs = sub.add_parser("logs", help="tail the broker and Flink logs")
    logs.add_argument("--no-follow", action="store_true", help="print the last lines and return")
    submit_p = sub.add_parser("submit", help="submit jobs to the session cluster")
    submit_p.add_argument("jobs", nargs="*", default=list(JOBS), choices=[*JOBS, []], metavar="JOB",
                          help=f"jobs to submit (default: all of {', '.join(JOBS)})")  # fmt: skip
    submit_p.add_argument("--from", dest="restore_from", default=None, metavar="PATH",
                          help="start from this savepoint or retained checkpoint (one job only)")
    savepoint = sub.add_parser("savepoint", help="stop a job with a savepoint and print its path")
    savepoint.add_argument("job_id", help="Flink job id (see `status`)")
    savepoint.add_argument("--target", default=None, help="savepoint folder (default: run/flink/savepoints)")
    checkpoint = sub.add_parser("checkpoint", help="print the path of a job's newest retained checkpoint")
    checkpoint.add_argument("job_id", help="Flink job id (see `status`)")
    crash_p = sub.add_parser("crash", help="cancel a job without savepoint after its next checkpoint; "
                             "print the retained checkpoint to resubmit from")
    crash_p.add_argument("job_id", help="Flink job id (see `status`)")
    docker_config = sub.add_parser(
        "docker-config",
        help="write the Docker image's Flink configuration, built by the same function as the embedded "
        "cluster's",
    )
    docker_config.add_argument("--out", default=None, metavar="PATH",
                               help=f"file to write (default: {DOCKER_CONFIG} in the project)")
    docker_config.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the file is stale"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``rtcef``; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "submit" and args.restore_from and len(args.jobs) != 1:
        parser.error("submit --from needs exactly one job")
    paths = RuntimePaths()
    try:
        if args.command == "start":
            _start(paths, args.taskmanagers)
        elif args.command == "stop":
            _stop(paths)
        elif args.command == "status":
            _status(paths)
        elif args.command == "topics":
            print(", ".join(ensure_topics(load_settings())) or "all topics exist")
        elif args.command == "logs":
            _logs(paths, follow=not args.no_follow)
        elif args.command == "submit":
            for job in args.jobs or JOBS:
                submit(job, paths, restore_from=args.restore_from)
        elif args.command == "savepoint":
            print(stop_with_savepoint(args.job_id, args.target or paths.flink_dir / "savepoints"))
        elif args.command == "checkpoint":
            print(latest_checkpoint(args.job_id))
        elif args.command == "crash":
            print(crash(args.job_id, after_ms=int(time.time() * 1000)))
        elif args.command == "docker-config":
            return _docker_config(paths, args.out, check=args.check)
    except (RuntimeErrorWithHint, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
