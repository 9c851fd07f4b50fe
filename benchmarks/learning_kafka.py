"""Helpers of ``bench_learning.py``: a fake factory answer, and instruction -> first command through Kafka.

:func:`measure_kafka_latency` submits the real ``controller_job`` to the running session cluster with its own
topics, sends instructions, answers every factory command itself (a fake factory, so each session ends with
PLAY before the next instruction), and measures the wall time from sending an instruction to receiving its
first factory command. Kafka record timestamps split that time into "inside Flink" (instruction record ->
command record) and "delivery to the consumer". It holds the shared cluster lock ``/tmp/rtcef-cluster.lock``
(taking it unless the process already inherited it from ``flock``) and cancels the job it submitted.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from protocol.codec import decode, encode
from protocol.messages import (
    CommandType,
    EngineSync,
    FactoryCommand,
    FactoryReport,
    Instruction,
    InstructionType,
    MetricSet,
    ReportStatus,
)

LOCK = Path("/tmp/rtcef-cluster.lock")


def fake_factory_report(command: FactoryCommand) -> FactoryReport:
    """A successful answer; the objective is a smooth function of the params, as a stand-in for -MCC."""
    p = command.params
    objective = None if p is None else -(1.0 - abs(p.confidence - 0.6) - 30 * abs(p.p_min - 0.004))
    publishes = command.type in (CommandType.OPT_FINALISE, CommandType.TRAIN)
    return FactoryReport(
        reply_id=command.id,
        command_type=command.type,
        status=ReportStatus.SUCCESS,
        session_id=command.session_id,
        step=command.step,
        params=p,
        objective=objective,
        metrics=None if objective is None else MetricSet(mcc=-objective),
        model_id="wayeb_x" if publishes else None,
        model_path="/vol/models/wayeb_x.spst" if publishes else None,
    )


@contextlib.contextmanager
def cluster_lock() -> Iterator[None]:
    """Hold the shared cluster lock (already held when this process inherited it from ``flock``)."""
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}") == str(LOCK):
                yield
                return
    with LOCK.open("a") as handle:
        print(f"waiting for {LOCK} ...", flush=True)
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class _Wire:
    """Producer for instructions/reports, consumer of commands and syncs (from offset 0 of fresh topics)."""

    def __init__(self, settings: Any) -> None:
        from confluent_kafka import Consumer, TopicPartition

        from mocks.kafka_io import make_producer

        self.settings = settings
        self.producer = make_producer(settings.kafka_bootstrap_servers)
        self.consumer = Consumer(
            {"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": f"bench-{uuid.uuid4().hex}"}
        )
        self.consumer.assign(
            [TopicPartition(settings.command_topic, 0, 0), TopicPartition(settings.sync_topic, 0, 0)]
        )
        self.seen: set[str] = set()

    def send(self, topic: str, message: Any) -> int:
        """Produce and wait for the broker's ack; return the record's timestamp (ms)."""
        stamps: list[int] = []
        self.producer.produce(
            topic, value=encode(message), on_delivery=lambda _err, msg: stamps.append(msg.timestamp()[1])
        )
        self.producer.flush(10)
        return stamps[0] if stamps else int(time.time() * 1000)

    def poll(self, timeout: float) -> tuple[str, Any, int, float] | None:
        """One command or sync: (kind, message, record timestamp ms, receive wall time), or None."""
        record = self.consumer.poll(timeout)
        if record is None or record.error() is not None:
            return None
        received = time.time()
        if record.topic() == self.settings.command_topic:
            return "command", decode(FactoryCommand, record.value()), record.timestamp()[1], received
        return "sync", decode(EngineSync, record.value()), record.timestamp()[1], received

    def close(self) -> None:
        self.consumer.close()


def _instruction(kind: InstructionType, run_id: str, n: int) -> Instruction:
    return Instruction(id=f"bench-{run_id}-{n}", type=kind, timestamp=1_700_000_000 + n)


def _drive(
    wire: _Wire, instruction: Instruction, timeout: float, resend_every: float = 0.0
) -> dict[str, float]:
    """Send ``instruction``, answer its commands until PLAY; return first-command timings."""
    sent_wall = time.time()
    sent_stamp = wire.send(wire.settings.instruction_topic, instruction)
    first: dict[str, float] = {}
    deadline, last_send = time.monotonic() + timeout, time.monotonic()
    while time.monotonic() < deadline:
        if resend_every and not first and time.monotonic() - last_send > resend_every:
            wire.send(wire.settings.instruction_topic, instruction)  # same id: the controller ignores repeats
            last_send = time.monotonic()
        item = wire.poll(0.05)
        if item is None:
            continue
        kind, message, stamp, received = item
        if kind == "command":
            if not first:
                first = {"total_s": received - sent_wall, "in_flink_s": (stamp - sent_stamp) / 1000,
                         "delivery_s": received - stamp / 1000}  # fmt: skip
            wire.send(wire.settings.report_topic, fake_factory_report(message))
        elif message.type.value == "play" and message.instruction_id == instruction.id:
            return first
    raise TimeoutError(f"no PLAY for {instruction.id} within {timeout:.0f} s (first command: {first})")


def _delete_topics(settings: Any) -> None:
    """Best-effort removal of the run's own topics."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    for future in admin.delete_topics(settings.all_topics(), request_timeout=30).values():
        with contextlib.suppress(Exception):
            future.result(timeout=30)


