"""Submission of the four jobs to the running session cluster with ``flink run -d``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from rtcef_ops.flink_cluster import FlinkCluster
from rtcef_ops.kafka_broker import RuntimeErrorWithHint
from rtcef_ops.paths import RuntimePaths

JOBS = ("collector_job", "factory_job", "controller_job", "inference_job")


def submit(
    job: str,
    paths: RuntimePaths,
    *,
    extra_env: dict[str, str] | None = None,
    restore_from: str | None = None,
    flink_options: Mapping[str, str] | None = None,
) -> str:
    """Submit one job detached; return its Flink job id.

    The project is installed into the venv the TaskManager's Python workers use, so no code needs to be
    shipped, and the Kafka connector is in the cluster's own lib folder (see ``FlinkCluster``).
    ``restore_from`` (a savepoint or retained checkpoint path, see :mod:`rtcef_ops.recovery`) starts the
    job from that state (``flink run -s``): operator state, timers and source offsets continue from it.
    ``flink_options`` are per-job Flink options (``flink run -D key=value``), e.g. PyFlink's
    ``python.fn-execution.bundle.time``.
    """
    if job not in JOBS:
        raise RuntimeErrorWithHint(f"unknown job {job!r}; choose one of {', '.join(JOBS)}")
    return submit_script(
        paths.root / job / "main.py", paths, name=job, extra_env=extra_env, restore_from=restore_from,
        flink_options=flink_options,
    )  # fmt: skip


def submit_script(
    script: Path,
    paths: RuntimePaths,
    *,
    name: str | None = None,
    extra_env: dict[str, str] | None = None,
    restore_from: str | None = None,
    flink_options: Mapping[str, str] | None = None,
) -> str:
    """Submit any PyFlink program file detached (``flink run -d -py``); return its Flink job id.

    :func:`submit` uses it for the four jobs; benchmarks use it for their own probe jobs.
    """
    label = name or script.stem
    cluster = FlinkCluster(paths)
    options = [item for key, value in (flink_options or {}).items() for item in ("-D", f"{key}={value}")]
    command = [
        "bash",
        str(cluster.flink_cli()),
        "run",
        "-d",
        *options,
        *(["-s", restore_from] if restore_from else []),
        "-pyexec",
        paths.python,
        "-pyclientexec",
        paths.python,
        "-py",
        str(script),
    ]
    env = cluster.env({**os.environ, **(extra_env or {})})
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False,
                            stdin=subprocess.DEVNULL, cwd=paths.root)
    output = result.stdout + result.stderr
    for line in output.splitlines():
        if "JobID" in line:
            job_id = line.rsplit(" ", 1)[-1].strip()
            origin = f" from {restore_from}" if restore_from else ""
            print(f"{label}: submitted as {job_id}{origin}")
            return job_id
    sys.stderr.write(output[-12000:])
    raise RuntimeErrorWithHint(f"{label}: submission failed (exit {result.returncode}); output above")
