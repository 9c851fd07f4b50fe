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
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_common import TopicCollector, bench_producer, machine, row, send_paced, write_results  # noqa: E402
from bench_inference import _vertex_load  # noqa: E402

from mocks.data_feeder import row_to_event  # noqa: E402
from protocol import Domain, encode  # noqa: E402
from protocol.settings import Settings  # noqa: E402
from rtcef_ops.flink_cluster import FlinkCluster, rest_get  # noqa: E402
from rtcef_ops.isolated import cancel_jobs, cluster_lock, delete_topics, isolated_env, job_state  # noqa: E402
from rtcef_ops.kafka_broker import KafkaBroker, read_pid  # noqa: E402
from rtcef_ops.live_metrics import job_metrics  # noqa: E402
from rtcef_ops.paths import RuntimePaths  # noqa: E402
from rtcef_ops.recovery import wait_for_checkpoint  # noqa: E402
from rtcef_ops.sockets import process_tree  # noqa: E402
from rtcef_ops.submit import JOBS, submit  # noqa: E402
from rtcef_ops.topics import topic_sizes  # noqa: E402

TARGETS = {"events": 5_000_000, "lost": 0, "duplicated": 0, "wall_s": 3600}
DEFAULT_SIZE = {"vessels": 5000, "weeks": 8, "compress": 10.0}
MODEL_COMMANDS = ("train", "opt_finalise")
"""Factory reports that publish a model; an ``opt_finalise``'s production time covers its whole session."""
TERMINAL = frozenset({"FAILED", "CANCELED", "FINISHED"})
CSV_COLUMNS = ("timestamp", "mmsi", "lon", "lat", "speed", "heading", "cog")
VALUE_TEMPLATE = '{"timestamp":%s,"mmsi":"%s","lon":%s,"lat":%s,"speed":%s,"heading":%s,"cog":%s}'
"""A stream line as the feeder encodes it (``encode(MaritimeEvent)``; checked on a sample before feeding)."""


def log(text: str) -> None:
    """One line of the live log."""
    print(text, flush=True)


# ------------------------------------------------------------------------------------------------ stream


@dataclass
class Stream:
    """The generated stream: its file, events, time span and the sorted packed (mmsi, timestamp) pairs."""

    path: Path
    events: int
    t0: int
    t_last: int
    vessels: int
    packed: np.ndarray = field(repr=False)


def pack(mmsi: np.ndarray, timestamp: np.ndarray, t0: int) -> np.ndarray:
    """``mmsi * 2**32 + (timestamp - t0)`` as int64: one number per (vessel, event time) pair.

    MMSIs have 9 digits (< 2**30) and a stream spans far less than 2**32 seconds, so the packing is exact.
    """
    return (mmsi.astype(np.int64) << np.int64(32)) + (timestamp.astype(np.int64) - np.int64(t0))


def generate(tmp: Path, args: argparse.Namespace) -> Stream:
    """Write the synthetic stream to ``tmp/stream.csv`` and read back its (mmsi, timestamp) pairs."""
    path = tmp / "stream.csv"
    command = [sys.executable, "-m", "mocks.synthetic", "--out", str(path), "--vessels", str(args.vessels),
               "--weeks", str(args.weeks), "--compress", str(args.compress),
               "--seed", str(args.seed)]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"mocks.synthetic failed:\n{result.stderr[-2000:]}")
    frame = pd.read_csv(path, usecols=["timestamp", "mmsi"], dtype={"timestamp": np.int64, "mmsi": np.int64})
    stamps = frame["timestamp"].to_numpy()
    if len(stamps) > 1 and bool(np.any(np.diff(stamps) < 0)):
        raise RuntimeError(f"{path} is not in event-time order; the feed sends it in file order")
    t0 = int(stamps[0])
    packed = np.sort(pack(frame["mmsi"].to_numpy(), stamps, t0))
    return Stream(path, len(frame), t0, int(stamps[-1]), int(frame["mmsi"].nunique()), packed)


