"""`make demo`: the whole closed loop on a drifting synthetic stream, on the running embedded runtime.

Steps: generate the stream (seeded; concept drift at chosen weeks), train the bootstrap model on its first
weeks, submit the four jobs, replay the stream in event-time order at a speed-up, follow the score reports,
instructions and factory reports as they arrive, and finish with a weekly table plus a plot of the adaptive
weekly MCC against a static model scored offline with ``wayeb_py`` on the same stream.

Two domains (``--domain``): synthetic AIS traffic around a port (``mocks.synthetic``, epoch seconds, one run
per vessel) and synthetic card transactions whose fraud runs' ``amount_diff`` range drifts
(``mocks.synthetic_cards``, epoch milliseconds, one run per card). The jobs get the domain's ``DOMAIN`` and
pattern; what differs between the domains is in :mod:`rtcef_ops.demo_domains`.

Every run gets its own topics and data folder (``run/demo/<run id>``), so a demo never reads an earlier one's
records. The cluster stays up for the web UI unless ``--stop`` is given.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from protocol.settings import WEEK_SECONDS, Domain, Settings, load_settings, settings_from_env
from rtcef_ops.demo_domains import PROFILES, DemoDomain, stream_time_text, week_of
from rtcef_ops.demo_report import (
    COLUMNS,
    LoopLog,
    after_drift_means,
    format_table,
    go_live_weeks,
    plot_weekly,
    production_summary,
    static_weekly_mcc,
    weekly_rows,
)
from rtcef_ops.flink_cluster import rest_get
from rtcef_ops.paths import RuntimePaths
from rtcef_ops.submit import JOBS, submit
from rtcef_ops.topics import ensure_topics
from rtcef_ops.watch import LivePage

__all__ = ["build_parser", "demo_environment", "main", "run"]


class Follower(threading.Thread):
    """Reads the scores/instructions/reports/enginesync topics and prints each event of the loop."""

    def __init__(
        self, settings: Settings, log: LoopLog, profile: DemoDomain, t0: int, page: LivePage | None = None
    ) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.log = log
        self.profile = profile
        self.t0 = t0
        self.page = page
        self.stop_event = threading.Event()

    def run(self) -> None:
        s = self.settings
        consumer = Consumer(
            {"bootstrap.servers": s.kafka_bootstrap_servers, "group.id": f"demo-{uuid.uuid4()}"}
        )
        topics = {s.score_topic: self.log.scores, s.instruction_topic: self.log.instructions,
                  s.report_topic: self.log.reports, s.sync_topic: self.log.syncs}  # fmt: skip
        consumer.assign([TopicPartition(topic, 0, 0) for topic in topics])
        try:
            while not self.stop_event.is_set():
                message = consumer.poll(0.5)
                if message is None or message.error() is not None:
                    continue
                topic, value = message.topic(), message.value()
                if topic is None or value is None:
                    continue
                record = json.loads(value)
                topics[topic].append(record)
                line = announcement(topic, record, s, self.profile, self.t0)
                if line is not None:
                    print(line, flush=True)
                if topic == s.score_topic and self.page is not None:
                    self.page.update(self.log)
        finally:
            consumer.close()


def announcement(topic: str, record: dict[str, Any], s: Settings, profile: DemoDomain, t0: int) -> str | None:
    """The live log's line for a record of a control topic (event times as UTC, weeks from ``t0``).

    ``None`` for the factory's intermediate reports (optimisation steps, initialise), which would drown
    the loop's events.
    """
    ticks = profile.ticks_per_second
    if topic == s.score_topic:
        week = week_of(record["interval_start"], t0, profile.week_ticks)
        batch, runtime = record["batch"]["mcc"], record["runtime"]["mcc"]
        until = stream_time_text(record["timestamp"], ticks)
        return (f"  score   week {week} (to {until}) model={record['model_id']:<10} "
                f"batch MCC={batch:.3f} runtime MCC={runtime:.3f}")  # fmt: skip
    if topic == s.instruction_topic:
        week = week_of(record["timestamp"], t0, profile.week_ticks)
        return f"  observer -> {record['type'].upper()} ({record['id']}, after week {week})"
    if topic == s.report_topic:
        if record["command_type"] not in ("train", "opt_finalise"):
            return None
        return (f"  factory: {record['command_type']} {record['status']} model={record.get('model_id')} "
                f"production time {record.get('production_time', 0):.1f}s")  # fmt: skip
    if record["type"] != "play":
        return "  engine pause: events held until the play"
    if not record.get("model_id"):
        return "  engine play: no new model, held events resume"
    # The engine swaps once stream time passes the play's timestamp plus the production time (seconds).
    swap = int(record["timestamp"]) + round(float(record.get("production_time", 0.0)) * ticks)
    return f"  engine play model={record['model_id']} from {stream_time_text(swap, ticks)}"


def _python(args: list[str], env: dict[str, str]) -> None:
    subprocess.run([sys.executable, *args], env=env, check=True)


def demo_environment(run_dir: Path, run_id: str, args: argparse.Namespace) -> dict[str, str]:
    """Settings of this demo run, as the environment the jobs, the bootstrap and the feeder get.

    Bucket size and reporting interval are one week in seconds, as every ``*_S`` setting; the jobs convert
    them to the domain's timestamp unit.
    """
    profile = PROFILES[Domain(args.domain)]
    base = load_settings()
    env = dict(os.environ)
    env.update({name.upper(): f"demo{run_id}-{topic}" for name, topic in base.topics().items()})
    pattern, declarations = profile.pattern_paths
    env.update({
        "DOMAIN": profile.domain.value,
        "DATA_DIR": str(run_dir / "data"),
        "CONSUMER_GROUP_PREFIX": f"demo{run_id}",
        "BUCKET_SIZE_S": str(WEEK_SECONDS),
        "REPORTING_INTERVAL_S": str(WEEK_SECONDS),
        "HISTORY_K": str(args.history_k),
        "OPTIMISER_STEPS": str(args.steps),
        "THRESHOLD": str(args.threshold),
        "PATTERN_PATH": str(pattern),
        "DECLARATIONS_PATH": str(declarations),
    })  # fmt: skip
    return env


def _wait_running(job_ids: list[str], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {jid: rest_get(f"/jobs/{jid}")["state"] for jid in job_ids}
        if all(state == "RUNNING" for state in states.values()):
            return
        if any(state in ("FAILED", "CANCELED") for state in states.values()):
            break
        time.sleep(2)
    raise RuntimeError(f"jobs did not start: {states}")


def _stream_bounds(stream: Path) -> tuple[int, int]:
    """First and last timestamp of the stream (its unit: seconds or milliseconds)."""
    import pandas as pd

    stamps = pd.read_csv(stream, usecols=["timestamp"])["timestamp"]
    return int(stamps.min()), int(stamps.max())


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows(rows)


def run(args: argparse.Namespace) -> int:
    """The demo's six steps; prints the live log, then the weekly table; returns the exit status."""
    profile = PROFILES[Domain(args.domain)]
    drift_weeks = sorted(args.drift_weeks)
    speedup = args.speedup or profile.speedup
    run_id = uuid.uuid4().hex[:6]
    run_dir = RuntimePaths().run / "demo" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    env = demo_environment(run_dir, run_id, args)
    settings = settings_from_env(env)
    ensure_topics(settings)
    stream = run_dir / "stream.csv"
    drift_text = ", ".join(map(str, drift_weeks)) or "none"
    print(f"[1/6] generating {args.weeks} weeks of {profile.what} ({profile.domain.value}), "
          f"drift at week {drift_text} -> {stream}")  # fmt: skip
    _python(profile.generator_args(args, stream), env)
    t0, t_last = _stream_bounds(stream)
    print(f"[2/6] bootstrap model on the first {args.train_weeks} weeks "
          f"({args.steps}-step offline optimisation)")  # fmt: skip
    _python(["-m", "inference_job.bootstrap", "--stream", str(stream), "--weeks", str(args.train_weeks),
             "--optimise-steps", str(args.steps)], env)  # fmt: skip
    # The static baseline first, so that the live page shows it from the first report on.
    static = static_weekly_mcc(Path(env["DATA_DIR"]) / "models" / "initial.spst", stream, t0, profile)
    title = f"Weekly MCC ({profile.what}): RTCEF loop on Flink vs the unchanged bootstrap model"
    page = LivePage(run_dir / "live", profile, t0=t0, static=static, drift_weeks=drift_weeks, title=title)
    print("[3/6] submitting the four jobs")
    job_ids = [submit(job, RuntimePaths(), extra_env=env) for job in JOBS]
    _wait_running(job_ids)
    log = LoopLog()
    follower = Follower(settings, log, profile, t0, page)
    follower.start()
    print(f"      live picture: {page.index} (reloads itself)")
    print(f"[4/6] feeding the stream at {speedup:g}x event time (web UI: http://localhost:8081)")
    _python(["-m", "mocks.data_feeder", "--stream", str(stream), "--speedup", str(speedup)], env)
    print("[5/6] waiting for the last reports")
    time.sleep(args.settle)
    follower.stop_event.set()
    follower.join(5)
    print("[6/6] weekly table against the bootstrap model scored unchanged with wayeb_py on the same stream")
    rows = weekly_rows(log, static, t0, profile.week_ticks, drift_weeks)
    _write_csv(rows, run_dir / "weekly.csv")
    live = go_live_weeks(log.syncs, t0, profile.week_ticks, profile.ticks_per_second)
    plot_weekly(rows, run_dir / "weekly_mcc.png", drift_weeks, title, live)
    print(f"\n{format_table(rows)}")
    means = after_drift_means(rows, drift_weeks[0]) if drift_weeks else None
    if means is not None:
        first, last, adaptive_mean, static_mean = means
        print(f"\nafter the drift (weeks {first}-{last}): adaptive mean MCC "
              f"{adaptive_mean:.3f} vs static {static_mean:.3f}")  # fmt: skip
    print(f"\n{production_summary(log, t_last - t0, profile.ticks_per_second)}")
    print(f"table: {run_dir / 'weekly.csv'}  plot: {run_dir / 'weekly_mcc.png'}")
    if args.stop:
        subprocess.run([sys.executable, "-m", "rtcef_ops", "stop"], check=False)
    else:
        print("jobs keep running; `make stop` ends everything")
    return 0


