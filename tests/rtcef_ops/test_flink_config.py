"""One Flink configuration for the embedded cluster and the Docker image (rtcef_ops.flink_config)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from rtcef_ops.__main__ import main
from rtcef_ops.flink_cluster import FlinkCluster
from rtcef_ops.flink_config import (
    DEPLOYMENT_KEYS,
    DOCKER_CONFIG,
    DOCKER_DEPLOYMENT,
    Deployment,
    distribution_java_opts,
    docker_config_yaml,
    embedded_config_yaml,
    embedded_deployment,
    flatten,
    flink_config,
)
from rtcef_ops.metrics_plugin import LOOPBACK_FACTORY, STOCK_FACTORY
from rtcef_ops.paths import RuntimePaths, flink_home
from tests.repo_data import REPO_ROOT


def _flat(text: str) -> dict[str, Any]:
    return flatten(yaml.safe_load(text))


def _differing(a: dict[str, Any], b: dict[str, Any]) -> set[str]:
    return {key for key in a.keys() | b.keys() if a.get(key) != b.get(key)}


def test_the_committed_docker_config_is_what_the_generator_writes_now() -> None:
    committed = (REPO_ROOT / DOCKER_CONFIG).read_text()
    assert committed == docker_config_yaml(flink_home()), "run `python -m rtcef_ops docker-config`"


def test_docker_and_embedded_configs_differ_only_in_deployment_keys() -> None:
    docker = _flat((REPO_ROOT / DOCKER_CONFIG).read_text())
    embedded = _flat(embedded_config_yaml(RuntimePaths(), flink_home()))
    assert _differing(docker, embedded) <= DEPLOYMENT_KEYS
    shared = {key: docker[key] for key in docker.keys() - DEPLOYMENT_KEYS}
    # What the embedded runtime relies on and the image must keep.
    assert shared["env.java.opts.all"] == distribution_java_opts(flink_home())
    assert "--add-opens=java.base/java.lang=ALL-UNNAMED" in shared["env.java.opts.all"]
    assert shared["restart-strategy.type"] == "exponential-delay"
    assert shared["restart-strategy.exponential-delay.max-backoff"] == "1 min"
    assert shared["execution.checkpointing.externalized-checkpoint-retention"] == "RETAIN_ON_CANCELLATION"
    assert shared["jobmanager.execution.failover-strategy"] == "region"
    assert shared["rest.port"] == 8081


def test_deployment_keys_are_exactly_the_keys_a_deployment_sets() -> None:
    base = embedded_deployment(RuntimePaths())
    other = Deployment(
        jobmanager_address="jm", bind_host="0.0.0.0", rest_address="rest", taskmanager_host="tm",
        python="/py", pid_dir="/pid", log_dir="/log", state_dir="/state", jobmanager_memory="1m",
        taskmanager_memory="2m", task_slots=99, metrics_factory="x.Factory", metrics_host="10.0.0.1",
        metrics_ports="1-2",
    )  # fmt: skip
    changed = _differing(flatten(flink_config(base, "-X")), flatten(flink_config(other, "-X")))
    assert changed == DEPLOYMENT_KEYS
    without_host = dataclasses.replace(other, taskmanager_host=None)
    assert "taskmanager.host" not in flatten(flink_config(without_host, "-X"))
    stock_reporter = dataclasses.replace(other, metrics_host=None)
    assert "metrics.reporter.prom.host" not in flatten(flink_config(stock_reporter, "-X"))


def test_the_embedded_config_keeps_its_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTCEF_PYTHON", "/venv/bin/python")
    paths = RuntimePaths(root=tmp_path, run_dir=tmp_path / "run")
    flink = tmp_path / "run" / "flink"
    home = tmp_path / "dist"
    (home / "conf").mkdir(parents=True)
    (home / "conf" / "config.yaml").write_text("env:\n  java:\n    opts:\n      all: --add-opens=a=b -Dx\n")
    assert _flat(embedded_config_yaml(paths, home)) == {
        "env.java.opts.all": "--add-opens=a=b -Dx",
        "env.pid.dir": str(flink / "pid"),
        "env.log.dir": str(flink / "log"),
        "jobmanager.bind-host": "localhost",
        "jobmanager.rpc.address": "localhost",
        "jobmanager.rpc.port": 6123,
        "jobmanager.memory.process.size": "1024m",
        "jobmanager.execution.failover-strategy": "region",
        "taskmanager.bind-host": "localhost",
        "taskmanager.host": "localhost",
        "taskmanager.numberOfTaskSlots": 16,
        "taskmanager.memory.process.size": "6144m",
        "taskmanager.memory.managed.fraction": 0.2,
        "taskmanager.memory.jvm-metaspace.size": "1024m",
        "parallelism.default": 1,
        "rest.address": "localhost",
        "rest.bind-address": "localhost",
        "rest.port": 8081,
        "python.executable": "/venv/bin/python",
        "python.client.executable": "/venv/bin/python",
        "execution.checkpointing.dir": f"file://{flink / 'checkpoints'}",
        "execution.checkpointing.savepoint-dir": f"file://{flink / 'savepoints'}",
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "state.backend.type": "hashmap",
        "restart-strategy.type": "exponential-delay",
        "restart-strategy.exponential-delay.initial-backoff": "1 s",
        "restart-strategy.exponential-delay.max-backoff": "1 min",
        "restart-strategy.exponential-delay.backoff-multiplier": 2.0,
        "restart-strategy.exponential-delay.reset-backoff-threshold": "1 h",
        "restart-strategy.exponential-delay.jitter-factor": 0.1,
        "metrics.reporter.prom.factory.class": LOOPBACK_FACTORY,
        "metrics.reporter.prom.host": "127.0.0.1",
        "metrics.reporter.prom.port": "9249-9259",
    }


def test_start_writes_the_embedded_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = RuntimePaths(run_dir=tmp_path)
    monkeypatch.setattr(FlinkCluster, "_link_lib", lambda self: None)
    FlinkCluster(paths).write_conf()
    assert (paths.flink_conf / "config.yaml").read_text() == embedded_config_yaml(paths, flink_home())


def test_the_docker_config_names_nothing_of_the_host() -> None:
    text = docker_config_yaml(flink_home())
    assert str(REPO_ROOT) not in text and str(Path.home()) not in text
    assert _flat(text)["python.executable"] == DOCKER_DEPLOYMENT.python


def test_the_docker_image_uses_the_stock_prometheus_reporter() -> None:
    """The image's plugins/metrics-prometheus (no loopback jar there): every interface of the container."""
    flat = _flat(docker_config_yaml(flink_home()))
    assert flat["metrics.reporter.prom.factory.class"] == STOCK_FACTORY
    assert flat["metrics.reporter.prom.port"] == "9249"
    assert "metrics.reporter.prom.host" not in flat


