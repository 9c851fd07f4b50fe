"""Helpers of the Kafka/Flink benchmarks: machine description, paced producing, output collection, stats.

Why a module: ``bench_runtime.py`` and ``bench_inference.py`` both send records at a fixed rate (or as fast
as the broker takes them), collect a job's output topic with the broker's append timestamps (the embedded
broker uses ``LogAppendTime``), read back what they sent, and print figures next to targets.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"

Record = tuple[bytes | None, bytes, int]
"""key, value, broker append timestamp (ms)."""


def machine() -> dict[str, Any]:
    """Where the figures were measured: cores, CPU model, load and the versions that matter."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str] = {"python": platform.python_version()}
    try:
        from importlib.metadata import version

        versions["apache-flink"] = version("apache-flink")
        versions["confluent-kafka"] = version("confluent-kafka")
    except Exception:  # noqa: BLE001 - descriptive only
        pass
    jars = sorted((ROOT / "runtime" / "lib" / "kafka").glob("kafka-server-*.jar"))
    if jars:
        versions["kafka"] = jars[0].stem.removeprefix("kafka-server-")
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    versions["java"] = (java.stderr or java.stdout).splitlines()[0] if (java.stderr or java.stdout) else "?"
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": cpu,
        "platform": platform.platform(),
        "loadavg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "versions": versions,
    }


def write_results(name: str, results: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/<name>.json`` and return its path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path


def row(name: str, value: str, target: str, ok: bool | None = None) -> None:
    """One printed line: figure, target and verdict."""
    flag = "" if ok is None else ("  ok" if ok else "  MISSED")
    print(f"  {name:<46} {value:>18}   target {target}{flag}", flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return float(ordered[index])


def bench_producer(bootstrap: str, *, linger_ms: int = 5) -> Producer:
    """A producer for benchmark traffic: acks=all, small linger (latency runs), quiet logs."""
    return Producer({
        "bootstrap.servers": bootstrap, "acks": "all", "linger.ms": linger_ms, "enable.idempotence": True,
        "queue.buffering.max.messages": 1_000_000, "log_level": 0, "error_cb": lambda _err: None,
    })  # fmt: skip


def _produce(producer: Producer, topic: str, value: bytes | str, key: bytes | str | None) -> None:
    while True:
        try:
            producer.produce(topic, value=value, key=key)
            return
        except BufferError:
            producer.poll(0.05)


def send_paced(
    producer: Producer,
    topic: str,
    items: Sequence[tuple[str | None, str]] | int,
    rate: float | None,
    make: Callable[[int], tuple[str | None, str]] | None = None,
) -> tuple[float, float]:
    """Send ``items`` (key, value) at ``rate`` per second on an absolute schedule (``None``: as fast as
    possible) and flush; ``items`` may be a count with ``make(i)`` building item ``i`` at send time (so a
    send timestamp inside the value is the real one). Returns (first send, last send) wall times."""
    count = items if isinstance(items, int) else len(items)
    start = time.time()
    t0 = time.perf_counter()
    for i in range(count):
        if rate:
            ahead = t0 + i / rate - time.perf_counter()
            if ahead > 0.001:
                time.sleep(ahead)
        key, value = make(i) if make is not None else items[i]  # type: ignore[index]
        _produce(producer, topic, value, key)
        if i % 500 == 0:
            producer.poll(0)
    last = time.time()
    producer.flush(60)
    return start, last


class TopicCollector:
    """Collects every record of a topic (all partitions, from offset 0) in a background thread."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
            "enable.auto.commit": False, "fetch.wait.max.ms": 10, "log_level": 0,
        })  # fmt: skip
        self.consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        self.records: list[tuple[bytes | None, bytes, int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for message in self.consumer.consume(num_messages=2000, timeout=0.1):
                if message.error() is None:
                    self.records.append((message.key(), message.value(), message.timestamp()[1], time.time()))

    def wait_count(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` records were collected; False on timeout."""
        deadline = time.monotonic() + timeout
        while len(self.records) < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.consumer.close()


def read_back(bootstrap: str, topic: str, partitions: int, timeout: float = 30.0) -> list[Record]:
    """Every record of ``topic`` as (key, value, append timestamp ms), up to the current end offsets."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "log_level": 0})  # fmt: skip
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(partitions)}  # fmt: skip
        wanted = sum(ends.values())
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions) if ends[p] > 0])
        out: list[Record] = []
        deadline = time.monotonic() + timeout
        while len(out) < wanted and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=5000, timeout=0.5):
                if message.error() is None:
                    out.append((message.key(), message.value(), message.timestamp()[1]))
        return out
    finally:
        consumer.close()


def sustained_rate(stamps_ms: Sequence[int], burst_ms: int = 100) -> float:
    """Records per second from the end of the first output burst to the last record; NaN when they span
    no time.

    A job that batches writes its output in bursts (one per Python bundle), and the first burst holds
    what was processed before anything was written, so it is left out of the count (the first
    ``burst_ms`` after the first record). Quantiles of the timestamps are not used: when a few bursts
    hold most records, the 10 %-90 % span can fall inside a single burst and overstate the rate.
    """
    ordered = sorted(stamps_ms)
    if len(ordered) < 10:
        return float("nan")
    first, last = ordered[0], ordered[-1]
    counted = sum(1 for stamp in ordered if stamp > first + burst_ms)
    span = (last - first) / 1000
    return counted / span if span > 0 else float("nan")


def _label(pid: int, cmdline: str) -> str:
    if pid == os.getpid():
        return "benchmark process (producer, consumers)"
    if "java" in cmdline.split(" ", 1)[0] or cmdline.startswith("java"):
        if "TaskManagerRunner" in cmdline or "taskexecutor" in cmdline:
            return "Flink TaskManager (JVM)"
        if "StandaloneSessionClusterEntrypoint" in cmdline:
            return "Flink JobManager (JVM)"
        if "kafka.Kafka" in cmdline:
            return "Kafka broker (JVM)"
        return "other JVMs"
    if "pyflink" in cmdline or "beam" in cmdline:
        return "PyFlink Python workers"
    return "everything else (other users included)"


def cpu_snapshot() -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) used so far by every process, with a label of what it is."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        out[int(entry.name)] = (_label(int(entry.name), cmdline), (int(fields[11]) + int(fields[12])) / tick)
    return out


def cpu_breakdown(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU seconds used between two snapshots, summed by label (processes started in between included)."""
    used: dict[str, float] = {}
    for pid, (label, seconds) in after.items():
        spent = seconds - before.get(pid, (label, 0.0))[1]
        used[label] = used.get(label, 0.0) + max(spent, 0.0)
    return dict(sorted(used.items(), key=lambda kv: -kv[1]))