def stream_values(path: Path) -> Iterator[tuple[str, str]]:
    """(key, value) of every line of the stream, in file order (= event-time order), without a parser."""
    with path.open(encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
        if tuple(header) != CSV_COLUMNS:
            raise RuntimeError(f"{path}: unexpected columns {header}")
        for line in handle:
            cells = line.rstrip("\n").split(",")
            yield cells[1], VALUE_TEMPLATE % tuple(cells)


def check_encoding(path: Path, every: int) -> int:
    """Compare every ``every``-th line's fast-built value with the feeder's (``row_to_event`` + ``encode``
    of the CSV cells); return the lines checked. A mismatch stops the run before anything is sent."""
    checked = 0
    with path.open(encoding="utf-8") as handle:
        handle.readline()
        for line in itertools.islice(handle, 0, None, every):
            cells = line.rstrip("\n").split(",")
            event = row_to_event(Domain.MARITIME, dict(zip(CSV_COLUMNS, cells, strict=True)))
            value = VALUE_TEMPLATE % tuple(cells)
            if encode(event) != value or event.key() != cells[1]:
                raise RuntimeError(f"fast encoding {value!r} differs from the feeder's {encode(event)!r}")
            checked += 1
    return checked


def bootstrap_model(stream: Path, env: dict[str, str], weeks: float, steps: int) -> float:
    """Train and register the bootstrap model in the run's DATA_DIR; return the seconds it took."""
    started = time.perf_counter()
    command = [sys.executable, "-m", "inference_job.bootstrap", "--stream", str(stream),
               "--weeks", str(weeks), "--optimise-steps", str(steps)]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"inference_job.bootstrap failed:\n{result.stderr[-2000:]}")
    return time.perf_counter() - started


# ------------------------------------------------------------------------------------------- forecasts


class ForecastCounter:
    """Reads every forecast of a topic in a thread and keeps its packed (key, timestamp) in int64 chunks.

    The pair is cut out of the JSON text with one regular expression over a whole batch (``json.loads`` per
    record only when a batch does not match record for record), so 5 M forecasts cost the benchmark
    process a few CPU seconds.
    """

    PAIR = re.compile(rb'"key":"(\d{1,9})","timestamp":(\d+)')

    def __init__(self, bootstrap: str, topic: str, partitions: int, t0: int) -> None:
        self.t0 = t0
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": f"bench-scale-{os.getpid()}-{time.time_ns()}",
            "enable.auto.commit": False, "fetch.wait.max.ms": 50, "log_level": 0,
            "isolation.level": "read_committed",
        })  # fmt: skip
        self.consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        self.chunks: list[np.ndarray] = []
        self.count = 0
        self.unparsed = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="forecasts", daemon=True)
        self._thread.start()

    def _pairs(self, values: list[bytes]) -> list[tuple[bytes, bytes]]:
        found = self.PAIR.findall(b"\n".join(values))
        if len(found) == len(values):
            return found
        pairs = []
        for value in values:
            try:
                record = json.loads(value)
                pairs.append((str(int(record["key"])).encode(), str(int(record["timestamp"])).encode()))
            except (ValueError, KeyError, TypeError):
                self.unparsed += 1
        return pairs

    def _run(self) -> None:
        while not self._stop.is_set():
            messages = self.consumer.consume(num_messages=20_000, timeout=0.2)
            values = [v for m in messages if m.error() is None and (v := m.value()) is not None]
            if not values:
                continue
            now = time.time()
            pairs = self._pairs(values)
            keys = np.fromiter((int(k) for k, _ in pairs), dtype=np.int64, count=len(pairs))
            stamps = np.fromiter((int(t) for _, t in pairs), dtype=np.int64, count=len(pairs))
            with self._lock:
                self.chunks.append(pack(keys, stamps, self.t0))
                self.count += len(pairs)
                self.first_at = self.first_at or now
                self.last_at = now

    def packed(self) -> np.ndarray:
        """Every pair read so far (one array)."""
        with self._lock:
            self.chunks = [np.concatenate(self.chunks)] if self.chunks else []
            return self.chunks[0].copy() if self.chunks else np.empty(0, dtype=np.int64)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.consumer.close()


def exactly_once(expected: np.ndarray, got: np.ndarray) -> dict[str, int]:
    """Compare two multisets of packed pairs: events forecast exactly once, lost, duplicated, unexpected."""
    want, want_n = np.unique(expected, return_counts=True)
    have, have_n = np.unique(got, return_counts=True)
    index = np.clip(np.searchsorted(have, want), 0, max(len(have) - 1, 0))
    found = (have[index] == want) if len(have) else np.zeros(len(want), dtype=bool)
    matched = np.where(found, have_n[index] if len(have) else 0, 0)
    return {
        "events": int(len(expected)),
        "input_duplicate_pairs": int(len(expected) - len(want)),
        "forecasts": int(len(got)),
        "exactly_once": int(np.sum(want_n[matched == want_n])),
        "lost": int(np.sum(np.maximum(want_n - matched, 0))),
        "duplicated": int(np.sum(np.maximum(matched - want_n, 0))),
        "unexpected": int(len(got) - np.sum(matched)),
    }