def test_docker_config_command_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "config.yaml"
    assert main(["docker-config", "--check", "--out", str(out)]) == 1
    assert not out.exists(), "--check writes nothing"
    assert main(["docker-config", "--out", str(out)]) == 0
    assert out.read_text() == docker_config_yaml(flink_home())
    assert main(["docker-config", "--check", "--out", str(out)]) == 0
    out.write_text(out.read_text().replace("4096m", "2048m"))
    assert main(["docker-config", "--check", "--out", str(out)]) == 1
    assert "stale" in capsys.readouterr().out
    assert "2048m" in out.read_text()


def test_submissions_and_taskmanagers_never_inherit_a_local_pyflink_run() -> None:
    """What PyFlink's in-process workers leave in a process's environment (a local MiniCluster run) must not
    reach ``flink run`` or a TaskManager started from that process: the loopback server's address would make
    every Python worker of the cluster connect back to it."""
    polluted = {
        "PATH": "/usr/bin", "HOME": "/root", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "PYTHON_LOOPBACK_SERVER_ADDRESS": "127.0.0.1:37449", "_python_worker_execution_mode": "loopback",
        "_PYTHON_WORKER_MEMORY_LIMIT": "1", "PYFLINK_GATEWAY_DISABLED": "true", "WORKER_ID": "1-1",
        "PIPELINE_OPTIONS": "{}", "FLINK_HOME": "/wheel/pyflink", "_PYFLINK_CONN_INFO_PATH": "/tmp/x",
    }  # fmt: skip
    env = FlinkCluster(RuntimePaths()).env(polluted)
    assert {"HOME", "KAFKA_BOOTSTRAP_SERVERS"} <= env.keys()
    leaked = {
        k
        for k in polluted
        if k in env and env[k] == polluted[k] and k not in ("HOME", "KAFKA_BOOTSTRAP_SERVERS")
    }
    assert leaked == set()
    assert env["RTCEF_CLUSTER_LIB"] == "1" and env["FLINK_LIB_DIR"].endswith("lib")
