"""Shared fixtures: paths to the shared data, a real Kafka broker, unique topics.

Tests that need a broker use the ``kafka_bootstrap`` fixture. It prefers ``KAFKA_BOOTSTRAP_SERVERS``,
then the embedded broker started by ``make start`` (``make test`` starts it). A missing broker is a
test failure, never a skip: under CI a skipped integration test would hide a broken runtime.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("RTCEF_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def shared_data(relative: str) -> Path:
    """Path of a file in the shared data folder; a clear failure if it is missing."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.fail(f"shared data file missing: {path} (set RTCEF_SHARED_DATA to the shared/data folder)")
    return path


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own shared volume: none reads or writes the project's ``run/data``."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    from confluent_kafka.admin import AdminClient

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    try:
        AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"no Kafka broker at {bootstrap} ({exc}); run `make start` or set KAFKA_BOOTSTRAP_SERVERS")  # noqa: E501
    return bootstrap


@pytest.fixture()
def new_topic(kafka_bootstrap: str) -> Iterator[Callable[..., str]]:
    """Makes fresh topics (``new_topic(partitions=1, prefix="test")``); all are deleted afterwards."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    made: list[str] = []

    def make(partitions: int = 1, prefix: str = "test") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(
            timeout=30
        )
        made.append(name)
        return name

    yield make
    for name in made:
        admin.delete_topics([name])[name].result(timeout=30)


@pytest.fixture()
def unique_topic(new_topic: Callable[..., str]) -> str:
    """A fresh single-partition topic, deleted afterwards."""
    return new_topic()
