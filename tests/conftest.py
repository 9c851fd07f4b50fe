"""Shared fixtures: a private data folder per test, a real Kafka broker, unique topics.

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

from tests.repo_audit import OUTSIDE_READS


def pytest_collection_finish(session: pytest.Session) -> None:
    """With MiniCluster or Kafka tests in the session, start PyFlink's gateway JVM now, with the Kafka
    connector jars on its class path.

    Local (MiniCluster) jobs get the connector through ``env.add_jars``, which sets the context class loader
    of the one gateway thread that serves that call. py4j serves the calls of a long test session from a
    pool of connections, each with its own Java thread, and once other threads (the in-process Python
    workers of earlier jobs) have used the pool a later ``KafkaSource.builder()`` may run on a thread
    that never saw those jars: "Could not found the Java class ... KafkaSource". On the gateway's own
    class path the connector is visible to every thread. The variable that PyFlink's launcher adds to that
    class path is HADOOP_CLASSPATH; it is set only while the gateway starts, so that nothing started later
    (jobs, TaskManagers) inherits it.
    """
    if not any(item.get_closest_marker(m) for item in session.items for m in ("minicluster", "kafka")):
        return
    from pyflink.java_gateway import get_gateway

    from flink_common.io import connector_jars

    jars = os.pathsep.join(url.removeprefix("file://") for url in connector_jars())
    previous = os.environ.get("HADOOP_CLASSPATH")
    os.environ["HADOOP_CLASSPATH"] = jars if previous is None else os.pathsep.join([jars, previous])
    try:
        get_gateway()
    finally:
        if previous is None:
            os.environ.pop("HADOOP_CLASSPATH", None)
        else:
            os.environ["HADOOP_CLASSPATH"] = previous


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Each test ends with the process environment it started with: PyFlink's in-process Python workers
    (local MiniCluster jobs) copy their variables into ``os.environ``, among them the address of this
    process's loopback worker server, which must not reach the jobs a later test submits to the cluster."""
    before = dict(os.environ)
    yield
    if dict(os.environ) != before:
        os.environ.clear()
        os.environ.update(before)


@pytest.fixture(autouse=True)
def _nothing_read_beside_the_repository() -> Iterator[None]:
    """A test fails if it (or the code it runs in this process) opened a file beside the repository."""
    before = len(OUTSIDE_READS)
    yield
    opened = OUTSIDE_READS[before:]
    del OUTSIDE_READS[before:]
    if opened:
        pytest.fail(f"opened files outside the repository: {sorted(set(opened))[:5]}")


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
