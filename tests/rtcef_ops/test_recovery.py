"""Restart support of the runtime without a cluster: REST answers, the ``flink run`` command, the CLI.

The REST calls themselves run against the real cluster in ``tests/e2e/test_restart.py`` and
``tests/e2e/test_swap.py``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from rtcef_ops import recovery, submit
from rtcef_ops.__main__ import main
from rtcef_ops.flink_cluster import _config_yaml
from rtcef_ops.paths import RuntimePaths, flink_home


def test_local_path_accepts_every_form_the_rest_api_uses() -> None:
    assert recovery.local_path("file:/run/flink/checkpoints/j/chk-3") == Path(
        "/run/flink/checkpoints/j/chk-3"
    )
    assert recovery.local_path("file:///run/sp/savepoint-1") == Path("/run/sp/savepoint-1")
    assert recovery.local_path("/plain/path") == Path("/plain/path")


def test_only_externalized_checkpoints_can_be_restored_from() -> None:
    assert recovery.completed_checkpoint({"latest": {"completed": None}}) is None
    assert recovery.completed_checkpoint({}) is None
    hidden = {"latest": {"completed": {"id": 4, "external_path": recovery.NOT_EXTERNALIZED}}}
    assert recovery.completed_checkpoint(hidden) is None
    kept = {"id": 5, "external_path": "file:/c/chk-5", "trigger_timestamp": 10}
    assert recovery.completed_checkpoint({"latest": {"completed": kept}}) == kept


def test_wait_for_checkpoint_ignores_checkpoints_triggered_before_the_given_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = iter(
        [
            {"latest": {"completed": {"external_path": "file:/c/chk-1", "trigger_timestamp": 100}}},
            {"latest": {"completed": {"external_path": "file:/c/chk-2", "trigger_timestamp": 200}}},
        ]
    )
    monkeypatch.setattr(recovery, "rest_get", lambda path: next(answers))
    monkeypatch.setattr(recovery.time, "sleep", lambda s: None)
    assert recovery.wait_for_checkpoint("j", after_ms=150) == "file:/c/chk-2"


def _fake_run(seen: list[list[str]]) -> Any:
    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.append(command)
        return subprocess.CompletedProcess(command, 0, "Job has been submitted with JobID 0123abcd\n", "")

    return run


def test_submit_passes_the_restore_path_to_flink_run(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr(submit.subprocess, "run", _fake_run(seen))
    paths = RuntimePaths()
    assert submit.submit("collector_job", paths, restore_from="file:/c/chk-7") == "0123abcd"
    assert submit.submit("collector_job", paths) == "0123abcd"
    restored, fresh = seen
    assert restored[restored.index("-s") + 1] == "file:/c/chk-7"
    assert restored.index("-s") < restored.index("-py")
    assert "-s" not in fresh


def test_cli_restores_one_job_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[str, str | None]] = []
    monkeypatch.setattr("rtcef_ops.__main__.submit", lambda job, paths, restore_from=None: calls.append(
        (job, restore_from)))  # fmt: skip
    assert main(["submit", "inference_job", "--from", "file:/s/savepoint-1"]) == 0
    assert calls == [("inference_job", "file:/s/savepoint-1")]
    with pytest.raises(SystemExit):
        main(["submit", "inference_job", "collector_job", "--from", "file:/s/savepoint-1"])
    assert "exactly one job" in capsys.readouterr().err


def test_cluster_config_retains_checkpoints_on_cancellation() -> None:
    paths = RuntimePaths()
    yaml = _config_yaml(paths, flink_home())
    assert "externalized-checkpoint-retention: RETAIN_ON_CANCELLATION" in yaml
