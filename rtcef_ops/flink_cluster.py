"""A Flink standalone session cluster started from the apache-flink wheel's own distribution.

The project owns the configuration directory (``run/flink/conf``): Python UDF workers and the client use
the venv's interpreter, pid and log files stay in ``run/flink``, and the web UI listens on :8081. It also owns
the plugin folder (``run/flink/plugins``): the Prometheus metrics reporter, on loopback
(:mod:`rtcef_ops.metrics_plugin`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil

from rtcef_ops.flink_config import REST_PORT, embedded_config_yaml
from rtcef_ops.kafka_broker import RuntimeErrorWithHint, pid_alive
from rtcef_ops.metrics_plugin import link_plugins
from rtcef_ops.paths import RuntimePaths, flink_home
from rtcef_ops.sockets import process_tree


def _config_yaml(paths: RuntimePaths, home: Path) -> str:
    """The embedded cluster's ``config.yaml`` (built by :mod:`rtcef_ops.flink_config`)."""
    return embedded_config_yaml(paths, home)


def rest_get(path: str, timeout: float = 3.0) -> Any:
    """GET a Flink REST endpoint and decode the JSON answer."""
    with urllib.request.urlopen(f"http://localhost:{REST_PORT}{path}", timeout=timeout) as resp:
        return json.loads(resp.read().decode())


_LOCAL_WORKER_VARIABLES = frozenset({
    "PYTHON_LOOPBACK_SERVER_ADDRESS", "WORKER_ID", "PIPELINE_OPTIONS", "SEMI_PERSISTENT_DIRECTORY",
    "LOGGING_API_SERVICE_DESCRIPTOR", "CONTROL_API_SERVICE_DESCRIPTOR", "BOOT_LOG_DIR",
})  # fmt: skip
"""What PyFlink's in-process (loopback) Python workers write into their process's environment."""


def _local_pyflink_variable(name: str) -> bool:
    """Whether ``name`` belongs to a local PyFlink run of this process rather than to the user's environment:
    the distribution's folders, the gateway's connection, the Python worker mode, and what PyFlink's
    in-process worker pool copies into ``os.environ`` for its workers (among it the address of this process's
    loopback worker server: a job submitted with it would have its Python workers on the cluster connect
    back here)."""
    prefixes = ("FLINK_", "_PYFLINK", "PYFLINK_", "_python_", "_PYTHON_")
    return name.startswith(prefixes) or name in _LOCAL_WORKER_VARIABLES