def measure_kafka_latency(instructions: int) -> dict[str, Any]:
    """Submit controller_job with fresh topics, time ``instructions`` instructions, cancel the job."""
    from protocol.settings import Settings, load_settings
    from rtcef_ops.flink_cluster import rest_get
    from rtcef_ops.paths import RuntimePaths
    from rtcef_ops.submit import submit
    from rtcef_ops.topics import ensure_topics

    run_id = uuid.uuid4().hex[:8]
    base = load_settings()
    env = dict(os.environ)
    env.update({name.upper(): f"bench{run_id}-{topic}" for name, topic in base.topics().items()})
    env.update({
        "DATA_DIR": tempfile.mkdtemp(prefix="bench-kafka-"), "CONSUMER_GROUP_PREFIX": f"bench{run_id}",
        "OPTIMISER_STEPS": "3", "REPORT_TIMEOUT_S": "10", "CHECKPOINT_INTERVAL_MS": "2000",
    })  # fmt: skip
    settings = Settings(**{k.lower(): v for k, v in env.items() if k.lower() in Settings.model_fields})
    ensure_topics(settings)
    wire = _Wire(settings)
    samples: dict[str, list[dict[str, float]]] = {"retrain": [], "optimize": []}
    job_id = ""
    with cluster_lock():
        try:
            t0 = time.monotonic()
            job_id = submit("controller_job", RuntimePaths(), extra_env=env)
            while rest_get(f"/jobs/{job_id}")["state"] != "RUNNING":
                if time.monotonic() - t0 > 180:
                    raise TimeoutError("controller_job not RUNNING after 180 s")
                time.sleep(1)
            startup_s = time.monotonic() - t0
            # Warm-up (not measured): the sources start at the latest offset once they have initialised.
            _drive(wire, _instruction(InstructionType.RETRAIN, run_id, 0), 120, resend_every=5)
            for n in range(1, instructions + 1):
                kind = InstructionType.OPTIMIZE if n % 2 == 0 else InstructionType.RETRAIN
                samples[kind.value].append(_drive(wire, _instruction(kind, run_id, n), 120))
        finally:
            wire.close()
            if job_id:
                subprocess.run(["curl", "-s", "-X", "PATCH", f"http://localhost:8081/jobs/{job_id}?mode=cancel"],
                               capture_output=True, check=False)  # fmt: skip
            _delete_topics(settings)
    every = [s for values in samples.values() for s in values]
    summary = {
        "submit_to_running_s": startup_s,
        "samples": samples,
        "total_median_s": statistics.median(s["total_s"] for s in every),
        "total_max_s": max(s["total_s"] for s in every),
        "in_flink_median_s": statistics.median(s["in_flink_s"] for s in every),
        "delivery_median_s": statistics.median(s["delivery_s"] for s in every),
    }
    return summary
