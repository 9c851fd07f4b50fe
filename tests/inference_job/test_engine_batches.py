"""The engine function gives the same per-vessel forecasts and score deltas whatever the batch sizes.

Six vessels' interleaved tracks (with bad events) run through ``EngineProcess`` on real SPST models,
with a PAUSE, a PLAY of another model and the end of input in the middle: once delivered one event per
record (what the engine did before it ran a key's events together) and once in shard batches as the JVM
forms them. Every vessel's forecasts and score deltas, the held-event replay and the dead letters must be
the same.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from engine_harness import SHARDS, Harness
from test_key_runs import Models, _track

from inference_job.engine_process import FORECASTS, EngineProcess
from inference_job.event_batches import shard_of, split_lines
from inference_job.scoring import decode_rows
from protocol.messages import EngineSync, SyncType

VESSELS = [f"22{i:07d}" for i in range(6)]


def _stream(seed: int) -> list[dict[str, Any]]:
    """The vessels' tracks interleaved at random (each vessel's events in time order), some unusable."""
    rng = random.Random(seed)
    tracks = {v: _track(random.Random(seed + i), 60) for i, v in enumerate(VESSELS)}
    for vessel, track in tracks.items():
        for event in track:
            event["mmsi"] = vessel
            if rng.random() < 0.03:
                del event["lon"]
    merged: list[dict[str, Any]] = []
    cursors = dict.fromkeys(VESSELS, 0)
    while any(cursors[v] < len(tracks[v]) for v in VESSELS):
        vessel = rng.choice([v for v in VESSELS if cursors[v] < len(tracks[v])])
        merged.append(tracks[vessel][cursors[vessel]])
        cursors[vessel] += 1
    return merged


def _run(models: Models, tmp: Path, stream: list[dict[str, Any]], window: int) -> dict[str, Any]:
    """Feed ``stream`` in windows of ``window`` events, each split by shard (arrival order kept)."""
    tmp.mkdir()
    h = Harness(tmp)
    h.fn = EngineProcess(models.refs["m0"], loader=models, batch_size=7, registry_path=str(tmp / "none.json"))
    h.fn.open(h)  # type: ignore[arg-type]
    pause_at, play_at = len(stream) // 3, len(stream) // 2
    out: list[Any] = []
    for start in range(0, len(stream), window):
        chunk = stream[start : start + window]
        control_before = {pause_at: SyncType.PAUSE, play_at: SyncType.PLAY}
        by_shard: dict[int, list[str]] = defaultdict(list)
        for offset, event in enumerate(chunk):
            kind = control_before.get(start + offset)
            if kind is not None:  # a control message arrives: what was batched so far goes first
                out += _deliver(h, by_shard)
                sync = EngineSync(type=kind, timestamp=event["timestamp"])
                if kind is SyncType.PLAY:
                    sync = sync.model_copy(update={"model_id": "m1", "model_path": models.refs["m1"].path,
                                                   "production_time": 600.0})  # fmt: skip
                out += list(h.fn.process_broadcast_element(sync, h))
            by_shard[shard_of(event["mmsi"], SHARDS)].append(json.dumps(event))
        out += _deliver(h, by_shard)
    out += h.end_of_input()
    forecasts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    deltas: dict[str, list[list[Any]]] = defaultdict(list)
    letters = []
    for value in out:
        if isinstance(value, tuple) and value[0] == FORECASTS:
            for line in split_lines(value[1]):
                record = json.loads(line)
                forecasts[record["key"]].append(record)
        elif isinstance(value, tuple):
            letters.append(json.loads(value[1])["reason"])
        else:
            rows = decode_rows(value)
            assert 1 <= len(rows) <= 7  # SCORE_BATCH_SIZE bounds every delta record
            for row in rows:
                deltas[row[0]].append(row)
    return {"forecasts": dict(forecasts), "deltas": dict(deltas), "letters": sorted(letters)}


def _deliver(h: Harness, by_shard: dict[int, list[str]]) -> list[Any]:
    out: list[Any] = []
    for shard, raws in by_shard.items():
        h.shard = shard
        out += list(h.fn.process_element(json.dumps(raws), h))
    by_shard.clear()
    return out


@pytest.mark.parametrize("window", [5, 40, 400])
def test_per_vessel_outputs_do_not_depend_on_batching(models: Models, tmp_path: Path, window: int) -> None:
    stream = _stream(11)
    one_by_one = _run(models, tmp_path / "single", stream, 1)
    batched = _run(models, tmp_path / f"window-{window}", stream, window)
    assert batched == one_by_one
    used = {record["model_id"] for records in one_by_one["forecasts"].values() for record in records}
    assert used == {"m0", "m1"}  # the swap happened inside the run
    assert one_by_one["letters"] and all("lon" in reason for reason in one_by_one["letters"])
    ran = sum(len(rows) for rows in one_by_one["deltas"].values())
    assert ran + len(one_by_one["letters"]) == len(stream)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    return Models(tmp_path_factory.mktemp("engine-batch-models"))
