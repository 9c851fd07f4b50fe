"""Savepoints, retained checkpoints and simulated crashes of jobs on the session cluster (REST API).

Why: a job is restarted from its state by ``flink run -s <path>`` (see :func:`rtcef_ops.submit.submit`),
and the path comes either from a savepoint (a planned stop: :func:`stop_with_savepoint`) or from the
newest checkpoint that survived the job (a crash: :func:`crash`). Checkpoints survive a cancellation only
when the job retains them: ``make_env`` sets ``RETAIN_ON_CANCELLATION`` for every job submitted to the
cluster, and the cluster configuration says the same
(``execution.checkpointing.externalized-checkpoint-retention``).

A *crash* here is a cancellation without savepoint once a checkpoint has completed: the job stops with
whatever side effects it had after that checkpoint (rows in bucket files, records in sinks), which is
what a failure does. Restarting it from :func:`crash`'s path is what Flink's own failover does.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rtcef_ops.flink_cluster import REST_PORT, rest_get
from rtcef_ops.kafka_broker import RuntimeErrorWithHint
from rtcef_ops.paths import RuntimePaths

__all__ = [
    "TERMINAL_STATES",
    "cancel",
    "completed_checkpoint",
    "crash",
    "discard_checkpoints",
    "latest_checkpoint",
    "local_path",
    "rest_call",
    "stop_with_savepoint",
    "trigger_savepoint",
    "wait_for_checkpoint",
    "wait_for_state",
]

TERMINAL_STATES = frozenset({"FINISHED", "CANCELED", "FAILED"})
NOT_EXTERNALIZED = "<checkpoint-not-externalized>"


def rest_call(method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
    """Send ``method`` to a Flink REST endpoint with an optional JSON body; decode the JSON answer."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://localhost:{REST_PORT}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"} if data is not None else {},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            text = resp.read().decode()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:800]
        raise RuntimeErrorWithHint(f"flink REST {method} {path}: HTTP {exc.code}: {detail}") from None
    return json.loads(text) if text.strip() else {}


def local_path(uri: str) -> Path:
    """A ``file:`` URI as the REST API reports it (``file:/a/b`` or ``file:///a/b``) -> a local path."""
    if uri.startswith("file://"):
        return Path(uri[len("file://") :])
    if uri.startswith("file:"):
        return Path(uri[len("file:") :])
    return Path(uri)


def completed_checkpoint(checkpoints: dict[str, Any]) -> dict[str, Any] | None:
    """The ``latest.completed`` entry of a ``/jobs/<id>/checkpoints`` answer, if it was externalized."""
    latest = (checkpoints.get("latest") or {}).get("completed")
    if not latest or latest.get("external_path") in (None, "", NOT_EXTERNALIZED):
        return None
    return latest


def latest_checkpoint(job_id: str) -> str:
    """Path of the job's newest completed (externalized) checkpoint or savepoint."""
    latest = completed_checkpoint(rest_get(f"/jobs/{job_id}/checkpoints"))
    if latest is None:
        raise RuntimeErrorWithHint(
            f"job {job_id}: no retained checkpoint yet (is checkpointing on and retention enabled?)"
        )
    return str(latest["external_path"])


