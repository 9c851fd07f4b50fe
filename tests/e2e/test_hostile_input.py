"""End to end: bad records on every consumed topic of the four running jobs, in between good traffic.

The four jobs run on the real runtime. Half a synthetic stream is fed, then every consumed topic gets bad
records (tombstones, bytes that are not JSON, huge numbers, times out of range, duplicated keys, oversized
messages, claim checks pointing outside the shared volume, model files that are devices, FIFOs or nested to
exhaust a parser), then the other half of the stream and a genuine RETRAIN instruction. The test asserts:

* every job is still RUNNING and none restarted (the REST API's exception history is empty);
* every bad record is on the dead-letter topic of its topic, with a reason, once per consuming job;
* the good records were processed exactly once: every event in exactly one bucket row and one forecast,
  the retrain answered by one successful report and played, the new model forecasting afterwards;
* while all this runs, every socket the runtime's processes listen on is on loopback, the gRPC servers the
  TaskManager JVM starts for its Python workers included (docs/threat-model.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from confluent_kafka import Producer
from e2e_support import (
    LOOP_OVERRIDES,
    WEEK,
    TopicReader,
    bucket_rows,
    cancel_jobs,
    delete_topics,
    isolated_env,
    run_module,
    running_cluster,
    wait_running,
)

from protocol.codec import TOMBSTONE
from protocol.settings import Settings
from rtcef_ops.flink_cluster import FlinkCluster, rest_get
from rtcef_ops.kafka_broker import KafkaBroker, read_pid
from rtcef_ops.paths import RuntimePaths
from rtcef_ops.sockets import is_loopback, listeners, process_tree
from rtcef_ops.submit import JOBS, submit

T0 = 1_700_000_000
GOOD_EVENT = {"timestamp": T0, "mmsi": "247000001", "lon": -4.49, "lat": 48.38, "speed": 3.0}


@pytest.fixture()
def cluster() -> FlinkCluster:
    return running_cluster()


@pytest.fixture()
def run(tmp_path: Path, kafka_bootstrap: str) -> Iterator[tuple[dict[str, str], Settings]]:
    env, settings, _ = isolated_env(
        tmp_path / "data",
        kafka_bootstrap,
        LOOP_OVERRIDES,
    )
    try:
        yield env, settings
    finally:
        delete_topics(settings)


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


def _common_junk() -> list[bytes | None]:
    """What any topic may receive from a careless writer."""
    return [
        None,  # a tombstone
        b"\xff\xfe\x00 not json",
        b"[" * 100_000,  # nesting deep enough to exhaust a recursive parser
        b'{"id": "x", "id": "y"}',
        b'{"id": "' + b"x" * (900 * 1024) + b'"}',  # over every message size limit, under the broker's
        b"12345678901234567890123456789",
    ]


def _bad_events(t_mid: int) -> list[bytes | None]:
    event = dict(GOOD_EVENT, timestamp=t_mid)
    return [
        *_common_junk(),
        _json(dict(event, timestamp=10**16)),  # put the collector into FAILED before
        _json(dict(event, timestamp=-5)),
        _json(dict(event, timestamp=str(t_mid))),  # lax coercion
        _json(dict(event, timestamp=float(t_mid) + 0.5)),
        _json(dict(event, lon=1e400)),
        b'{"timestamp": %d, "timestamp": %d, "mmsi": "247000001", "lon": 0, "lat": 0}' % (t_mid, t_mid),
    ]


def _outlier(t_mid: int) -> bytes:
    """A valid event far ahead of the stream: the collector refuses it (it would poison the buckets of every
    vessel); the engine forecasts it for its own key, which is all it can affect."""
    return _json(dict(GOOD_EVENT, timestamp=t_mid + 50 * 365 * 86_400))


def _bad_models(models: Path) -> dict[str, str]:
    """Model paths that must not be loaded: a device, a FIFO, nested JSON, a truncated file, a symlink out."""
    models.mkdir(parents=True, exist_ok=True)
    fifo = models / "fifo.spst"
    os.mkfifo(fifo)
    deep = models / "deep.spst"
    body = b"[" * 200_000 + b"]" * 200_000
    deep.write_bytes(b"WAYEB-PY-SPST 1 sha256=" + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    truncated = models / "truncated.spst"
    truncated.write_bytes(b"WAYEB-PY-SPST 1 sha256=" + b"0" * 64 + b"\n{\"format\": ")
    link = models / "link.spst"
    link.symlink_to("/etc/passwd")
    return {
        "device": "/dev/zero",
        "fifo": str(fifo),
        "deep": str(deep),
        "truncated": str(truncated),
        "symlink": str(link),
        "traversal": str(models / ".." / ".." / ".." / "etc" / "passwd"),
    }


def _battery(settings: Settings, data_dir: Path, t_mid: int) -> dict[str, list[bytes | None]]:
    """Bad records for every consumed topic, keyed by topic."""
    models = _bad_models(data_dir / "models")
    plays = [
        _json({"type": "play", "timestamp": t_mid, "model_id": f"hostile-{name}", "model_path": path})
        for name, path in models.items()
    ]
    return {
        settings.input_topic: _bad_events(t_mid),
        settings.instruction_topic: [
            *_common_junk(),
            _json({"id": "i-1", "type": "retrain", "timestamp": 10**30}),
            _json({"id": "i-2", "type": "explode", "timestamp": t_mid}),
            _json({"id": "i-3", "type": "retrain", "timestamp": True}),
        ],
        settings.report_topic: [
            *_common_junk(),
            _json({"reply_id": "nobody-asked", "command_type": "train", "status": "maybe"}),
        ],
        settings.command_topic: [
            *_common_junk(),
            _json({"id": "c-1", "type": "train", "timestamp": t_mid, "session_id": "s", "step": 2**70}),
        ],
        settings.datasets_topic: [
            *_common_junk(),
            _json({"version": 1, "timestamp": t_mid, "bucket_starts": [t_mid],
                   "bucket_paths": ["/etc/passwd"]}),  # fmt: skip
            _json({"version": 1, "timestamp": t_mid, "bucket_starts": [t_mid],
                   "bucket_paths": [str(data_dir / "buckets" / ".." / ".." / "escape.csv")]}),  # fmt: skip
            _json({"version": 10**15, "timestamp": t_mid, "bucket_starts": [t_mid],
                   "bucket_paths": [str(data_dir / "buckets" / "dt_bucket_0.csv")]}),  # fmt: skip
        ],
        settings.assembly_topic: [
            *_common_junk(),
            _json({"version": 10**15, "bucket_starts": [t_mid]}),
        ],
        settings.sync_topic: [*_common_junk(), *plays],
    }


def _consumers(settings: Settings) -> dict[str, set[str]]:
    """The jobs that consume each topic (each dead-letters a bad record on its own)."""
    return {
        settings.input_topic: {"collector_job", "inference_job"},
        settings.instruction_topic: {"controller_job"},
        settings.report_topic: {"controller_job"},
        settings.command_topic: {"factory_job"},
        settings.datasets_topic: {"factory_job"},
        settings.assembly_topic: {"collector_job"},
        settings.sync_topic: {"inference_job"},
    }


def _produce(bootstrap: str, records: dict[str, list[bytes | None]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for topic, values in records.items():
        for value in values:
            producer.produce(topic, value=value)
    assert producer.flush(30) == 0


def _runtime_listeners(cluster: FlinkCluster) -> list[Any]:
    broker = read_pid(KafkaBroker(RuntimePaths()).pid_file)
    pids = [*cluster.pids(), *([broker] if broker else [])]
    return listeners(process_tree(pids))


@pytest.mark.e2e
def test_every_job_survives_a_battery_of_bad_records_and_processes_good_ones_once(
    tmp_path: Path, run: tuple[dict[str, str], Settings], cluster: FlinkCluster
) -> None:
    env, settings = run
    data_dir = Path(env["DATA_DIR"])
    stream = tmp_path / "stream.csv"
    run_module(["-m", "mocks.synthetic", "--out", str(stream), "--weeks", "3", "--vessels", "5",
                "--seed", "9", "--compress", "6", "--no-drift"], env)  # fmt: skip
    frame = pd.read_csv(stream).sort_values("timestamp", kind="stable")
    t0 = int(frame["timestamp"].iloc[0])
    split = t0 + 2 * WEEK + 3600
    first, second = frame[frame["timestamp"] < split], frame[frame["timestamp"] >= split]
    first.to_csv(tmp_path / "first.csv", index=False)
    second.to_csv(tmp_path / "second.csv", index=False)
    run_module(["-m", "inference_job.bootstrap", "--stream", str(stream), "--weeks", "1"], env)

    bootstrap = settings.kafka_bootstrap_servers
    readers = {
        name: TopicReader(bootstrap, topic)
        for name, topic in (("reports", settings.report_topic), ("syncs", settings.sync_topic),
                            ("forecasts", settings.forecast_topic), ("datasets", settings.datasets_topic))
    }  # fmt: skip
    dlq = {topic: TopicReader(bootstrap, letters) for topic, letters in settings.dead_letter_topics().items()}
    job_ids: list[str] = []
    try:
        job_ids = [submit(job, RuntimePaths(), extra_env=env) for job in JOBS]
        wait_running(job_ids, timeout=180)
        run_module(["-m", "mocks.data_feeder", "--stream", str(tmp_path / "first.csv"), "--fast", "--quiet"],
                   env)  # fmt: skip
        closed = readers["datasets"].wait_for(lambda r: len(r["bucket_paths"]) >= 1, 180, "a closed bucket")
        readers["forecasts"].wait_for(lambda r: True, 120, "a first forecast")

        t_mid = int(closed["bucket_starts"][-1]) + 1
        battery = _battery(settings, data_dir, t_mid)
        inputs = [*battery[settings.input_topic], _outlier(t_mid)]
        _produce(bootstrap, {**battery, settings.input_topic: inputs})
        run_module(["-m", "mocks.mock_instruction_producer", "--type", "retrain", "--timestamp", str(t_mid)],
                   env)  # fmt: skip
        report = readers["reports"].wait_for(
            lambda r: r.get("command_type") == "train" and r.get("status") == "success", 240, "the report"
        )
        play = readers["syncs"].wait_for(
            lambda r: r.get("type") == "play" and r.get("model_id") == report["model_id"], 120, "the play"
        )
        run_module(["-m", "mocks.data_feeder", "--stream", str(tmp_path / "second.csv"), "--fast", "--quiet"],
                   env)  # fmt: skip

        # Sockets while everything runs, Python workers included (checked last, after the data): the
        # broker, the JobManager, the TaskManagers' own ports, the gRPC servers the TaskManagers start for
        # their Python workers (runtime/loopback) and every Python process.
        listening = _runtime_listeners(cluster)
        exposed = [lst for lst in listening if not is_loopback(lst.ip)]
        taskmanager_ports = [lst for lst in listening if lst.pid in set(cluster.taskmanager_pids())]

        # Every bad record on its topic's dead letters, with a reason, once per consuming job.
        consumers = _consumers(settings)
        for topic, values in battery.items():
            reader = dlq[topic]
            outliers = {"collector_job": 1} if topic == settings.input_topic else {}
            want = len(values) * len(consumers[topic]) + sum(outliers.values())
            deadline = time.monotonic() + 180
            while len(reader.records) < want and time.monotonic() < deadline:
                reader.poll(1.0)
            letters = reader.records
            per_job = Counter(letter["job"] for letter in letters)
            reasons = Counter((lt["job"], lt["reason"][:90], lt["payload"][:60]) for lt in letters)
            expected_letters = Counter({job: len(values) for job in consumers[topic]}) + Counter(outliers)
            assert per_job == expected_letters, (topic, reasons)
            assert all(letter["reason"] and letter["source_topic"] == topic for letter in letters)
            for value in values:
                matched = [letter for letter in letters if _same_payload(letter["payload"], value)]
                if len(matched) < len(consumers[topic]):
                    print("\n".join(f"{n} x {r}" for r, n in reasons.items()))
                assert len(matched) >= len(consumers[topic]), (topic, (value or b"")[:80])

        # The good records, exactly once.
        assert Path(play["model_path"]).is_file()
        readers["forecasts"].wait_for(lambda r: r.get("model_id") == report["model_id"], 240, "the new model")
        expected = Counter(zip(frame["mmsi"].astype(str), frame["timestamp"].astype(int), strict=True))
        expected[(GOOD_EVENT["mmsi"], json.loads(_outlier(t_mid))["timestamp"])] += 1
        forecasts = readers["forecasts"]
        deadline = time.monotonic() + 180
        while len(forecasts.records) < len(frame) and time.monotonic() < deadline:
            forecasts.poll(1.0)
        forecasts.poll(3.0)  # anything extra would show up now
        assert Counter((r["key"], int(r["timestamp"])) for r in forecasts.records) == expected
        deadline = time.monotonic() + 120
        rows = 0
        while time.monotonic() < deadline:
            rows = bucket_rows(data_dir / "buckets")
            if rows >= len(frame):
                break
            time.sleep(2)
        assert rows == len(frame)

        # Still running, never restarted.
        for job_id in job_ids:
            assert rest_get(f"/jobs/{job_id}")["state"] == "RUNNING"
            history = rest_get(f"/jobs/{job_id}/exceptions").get("exceptionHistory", {}).get("entries", [])
            assert history == [], (job_id, history[:1])
        assert exposed == []
        # The Python workers' gRPC servers were there to be checked: four jobs' worth of control, data,
        # state and logging channels, far more than the TaskManager's own RPC and data ports.
        assert len(taskmanager_ports) >= 8, taskmanager_ports
    finally:
        for reader in (*readers.values(), *dlq.values()):
            reader.close()
        cancel_jobs(job_ids)


def _same_payload(payload: str, value: bytes | None) -> bool:
    """Whether a dead letter's payload is ``value``: the raw text (cut at 64 KiB), or the same JSON re-encoded
    by a job that refused an otherwise valid message, with its defaults filled in."""
    text = TOMBSTONE if value is None else value.decode("utf-8", errors="replace")
    if payload[:1024] == text[:1024]:
        return True
    try:
        sent, letter = json.loads(text), json.loads(payload)
    except (ValueError, RecursionError):
        return False
    if isinstance(sent, dict) and isinstance(letter, dict):  # re-encoded: defaults filled in
        return all(letter.get(key) == value for key, value in sent.items())
    return bool(sent == letter)

