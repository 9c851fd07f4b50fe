"""The engine's batch path equals the one-event-at-a-time path on real SPST models.

Random streams of one vessel (positions around the port of Brest, resets, events without a position) are
cut into random batches; between batches PLAYs announce swaps to a model of the same pattern or to one of
another pattern (which cannot adopt the run). Folding ``run_events`` over the batches must give exactly
what folding ``on_event`` over the events gives: the key's states, every outcome, the same failures.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inference_job.key_runs import run_batch, run_events, run_one_by_one
from inference_job.lifecycle import ControlState, KeyState, ModelRef, on_sync
from protocol.messages import CreationMethod, EngineSync, SyncType
from wayeb_py.engine import SPSTModel
from wayeb_py.estimator import SPSTForecaster
from wayeb_py.patterns.compiler import load_pattern

REPO = Path(__file__).resolve().parents[2]
PORT = (-4.4753, 48.38273)
T0 = 1_700_000_000


def _track(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """A vessel wandering within ~12 km of the port centre (in and out of the 5 km circle)."""
    events, angle, radius = [], 0.0, 9.0
    for i in range(n):
        angle += rng.uniform(-0.4, 0.4)
        radius = min(12.0, max(0.5, radius + rng.uniform(-1.5, 1.5)))
        lat = PORT[1] + radius / 111.0 * math.sin(angle)
        lon = PORT[0] + radius / (111.0 * math.cos(math.radians(PORT[1]))) * math.cos(angle)
        events.append({"timestamp": T0 + 60 * i, "mmsi": "v1", "lon": lon, "lat": lat, "speed": 5.0})
    return events


class Models:
    """Model files of the port pattern (two hyperparameter sets) and of the fishing pattern."""

    def __init__(self, folder: Path) -> None:
        patterns = REPO / "data" / "patterns"
        port = load_pattern(patterns / "port/pattern.sre", patterns / "port/declarations.sre")
        fishing = load_pattern(patterns / "fishing/pattern.sre", patterns / "fishing/declarations.sre")
        train = _track(random.Random(3), 3000)
        fits = {
            "m0": SPSTForecaster(port, order=1, horizon=20, threshold=0.3),
            "m1": SPSTForecaster(port, order=2, horizon=20, threshold=0.5, max_spread=3),
            "mf": SPSTForecaster(fishing, order=1, horizon=20),
        }
        self.refs = {}
        self.cache: dict[str, SPSTModel] = {}
        for model_id, forecaster in fits.items():
            path = str(forecaster.fit(train).save(folder / f"{model_id}.spst"))
            self.refs[model_id] = ModelRef(model_id, path, CreationMethod.RETRAIN)
            self.cache[path] = SPSTModel.load(path)

    def __call__(self, path: str) -> SPSTModel:
        if path not in self.cache:
            raise FileNotFoundError(path)
        return self.cache[path]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    return Models(tmp_path_factory.mktemp("key-run-models"))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[list[dict[str, Any]]], list[EngineSync | None]]:
    """Batches of one vessel's events, and the engine-sync message (or none) that precedes each batch."""
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    events = _track(rng, draw(st.integers(1, 120)))
    for event in events:
        roll = rng.random()
        if roll < 0.04:
            event.clear()
            event.update({"timestamp": -1, "mmsi": "v1", "type": "RESET"})
        elif roll < 0.08:
            del event["lat"]  # the pattern cannot map it: a failure
        elif roll < 0.12:
            event["timestamp"] -= rng.randint(60, 6000)  # out of order
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(events) - 1)), max_size=8)))
    batches = [events[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True) if events[a:b]]
    syncs: list[EngineSync | None] = []
    for batch in batches:
        target = draw(st.sampled_from([None, None, "m1", "m0", "mf", "missing"]))
        if target is None:
            syncs.append(None)
        else:
            at = max(0, batch[0]["timestamp"] + draw(st.integers(-300, 3000)))
            syncs.append(EngineSync(type=SyncType.PLAY, timestamp=at, model_id=target, model_path=target,
                                    production_time=draw(st.sampled_from([0.0, 120.0]))))  # fmt: skip
    return batches, syncs


def _resolve(sync: EngineSync, models: Models) -> EngineSync:
    """A PLAY's model path: the file of the named model ("missing" stays a path that does not exist)."""
    ref = models.refs.get(sync.model_id or "")
    return sync.model_copy(update={"model_path": ref.path if ref else "/nowhere/missing.spst"})


def _failures(failures: list[Any]) -> list[tuple[int, str, str]]:
    return [(f.index, type(f.error).__name__, str(f.error)) for f in failures]


@settings(max_examples=150, deadline=None, database=None)
@given(scenario=scenarios())
def test_batches_equal_one_event_at_a_time(
    models: Models, scenario: tuple[list[list[dict[str, Any]]], list[EngineSync | None]]
) -> None:
    batches, syncs = scenario
    initial = models.refs["m0"]
    control = ControlState()
    by_batch: KeyState | None = None
    by_event: KeyState | None = None
    for batch, sync in zip(batches, syncs, strict=True):
        if sync is not None:
            control = on_sync(control, _resolve(sync, models), creation_method=CreationMethod.RETRAIN)
        by_batch, outcomes, failures = run_events(by_batch, control, "v1", batch, models, initial)
        by_event, expected, expected_failures = run_one_by_one(
            by_event, control, "v1", batch, models, initial
        )
        assert outcomes == expected
        assert _failures(failures) == _failures(expected_failures)
        assert by_batch == by_event
    assert by_batch is None or by_batch.run == by_event.run  # type: ignore[union-attr]


