"""Isolated runs on the shared runtime: own topics, groups and data folder; the cluster lock; cleanup.

Why a module: the end-to-end tests and the benchmarks both submit jobs to the one shared session cluster.
Each run names its topics and consumer groups with a fresh prefix (so it never sees another run's records),
holds ``/tmp/rtcef-cluster.lock`` while it uses the cluster, and on the way out cancels the jobs it
submitted and deletes its topics. Nothing here imports pytest: a failure raises.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from confluent_kafka.admin import AdminClient

from protocol.settings import Settings, load_settings, settings_from_env
from rtcef_ops.flink_cluster import rest_get
from rtcef_ops.recovery import cancel, discard_checkpoints
from rtcef_ops.topics import ensure_topics

__all__ = [
    "CLUSTER_LOCK",
    "LOCK_HELD_VARIABLE",
    "cancel_jobs",
    "cluster_lock",
    "delete_topics",
    "isolated_env",
    "job_state",
    "wait_running",
]

CLUSTER_LOCK = Path("/tmp/rtcef-cluster.lock")
LOCK_HELD_VARIABLE = "RTCEF_CLUSTER_LOCK_HELD"
"""Set to ``1`` by a caller that already holds :data:`CLUSTER_LOCK` (e.g. a script run under ``flock``)."""


def _inherited_lock(lock: Path) -> bool:
    """True when this process inherited an open descriptor of ``lock`` (``flock <lock> <command>``)."""
    with contextlib.suppress(OSError):
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/self/fd/{fd}") == str(lock):
                    return True
    return False


@contextlib.contextmanager
def cluster_lock(lock: Path = CLUSTER_LOCK) -> Iterator[None]:
    """Hold the shared cluster lock for the block (``fcntl.flock``), unless the caller already holds it.

    The caller holds it when ``RTCEF_CLUSTER_LOCK_HELD=1`` or when the process inherited the lock file from
    ``flock``: taking it again through a new descriptor would then wait for ourselves forever.
    """
    if os.environ.get(LOCK_HELD_VARIABLE) == "1" or _inherited_lock(lock):
        yield
        return
    with lock.open("a") as handle:
        print(f"waiting for {lock} ...", flush=True)
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def isolated_env(
    data_dir: Path,
    bootstrap: str | None,
    overrides: Mapping[str, str],
    *,
    prefix: str = "e2e",
    partitions: int = 1,
) -> tuple[dict[str, str], Settings, str]:
    """Environment, settings and run id of one run (``<prefix><id>-<topic>`` topics, created here)."""
    run_id = uuid.uuid4().hex[:8]
    base = load_settings()
    env = dict(os.environ)
    env.update({name.upper(): f"{prefix}{run_id}-{topic}" for name, topic in base.topics().items()})
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap or base.kafka_bootstrap_servers,
            "DATA_DIR": str(data_dir),
            "CONSUMER_GROUP_PREFIX": f"{prefix}{run_id}",
        }
    )
    env.update(overrides)
    settings = settings_from_env(env)
    ensure_topics(settings, partitions=partitions)
    return env, settings, run_id


def delete_topics(settings: Settings) -> None:
    """Delete the run's topics (best effort)."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    for future in admin.delete_topics(list(settings.all_topics())).values():
        try:
            future.result(timeout=30)
        except Exception as exc:  # noqa: BLE001 - cleanup
            print(f"cleanup: {exc}")


def job_state(job_id: str) -> str:
    """The job's state as the cluster reports it."""
    return str(rest_get(f"/jobs/{job_id}")["state"])


def wait_running(job_ids: Iterable[str], timeout: float = 180) -> None:
    """Wait until every job is RUNNING; raise at once if one failed, was cancelled or finished."""
    ids = list(job_ids)
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {jid: job_state(jid) for jid in ids}
        if any(state in ("FAILED", "CANCELED", "FINISHED") for state in states.values()):
            break
        if all(state == "RUNNING" for state in states.values()):
            return
        time.sleep(1)
    raise RuntimeError(f"jobs not running: {states}")


def cancel_jobs(job_ids: Iterable[str]) -> None:
    """Cancel the jobs (best effort, waiting until they stopped) and delete their retained checkpoints."""
    for job_id in job_ids:
        try:
            cancel(job_id)
        except Exception as exc:  # noqa: BLE001 - cleanup must go on for the other jobs
            print(f"cleanup: cannot cancel {job_id}: {exc}")
        discard_checkpoints(job_id)
