"""The keyed engine function with fake Flink contexts: isolation, restore, control, timers, outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_harness import SHARDS, T0, Harness, deltas, forecasts, raw_event

from flink_common.timers import LOST_TIMER_MS
from inference_job.domain import event_model
from inference_job.engine_process import END_OF_INPUT, FORECASTS
from inference_job.event_batches import shard_of
from inference_job.lifecycle import ModelRef
from inference_job.models import ModelCache, resolve_initial_model
from inference_job.parse_messages import DEAD_LETTERS
from protocol.codec import decode
from protocol.messages import CreationMethod, DeadLetter, EngineSync, SyncType
from protocol.settings import Domain, Settings
from shared_volume.registry import RegistryEntry, publish


def test_each_event_yields_a_forecast_and_a_delta_stamped_with_the_model(tmp_path: Path) -> None:
    h = Harness(tmp_path, batch_size=1)
    out = h.event("v1", 10, lat=47.0)
    (f,) = forecasts(out)
    (d,) = deltas(out)
    assert (f.key, f.timestamp, f.model_id, f.probability) == ("v1", 10, "m0", pytest.approx(0.7))
    assert (d.key, d.model_id, d.creation_method, d.forecasts) == ("v1", "m0", CreationMethod.INITIAL, 1)


def test_keys_are_isolated(tmp_path: Path) -> None:
    alone = Harness(tmp_path)
    solo = [forecasts(alone.event("v1", ts, lat))[0] for ts, lat in [(1, 44.0), (3, 52.0), (5, 46.0)]]
    mixed = Harness(tmp_path)
    together = []
    for key, ts, lat in [("v1", 1, 44.0), ("v2", 2, 55.0), ("v1", 3, 52.0), ("v2", 4, 41.0), ("v1", 5, 46.0)]:
        out = forecasts(mixed.event(key, ts, lat))
        together += [f for f in out if f.key == "v1"]
    assert together == solo
    assert mixed.run_state("v1").run == alone.run_state("v1").run


def test_state_is_restored_by_a_new_instance(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.event("v1", 1)
    h.event("v1", 2)
    restarted = Harness(tmp_path, stores=h.stores, broadcast=h.broadcast)
    restarted.timers = h.timers  # Flink restores timers with the state
    restarted.event("v1", 3)
    assert restarted.run_state("v1").run.counter == 3
    # the deltas pending at the "checkpoint" are restored with the shard and flushed after the restart
    assert [d.timestamp for d in deltas(restarted.flush("v1"))] == [1, 2, 3]


def test_an_overdue_timer_recorded_in_the_shard_is_armed_again(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.event("v1", 1)  # a flush timer at 1_200 is recorded in the shard state
    restarted = Harness(tmp_path, stores=h.stores, broadcast=h.broadcast)  # timers not restored
    clock = restarted.timer_service_for("v1")
    clock.now = 5_000  # late, but not so late that the timer must be lost: not doubled
    restarted.event("v1", 2)
    assert clock.processing == set()
    clock.now = 1_200 + LOST_TIMER_MS + 1
    restarted.event("v1", 3)
    assert clock.processing == {clock.now + 200}
    assert [d.timestamp for d in deltas(restarted.flush("v1"))] == [1, 2, 3]


def test_pause_buffers_and_timers_replay_after_play(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.event("v1", 1)
    assert h.sync(EngineSync(type=SyncType.PAUSE, timestamp=1)) == []
    assert h.event("v1", 2) == [] and h.event("v2", 3) == []  # v2 first seen while paused
    v1 = h.timers[shard_of("v1", SHARDS)]
    assert END_OF_INPUT in v1.event and v1.processing
    assert [d.timestamp for d in deltas(h.flush("v1"))] == [1]  # the delta of t=1 leaves; v1 polls on
    assert h.fire("v1", 2_000, event_time=False) == []  # still paused: poll again
    h.sync(EngineSync(type=SyncType.PLAY, timestamp=1, model_id="m1", model_path=h.m1, production_time=10))
    assert [f.timestamp for f in forecasts(h.fire("v1", 3_000, event_time=False))] == [2]
    assert [(f.timestamp, f.model_id) for f in forecasts(h.event("v2", 12))] == [(3, "m0"), (12, "m1")]


def test_end_of_input_flushes_a_paused_buffer(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.sync(EngineSync(type=SyncType.PAUSE, timestamp=0))
    h.event("v1", 5)
    out = h.fire("v1", END_OF_INPUT, event_time=True)
    assert [f.timestamp for f in forecasts(out)] == [5]
    assert [d.timestamp for d in deltas(out)] == [5]


def test_unloadable_play_model_is_dead_lettered_and_only_resumes(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.sync(EngineSync(type=SyncType.PAUSE, timestamp=0))
    out = h.sync(
        EngineSync(type=SyncType.PLAY, timestamp=0, model_id="m9", model_path=str(tmp_path / "nope"))
    )
    assert [v[0] for v in out] == [DEAD_LETTERS]
    assert h.metrics.dead_letters() == 1
    assert [f.model_id for f in forecasts(h.event("v1", 5))] == ["m0"]


def test_creation_method_of_a_played_model_comes_from_the_registry(tmp_path: Path) -> None:
    h = Harness(tmp_path, batch_size=1)
    entry = RegistryEntry(
        model_id="m1", path=h.m1, creation_method=CreationMethod.OPTIMISATION, created_at=0.0
    )
    publish(tmp_path / "registry.json", entry)
    h.sync(EngineSync(type=SyncType.PLAY, timestamp=0, model_id="m1", model_path=h.m1))
    assert deltas(h.event("v1", 1))[0].creation_method is CreationMethod.OPTIMISATION


def test_model_cache_loads_each_path_once_and_evicts_the_oldest() -> None:
    loads: list[str] = []
    cache = ModelCache(lambda p: loads.append(p) or p.upper(), size=2)
    assert [cache("a"), cache("a"), cache("b"), cache("c"), cache("a")] == ["A", "A", "B", "C", "A"]
    assert loads == ["a", "b", "c", "a"]


def test_initial_model_is_the_registry_current_else_the_bootstrap_path(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, bootstrap_model_path=tmp_path / "boot.spst")
    assert resolve_initial_model(settings) == ModelRef("initial", str(tmp_path / "boot.spst"))
    entry = RegistryEntry(model_id="m3", path="/x/m3", creation_method=CreationMethod.RETRAIN, created_at=0.0)
    publish(settings.registry_path, entry)
    assert resolve_initial_model(settings) == ModelRef("m3", "/x/m3", CreationMethod.RETRAIN)
    with pytest.raises(FileNotFoundError):
        resolve_initial_model(Settings(data_dir=tmp_path / "empty"))


def test_deltas_leave_in_batches_of_the_batch_size(tmp_path: Path) -> None:
    h = Harness(tmp_path, batch_size=3)
    keys = [k for k in (f"v{n}" for n in range(50)) if shard_of(k, SHARDS) == 0][:2]
    outs = [deltas(h.event(keys[n % 2], ts)) for n, ts in enumerate(range(1, 8))]
    assert [[d.timestamp for d in out] for out in outs] == [[], [], [1, 2, 3], [], [], [4, 5, 6], []]
    assert {d.key for out in outs for d in out} == set(keys)


def test_a_partial_batch_is_flushed_by_the_shard_timer_once(tmp_path: Path) -> None:
    h = Harness(tmp_path, flush_ms=250)
    h.event("v1", 1)
    h.event("v1", 2)
    timers = h.timers[shard_of("v1", SHARDS)]
    assert timers.processing == {1_250}  # one timer for the batch, not one per event
    assert END_OF_INPUT in timers.event
    assert [d.timestamp for d in deltas(h.flush("v1"))] == [1, 2]
    assert deltas(h.fire("v1", END_OF_INPUT, event_time=True)) == []  # nothing left to send


def test_a_batch_is_processed_in_order_with_one_forecast_record(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    raw = [raw_event("v1", ts) for ts in (1, 2, 3)]
    out = h.batch("v1", raw)
    assert len([v for v in out if isinstance(v, tuple) and v[0] == FORECASTS]) == 1  # one record per batch
    assert [f.timestamp for f in forecasts(out)] == [1, 2, 3]
    assert h.run_state("v1").run.counter == 3


def test_bad_events_are_dead_lettered_and_the_rest_of_the_batch_goes_on(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    good = [raw_event("v1", ts) for ts in (1, 2)]
    bad = ["not json", json.dumps({"timestamp": -3, "mmsi": "v1", "lon": 0, "lat": 0})]
    out = h.batch("v1", [good[0], *bad, good[1]])
    assert [f.timestamp for f in forecasts(out)] == [1, 2]
    letters = [
        DeadLetter.model_validate_json(v[1]) for v in out if isinstance(v, tuple) and v[0] == DEAD_LETTERS
    ]
    assert [letter.payload for letter in letters] == bad
    assert all(letter.source_topic == "input" and letter.job == "inference_job" for letter in letters)
    assert all(letter.reason for letter in letters)
    assert h.metrics.dead_letters() == 2


def test_card_transactions_keep_their_extra_attributes_for_the_engine() -> None:
    """The engine decodes events with the domain's model; finance patterns read attributes beyond it."""
    raw = json.dumps({"timestamp": T0 * 1000, "pan": "p1", "amount": 3.0, "shop": "s"})
    event = decode(event_model(Settings(domain=Domain.FINANCE)), raw).model_dump(mode="json")
    assert event["pan"] == "p1" and event["shop"] == "s"