def _weeks(text: str) -> tuple[int, ...]:
    """``"4"`` or ``"3,6"`` -> the drift weeks; ``""`` or ``"none"`` -> no drift."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        weeks = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected week numbers like 4 or 3,6, got {text!r}") from None
    if any(week < 1 for week in weeks):
        raise argparse.ArgumentTypeError(f"drift weeks start at 1, got {text!r}")
    return weeks


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except the per-domain ones (``None``), whose help text states them."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The demo's parser: the domain, the synthetic stream, the bootstrap model and the replay."""
    parser = argparse.ArgumentParser(
        prog="python -m rtcef_ops.demo", description=__doc__.splitlines()[0], formatter_class=_HelpFormatter
    )
    add = parser.add_argument
    add("--domain", choices=[d.value for d in Domain], default=None,
        help="maritime: AIS stream and port pattern; finance: card stream and fraud pattern "
             "(default: DOMAIN setting)")  # fmt: skip
    add("--weeks", type=int, default=8, help="weeks of synthetic events")
    add("--seed", type=int, default=7, help="seed of the synthetic stream")
    add("--drift-weeks", "--drift-week", dest="drift_weeks", type=_weeks, default=(4,),
        help="week(s) where the concept drifts, comma-separated (none: no drift)")  # fmt: skip
    add("--vessels", type=int, default=20, help="maritime: vessels in the stream")
    add("--compress", type=float, default=3.0, help="maritime: divide the trips per week by about this")
    add("--cards", type=int, default=200, help="finance: cards in the stream")
    add("--train-weeks", type=int, default=2, help="weeks the bootstrap model learns on")
    add("--history-k", type=int, default=2, help="weeks per retrain dataset (HISTORY_K)")
    add("--steps", type=int, default=15, help="Bayesian optimisation steps, offline and per session")
    add("--threshold", type=float, default=0.3, help="forecast confidence threshold")
    add("--speedup", type=float, default=None,
        help="event-time speed-up of the replay (default: 15000 maritime, 30000 finance)")  # fmt: skip
    add("--settle", type=float, default=30.0, help="seconds to wait after the last event")
    add("--stop", action="store_true", help="stop the runtime at the end")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``make demo``; returns the process exit status."""
    args = build_parser().parse_args(argv)
    if args.domain is None:
        args.domain = load_settings().domain.value
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
