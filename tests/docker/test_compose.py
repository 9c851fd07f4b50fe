"""docker-compose.yml, loaded by the Compose v2 loader, agrees with the settings and the embedded runtime.

What a container reads (environment, volumes, ports, the Flink configuration) must be what the jobs, the
host's tools (`make feed` on localhost:9092) and the image expect; no engine runs here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from protocol.settings import Settings, settings_from_env
from rtcef_ops.__main__ import build_parser
from rtcef_ops.flink_cluster import FlinkCluster
from rtcef_ops.flink_config import DOCKER_DEPLOYMENT, REST_PORT
from rtcef_ops.kafka_broker import KafkaBroker, _properties
from rtcef_ops.paths import RuntimePaths
from tests.docker.container_files import FLINK_SERVICES, LoaderError, docker_config
from tests.repo_data import REPO_ROOT

RUNTIME_VARIABLES = {"RTCEF_CLUSTER_LIB", "RTCEF_PYTHON", "PYFLINK_CLIENT_EXECUTABLE", "FLINK_PROPERTIES"}
"""Variables of a Flink container that are not settings: read by flink_common.io, rtcef_ops.paths, PyFlink
and the image's entrypoint."""


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {name: value for name, value in service["environment"].items() if value is not None}


def _published(service: dict[str, Any]) -> dict[int, int]:
    return {int(port["target"]): int(port["published"]) for port in service.get("ports", [])}


def _listeners(value: str) -> dict[str, str]:
    """``"A://h:1,B://h:2"`` -> ``{"A": "h:1", "B": "h:2"}``."""
    return dict(item.split("://", 1) for item in value.split(","))


def test_the_services_build_one_image_and_run_it(services: dict[str, Any]) -> None:
    assert set(services) == {"kafka", *FLINK_SERVICES}
    assert {services[name]["image"] for name in FLINK_SERVICES} == {"flink-rtcef-py:latest"}
    build = services["jobmanager"]["build"]
    assert Path(build["context"]) == REPO_ROOT
    assert (REPO_ROOT / build["dockerfile"]).is_file()
    assert services["jobmanager"]["command"] == ["jobmanager"]
    assert services["taskmanager"]["command"] == ["taskmanager"]


def test_at_least_two_taskmanagers_and_nothing_that_stops_scaling(services: dict[str, Any]) -> None:
    taskmanager = services["taskmanager"]
    assert int(taskmanager["deploy"]["replicas"]) >= 2
    assert {"ports", "container_name", "hostname"}.isdisjoint(taskmanager)