def wait_for_checkpoint(job_id: str, *, after_ms: int = 0, timeout_s: float = 60.0) -> str:
    """Wait for a checkpoint *triggered* after ``after_ms`` (epoch ms) to complete; return its path.

    A checkpoint triggered after the moment at which every output of some input was seen holds source
    offsets past that input, so a restore from it does not replay any of it.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        latest = completed_checkpoint(rest_get(f"/jobs/{job_id}/checkpoints"))
        if latest is not None and int(latest.get("trigger_timestamp", 0)) > after_ms:
            return str(latest["external_path"])
        time.sleep(0.5)
    raise RuntimeErrorWithHint(f"job {job_id}: no checkpoint completed within {timeout_s:.0f}s")


def wait_for_state(job_id: str, states: set[str] | frozenset[str], timeout_s: float = 60.0) -> str:
    """Poll the job until its state is one of ``states``; return that state."""
    deadline = time.monotonic() + timeout_s
    state = "?"
    while time.monotonic() < deadline:
        state = str(rest_get(f"/jobs/{job_id}")["state"])
        if state in states:
            return state
        time.sleep(0.5)
    raise RuntimeErrorWithHint(f"job {job_id}: still {state} after {timeout_s:.0f}s, wanted {sorted(states)}")


def cancel(job_id: str, *, wait_s: float = 60.0) -> str:
    """Cancel the job without savepoint (idempotent) and wait until it is terminal; return its state."""
    state = str(rest_get(f"/jobs/{job_id}")["state"])
    if state not in TERMINAL_STATES:
        rest_call("PATCH", f"/jobs/{job_id}?mode=cancel")
    return wait_for_state(job_id, TERMINAL_STATES, wait_s)


def crash(job_id: str, *, after_ms: int = 0, timeout_s: float = 60.0) -> str:
    """Simulate a failure: once a checkpoint triggered after ``after_ms`` completed, cancel without savepoint.

    Returns the newest checkpoint that survived the cancellation, read after the job stopped (a checkpoint
    completing between the wait and the cancel subsumes and deletes the one seen before). Restart the job
    with ``submit(job, paths, restore_from=<that path>)``.
    """
    wait_for_checkpoint(job_id, after_ms=after_ms, timeout_s=timeout_s)
    cancel(job_id)
    path = latest_checkpoint(job_id)
    if not (local_path(path) / "_metadata").exists():
        raise RuntimeErrorWithHint(
            f"job {job_id}: checkpoint {path} was not retained on cancellation "
            "(execution.checkpointing.externalized-checkpoint-retention must be RETAIN_ON_CANCELLATION)"
        )
    return path


def _await_savepoint(job_id: str, request_id: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = rest_get(f"/jobs/{job_id}/savepoints/{request_id}")
        if answer.get("status", {}).get("id") == "COMPLETED":
            operation = answer.get("operation") or {}
            if "location" in operation:
                return str(operation["location"])
            cause = operation.get("failure-cause", {})
            trace = str(cause.get("stack-trace", ""))[:800]
            raise RuntimeErrorWithHint(f"job {job_id}: savepoint failed: {cause.get('class', '')}: {trace}")
        time.sleep(0.5)
    raise RuntimeErrorWithHint(f"job {job_id}: savepoint not done after {timeout_s:.0f}s")


def stop_with_savepoint(job_id: str, target_dir: str | Path, *, timeout_s: float = 120.0) -> str:
    """Stop the job gracefully with a savepoint in ``target_dir``; return the savepoint's path.

    ``drain`` is false: event-time timers are not fired by a final watermark, so open buckets and open
    score intervals stay open and continue after the restart.
    """
    target = Path(target_dir).resolve()
    answer = rest_call("POST", f"/jobs/{job_id}/stop", {"targetDirectory": str(target), "drain": False})
    path = _await_savepoint(job_id, str(answer["request-id"]), timeout_s)
    wait_for_state(job_id, TERMINAL_STATES, timeout_s)
    return path


def trigger_savepoint(job_id: str, target_dir: str | Path, *, timeout_s: float = 120.0) -> str:
    """Take a savepoint of a running job without stopping it; return the savepoint's path."""
    target = Path(target_dir).resolve()
    body = {"target-directory": str(target), "cancel-job": False}
    answer = rest_call("POST", f"/jobs/{job_id}/savepoints", body)
    return _await_savepoint(job_id, str(answer["request-id"]), timeout_s)


def discard_checkpoints(job_id: str, paths: RuntimePaths | None = None) -> bool:
    """Delete a terminal job's retained checkpoints (``<checkpoint dir>/<job id>``); True if removed.

    Retained checkpoints are never cleaned up by Flink; tests call this for the jobs they cancel.
    """
    folder = (paths or RuntimePaths()).flink_dir / "checkpoints" / job_id
    if folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)
        return True
    return False
