"""docker-compose.yml cannot run here (no Docker engine); check that it agrees with the settings."""

from __future__ import annotations

from pathlib import Path

import yaml

from protocol import load_settings
from protocol.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_services_and_shared_volume() -> None:
    services = _compose()["services"]
    assert {"kafka", "jobmanager", "taskmanager"} <= set(services)
    for name in ("jobmanager", "taskmanager"):
        assert "rtcef-data:/opt/flink/data" in services[name]["volumes"]
    assert "8081:8081" in services["jobmanager"]["ports"]
    assert "9092:9092" in services["kafka"]["ports"]


def test_compose_environment_names_are_settings_and_parse() -> None:
    env = _compose()["services"]["jobmanager"]["environment"]
    fields = {name.upper() for name in Settings.model_fields}
    assert set(env) <= fields, f"unknown settings in compose: {set(env) - fields}"
    settings = load_settings(**{k.lower(): v for k, v in env.items()})
    assert settings.kafka_bootstrap_servers == "kafka:29092"
    assert str(settings.data_dir) == "/opt/flink/data"
    assert set(settings.topics().values()) == {v for k, v in env.items() if k.endswith("_TOPIC")}


def test_internal_listener_matches_bootstrap_servers() -> None:
    kafka_env = _compose()["services"]["kafka"]["environment"]
    assert "INTERNAL://kafka:29092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]


def test_dockerfile_copies_every_package_the_jobs_import() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    for package in ("protocol", "wayeb_py", "flink_common", "shared_volume", "controller_job", "factory_job",
                    "collector_job", "inference_job"):
        assert f"COPY {package} ./{package}" in dockerfile