def test_every_flink_container_mounts_the_shared_volume_at_data_dir(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    assert "rtcef-data" in compose["volumes"]
    for name in FLINK_SERVICES:
        service = services[name]
        mounts = {m["target"]: m for m in service["volumes"]}
        data_dir = str(settings_from_env(_env(service)).data_dir)
        assert mounts[data_dir]["type"] == "volume" and mounts[data_dir]["source"] == "rtcef-data", name
    checkpoints = docker_config()["execution.checkpointing.dir"]
    assert checkpoints.startswith(f"file://{data_dir}/"), "checkpoints must be on the volume every TM mounts"
    assert DOCKER_DEPLOYMENT.state_dir == data_dir


def test_environment_names_are_settings_or_runtime_variables_and_parse(services: dict[str, Any]) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    for name in FLINK_SERVICES:
        env = _env(services[name])
        assert set(env) - fields - RUNTIME_VARIABLES == set(), name
        settings = settings_from_env(env)
        assert settings.kafka_bootstrap_servers == "kafka:29092"
        env_topics = {v for k, v in env.items() if k.endswith("_TOPIC")}
        assert set(settings.topics().values()) == env_topics


def test_topic_names_are_the_defaults_the_host_tools_use(services: dict[str, Any]) -> None:
    settings = settings_from_env(_env(services["jobmanager"]))
    assert settings.topics() == Settings().topics()
    assert settings.all_topics() == Settings().all_topics()


def test_flink_containers_reach_kafka_on_its_internal_listener(services: dict[str, Any]) -> None:
    kafka_env = _env(services["kafka"])
    advertised = _listeners(kafka_env["KAFKA_ADVERTISED_LISTENERS"])
    assert kafka_env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "INTERNAL"
    for name in FLINK_SERVICES:
        assert settings_from_env(_env(services[name])).kafka_bootstrap_servers == advertised["INTERNAL"]
    host, port = advertised["INTERNAL"].split(":")
    assert host == "kafka" and services["kafka"]["hostname"] == "kafka"
    assert f"0.0.0.0:{port}" in _listeners(kafka_env["KAFKA_LISTENERS"])["INTERNAL"]


def test_the_host_feeds_kafka_at_the_settings_default_address(services: dict[str, Any]) -> None:
    kafka_env = _env(services["kafka"])
    external = _listeners(kafka_env["KAFKA_ADVERTISED_LISTENERS"])["EXTERNAL"]
    default = Settings.model_fields["kafka_bootstrap_servers"].default
    assert external == default == "localhost:9092"
    port = int(external.rsplit(":", 1)[1])
    assert _published(services["kafka"]) == {port: port}
    assert KafkaBroker(RuntimePaths()).port == port, "embedded and Docker brokers take the same host port"


def _kafka_env_name(key: str) -> str:
    """The apache/kafka image's variable of a broker property (``.``/``_``/``-`` as ``_``/``__``/``___``)."""
    return "KAFKA_" + key.replace("_", "__").replace("-", "___").replace(".", "_").upper()


def test_the_broker_is_configured_like_the_embedded_one(services: dict[str, Any], tmp_path: Path) -> None:
    properties = _properties(RuntimePaths(run_dir=tmp_path), 9092, 9093)
    embedded = dict(line.split("=", 1) for line in properties.splitlines() if line)
    # Listeners, the controller quorum and the data folder are where the two deployments differ.
    where = {
        "listeners", "advertised.listeners", "listener.security.protocol.map", "inter.broker.listener.name",
        "controller.quorum.bootstrap.servers", "log.dirs",
    }  # fmt: skip
    kafka_env = {name: str(value) for name, value in _env(services["kafka"]).items()}
    mismatched = {
        key: (value, kafka_env.get(_kafka_env_name(key)))
        for key, value in embedded.items()
        if key not in where and kafka_env.get(_kafka_env_name(key)) != value
    }
    assert mismatched == {}
    mounts = {m["target"]: m["source"] for m in services["kafka"]["volumes"]}
    assert mounts[kafka_env["KAFKA_LOG_DIRS"]] == "kafka-data"


def test_the_kafka_image_is_the_embedded_broker_version(services: dict[str, Any]) -> None:
    pom = (REPO_ROOT / "runtime" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert version is not None
    assert services["kafka"]["image"] == f"apache/kafka:{version.group(1)}"


def test_jobs_find_the_cluster_lib_and_the_python_of_the_image(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = docker_config()
    # What the embedded cluster exports to a submission, minus its folders (the image keeps Flink's own).
    embedded = FlinkCluster(RuntimePaths()).env({})
    wanted = {k for k in embedded if not k.startswith("FLINK_") and k != "PATH"}
    for name in FLINK_SERVICES:
        env = _env(services[name])
        assert wanted <= set(env), name
        assert env["RTCEF_CLUSTER_LIB"] == embedded["RTCEF_CLUSTER_LIB"] == "1"
        assert env["PYFLINK_CLIENT_EXECUTABLE"] == config["python.client.executable"]
        monkeypatch.setenv("RTCEF_PYTHON", env["RTCEF_PYTHON"])
        assert RuntimePaths().python == config["python.executable"] == DOCKER_DEPLOYMENT.python


def _entrypoint_rpc_address(service: dict[str, Any], container_hostname: str) -> str:
    """``jobmanager.rpc.address`` after the official image's entrypoint has run in a container.

    The entrypoint sets it to ``JOB_MANAGER_RPC_ADDRESS`` or the container's own host name, then applies
    ``FLINK_PROPERTIES`` line by line (whitespace removed, split at the first colon).
    """
    env = _env(service)
    options = {"jobmanager.rpc.address": env.get("JOB_MANAGER_RPC_ADDRESS", container_hostname)}
    for line in env.get("FLINK_PROPERTIES", "").splitlines():
        compact = "".join(line.split())
        if compact:
            key, _, value = compact.partition(":")
            options[key] = value
    return options["jobmanager.rpc.address"]


def test_jobmanager_and_taskmanagers_find_each_other(services: dict[str, Any]) -> None:
    config = docker_config()
    address = config["jobmanager.rpc.address"]
    assert address == "jobmanager" and address in services
    for name in ("jobmanager", "taskmanager"):
        hostname = services[name].get("hostname", f"{name}-1-0123456789ab")
        assert _entrypoint_rpc_address(services[name], hostname) == address, name
    assert config["rest.address"] == address
    # Each TaskManager advertises its own address; every process listens on all interfaces.
    assert "taskmanager.host" not in config
    bind = {config[k] for k in ("jobmanager.bind-host", "taskmanager.bind-host", "rest.bind-address")}
    assert bind == {"0.0.0.0"}


def test_the_web_ui_is_published_and_checked_on_the_rest_port(services: dict[str, Any]) -> None:
    port = docker_config()["rest.port"]
    assert port == REST_PORT
    jobmanager = services["jobmanager"]
    assert _published(jobmanager) == {port: port}
    assert f"localhost:{port}/" in " ".join(jobmanager["healthcheck"]["test"])


def test_topics_exist_before_the_cluster_starts(services: dict[str, Any]) -> None:
    init = services["init-topics"]
    assert init["command"][:3] == ["python", "-m", "rtcef_ops"]
    assert build_parser().parse_args(init["command"][3:]).command == "topics"
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    jobmanager_needs = services["jobmanager"]["depends_on"]
    assert jobmanager_needs["init-topics"]["condition"] == "service_completed_successfully"
    assert services["taskmanager"]["depends_on"]["jobmanager"]["condition"] == "service_healthy"
    internal = _env(init)["KAFKA_BOOTSTRAP_SERVERS"]
    assert f"--bootstrap-server {internal}" in " ".join(services["kafka"]["healthcheck"]["test"])


def test_the_loader_validates_and_interpolates(
    load_compose: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    """The checks above are only as strict as the loader: it must reject what `docker compose` rejects."""
    good = tmp_path / "good.yml"
    good.write_text("services:\n  app:\n    image: busybox:${TAG:-1.36}\n    deploy: {replicas: 2}\n")
    assert load_compose(good)["services"]["app"]["image"] == "busybox:1.36"
    assert load_compose(good, env={"TAG": "1.37"})["services"]["app"]["image"] == "busybox:1.37"
    bad = tmp_path / "bad.yml"
    bad.write_text("services:\n  app:\n    image: busybox\n    replica: 2\n")
    with pytest.raises(LoaderError, match="replica"):
        load_compose(bad)
    dangling = tmp_path / "dangling.yml"
    dangling.write_text("services:\n  app:\n    image: busybox\n    depends_on: [db]\n")
    with pytest.raises(LoaderError, match="db"):
        load_compose(dangling)