class FlinkCluster:
    """Start/stop/inspect the embedded Flink session cluster."""

    def __init__(self, paths: RuntimePaths) -> None:
        self.paths = paths
        self.home = flink_home()

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) with this cluster's conf, lib and log folders.

        The cluster's variables always win: a process that ran a local PyFlink environment exports
        FLINK_LIB_DIR/FLINK_HOME of the bare wheel, which would hide the cluster's lib folder, and the
        variables of its in-process Python workers (:func:`_local_pyflink_variable`), which would make a
        submitted job's workers connect back to that process.
        """
        source = os.environ if base is None else base
        env = {k: v for k, v in source.items() if not _local_pyflink_variable(k)}
        env["FLINK_CONF_DIR"] = str(self.paths.flink_conf)
        env["FLINK_LOG_DIR"] = str(self.paths.flink_log)
        env["FLINK_PID_DIR"] = str(self.paths.flink_pid)
        env["FLINK_LIB_DIR"] = str(self.paths.flink_dir / "lib")
        if self.plugins_dir.is_dir():  # made by `start`; a cluster started before it had none
            env["FLINK_PLUGINS_DIR"] = str(self.plugins_dir)
        env["RTCEF_CLUSTER_LIB"] = "1"
        env["PYFLINK_CLIENT_EXECUTABLE"] = self.paths.python
        venv_bin = str(Path(self.paths.python).parent)
        env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
        return env

    def write_conf(self) -> None:
        conf = self.paths.flink_conf
        conf.mkdir(parents=True, exist_ok=True)
        for name in ("log4j.properties", "log4j-console.properties", "log4j-cli.properties",
                     "log4j-session.properties", "logback.xml", "logback-console.xml"):
            src = self.home / "conf" / name
            if src.exists():
                shutil.copy2(src, conf / name)
        (conf / "config.yaml").write_text(_config_yaml(self.paths, self.home))
        (conf / "masters").write_text(f"localhost:{REST_PORT}\n")
        (conf / "workers").write_text("localhost\n")
        for folder in (self.paths.flink_log, self.paths.flink_pid):
            folder.mkdir(parents=True, exist_ok=True)
        self._link_lib()

    def _link_lib(self) -> None:
        """The cluster's lib folder: the wheel's jars plus flink-python, the Kafka connector and the loopback
        fix of the Python runner's gRPC servers (``runtime/loopback``).

        Loading the Python runtime and the connector once, in the cluster's class loader, instead of once per
        submitted job keeps JVM metaspace flat however many jobs are (re)submitted. Flink's scripts put the
        lib folder's jars on the class path in name order, so the loopback fix (``beam-...``) is found before
        the class it replaces in ``flink-python-...``.
        """
        lib = self.paths.flink_dir / "lib"
        if lib.exists():
            shutil.rmtree(lib)
        lib.mkdir(parents=True)
        jars = [*(self.home / "lib").glob("*.jar"), *(self.home / "opt").glob("flink-python-*.jar"),
                *self.paths.connector_lib.glob("*.jar"), *self.paths.loopback_lib.glob("*.jar")]  # fmt: skip
        if not any(jar.name.startswith("flink-sql-connector-kafka") for jar in jars):
            raise RuntimeErrorWithHint(
                f"flink: no Kafka connector in {self.paths.connector_lib}: run `make install`"
            )
        if not any(jar.name.startswith("beam-fn-loopback") for jar in jars):
            raise RuntimeErrorWithHint(
                f"flink: no loopback fix in {self.paths.loopback_lib}: run `make install`"
            )
        for jar in jars:
            (lib / jar.name).symlink_to(jar.resolve())

    @property
    def plugins_dir(self) -> Path:
        """The cluster's plugin folder (``FLINK_PLUGINS_DIR``), made at every start."""
        return self.paths.flink_dir / "plugins"

    def link_plugins(self) -> None:
        """Make the plugin folder: the Prometheus reporter on loopback (:func:`metrics_plugin.link_plugins`).

        A problem (no ``javac``) is printed and the cluster starts without a metrics endpoint.
        """
        for problem in link_plugins(self.plugins_dir, self.home, self.paths.flink_dir / "reporter"):
            print(f"flink: {problem}")

    @property
    def last_start_file(self) -> Path:
        """Where :meth:`start` records how long the last start took (until a TaskManager registered)."""
        return self.paths.flink_dir / "last_start.json"

    def last_start_seconds(self) -> float | None:
        """Seconds the last :meth:`start` took (scripts launched -> cluster healthy), if recorded."""
        try:
            return float(json.loads(self.last_start_file.read_text())["seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def pids(self) -> list[int]:
        found: list[int] = []
        for pid_file in sorted(self.paths.flink_pid.glob("*.pid")):
            for line in pid_file.read_text().split():
                if line.strip().isdigit():
                    found.append(int(line))
        return found

    def taskmanager_count(self) -> int:
        """TaskManagers registered with the JobManager (0 when the REST API does not answer)."""
        try:
            return int(rest_get("/overview").get("taskmanagers", 0))
        except (urllib.error.URLError, OSError, ValueError):
            return 0

    def healthy(self, taskmanagers: int = 1) -> bool:
        """The REST API answers and at least ``taskmanagers`` TaskManagers are registered."""
        return self.taskmanager_count() >= max(taskmanagers, 1)

    def _run_script(self, script: str, *args: str) -> None:
        result = subprocess.run(
            ["bash", str(self.home / "bin" / script), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            raise RuntimeErrorWithHint(f"flink: {script} failed: {result.stderr.strip()[-500:]}")

    def taskmanager_dir(self, index: int) -> Path:
        """Working and tmp folders of the ``index``-th TaskManager process (``run/flink/tm-<index>``)."""
        return self.paths.flink_dir / f"tm-{index}"

    def add_taskmanager(self) -> int:
        """Start one more TaskManager process with its own working and tmp folders; return its index.

        Every TaskManager of the embedded cluster shares the configuration (and so ``DATA_DIR``, the shared
        volume) and listens on loopback; ports are picked by the OS, so several run on one host.
        """
        index = len(list(self.paths.flink_dir.glob("tm-*")))
        folder = self.taskmanager_dir(index)
        (folder / "tmp").mkdir(parents=True)
        (folder / "work").mkdir(parents=True)
        self._run_script(
            "taskmanager.sh", "start",
            "-D", f"io.tmp.dirs={folder / 'tmp'}",
            "-D", f"process.taskmanager.working-dir={folder / 'work'}",
            "-D", f"taskmanager.resource-id=tm-{index}",
        )  # fmt: skip
        return index

    def taskmanager_pids(self) -> list[int]:
        """Pids of the live TaskManager processes this project started."""
        return [pid for pid in self._pids_in("taskexecutor") if pid_alive(pid)]

    def _pids_in(self, role: str) -> list[int]:
        found: list[int] = []
        for pid_file in sorted(self.paths.flink_pid.glob(f"*{role}*.pid")):
            found += [int(word) for word in pid_file.read_text().split() if word.isdigit()]
        return found

    def taskmanagers(self) -> list[dict[str, Any]]:
        """The registered TaskManagers: id, slots (total/free), data port."""
        answer = rest_get("/taskmanagers")
        return [
            {"id": tm["id"], "slots": tm.get("slotsNumber", 0), "free": tm.get("freeSlots", 0),
             "data_port": tm.get("dataPort")}
            for tm in answer.get("taskmanagers", [])
        ]  # fmt: skip

    def start(self, timeout_s: float = 120.0, *, taskmanagers: int = 1) -> None:
        """Start the JobManager and ``taskmanagers`` TaskManager processes, or add the missing ones.

        Idempotent: a running cluster with fewer TaskManagers gets the missing ones; one with as many or
        more is left as it is.
        """
        started = time.monotonic()
        running = any(pid_alive(p) for p in self._pids_in("standalonesession")) and self.healthy()
        if running:
            missing = taskmanagers - len(self.taskmanager_pids())
            if missing <= 0:
                print(f"flink: already running with {self.taskmanager_count()} TaskManager(s), "
                      f"web UI http://localhost:{REST_PORT}")  # fmt: skip
                return
        else:
            self.write_conf()
            self.link_plugins()
            for folder in self.paths.flink_dir.glob("tm-*"):
                shutil.rmtree(folder, ignore_errors=True)
            self._run_script("jobmanager.sh", "start")
            missing = taskmanagers
        for _ in range(missing):
            self.add_taskmanager()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.healthy(taskmanagers):
                elapsed = time.monotonic() - started
                self.last_start_file.write_text(json.dumps({"seconds": elapsed, "at": time.time()}) + "\n")
                print(f"flink: up in {elapsed:.1f} s with {self.taskmanager_count()} TaskManager(s), "
                      f"web UI http://localhost:{REST_PORT} (pids {self.pids()})")
                return
            time.sleep(1.0)
        raise RuntimeErrorWithHint(f"flink: not healthy after {timeout_s:.0f}s; see {self.paths.flink_log}")

    def stop_taskmanager(self, pid: int, *, kill: bool = False, timeout_s: float = 30.0) -> None:
        """Stop one TaskManager process (``kill``: SIGKILL at once, as a crash would) and forget its pid.

        A TaskManager killed outright leaves its Python workers behind (they do not notice that their
        runner is gone); they are stopped once it is dead, as a container runtime would take them with it.
        """
        workers = python_workers(pid)
        os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        stop_processes(workers)
        for pid_file in self.paths.flink_pid.glob("*taskexecutor*.pid"):
            kept = [w for w in pid_file.read_text().split() if w.isdigit() and int(w) != pid]
            pid_file.write_text("".join(f"{w}\n" for w in kept))

    def stop(self, timeout_s: float = 30.0) -> None:
        pids = [p for p in self.pids() if pid_alive(p)]
        if not pids:
            print("flink: not running")
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.3)
        for pid in pids:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        for pid_file in self.paths.flink_pid.glob("*.pid"):
            pid_file.unlink()
        if pids:
            print(f"flink: stopped (pids {pids})")
        orphans = orphaned_python_workers()
        if orphans:
            stop_processes(orphans)
            print(f"flink: stopped {len(orphans)} Python worker process(es) left by TaskManagers that died")

    def jobs(self) -> list[dict[str, Any]]:
        """Jobs known to the cluster, newest first: id, name, state."""
        overview = rest_get("/jobs/overview")
        jobs = [
            {"id": j["jid"], "name": j["name"], "state": j["state"], "start": j.get("start-time", 0)}
            for j in overview.get("jobs", [])
        ]
        return sorted(jobs, key=lambda j: -int(j["start"]))

    def flink_cli(self) -> Path:
        return self.home / "bin" / "flink"


_WORKER_MARKS = ("pyflink-udf-runner.sh", "pyflink.fn_execution.beam.beam_boot")


def _is_python_worker(process: psutil.Process) -> bool:
    """A PyFlink Python worker (runner script or Beam boot) of this installation's virtual environment."""
    try:
        command = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return any(mark in command for mark in _WORKER_MARKS) and sys.prefix in command


def python_workers(taskmanager_pid: int) -> list[psutil.Process]:
    """The Python worker processes under a TaskManager (runner scripts and the interpreters they start)."""
    return [process for process in process_tree([taskmanager_pid]) if _is_python_worker(process)]


def orphaned_python_workers() -> list[psutil.Process]:
    """This installation's Python workers whose TaskManager is gone: no Java process among their
    ancestors (a worker of a live TaskManager or of a test's local cluster is never among them)."""
    found: list[psutil.Process] = []
    for process in psutil.process_iter():
        if not _is_python_worker(process):
            continue
        try:
            ancestors = process.parents()
            if not any(parent.name() == "java" for parent in ancestors):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def stop_processes(processes: list[psutil.Process], timeout_s: float = 5.0) -> None:
    """SIGTERM, then SIGKILL what is still alive after ``timeout_s`` (processes already gone are skipped)."""
    for process in processes:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(processes, timeout=timeout_s)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
