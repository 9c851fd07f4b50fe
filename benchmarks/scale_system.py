"""What the scale benchmark reads off the running system: RSS of its processes, disk, jobs over REST.

Part of ``bench_scale.py`` (see its docstring).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions

from protocol.settings import Settings
from rtcef_ops.flink_cluster import FlinkCluster, rest_get
from rtcef_ops.kafka_broker import KafkaBroker, read_pid
from rtcef_ops.paths import RuntimePaths
from rtcef_ops.sockets import process_tree

TERMINAL = frozenset({"FAILED", "CANCELED", "FINISHED"})


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

