"""Command line of the embedded runtime.

``python -m rtcef_ops start|stop|status|logs|topics|submit|savepoint|checkpoint|crash``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from protocol.settings import SettingsError, load_settings
from rtcef_ops.flink_cluster import REST_PORT, FlinkCluster
from rtcef_ops.kafka_broker import KafkaBroker, RuntimeErrorWithHint
from rtcef_ops.paths import RuntimePaths
from rtcef_ops.recovery import crash, latest_checkpoint, stop_with_savepoint
from rtcef_ops.submit import JOBS, submit
from rtcef_ops.topics import ensure_topics, topic_sizes


def _start(paths: RuntimePaths) -> None:
    KafkaBroker(paths).start()
    created = ensure_topics(load_settings())
    print(f"kafka: topics created: {', '.join(created) if created else 'none (all existed)'}")
    FlinkCluster(paths).start()


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
        for job in cluster.jobs():
            print(f"  {job['name']:<16} {job['state']:<10} {job['id']}")
    else:
        print("flink: stopped")


def _logs(paths: RuntimePaths, follow: bool) -> None:
    files = [str(KafkaBroker(paths).log_file), *map(str, sorted(paths.flink_log.glob("*.log")))]
    subprocess.run(["tail", "-n", "40", *(["-F"] if follow else []), *files], check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rtcef_ops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("start", help="start Kafka (KRaft) and Flink, create topics")
    sub.add_parser("stop", help="stop what `start` started (by pid)")
    sub.add_parser("status", help="show topics and Flink jobs")
    sub.add_parser("topics", help="create missing topics")
    logs = sub.add_parser("logs", help="tail the broker and Flink logs")
    logs.add_argument("--no-follow", action="store_true")
    submit_p = sub.add_parser("submit", help="submit jobs to the session cluster")
    submit_p.add_argument("jobs", nargs="*", default=list(JOBS), choices=[*JOBS, []])
    submit_p.add_argument("--from", dest="restore_from", default=None, metavar="PATH",
                          help="start from this savepoint or retained checkpoint (one job only)")
    savepoint = sub.add_parser("savepoint", help="stop a job with a savepoint and print its path")
    savepoint.add_argument("job_id")
    savepoint.add_argument("--target", default=None, help="savepoint folder (default: run/flink/savepoints)")
    checkpoint = sub.add_parser("checkpoint", help="print the path of a job's newest retained checkpoint")
    checkpoint.add_argument("job_id")
    crash_p = sub.add_parser("crash", help="cancel a job without savepoint after its next checkpoint; "
                             "print the retained checkpoint to resubmit from")
    crash_p.add_argument("job_id")
    args = parser.parse_args(argv)
    if args.command == "submit" and args.restore_from and len(args.jobs) != 1:
        parser.error("submit --from needs exactly one job")
    paths = RuntimePaths()
    try:
        if args.command == "start":
            _start(paths)
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
    except (RuntimeErrorWithHint, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
