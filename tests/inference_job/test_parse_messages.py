"""First operator: typed messages out, dead letters for anything unusable."""

from __future__ import annotations

import json

from metric_fakes import FakeMetricsRuntime

from inference_job.parse_messages import DEAD_LETTERS, ParseMessages
from protocol.messages import DeadLetter, EngineSync, SyncType


def test_bad_control_records_become_dead_letters() -> None:
    fn, runtime = ParseMessages(EngineSync, "enginesync"), FakeMetricsRuntime()
    fn.open(runtime)  # type: ignore[arg-type]
    for bad in ["not json", json.dumps({"type": "rewind", "timestamp": 3})]:
        ((tag, raw),) = list(fn.process_element(bad, None))
        letter = DeadLetter.model_validate_json(raw)
        assert tag is DEAD_LETTERS and letter.source_topic == "enginesync" and letter.job == "inference_job"
        assert letter.payload == bad
    assert runtime.dead_letters() == 2


def test_control_messages_stay_models() -> None:
    (sync,) = list(
        ParseMessages(EngineSync, "enginesync").process_element('{"type":"pause","timestamp":3}', None)
    )
    assert sync == EngineSync(type=SyncType.PAUSE, timestamp=3)
