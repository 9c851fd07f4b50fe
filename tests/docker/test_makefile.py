"""The Makefile's Docker mode, read with ``make -n`` (prints the commands, runs none)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess

import pytest

from protocol.settings import settings_from_env
from rtcef_ops.flink_config import DOCKER_DEPLOYMENT
from rtcef_ops.submit import JOBS
from tests.repo_data import REPO_ROOT

DATA_DIR = DOCKER_DEPLOYMENT.state_dir
EXEC = ["docker", "compose", "exec", "-T", "jobmanager"]


def _dry_run(*args: str) -> list[list[str]]:
    """The shell commands ``make -n args`` prints, each split into words (continuations joined)."""
    make = shutil.which("make")
    if make is None:
        pytest.fail("GNU make is needed for this check")
    # The variables a caller may set would change what is printed.
    env = {k: v for k, v in os.environ.items() if k not in {"COMPOSE", "MODE", "MAKEFLAGS", "STREAM"}}
    printed = subprocess.run([make, "-n", "--no-print-directory", *args], cwd=REPO_ROOT, env=env,
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    return [_words(line) for line in printed.replace("\\\n", " ").splitlines() if line]


def _words(line: str) -> list[str]:
    """Shell words of ``line``, operators (``;``, ``&&``, ``||``) as words of their own."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def _module_call(words: list[str], module: str) -> list[str]:
    """The arguments after ``-m module`` in ``words``."""
    start = words.index(module) + 1
    end = next((i for i in range(start, len(words)) if words[i] in {"&&", ";", "}", "||"}), len(words))
    return words[start:end]


def _without(args: list[str], *options: str) -> list[str]:
    """``args`` without the given options and their values."""
    out: list[str] = []
    skip = False
    for item in args:
        if skip:
            skip = False
        elif item in options:
            skip = True
        else:
            out.append(item)
    return out


def test_start_and_stop_use_compose() -> None:
    assert _dry_run("start", "MODE=docker") == [["docker", "compose", "up", "-d", "--build"]]
    assert _dry_run("stop", "MODE=docker") == [["docker", "compose", "down"]]


def test_submit_bootstraps_a_model_on_the_shared_volume_when_none_is_registered() -> None:
    check, jobs = _dry_run("submit", "MODE=docker")
    registry = str(settings_from_env({"DATA_DIR": DATA_DIR}).registry_path)
    assert check[: len(EXEC) + 3] == [*EXEC, "test", "-f", registry]
    assert check[len(EXEC) + 3] == "||", "the bootstrap runs only when the registry is missing"
    rest = check[len(EXEC) + 4 :]
    for module in ("mocks.synthetic", "inference_job.bootstrap"):
        at = rest.index(module)
        assert rest[at - 2 - len(EXEC) : at - 1] == [*EXEC, DOCKER_DEPLOYMENT.python], module
    stream = _module_call(rest, "mocks.synthetic")
    out = stream[stream.index("--out") + 1]
    assert out.startswith(f"{DATA_DIR}/")
    assert _module_call(rest, "inference_job.bootstrap")[:2] == ["--stream", out]
    assert len(jobs) > 1


def test_docker_bootstrap_trains_like_the_embedded_one() -> None:
    """Same synthetic stream and bootstrap options as the embedded `make submit` / `make train`."""
    (docker,) = [words for words in _dry_run("submit", "MODE=docker") if "inference_job.bootstrap" in words]
    embedded = [w for line in _dry_run("-B", "train") for w in [*line, ";"]]
    for module in ("mocks.synthetic", "inference_job.bootstrap"):
        assert _without(_module_call(docker, module), "--out", "--stream") == _without(
            _module_call(embedded, module), "--out", "--stream"
        ), module


def test_submit_runs_the_four_jobs_with_the_image_python() -> None:
    _, jobs = _dry_run("submit", "MODE=docker")
    assert jobs[: len(JOBS) + 4] == ["for", "job", "in", *JOBS, ";"]
    assert jobs[-5:] == ["||", "exit", "1", ";", "done"], "a failed submission stops the loop"
    run = jobs[jobs.index("flink") - len(EXEC) : jobs.index("-py") + 2]
    python = DOCKER_DEPLOYMENT.python
    assert run == [*EXEC, "flink", "run", "-d", "-pyexec", python, "-pyclientexec", python, "-py",
                   "/opt/rtcef/$job/main.py"]  # fmt: skip
    assert all((REPO_ROOT / job / "main.py").is_file() for job in JOBS)