# --------------------------------------------------------------------------------------------- buckets


class BucketTracker:
    """Rows the collector wrote per bucket file, from incremental line counts of the bucket folder.

    Keyed by the file name without the trash suffix, so a closed bucket renamed to ``*.csv.deleted`` keeps
    its count, and a purged one keeps the rows it had when it was last seen (closed buckets get no more
    rows). The count of a file only grows, except when it shrank (a restore truncates the rows written
    after the checkpoint): then it is counted again from the top and the truncation is reported.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.offset: dict[str, int] = {}
        self.newlines: dict[str, int] = {}
        self.rows: dict[str, int] = {}
        self.truncations: list[str] = []
        self.trashed: set[str] = set()  # seen renamed to *.csv.deleted by retention
        self.gone: set[str] = set()  # seen once, no longer on disk (purged)
        self.peak_files = 0
        self.peak_bytes = 0

    @staticmethod
    def _name(path: Path) -> str:
        return path.name.removesuffix(".deleted")

    def sample(self) -> int:
        """Read what was appended since the last sample; return the rows written so far."""
        files = [p for p in self.folder.glob("*.csv*") if p.name.endswith((".csv", ".csv.deleted"))]
        on_disk = 0
        self.gone = set(self.rows) - {self._name(path) for path in files}
        for path in files:
            name = self._name(path)
            if path.name.endswith(".deleted"):
                self.trashed.add(name)
            try:
                with path.open("rb") as handle:
                    size = os.fstat(handle.fileno()).st_size
                    on_disk += size
                    start = self.offset.get(name, 0)
                    if size < start:  # truncated by a restore: count again from the top
                        self.truncations.append(f"{name}: {start} -> {size} bytes")
                        start, self.newlines[name] = 0, 0
                    handle.seek(start)
                    data = handle.read(size - start)
            except FileNotFoundError:  # purged (or renamed) between the listing and the read
                continue
            complete = data.rfind(b"\n") + 1  # a row being written counts once its newline is there
            self.offset[name] = start + complete
            self.newlines[name] = self.newlines.get(name, 0) + data.count(b"\n", 0, complete)
            self.rows[name] = max(self.newlines[name] - 1, 0)  # minus the header
        self.peak_files = max(self.peak_files, len(files))
        self.peak_bytes = max(self.peak_bytes, on_disk)
        return self.total

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    @property
    def written_bytes(self) -> int:
        """Bytes of every bucket file ever seen (complete rows), deleted ones included."""
        return sum(self.offset.values())


# ------------------------------------------------------------------------------------------- resources


def folder_bytes(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (0 when it does not exist)."""
    total = 0
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            with contextlib.suppress(FileNotFoundError):
                if entry.is_dir(follow_symlinks=False):
                    total += folder_bytes(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
    return total


def _jvm_role(cmdline: str) -> str | None:
    if "StandaloneSessionClusterEntrypoint" in cmdline:
        return "Flink JobManager (JVM)"
    if "TaskManagerRunner" in cmdline:
        match = re.search(r"taskmanager\.resource-id=(\S+)", cmdline)
        return f"Flink TaskManager {match.group(1) if match else '?'} (JVM)"
    if "kafka.Kafka" in cmdline:
        return "Kafka broker (JVM)"
    return None


class ResourceSampler:
    """Samples RSS of the runtime's processes and the data folders' sizes every ``interval`` seconds.

    Python workers are the ``python`` processes under the TaskManagers. The ones alive before the run
    (workers of earlier runs) are left out; the others belong to the job whose submission preceded their
    start (``attribute``), a worker's own children to its job, and the rest to ``started later`` (e.g. a
    restart). Roles are given when the report is made, so a worker sampled before ``attribute`` saw it is
    still counted with its job.
    """

    def __init__(self, folders: dict[str, Path], interval: float) -> None:
        self.folders = folders
        self.interval = interval
        self.cluster = FlinkCluster(RuntimePaths())
        self.broker = read_pid(KafkaBroker(RuntimePaths()).pid_file)
        self.excluded = {p.pid for p in self._workers()}
        self.owner: dict[int, str] = {}
        self.parent: dict[int, int] = {}
        self.fixed_role: dict[int, str] = {}
        self.history: list[dict[int, int]] = []
        self.peak_disk: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resources", daemon=True)

    def _workers(self) -> list[psutil.Process]:
        out = []
        for proc in process_tree(self.cluster.taskmanager_pids()):
            with contextlib.suppress(psutil.Error):
                if proc.name().startswith("python"):
                    out.append(proc)
        return out

    def attribute(self, job: str) -> list[int]:
        """Mark the workers that are new since the last call as ``job``'s; return their pids."""
        new = [p.pid for p in self._workers() if p.pid not in self.excluded and p.pid not in self.owner]
        self.owner.update(dict.fromkeys(new, job))
        return new

    def _processes(self) -> list[psutil.Process]:
        procs: list[psutil.Process] = []
        for pid in [*self.cluster.pids(), *([self.broker] if self.broker else [])]:
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                role = _jvm_role(" ".join(proc.cmdline()))
                if role is not None:
                    self.fixed_role[pid] = role
                    procs.append(proc)
        for proc in self._workers():
            if proc.pid not in self.excluded:
                with contextlib.suppress(psutil.Error):
                    self.parent.setdefault(proc.pid, proc.ppid())
                procs.append(proc)
        me = psutil.Process()
        self.fixed_role[me.pid] = "benchmark process (producer, consumers)"
        return [*procs, me]

    def sample(self) -> None:
        """One sample of every process's RSS and of the folders."""
        rss: dict[int, int] = {}
        for proc in self._processes():
            with contextlib.suppress(psutil.Error):
                rss[proc.pid] = int(proc.memory_info().rss)
        disk = {name: folder_bytes(folder) for name, folder in self.folders.items()}
        with self._lock:
            self.history.append(rss)
            for name, size in disk.items():
                self.peak_disk[name] = max(self.peak_disk.get(name, 0), size)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception):  # a sample must never end the run
                self.sample()

    def start(self) -> None:
        self.sample()
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def role(self, pid: int) -> str:
        """What the process is: a JVM, the benchmark, or the Python workers of a job."""
        if pid in self.fixed_role:
            return self.fixed_role[pid]
        seen: set[int] = set()
        while pid not in self.owner and pid in self.parent and pid not in seen:  # a worker's own children
            seen.add(pid)
            pid = self.parent[pid]
        return f"Python workers: {self.owner.get(pid, 'started later')}"

    def report(self) -> dict[str, Any]:
        """Peak RSS per process (with its first sample) and per role (the sum of its processes), in MB."""
        mb = 1 << 20
        with self._lock:
            history = list(self.history)
        peak: dict[int, int] = {}
        first: dict[int, int] = {}
        peak_role: dict[str, int] = {}
        peak_total = 0
        for sample in history:
            sums: dict[str, int] = {}
            for pid, rss in sample.items():
                peak[pid] = max(peak.get(pid, 0), rss)
                first.setdefault(pid, rss)
                sums[self.role(pid)] = sums.get(self.role(pid), 0) + rss
            for role, total in sums.items():
                peak_role[role] = max(peak_role.get(role, 0), total)
            peak_total = max(peak_total, sum(sums.values()))
        processes = [{"pid": pid, "role": self.role(pid), "peak_rss_mb": round(rss / mb, 1),
                      "first_rss_mb": round(first[pid] / mb, 1)}
                     for pid, rss in sorted(peak.items(), key=lambda kv: self.role(kv[0]))]  # fmt: skip
        return {
            "samples": len(history),
            "interval_s": self.interval,
            "processes": processes,
            "peak_by_role_mb": {role: round(rss / mb, 1) for role, rss in sorted(peak_role.items())},
            "peak_total_mb": round(peak_total / mb, 1),
            "workers_of_earlier_runs_left_out": len(self.excluded),
        }


