"""The feeder parses streams into protocol events, orders them by event time and sends each exactly once."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from mocks.data_feeder import (
    FeedRecord,
    StreamFormatError,
    feed,
    load_records,
    main,
    order_by_event_time,
    pacing_offsets,
)
from mocks.synthetic import SyntheticConfig, generate, write_csv
from protocol import CardTransaction, Domain, MaritimeEvent, decode

# Three lines of the real Brest file (header-less, 8 columns, CRLF as in some copies), plus a gap marker.
BREST_LINES = (
    "1443677401,227592820,-4.489492,48.357178,16.791537956792514,176.98862929133006,178.6,00100000\r\n"
    "-1,227592820,0,0,0,0,0,-1\r\n"
    "1443677461,227592820,-4.4891,48.351073,15.704852370149203,174.30471322253993,174.3,00100000\r\n"
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def test_headerless_wayeb_csv_becomes_maritime_events_and_gap_markers_are_counted(tmp_path: Path) -> None:
    loaded = load_records(_write(tmp_path, "brest.csv", BREST_LINES))
    assert loaded.gap_markers == 1
    assert [r.timestamp for r in loaded.records] == [1443677401, 1443677461]
    event = decode(MaritimeEvent, loaded.records[0].value)
    assert (event.mmsi, event.lon, event.lat, event.cog) == ("227592820", -4.489492, 48.357178, 178.6)
    assert event.model_extra == {"annotation": "00100000"}
    assert loaded.records[0].key == "227592820"


def test_header_csv_and_jsonl_with_aliases(tmp_path: Path) -> None:
    csv_path = _write(
        tmp_path, "s.csv", "timestamp,mmsi,lon,lat,speed,heading,cog\n1443650410,111,1.5,2.5,3.0,90.0,91.0\n"
    )
    jsonl_path = _write(
        tmp_path, "s.jsonl", '{"timestamp": 1443650410, "mmsi": 111, "lon": 1.5, "lat": 2.5, "trh": 90.0}\n\n'
    )
    from_csv = decode(MaritimeEvent, load_records(csv_path).records[0].value)
    from_json = decode(MaritimeEvent, load_records(jsonl_path, fmt="jsonl").records[0].value)
    assert from_csv.heading == from_json.heading == 90.0
    assert from_csv.mmsi == from_json.mmsi == "111"


def test_finance_streams_are_keyed_by_pan(tmp_path: Path) -> None:
    csv_path = _write(tmp_path, "trx.csv", "7,1463702413335,4000123412341234,12.5,2.5,60000,0,0\n")
    jsonl_path = _write(
        tmp_path,
        "trx.jsonl",
        '{"trxNo": 8, "timestamp": 1463702413340, "pan": "42", "amount": 1.0, "amountDiff": 3.0}\n',
    )
    trx = decode(CardTransaction, load_records(csv_path, domain=Domain.FINANCE).records[0].value)
    assert (trx.trx_no, trx.pan, trx.amount_diff, trx.time_diff) == (7, "4000123412341234", 2.5, 60000)
    rec = load_records(jsonl_path, fmt="jsonl", domain=Domain.FINANCE).records[0]
    assert rec.key == "42" and decode(CardTransaction, rec.value).amount_diff == 3.0


def test_a_bad_line_is_reported_with_its_line_number(tmp_path: Path) -> None:
    text = "timestamp,mmsi,lon,lat\n1443650401,5,0.0,0.0\n1443650402,5,999.0,0.0\n"
    path = _write(tmp_path, "bad.csv", text)
    with pytest.raises(StreamFormatError, match=r"bad\.csv:3: .*lon"):
        load_records(path)


def test_vessel_grouped_file_is_replayed_in_event_time_order(tmp_path: Path) -> None:
    # The file is grouped by vessel (the ordering bug of the feeder this one replaces).
    t0 = 1_443_650_400
    lines = ["timestamp,mmsi,lon,lat"]
    lines += [f"{t0 + t},999,0.0,0.0" for t in (0, 60, 120, 180)]
    lines += [f"{t0 + t},111,0.0,0.0" for t in (30, 60, 90, 180)]
    records = order_by_event_time(load_records(_write(tmp_path, "g.csv", "\n".join(lines))).records)
    assert [(r.timestamp - t0, r.key) for r in records] == [
        (0, "999"),
        (30, "111"),
        (60, "999"),
        (60, "111"),
        (90, "111"),
        (120, "999"),
        (180, "999"),
        (180, "111"),
    ]  # fmt: skip  (ties keep file order: the key never decides)


def test_pacing_follows_event_time_divided_by_speedup() -> None:
    assert pacing_offsets([100, 160, 160, 400], speedup=60.0) == [0.0, 1.0, 1.0, 5.0]
    assert pacing_offsets([0, 2000], speedup=2.0, unit_s=0.001) == [0.0, 1.0]  # card timestamps are ms
    assert pacing_offsets([5, 6, 7], speedup=None) == [0.0, 0.0, 0.0]
    assert pacing_offsets([], speedup=10.0) == []
    with pytest.raises(ValueError):
        pacing_offsets([1], speedup=0.0)


def _records(n: int) -> list[FeedRecord]:
    return [FeedRecord(timestamp=i * 60, key=f"v{i % 3}", value=f'{{"i":{i}}}') for i in range(n)]


def test_feed_sends_each_event_once_keyed_and_counts_acknowledgements(fake_producer) -> None:
    producer = fake_producer(buffer_full_once=True)
    records = _records(50)
    report = feed(records, producer, "input-x")
    assert report.ok and (report.produced, report.delivered, report.failed, report.pending) == (50, 50, 0, 0)
    assert producer.sent == [("input-x", r.key, r.value) for r in records]
    assert producer.produce_calls == 51  # the full-queue attempt was retried, not duplicated


def test_feed_reports_failed_and_pending_deliveries(fake_producer) -> None:
    failing = feed(_records(10), fake_producer(fail_every=4), "t")
    assert not failing.ok and (failing.delivered, failing.failed) == (8, 2)
    assert failing.first_error == "Broker: Not enough in-sync replicas"
    stuck = feed(_records(10), fake_producer(stuck=3), "t")
    assert not stuck.ok and (stuck.delivered, stuck.pending) == (7, 3)


def test_feed_sleeps_until_each_event_is_due(fake_producer) -> None:
    now = [1000.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    records = [FeedRecord(t, "k", "{}") for t in (0, 0, 120, 300)]
    offsets = pacing_offsets([r.timestamp for r in records], speedup=60.0)
    report = feed(records, fake_producer(), "t", offsets=offsets, clock=lambda: now[0], sleep=sleep)
    assert report.ok
    assert sleeps == pytest.approx([2.0, 3.0])
    assert now[0] == pytest.approx(1005.0)


def test_cli_fails_in_one_line_when_the_broker_is_unreachable(tmp_path: Path, capsys) -> None:
    stream = _write(tmp_path, "s.csv", BREST_LINES)
    started = time.monotonic()
    code = main(["--stream", str(stream), "--bootstrap", "127.0.0.1:1", "--timeout", "1", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and time.monotonic() - started < 10
    assert err.startswith("error: no Kafka broker reachable at 127.0.0.1:1") and "\n" not in err


def test_cli_rejects_a_malformed_stream_before_connecting(tmp_path: Path, capsys) -> None:
    stream = _write(tmp_path, "bad.jsonl", "{not json}\n")
    assert main(["--stream", str(stream), "--bootstrap", "127.0.0.1:1", "--quiet"]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err


@pytest.mark.kafka
def test_feeds_500_events_into_a_real_broker_once_and_in_order(tmp_path: Path, monkeypatch, capsys) -> None:
    """Needs a broker at KAFKA_BOOTSTRAP_SERVERS (default localhost:9092); fails if none answers."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
    topic = f"test-feeder-{uuid.uuid4().hex[:10]}"
    quiet: dict[str, Any] = {"bootstrap.servers": bootstrap, "log_level": 0, "error_cb": lambda _e: None}
    admin = AdminClient(quiet)
    admin.create_topics([NewTopic(topic, 1, 1)], request_timeout=10)[topic].result(timeout=15)
    try:
        frame = generate(SyntheticConfig(weeks=1, vessels=6, seed=11, compress=4.0)).frame.head(500)
        assert len(frame) == 500
        stream = tmp_path / "grouped.csv"
        write_csv(frame.sort_values(["mmsi", "timestamp"], kind="stable"), stream)  # grouped by vessel
        expected = [(r.key, r.value) for r in order_by_event_time(load_records(stream).records)]

        monkeypatch.setenv("INPUT_TOPIC", topic)
        assert main(["--stream", str(stream), "--fast", "--quiet", "--bootstrap", bootstrap]) == 0
        assert "500/500 events acknowledged" in capsys.readouterr().err

        consumer = Consumer({**quiet, "group.id": f"{topic}-check", "enable.auto.commit": False})
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        got: list[tuple[str, str]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(got) < 500:
            for msg in consumer.consume(num_messages=500, timeout=1.0):
                assert msg.error() is None, msg.error()
                got.append(((msg.key() or b"").decode(), (msg.value() or b"").decode()))
        extra = consumer.consume(num_messages=10, timeout=2.0)
        consumer.close()
        assert len(got) == 500 and not extra  # exactly once: nothing lost, nothing duplicated
        assert got == expected  # event-time order, keyed by vessel
        stamps = [decode(MaritimeEvent, v).timestamp for _, v in got]
        assert stamps == sorted(stamps)
    finally:
        admin.delete_topics([topic], request_timeout=10)
