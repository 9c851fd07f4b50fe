"""First operator: typed messages out, dead letters for anything unusable."""

from __future__ import annotations

import json

from metric_fakes import FakeMetricsRuntime

from inference_job.parse_messages import DEAD_LETTERS, ParseMessages
from protocol.messages import CardTransaction, DeadLetter, EngineSync, MaritimeEvent, SyncType


def test_events_become_dicts_and_bad_records_dead_letters() -> None:
    fn, runtime = ParseMessages(MaritimeEvent, "input", as_dict=True), FakeMetricsRuntime()
    fn.open(runtime)  # type: ignore[arg-type]
    (event,) = list(
        fn.process_element(json.dumps({"timestamp": 5, "mmsi": 227, "lon": 1.0, "lat": 2.0}), None)
    )
    assert event["mmsi"] == "227" and event["timestamp"] == 5
    for bad in ["not json", json.dumps({"timestamp": -3, "mmsi": "x", "lon": 0, "lat": 0})]:
        ((tag, raw),) = list(fn.process_element(bad, None))
        letter = DeadLetter.model_validate_json(raw)
        assert tag is DEAD_LETTERS and letter.source_topic == "input" and letter.job == "inference_job"
        assert letter.payload == bad
    assert runtime.dead_letters() == 2


def test_control_messages_stay_models() -> None:
    (sync,) = list(
        ParseMessages(EngineSync, "enginesync").process_element('{"type":"pause","timestamp":3}', None)
    )
    assert sync == EngineSync(type=SyncType.PAUSE, timestamp=3)


def test_card_transactions_keep_extra_attributes() -> None:
    fn = ParseMessages(CardTransaction, "input", as_dict=True)
    (trx,) = list(
        fn.process_element(json.dumps({"timestamp": 1, "pan": "p1", "amount": 3.0, "shop": "s"}), None)
    )
    assert trx["pan"] == "p1" and trx["shop"] == "s"