# ------------------------------------------------------------------------------------------- the jobs


def root_exception(job_id: str) -> str:
    """The job's root exception: its first line and the last ``Caused by`` / Python error lines."""
    try:
        text = str(rest_get(f"/jobs/{job_id}/exceptions", timeout=10).get("root-exception") or "")
    except Exception as exc:  # noqa: BLE001 - descriptive only
        return f"(no exception history: {exc})"
    if not text:
        return ""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    causes = [line for line in lines if line.lstrip().startswith(("Caused by", "Traceback"))
              or re.match(r"^\s*\w+(Error|Exception)\b", line)]  # fmt: skip
    return "\n".join(dict.fromkeys([lines[0], *causes[-6:]]))[:3000]


def restarts(job_id: str) -> int:
    """Entries of the job's exception history (each one a failover)."""
    with contextlib.suppress(Exception):
        history = rest_get(f"/jobs/{job_id}/exceptions", timeout=10).get("exceptionHistory", {})
        return len(history.get("entries", []))
    return -1


def wait_tasks_running(job_id: str, timeout: float = 180) -> None:
    """Wait until every vertex of the job runs (so its Python workers are up); raise if the job ended."""
    deadline = time.monotonic() + timeout
    status: list[str] = []
    while time.monotonic() < deadline:
        job = rest_get(f"/jobs/{job_id}")
        if job["state"] in TERMINAL:
            raise RuntimeError(f"job {job_id} {job['state']}: {root_exception(job_id)}")
        status = [v["status"] for v in job["vertices"]]
        if status and all(s == "RUNNING" for s in status):
            return
        time.sleep(1)
    raise RuntimeError(f"job {job_id} not running after {timeout:.0f} s: {status}")