def test_a_swap_inside_a_batch_splits_it(models: Models) -> None:
    """Events before the swap time run on the old model, the rest on the new one (run adopted)."""
    events = _track(random.Random(5), 40)
    swap_at = events[25]["timestamp"]
    control = on_sync(ControlState(), EngineSync(type=SyncType.PLAY, timestamp=swap_at, model_id="m1",
                                                 model_path=models.refs["m1"].path))  # fmt: skip
    state, outcomes, failures = run_events(None, ControlState(), "v1", events[:5], models, models.refs["m0"])
    state, outcomes, failures = run_events(state, control, "v1", events[5:], models, models.refs["m0"])
    assert not failures
    used = [p.model.model_id for _, p in outcomes]
    assert used == ["m0"] * 20 + ["m1"] * 15
    assert state is not None and state.swaps == 1 and state.events == 15
    assert state.run.model_key == models(models.refs["m1"].path).key


def test_an_event_that_cannot_be_mapped_fails_alone(models: Models) -> None:
    events = _track(random.Random(7), 10)
    del events[4]["lon"]
    state, outcomes, failures = run_events(None, ControlState(), "v1", events, models, models.refs["m0"])
    assert [f.index for f in failures] == [4]
    assert "lon" in str(failures[0].error)
    assert [i for i, _ in outcomes] == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    assert state is not None and state.events == 9


def test_a_batch_in_which_every_event_fails_leaves_the_state_as_it_was(models: Models) -> None:
    """Control is applied by an event that runs; a batch of failures changes nothing (as one at a time)."""
    events = _track(random.Random(9), 6)
    state, _, _ = run_events(None, ControlState(), "v1", events[:3], models, models.refs["m0"])
    play = EngineSync(type=SyncType.PLAY, timestamp=events[5]["timestamp"], model_id="m1",
                      model_path=models.refs["m1"].path)  # fmt: skip
    control = on_sync(ControlState(), play)
    bad = [{k: v for k, v in e.items() if k != "lat"} for e in events[3:]]
    after, outcomes, failures = run_events(state, control, "v1", bad, models, models.refs["m0"])
    assert after is state and not outcomes and len(failures) == 3
    expected, _, _ = run_one_by_one(state, control, "v1", bad, models, models.refs["m0"])
    assert after == expected


def test_a_shard_batch_runs_each_key_together_and_keeps_arrival_order(models: Models) -> None:
    """Two vessels interleaved, one bad event: outcomes in arrival order, the failure at its batch position,
    each key's state equal to running its own events alone."""
    one, two = _track(random.Random(11), 6), _track(random.Random(12), 5)
    for event in two:
        event["mmsi"] = "v2"
    del two[2]["lat"]
    arrivals = [e for pair in zip(one, two, strict=False) for e in pair] + one[len(two):]
    items = [(str(e["mmsi"]), e, None) for e in arrivals]
    states: dict[str, KeyState] = {}
    batch = run_batch(items, states.get, ControlState(), models, models.refs["m0"])
    ran = [(p.key, p.timestamp) for p in batch.outcomes]
    assert ran == [(e["mmsi"], e["timestamp"]) for e in arrivals if e is not two[2]]
    assert [f.index for f in batch.failures] == [arrivals.index(two[2])]
    alone = {key: run_events(None, ControlState(), key, [e for e in arrivals if e["mmsi"] == key], models,
                             models.refs["m0"])[0] for key in ("v1", "v2")}  # fmt: skip
    assert {key: after for key, prior, after in batch.states} == alone
    assert all(prior is None for _, prior, _ in batch.states)


def test_a_model_bug_in_a_batch_fails_only_its_event(models: Models) -> None:
    """``run_events`` raising (not a mapping error) sends the key's events one at a time."""
    events = _track(random.Random(13), 4)
    real = models(models.refs["m0"].path)

    class Flaky:
        """The real model, except that stepping several events at once, or the second event, raises."""

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def step_many(self, run: Any, symbols: Any, timestamps: Any) -> Any:
            if len(symbols) > 1:
                raise RuntimeError("model bug")
            return real.step_many(run, symbols, timestamps)

        def step(self, run: Any, event: dict[str, Any]) -> Any:
            if event is events[1]:
                raise RuntimeError("model bug")
            return real.step(run, event)

    broken = Flaky()
    items = [("v1", e, None) for e in events]
    batch = run_batch(items, {}.get, ControlState(), lambda path: broken, models.refs["m0"])
    assert [f.index for f in batch.failures] == [1]
    assert "model bug" in str(batch.failures[0].error)
    assert [p.timestamp for p in batch.outcomes] == [events[i]["timestamp"] for i in (0, 2, 3)]
