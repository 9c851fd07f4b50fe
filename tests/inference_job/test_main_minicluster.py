"""The whole inference graph in a local MiniCluster on bounded collections, with fake models."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from pyflink.common import Types

from flink_common.io import make_env
from inference_job.event_batches import batch_each, split_lines
from inference_job.lifecycle import ModelRef
from inference_job.main import build_graph
from mocks.fake_engine import load, write_model
from protocol.codec import decode
from protocol.messages import DeadLetter, ForecastRecord, Instruction, ScoreReport
from protocol.settings import Settings

KEYS = ["v1", "v2", "v3", "v4"]
T0 = 1_443_650_400  # event times are T0 + 100 ... T0 + 290: epoch seconds inside the contract's range
SWAP_AT = T0 + 200


def event_lines() -> list[str]:
    """Four vessels, interleaved, one event each per 10 s from t=100 to t=290, plus one broken record."""
    lines = []
    for step, ts in enumerate(range(T0 + 100, T0 + 300, 10)):
        for n, key in enumerate(KEYS):
            lat = 40.0 + ((step * (n + 1)) % 12)  # detections (lat >= 50) at different steps per key
            lines.append(json.dumps({"timestamp": ts, "mmsi": key, "lon": 1.0, "lat": lat}))
    lines.insert(7, '{"timestamp": "not a number", "mmsi": "v9"}')
    return lines


@pytest.mark.minicluster
def test_interleaved_keys_pause_play_and_swap(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, reporting_interval_s=50, parallelism=2, watermark_delay_s=0)
    settings.models_dir.mkdir()  # a PLAY's model must be in the models folder
    m0 = write_model(settings.models_dir / "m0.json", "m0")
    m1 = write_model(settings.models_dir / "m1.json", "m1", bias=0.2)
    control = [
        json.dumps({"type": "pause", "timestamp": T0 + 150}),
        json.dumps(
            {"type": "play", "timestamp": T0 + 150, "model_id": "m1", "model_path": m1, "production_time": 50}
        ),
        "not json",
    ]
    env = make_env(settings, with_kafka=False)
    # like a Kafka topic partitioned by vessel: each vessel's records stay in order on one partition
    events = (
        env.from_collection(event_lines(), type_info=Types.STRING())
        .key_by(lambda line: str(json.loads(line)["mmsi"]), key_type=Types.STRING())
        .map(lambda line: line, output_type=Types.STRING())
    )
    outputs = build_graph(
        batch_each(events, "mmsi", settings.engine_shards),
        env.from_collection(control, type_info=Types.STRING()),
        settings,
        initial=ModelRef("m0", m0),
        loader=load,
    )
    tagged = (
        outputs["forecasts"]
        .flat_map(lambda s: ["F" + line for line in split_lines(s)], output_type=Types.STRING())
        .union(outputs["scores"].map(lambda s: "S" + s, output_type=Types.STRING()))
        .union(outputs["instructions"].map(lambda s: "I" + s, output_type=Types.STRING()))
        .union(outputs["dead_letters"].map(lambda s: "D" + s, output_type=Types.STRING()))
    )
    with tagged.execute_and_collect() as results:
        collected = list(results)

    forecasts = [decode(ForecastRecord, r[1:]) for r in collected if r[0] == "F"]
    # the tagging maps run in parallel: global outputs are re-sorted (their order is tested purely)
    scores = sorted(
        (decode(ScoreReport, r[1:]) for r in collected if r[0] == "S"), key=lambda s: s.interval_start
    )
    instructions = sorted(
        (decode(Instruction, r[1:]) for r in collected if r[0] == "I"), key=lambda i: int(i.id.split("-")[1])
    )
    dead = [decode(DeadLetter, r[1:]) for r in collected if r[0] == "D"]

    # nothing dropped: one forecast and one scored event per valid input event, whatever the pause timing
    assert len(forecasts) == 80
    assert sum(s.events for s in scores) == 80
    assert sorted(d.source_topic for d in dead) == ["enginesync", "input"]

    per_key: dict[str, list[ForecastRecord]] = defaultdict(list)
    for f in forecasts:
        per_key[f.key].append(f)
    assert sorted(per_key) == KEYS
    for key, records in per_key.items():
        assert [f.timestamp for f in records] == list(range(T0 + 100, T0 + 300, 10)), key  # in order, per key
        models = [f.model_id for f in records]
        assert all(f.model_id == "m0" for f in records if f.timestamp < SWAP_AT), key
        assert models == sorted(models), key  # m0 ... m0 m1 ... m1: never back to the old model
        # isolation: the forecast depends only on this key's own last event (fake model)
        for f, ts in zip(records, range(T0 + 100, T0 + 300, 10), strict=True):
            step, n = (ts - T0 - 100) // 10, KEYS.index(key)
            lat = 40.0 + ((step * (n + 1)) % 12)
            bias = 0.2 if f.model_id == "m1" else 0.0
            assert f.probability == pytest.approx(min(1.0, max(0.0, (lat - 40.0) / 10.0 + bias))), (key, ts)

    assert [s.interval_start - T0 for s in scores] == [100, 150, 200, 250]
    assert scores[0].model_id == "m0"
    # the control input races the events (runtime.md): whether keys swapped depends on arrival, but a
    # report stamped with the new model only exists from t=200 on and restarts the runtime counts
    swapped = [s for s in scores if s.model_id == "m1"]
    assert all(s.interval_start >= SWAP_AT for s in swapped)
    assert not swapped or swapped[0].runtime == swapped[0].batch
    assert (any(f.model_id == "m1" for f in forecasts)) == bool(swapped)
    assert [i.id for i in instructions] == [f"instr-{n}" for n in range(len(instructions))]
    assert {i.timestamp for i in instructions} <= {s.timestamp for s in scores}