def checkpoint_figures(job_id: str, *, details: bool = False) -> dict[str, Any]:
    """The job's latest completed checkpoint: state size, and with ``details`` per operator chain."""
    answer = rest_get(f"/jobs/{job_id}/checkpoints", timeout=10)
    latest = (answer.get("latest") or {}).get("completed") or {}
    out: dict[str, Any] = {"id": latest.get("id"), "state_size": latest.get("state_size", 0),
                           "checkpointed_size": latest.get("checkpointed_size", 0),
                           "end_to_end_ms": latest.get("end_to_end_duration"),
                           "completed": answer.get("counts", {}).get("completed", 0),
                           "failed": answer.get("counts", {}).get("failed", 0)}  # fmt: skip
    if details and latest.get("id") is not None:
        names = {v["id"]: v["name"][:70] for v in rest_get(f"/jobs/{job_id}")["vertices"]}
        tasks = rest_get(f"/jobs/{job_id}/checkpoints/details/{latest['id']}", timeout=10).get("tasks", {})
        out["by_operator"] = {names.get(vid, vid): t.get("state_size", 0) for vid, t in tasks.items()}
    return out


def add_partitions(settings: Settings, topics: list[str], partitions: int) -> None:
    """Grow ``topics`` (created with one partition) to ``partitions`` before anything reads or writes them."""
    if partitions <= 1:
        return
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    for future in admin.create_partitions([NewPartitions(t, partitions) for t in topics]).values():
        future.result(timeout=30)


def end_offsets(bootstrap: str, topic: str, partitions: int) -> int:
    """Records in ``topic`` (sum of the partitions' high watermarks)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-scale-offsets-{time.time_ns()}",
                         "log_level": 0})  # fmt: skip
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                   for p in range(partitions))  # fmt: skip
    finally:
        consumer.close()


class Feeder(threading.Thread):
    """Produces the stream to the input topic as fast as the broker takes it (bench_common.send_paced)."""

    def __init__(self, stream: Stream, settings: Settings) -> None:
        super().__init__(name="feeder", daemon=True)
        self.stream = stream
        self.settings = settings
        self.sent = 0
        self.started_at = 0.0
        self.finished_at: float | None = None
        self.error: str | None = None

    def run(self) -> None:
        producer = bench_producer(self.settings.kafka_bootstrap_servers, linger_ms=20)
        values = stream_values(self.stream.path)

        def make(_i: int) -> tuple[str, str]:
            self.sent += 1
            return next(values)

        try:
            topic = self.settings.input_topic
            self.started_at, _last = send_paced(producer, topic, self.stream.events, None, make)
            left = producer.flush(600)
            if left:
                self.error = f"{left} records still undelivered after the flush"
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            self.error = f"{type(exc).__name__}: {exc}"
        self.finished_at = time.time()


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


# ------------------------------------------------------------------------------------------------ report


def _size(value: float) -> str:
    """Bytes as KB, MB or GB."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20)):
        if value >= scale:
            return f"{value / scale:,.1f} {unit}"
    return f"{value / 1024:,.0f} KB"


