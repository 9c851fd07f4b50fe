"""`make demo`: the whole closed loop on a drifting synthetic stream, on the running embedded runtime.

Steps: generate the stream (seeded; concept drift at a chosen week), train the bootstrap model on its first
weeks, submit the four jobs, replay the stream in event-time order at a speed-up, follow the score reports,
instructions and factory reports as they arrive, and finish with a weekly table plus a plot of the adaptive
weekly MCC against a static model scored offline with ``wayeb_py`` on the same stream.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from protocol.settings import Settings, load_settings, settings_from_env
from rtcef_ops.flink_cluster import rest_get
from rtcef_ops.paths import RuntimePaths
from rtcef_ops.submit import JOBS, submit
from rtcef_ops.topics import ensure_topics

WEEK = 7 * 24 * 3600


@dataclass
class LoopLog:
    """What the demo saw on the control topics, in arrival order."""

    scores: list[dict[str, Any]] = field(default_factory=list)
    instructions: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    syncs: list[dict[str, Any]] = field(default_factory=list)


class Follower(threading.Thread):
    """Reads the scores/instructions/reports/enginesync topics and prints each event of the loop."""

    def __init__(self, settings: Settings, log: LoopLog) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.log = log
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
                _announce(topic, record, s)
        finally:
            consumer.close()


def _announce(topic: str, record: dict[str, Any], s: Settings) -> None:
    if topic == s.score_topic:
        batch, runtime = record["batch"]["mcc"], record["runtime"]["mcc"]
        print(f"  score   t={record['timestamp']} model={record['model_id']:<10} "
              f"batch MCC={batch:.3f} runtime MCC={runtime:.3f}", flush=True)
    elif topic == s.instruction_topic:
        print(f"  observer -> {record['type'].upper()} ({record['id']})", flush=True)
    elif topic == s.report_topic and record["command_type"] in ("train", "opt_finalise"):
        print(f"  factory: {record['command_type']} {record['status']} model={record.get('model_id')} "
              f"production time {record.get('production_time', 0):.1f}s", flush=True)
    elif topic == s.sync_topic:
        print(f"  engine {record['type']} model={record.get('model_id')}", flush=True)


def _python(args: list[str], env: dict[str, str]) -> None:
    subprocess.run([sys.executable, *args], env=env, check=True)


def demo_environment(run_dir: Path, run_id: str, args: argparse.Namespace) -> dict[str, str]:
    """Settings of this demo run, as the environment the jobs are submitted with."""
    base = load_settings()
    env = dict(os.environ)
    env.update({name.upper(): f"demo{run_id}-{topic}" for name, topic in base.topics().items()})
    patterns = Path(__file__).resolve().parents[1] / "patterns" / "maritime"
    env.update({
        "DATA_DIR": str(run_dir / "data"),
        "CONSUMER_GROUP_PREFIX": f"demo{run_id}",
        "BUCKET_SIZE_S": str(WEEK),
        "REPORTING_INTERVAL_S": str(WEEK),
        "HISTORY_K": str(args.history_k),
        "OPTIMISER_STEPS": str(args.steps),
        "THRESHOLD": str(args.threshold),
        "PATTERN_PATH": str(patterns / "pattern.sre"),
        "DECLARATIONS_PATH": str(patterns / "declarations.sre"),
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


def _weekly_rows(log: LoopLog, static: dict[int, float], t0: int) -> list[dict[str, Any]]:
    rows = []
    for score in log.scores:
        week = (int(score["interval_start"]) - t0) // WEEK
        in_week = [i for i in log.instructions if (int(i["timestamp"]) - t0) // WEEK == week]
        rows.append({
            "week": week,
            "adaptive_mcc": round(score["batch"]["mcc"], 4),
            "static_mcc": round(static[week], 4) if week in static else "",
            "model": score["model_id"],
            "instruction": ",".join(i["type"] for i in in_week),
        })  # fmt: skip
    return rows


def static_weekly_mcc(model_path: Path, stream: Path, t0: int, week_seconds: int = WEEK) -> dict[int, float]:
    """Weekly MCC of one model kept unchanged over the whole stream, scored offline with wayeb_py.

    One run per key, as in the inference job; a forecast counts in the week of the event that resolves it,
    which is when the engine emits its score delta, so the numbers are directly comparable.
    """
    import pandas as pd

    from wayeb_py.engine import SPSTModel
    from wayeb_py.evaluation import Metrics
    from wayeb_py.scoring import iter_steps

    model = SPSTModel.load(model_path)
    events = pd.read_csv(stream).sort_values("timestamp", kind="stable").reset_index(drop=True)
    events["mmsi"] = events["mmsi"].astype(str)
    weeks = ((events["timestamp"].to_numpy() - t0) // week_seconds).tolist()
    totals: dict[int, Metrics] = {}
    for _key, index, result in iter_steps(model, events, partitioned=True):
        if index < 0:
            continue
        week = int(weeks[index])
        totals[week] = totals.get(week, Metrics(0, 0, 0, 0)) + result.resolved
    return {week: metrics.mcc for week, metrics in sorted(totals.items())}


def _plot(rows: list[dict[str, Any]], path: Path, drift_week: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weeks = [r["week"] for r in rows]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.plot(weeks, [r["adaptive_mcc"] for r in rows], "o-", label="adaptive (RTCEF loop)")
    static = [(r["week"], r["static_mcc"]) for r in rows if r["static_mcc"] != ""]
    if static:
        ax.plot(*zip(*static, strict=True), "s--", color="grey", label="static bootstrap model")
    for row in rows:
        if "retrain" in row["instruction"]:
            ax.plot(row["week"], row["adaptive_mcc"], "^", color="tab:orange", markersize=12)
        if "optimize" in row["instruction"]:
            ax.plot(row["week"], row["adaptive_mcc"], "*", color="tab:red", markersize=15)
    ax.plot([], [], "^", color="tab:orange", label="retrain issued")
    ax.plot([], [], "*", color="tab:red", label="optimise issued")
    ax.axvline(drift_week - 0.5, color="black", linestyle=":", alpha=0.6, label="concept drift")
    ax.set_title("Weekly MCC: RTCEF loop on Flink vs the unchanged bootstrap model")
    ax.set_xlabel("week")
    ax.set_ylabel("weekly MCC")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    run_id = uuid.uuid4().hex[:6]
    run_dir = RuntimePaths().run / "demo" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    env = demo_environment(run_dir, run_id, args)
    settings = settings_from_env(env)
    ensure_topics(settings)
    stream = run_dir / "stream.csv"
    print(f"[1/6] generating {args.weeks} weeks of AIS traffic, drift at week {args.drift_week} -> {stream}")
    _python(["-m", "mocks.synthetic", "--out", str(stream), "--weeks", str(args.weeks), "--vessels",
             str(args.vessels), "--seed", str(args.seed), "--drift-week", str(args.drift_week),
             "--compress", str(args.compress)], env)  # fmt: skip
    print(f"[2/6] bootstrap model on the first {args.train_weeks} weeks "
          f"({args.steps}-step offline optimisation)")
    _python(["-m", "inference_job.bootstrap", "--stream", str(stream), "--weeks", str(args.train_weeks),
             "--optimise-steps", str(args.steps)], env)  # fmt: skip
    print("[3/6] submitting the four jobs")
    job_ids = [submit(job, RuntimePaths(), extra_env=env) for job in JOBS]
    _wait_running(job_ids)
    log = LoopLog()
    follower = Follower(settings, log)
    follower.start()
    print(f"[4/6] feeding the stream at {args.speedup:g}x event time (web UI: http://localhost:8081)")
    _python(["-m", "mocks.data_feeder", "--stream", str(stream), "--speedup", str(args.speedup)], env)
    print("[5/6] waiting for the last reports")
    time.sleep(args.settle)
    follower.stop_event.set()
    follower.join(5)
    print("[6/6] static baseline: the bootstrap model scored unchanged with wayeb_py on the same stream")
    import pandas as pd

    t0 = int(pd.read_csv(stream, usecols=["timestamp"])["timestamp"].min())
    static = static_weekly_mcc(Path(env["DATA_DIR"]) / "models" / "initial.spst", stream, t0)
    rows = _weekly_rows(log, static, t0)
    with (run_dir / "weekly.csv").open("w", newline="") as handle:
        columns = ["week", "adaptive_mcc", "static_mcc", "model", "instruction"]
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    _plot(rows, run_dir / "weekly_mcc.png", args.drift_week)
    print(f"\n{'week':>4} {'adaptive':>9} {'static':>8}  {'model':<12} instruction")
    for r in rows:
        static_cell = f"{r['static_mcc']:.3f}" if r["static_mcc"] != "" else "-"
        print(f"{r['week']:>4} {r['adaptive_mcc']:>9.3f} {static_cell:>8}  {r['model']:<12} "
              f"{r['instruction']}")
    after = [r for r in rows if r["week"] >= args.drift_week and r["static_mcc"] != ""]
    if after:
        adaptive_mean = sum(r["adaptive_mcc"] for r in after) / len(after)
        static_mean = sum(r["static_mcc"] for r in after) / len(after)
        print(f"\nafter the drift (weeks {after[0]['week']}-{after[-1]['week']}): adaptive mean MCC "
              f"{adaptive_mean:.3f} vs static {static_mean:.3f}")
    produced = [
        r for r in log.reports if r["command_type"] in ("train", "opt_finalise") and r["status"] == "success"
    ]
    produced_text = ", ".join(f"{r['model_id']} {r['production_time']:.0f}s" for r in produced)
    print(f"\ninstructions: {len(log.instructions)}; models produced: {len(produced)} ({produced_text})")
    print(f"table: {run_dir / 'weekly.csv'}  plot: {run_dir / 'weekly_mcc.png'}")
    if args.stop:
        subprocess.run([sys.executable, "-m", "rtcef_ops", "stop"], check=False)
    else:
        print("jobs keep running; `make stop` ends everything")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The demo's parser: the synthetic stream, the bootstrap model and the replay, all kebab-case."""
    parser = argparse.ArgumentParser(
        prog="python -m rtcef_ops.demo",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--weeks", type=int, default=8, help="weeks of synthetic AIS traffic")
    add("--vessels", type=int, default=20, help="vessels in the stream")
    add("--seed", type=int, default=7, help="seed of the synthetic stream")
    add("--drift-week", type=int, default=4, help="week index where the concept drifts")
    add("--compress", type=float, default=3.0, help="divide the trips per week by about this")
    add("--train-weeks", type=int, default=2, help="weeks the bootstrap model learns on")
    add("--history-k", type=int, default=2, help="weeks per retrain dataset (HISTORY_K)")
    add("--steps", type=int, default=15, help="Bayesian optimisation steps, offline and per session")
    add("--threshold", type=float, default=0.3, help="forecast confidence threshold")
    add("--speedup", type=float, default=15000.0, help="event-time speed-up of the replay")
    add("--settle", type=float, default=30.0, help="seconds to wait after the last event")
    add("--stop", action="store_true", help="stop the runtime at the end")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``make demo``; returns the process exit status."""
    parser = build_parser()
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
