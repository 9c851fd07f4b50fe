"""Per-key model lifecycle: control applied lazily, swap in stream time, adopt, counters, stamps, state."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from inference_job.lifecycle import (
    ControlState,
    KeyState,
    ModelRef,
    PendingSwap,
    Processed,
    apply_control,
    new_key_state,
    on_event,
    on_sync,
)
from mocks.fake_engine import FakeModel, FakeRun
from protocol.messages import CreationMethod, EngineSync, SyncType

INITIAL = ModelRef("m0", "/models/m0", CreationMethod.INITIAL)


class Models:
    """A model source over fake models that records loads and adoptions."""

    def __init__(self) -> None:
        self.models = {"/models/m0": FakeModel("m0"), "/models/m1": FakeModel("m1", bias=0.3)}
        self.loads: list[str] = []

    def __call__(self, path: str) -> FakeModel:
        self.loads.append(path)
        return self.models[path]


def ev(ts: int, lat: float = 45.0, mmsi: str = "v1") -> dict[str, Any]:
    return {"timestamp": ts, "mmsi": mmsi, "lat": lat, "lon": 0.0}


def pause(ts: int) -> EngineSync:
    return EngineSync(type=SyncType.PAUSE, timestamp=ts)


def play(ts: int, model_id: str | None = None, path: str | None = None, pt: float = 0.0) -> EngineSync:
    return EngineSync(
        type=SyncType.PLAY, timestamp=ts, model_id=model_id, model_path=path, production_time=pt
    )


def feed(
    events: list[Mapping[str, Any]], control: ControlState, models: Models, state: KeyState | None = None
) -> tuple[KeyState, list[Processed]]:
    out: list[Processed] = []
    for e in events:
        state, processed = on_event(state, control, "v1", e, models, INITIAL)
        out += processed
    assert state is not None
    return state, out


def test_running_key_processes_every_event_with_the_initial_model() -> None:
    state, out = feed([ev(1), ev(2), ev(3)], ControlState(), Models())
    assert [p.timestamp for p in out] == [1, 2, 3]
    assert {p.model.model_id for p in out} == {"m0"}
    assert state.run.counter == 3 and state.events == 3


def test_pause_and_play_fold_into_the_control_state() -> None:
    control = on_sync(ControlState(), pause(1))
    assert control.paused and control.seq == 1
    control = on_sync(control, play(1))  # aborted session: no model
    assert not control.paused and control.seq == 2 and control.latest is None


def test_a_key_runs_whatever_it_is_given_holding_is_the_shards_decision() -> None:
    """Events held while paused come back to ``on_event`` in arrival order once the shard releases them."""
    models = Models()
    state, out = feed([ev(1), ev(2)], on_sync(ControlState(), pause(0)), models)
    assert [p.timestamp for p in out] == [1, 2] and state.run.counter == 2 and state.model == INITIAL


def test_swap_happens_once_stream_time_passes_play_time_plus_production_time() -> None:
    models = Models()
    control = ControlState()
    state, _ = feed([ev(100), ev(110)], control, models)
    control = on_sync(on_sync(control, pause(110)), play(110, "m1", "/models/m1", pt=50.0))
    assert control.latest == PendingSwap(ModelRef("m1", "/models/m1", CreationMethod.RETRAIN), 160)
    state, out = feed([ev(120), ev(159), ev(160), ev(170)], control, models, state)
    assert [p.model.model_id for p in out] == ["m0", "m0", "m1", "m1"]
    assert state.model.model_id == "m1" and state.pending is None and state.swaps == 1


def test_swap_adopts_the_run_and_resets_the_runtime_counters() -> None:
    models = Models()
    control = ControlState()
    # lat 55 = detection; forecasts resolve, so runtime counters become non-zero before the swap
    state, _ = feed([ev(1, 45), ev(2, 55), ev(3, 45), ev(4, 45)], control, models)
    assert state.runtime.total > 0 and state.detections == 1
    control = on_sync(control, play(4, "m1", "/models/m1", pt=0.0))
    state, out = feed([ev(5)], control, models, state)
    run: FakeRun = state.run
    assert run.model_id == "m1" and run.adopted_from == ("m0",)
    assert run.counter == 5  # the run continued: not a fresh run
    assert state.runtime == out[0].resolved and state.events == 1 and state.detections == 0


def test_held_events_replayed_after_the_play_cross_the_swap_time_mid_way() -> None:
    models = Models()
    state, _ = feed([ev(10)], ControlState(), models)
    control = on_sync(on_sync(ControlState(), pause(10)), play(10, "m1", "/models/m1", pt=2.0))
    state, out = feed([ev(11), ev(12), ev(13), ev(14)], control, models, state)  # held, then the new one
    assert [(p.timestamp, p.model.model_id) for p in out] == [(11, "m0"), (12, "m1"), (13, "m1"), (14, "m1")]


def test_finance_production_time_is_scaled_to_milliseconds() -> None:
    control = on_sync(ControlState(), play(1_000, "m1", "/p", pt=1.5), ticks_per_second=1000)
    assert control.latest is not None and control.latest.swap_at == 2_500


def test_a_newer_play_replaces_a_pending_swap() -> None:
    control = on_sync(ControlState(), play(10, "m1", "/models/m1", pt=100))
    state = new_key_state(INITIAL, control, 20)
    assert state.pending is not None and state.pending.model.model_id == "m1"
    control = on_sync(control, play(30, "m2", "/models/m2", pt=5))
    state = apply_control(state, control)
    assert state.pending is not None and (state.pending.model.model_id, state.pending.swap_at) == ("m2", 35)


def test_key_first_seen_after_a_swap_starts_on_the_latest_model() -> None:
    models = Models()
    control = on_sync(ControlState(), play(10, "m1", "/models/m1", pt=5))
    late_state, out = feed([ev(20)], control, models)
    assert late_state.model.model_id == "m1" and out[0].model.model_id == "m1"
    early_state, out = feed([ev(12), ev(15)], control, models)
    assert [p.model.model_id for p in out] == ["m0", "m1"]


def test_a_key_state_of_the_earlier_layout_reads_its_pause_buffer_as_carried() -> None:
    """Checkpoints taken when each key buffered its own paused events stay readable, events included."""
    old = KeyState(INITIAL, run=FakeRun("m0", counter=2)).to_dict()
    old.update(paused=True, buffer=[ev(3), ev(4)])
    restored = KeyState.from_dict(old, FakeRun.from_dict)
    assert restored.carried == (ev(3), ev(4)) and restored.run.counter == 2
    assert KeyState.from_dict(restored.to_dict(), FakeRun.from_dict) == restored
    assert KeyState(INITIAL).carried == ()


def test_forecasts_of_one_key_do_not_depend_on_other_keys() -> None:
    models = Models()
    control = ControlState()
    alone, out_alone = feed([ev(1, 44), ev(3, 47), ev(5, 55)], control, models)
    a: KeyState | None = None
    b: KeyState | None = None
    out_a: list[Processed] = []
    for e in [ev(1, 44), ev(2, 52, "v2"), ev(3, 47), ev(4, 58, "v2"), ev(5, 55), ev(6, 41, "v2")]:
        if e["mmsi"] == "v1":
            a, out = on_event(a, control, "v1", e, models, INITIAL)
            out_a += out
        else:
            b, _ = on_event(b, control, "v2", e, models, INITIAL)
    assert out_a == out_alone
    assert a is not None and a.run == alone.run


def test_key_state_round_trips_through_a_dict() -> None:
    models = Models()
    control = on_sync(on_sync(ControlState(), play(1, "m1", "/models/m1", pt=100)), pause(2))
    state, _ = feed([ev(1, 44), ev(2, 55), ev(3, 45)], ControlState(), models)
    state, _ = feed([ev(4)], control, models, state)
    restored = KeyState.from_dict(state.to_dict(), FakeRun.from_dict)
    assert restored == state
    assert pickle.loads(pickle.dumps(state)) == state  # Flink state pickles it through the same dict
    assert pickle.loads(pickle.dumps(KeyState(INITIAL))) == KeyState(INITIAL)
    assert ControlState.from_dict(control.to_dict()) == control


def test_a_model_that_cannot_be_adopted_is_not_swapped_in() -> None:
    class Broken(FakeModel):
        def adopt(self, state: FakeRun) -> FakeRun:
            raise ValueError("different pattern")

    models = Models()
    models.models["/models/bad"] = Broken("bad")
    control = ControlState()
    state, _ = feed([ev(1)], control, models)
    control = on_sync(control, play(1, "bad", "/models/bad"))
    state, out = feed([ev(2), ev(3)], control, models, state)
    assert [p.model.model_id for p in out] == ["m0", "m0"] and state.pending is None


def test_processing_an_event_changes_only_the_run_and_the_counters() -> None:
    """Every other field of the key state is carried over (the per-event update spells the fields out)."""
    models = Models()
    later = PendingSwap(ModelRef("m1", "/models/m1"), swap_at=1_000)
    control = ControlState(seq=7)
    before = KeyState(model=INITIAL, run=FakeModel("m0").new_run(), pending=later, control_seq=7, swaps=3,
                      events=5, detections=1)  # fmt: skip
    after, (out,) = on_event(before, control, "v1", ev(10), models, INITIAL)
    changed = {"run", "runtime", "events", "detections"}
    for f in fields(KeyState):
        if f.name not in changed:
            assert getattr(after, f.name) == getattr(before, f.name), f.name
    assert after.events == 6 and after.run != before.run and out.timestamp == 10