def print_table(results: dict[str, Any]) -> None:
    """Figures next to the targets, then where memory, state, disk and time went."""
    events = results["stream"]["events"]
    forecasts, buckets = results["forecasts"], results["buckets"]
    print("\n[figures vs targets]")
    row("events (vessels, weeks)", f"{events:,}", f">= {TARGETS['events']:,}", events >= TARGETS["events"])
    row("outcome", results["outcome"], "complete", results["outcome"] == "complete")
    row("wall time, first event fed -> all done", f"{results['wall_s']:,.0f} s", f"<= {TARGETS['wall_s']} s",
        results["wall_s"] <= TARGETS["wall_s"])
    row("events/s end to end", f"{results['events_per_s']:,.0f}", "-")
    row("events forecast exactly once", f"{forecasts['exactly_once']:,}", f"= {events:,}",
        forecasts["exactly_once"] == events)
    row("events without a forecast (lost)", f"{forecasts['lost']:,}", "0", forecasts["lost"] == 0)
    row("duplicated forecasts", f"{forecasts['duplicated']:,}", "0", forecasts["duplicated"] == 0)
    row("forecasts of no event", f"{forecasts['unexpected']:,}", "0", forecasts["unexpected"] == 0)
    row("bucket rows written", f"{buckets['rows']:,}", f"= {events:,}", buckets["equals_events"])
    row("dataset versions / models produced", f"{results['datasets']['versions']} / {len(results['models'])}",
        "-")
    row("MPPT (model production / wall time)", f"{results['mppt_percent']} %", "-")
    row("dead letters", f"{sum(results['dead_letters'].values()):,}", "0", not results["dead_letters"])
    row("job restarts", f"{sum(max(n, 0) for n in results['restarts'].values())}", "0",
        all(n == 0 for n in results["restarts"].values()))
    instructions = [f"{i['type']} ({i['id']})" for i in results["instructions"]]
    models = [f"{m['model_id']} {m['command_type']} {float(m['production_time'] or 0):.1f} s"
              for m in results["models"]]  # fmt: skip
    print(f"  instructions: {', '.join(instructions) or 'none'}")
    print(f"  models: {', '.join(models) or 'none'}")
    print("\n[peak RSS per role (sum of its processes)]")
    for role, mb in results["rss"]["peak_by_role_mb"].items():
        print(f"  {mb:>8,.0f} MB  {role}")
    print(f"  {results['rss']['peak_total_mb']:>8,.0f} MB  all of them at once (peak)")
    print("\n[keyed state: latest completed checkpoint at the end (peak during the run)]")
    for job, state in results["state"].items():
        if "error" in state:
            print(f"  {job}: {state['error']}")
            continue
        top = max((state.get("by_operator") or {"-": 0}).items(), key=lambda kv: kv[1])
        print(f"  {job:<15} {_size(state['state_size']):>9} (peak {_size(state['peak_state_size'])}); "
              f"biggest: {top[0][:50]} {_size(top[1])}")
    disk = results["disk"]
    print("\n[disk]")
    print(f"  buckets: {_size(buckets['written_bytes'])} written in {buckets['files_seen']} files "
          f"({buckets['files_purged']} deleted by retention by the end); "
          "on disk at most "
          f"{_size(buckets['peak_bytes_on_disk'])} in {buckets['peak_files_on_disk']} files, "
          f"{_size(buckets['final_bytes_on_disk'])} at the end ({buckets['retention']})")
    for name in ("datasets", "models"):
        peak, final = disk["peak_bytes"].get(name, 0), disk["final_bytes"].get(name, 0)
        print(f"  {name}: peak {_size(peak)}, end {_size(final)}")
    print("\n[busiest operator chains while the backlog lasted, ms/s (median of the samples, max over "
          "subtasks): busy / back-pressured]")
    for vertex in results["operator_load"][:8]:
        busy, pressured = (float("nan") if v is None else v
                           for v in (vertex["busy_ms_per_s"], vertex["backpressured_ms_per_s"]))
        print(f"  {busy:>6.0f} / {pressured:>6.0f}  {vertex['job']}: {vertex['name']}")
    if results.get("failure"):
        print(f"\nFAILURE: {results['failure']}")
    for job, text in results.get("root_exceptions", {}).items():
        print(f"\nroot exception of {job}:\n{text}")


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
