"""Where the embedded runtime keeps its files (all inside the project's ``run/`` folder)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from protocol.settings import PROJECT_ROOT


@dataclass(frozen=True)
class RuntimePaths:
    """Folders and files of the embedded runtime.

    ``run_dir`` (else ``RTCEF_RUN_DIR``, else ``<root>/run``) holds the runtime's state: a second, temporary
    runtime (a benchmark's throw-away broker) gets its own folder while the jars stay shared.
    """

    root: Path = PROJECT_ROOT
    run_dir: Path | None = None

    @property
    def run(self) -> Path:
        if self.run_dir is not None:
            return Path(self.run_dir)
        return Path(os.environ.get("RTCEF_RUN_DIR", self.root / "run"))

    @property
    def kafka_lib(self) -> Path:
        return self.root / "runtime" / "lib" / "kafka"

    @property
    def connector_lib(self) -> Path:
        return self.root / "runtime" / "lib" / "connector"

    @property
    def loopback_lib(self) -> Path:
        """The loopback fix of the Python runner's gRPC servers (``runtime/loopback``), built by install."""
        return self.root / "runtime" / "lib" / "loopback"

    @property
    def kafka_dir(self) -> Path:
        return self.run / "kafka"

    @property
    def flink_dir(self) -> Path:
        return self.run / "flink"

    @property
    def flink_conf(self) -> Path:
        return self.flink_dir / "conf"

    @property
    def flink_log(self) -> Path:
        return self.flink_dir / "log"

    @property
    def flink_pid(self) -> Path:
        return self.flink_dir / "pid"

    @property
    def python(self) -> str:
        return os.environ.get("RTCEF_PYTHON", sys.executable)


def flink_home() -> Path:
    """The Flink distribution shipped inside the apache-flink wheel."""
    import pyflink

    return Path(pyflink.__file__).resolve().parent
