"""A single-node Apache Kafka broker in KRaft mode, run with plain ``java`` on loopback.

The broker's classpath is ``runtime/lib/kafka`` (fetched by ``make install``); its data, log and pid
live in ``run/kafka``. Started processes are remembered by pid so that ``stop`` ends exactly them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from rtcef_ops.paths import RuntimePaths


class RuntimeErrorWithHint(RuntimeError):
    """A runtime operation failed; the message says what to look at."""


def _properties(paths: RuntimePaths, port: int, controller_port: int) -> str:
    data = paths.kafka_dir / "data"
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={data}",
            "num.partitions=1",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "log.retention.hours=-1",
            "log.message.timestamp.type=LogAppendTime",
            "",
        ]
    )


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); look at its state.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except OSError:
        return True


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


class KafkaBroker:
    """Start/stop/inspect the embedded broker."""

    def __init__(self, paths: RuntimePaths, port: int = 9092, controller_port: int = 9093) -> None:
        self.paths = paths
        self.port = port
        self.controller_port = controller_port

    @property
    def pid_file(self) -> Path:
        return self.paths.kafka_dir / "kafka.pid"

    @property
    def log_file(self) -> Path:
        return self.paths.kafka_dir / "kafka.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _java(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        classpath = f"{self.paths.kafka_lib}/*"
        return subprocess.run(
            ["java", "-cp", classpath, *args], capture_output=True, text=True, check=False, **kwargs
        )  # type: ignore[call-overload]

    def running(self) -> bool:
        pid = read_pid(self.pid_file)
        return pid is not None and pid_alive(pid)

    def start(self, timeout_s: float = 90.0) -> None:
        """Format storage on first use, start the broker and wait until it accepts connections."""
        if self.running():
            print(f"kafka: already running (pid {read_pid(self.pid_file)}) on {self.bootstrap}")
            return
        if port_open("127.0.0.1", self.port):
            raise RuntimeErrorWithHint(
                f"kafka: port {self.port} is taken by a process this project did not start; stop it first"
            )
        if not any(self.paths.kafka_lib.glob("kafka_2.13-*.jar")):
            raise RuntimeErrorWithHint(f"kafka: no broker jars in {self.paths.kafka_lib}: run `make install`")
        self.paths.kafka_dir.mkdir(parents=True, exist_ok=True)
        props = self.paths.kafka_dir / "kraft.properties"
        props.write_text(_properties(self.paths, self.port, self.controller_port))
        if not (self.paths.kafka_dir / "data" / "meta.properties").exists():
            cluster_id = self._java("kafka.tools.StorageTool", "random-uuid").stdout.strip().splitlines()[-1]
            fmt = self._java(
                "kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_id, "-c", str(props)
            )
            if fmt.returncode != 0:
                raise RuntimeErrorWithHint(f"kafka: storage format failed: {fmt.stderr.strip()[-500:]}")
        log = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child process
        proc = subprocess.Popen(
            [
                "java",
                "-Xms256m",
                "-Xmx768m",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                "-cp",
                f"{self.paths.kafka_lib}/*",
                "kafka.Kafka",
                str(props),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid_file.write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeErrorWithHint(
                    f"kafka: broker exited with {proc.returncode}; see {self.log_file}"
                )
            if port_open("127.0.0.1", self.port) and self._ready():
                print(f"kafka: up on {self.bootstrap} (pid {proc.pid})")
                return
            time.sleep(0.5)
        raise RuntimeErrorWithHint(f"kafka: not ready after {timeout_s:.0f}s; see {self.log_file}")

    def _ready(self) -> bool:
        from confluent_kafka.admin import AdminClient

        try:
            admin = AdminClient({"bootstrap.servers": self.bootstrap})
            admin.list_topics(timeout=2)
            return True
        except Exception:  # noqa: BLE001 - any failure means "not yet"
            return False

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the broker this project started (by pid), gracefully then forcibly."""
        pid = read_pid(self.pid_file)
        if pid is None or not pid_alive(pid):
            print("kafka: not running")
            self.pid_file.unlink(missing_ok=True)
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.3)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        print(f"kafka: stopped (pid {pid})")
