"""`start`/`stop` of the embedded broker: it comes up healthy and `stop` leaves no process behind.

Runs a second broker on other ports in a temporary run folder, so the shared runtime is untouched.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from rtcef_ops.kafka_broker import KafkaBroker, pid_alive, port_open, read_pid
from rtcef_ops.paths import RuntimePaths


@pytest.mark.kafka
def test_broker_starts_healthy_and_stop_leaves_no_process(tmp_path: Path) -> None:
    broker = KafkaBroker(RuntimePaths(run_dir=tmp_path), port=19192, controller_port=19193)
    try:
        broker.start(timeout_s=120)
        pid = read_pid(broker.pid_file)
        assert pid is not None and pid_alive(pid)
        assert (tmp_path / "kafka" / "data" / "meta.properties").exists()
        metadata = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10)
        assert metadata.brokers, "the broker answers metadata requests"
        broker.start()  # idempotent: a second start finds it running
        assert read_pid(broker.pid_file) == pid
    finally:
        broker.stop()
    assert not pid_alive(pid)
    assert not port_open("127.0.0.1", 19192)
    assert not broker.pid_file.exists()
