"""The first operators: parsing per domain, dead letters for bad payloads."""

from __future__ import annotations

import json

import pytest
from metric_fakes import FakeMetricsRuntime

from collector_job.parse_acks import ParseAcks
from collector_job.parse_events import ParsedEvent, ParseEvents, parse_event
from collector_job.timestamps import AckTimestampAssigner, EventTimestampAssigner
from flink_common.io import string_tag
from protocol.codec import DecodeError
from protocol.messages import AssemblyAck, DeadLetter
from protocol.settings import Domain

T0 = 1_500_000_000


def test_maritime_event_keeps_extras_and_raw_payload() -> None:
    raw = json.dumps({"timestamp": T0, "mmsi": 42, "lon": 1.0, "lat": 2.0, "entry_fishing": 1})
    parsed = parse_event(Domain.MARITIME, raw)
    assert parsed.ts == T0 and parsed.record["mmsi"] == "42" and parsed.record["entry_fishing"] == 1
    assert parsed.payload == raw


def test_finance_event_uses_the_card_model() -> None:
    parsed = parse_event(Domain.FINANCE, json.dumps({"timestamp": T0 * 1000, "pan": "p", "amount": 2.5}))
    assert parsed.record["pan"] == "p" and parsed.ts == T0 * 1000
    with pytest.raises(DecodeError):
        parse_event(Domain.FINANCE, json.dumps({"timestamp": T0 * 1000, "mmsi": "m", "lon": 0, "lat": 0}))


def test_bad_event_becomes_a_dead_letter() -> None:
    tag = string_tag("dead")
    parser, runtime = ParseEvents(Domain.MARITIME, "input", tag), FakeMetricsRuntime()
    parser.open(runtime)  # type: ignore[arg-type]
    out = list(parser.process_element("{not json", None))
    ((got_tag, text),) = out
    letter = DeadLetter.model_validate_json(text)
    assert got_tag is tag and letter.source_topic == "input" and letter.payload == "{not json"
    assert runtime.dead_letters() == 1


def test_acks_parse_or_dead_letter() -> None:
    tag = string_tag("dead")
    parser, runtime = ParseAcks("assembly_reports", tag), FakeMetricsRuntime()
    parser.open(runtime)  # type: ignore[arg-type]
    (good,) = list(parser.process_element('{"version": 1, "bucket_starts": [5]}', None))
    assert good.ack == AssemblyAck(version=1, bucket_starts=(5,))
    ((_, text),) = list(parser.process_element('{"version": -1, "bucket_starts": []}', None))
    assert "version" in DeadLetter.model_validate_json(text).reason
    assert runtime.dead_letters() == 1  # the good ACK is not counted


def test_timestamp_assigners() -> None:
    event = ParsedEvent(ts=7, record={}, payload="")
    assert EventTimestampAssigner(1000).extract_timestamp(event, -1) == 7000
    assert EventTimestampAssigner(1).extract_timestamp(event, -1) == 7
    assert AckTimestampAssigner().extract_timestamp(object(), 123) == 0


def test_partition_tagged_events_carry_their_partition_and_dead_letters_the_bare_payload() -> None:
    tag = string_tag("dead")
    parser, runtime = ParseEvents(Domain.MARITIME, "input", tag, tagged=True), FakeMetricsRuntime()
    parser.open(runtime)
    raw = json.dumps({"timestamp": 1_443_650_400, "mmsi": "227", "lon": -4.5, "lat": 48.3})
    (event,) = list(parser.process_element(f"3\t{raw}", None))
    assert isinstance(event, ParsedEvent) and event.partition == 3 and event.payload == raw
    bad = list(parser.process_element('1\t{"timestamp": "soon"}', None))
    untagged = list(parser.process_element(raw, None))  # no partition tag: dead-lettered, never a crash
    letters = [DeadLetter.model_validate_json(out[1]) for out in (*bad, *untagged)]
    assert letters[0].payload == '{"timestamp": "soon"}' and letters[1].payload == raw
    assert "partition-tagged" in letters[1].reason and runtime.dead_letters() == 2
