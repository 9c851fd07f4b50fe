"""Property tests of the SPST back end on random small automata, PSTs, models and event streams.

* serialisation: ``.spst`` encode/decode and `RunState` ``to_dict``/``from_dict`` give equal objects that
  behave identically on a random stream;
* determinism: the same data and hyperparameters give a byte-identical ``.spst`` file;
* waiting times: ``"merged"`` equals ``"exact_wayeb"`` at cutoff 0;
* batch scoring (`wayeb_py.batch`) gives the same counts as stepping event by event.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
from _data import data_path, pattern_files
from _spst_helpers import HandPattern, TypeSymbolizer, decode_hand_pattern
from hypothesis import given, settings
from hypothesis import strategies as st

from wayeb_py.automata.sdfa import SDFA
from wayeb_py.engine import RunState, SPSTModel
from wayeb_py.estimator import SPSTForecaster
from wayeb_py.forecasting import ForecastParams, VirtualAutomaton, waiting_times
from wayeb_py.model_file import encode_model, write_model
from wayeb_py.pst import LearnParams, PredictionSuffixTree, build_cst, learn_pst
from wayeb_py.scoring import iter_steps, score_stream

PROPS = settings(deadline=None, max_examples=30, database=None)
TYPES = ("A", "B", "C")
REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------------- strategies
@st.composite
def sdfas(draw: st.DrawFn, n_symbols: int) -> SDFA:
    """A complete random DFA over ``n_symbols`` symbols (1-4 states, any set of finals)."""
    n_states = draw(st.integers(1, 4))
    row = st.lists(st.integers(0, n_states - 1), min_size=n_symbols, max_size=n_symbols)
    delta = draw(st.lists(row, min_size=n_states, max_size=n_states))
    finals = draw(st.frozensets(st.integers(0, n_states - 1), max_size=n_states))
    return SDFA(np.array(delta), draw(st.integers(0, n_states - 1)), finals)


@st.composite
def psts(draw: st.DrawFn, n_symbols: int, max_depth: int = 2) -> PredictionSuffixTree:
    """A random PST: any labels closed under dropping the oldest symbol, random (possibly sparse) rows."""
    word = st.lists(st.integers(0, n_symbols - 1), min_size=1, max_size=max_depth).map(tuple)
    labels: set[tuple[int, ...]] = {()}
    for w in draw(st.lists(word, max_size=8)):
        labels.update(w[:k] for k in range(1, len(w) + 1))
    ordered = sorted(labels, key=lambda w: (len(w), w))
    rows = []
    for _ in ordered:
        weights = np.array(draw(st.lists(st.integers(0, 5), min_size=n_symbols, max_size=n_symbols)), float)
        rows.append(weights / weights.sum() if weights.sum() > 0 else np.full(n_symbols, 1.0 / n_symbols))
    return PredictionSuffixTree(tuple(ordered), np.array(rows), max(1, len(ordered[-1])))


@st.composite
def forecast_params(draw: st.DrawFn) -> ForecastParams:
    """Random forecasting settings (small horizons keep exact_wayeb at cutoff 0 cheap)."""
    horizon = draw(st.integers(1, 5))
    return ForecastParams(
        threshold=draw(st.sampled_from([0.0, 0.2, 0.5, 0.9, 1.0])),
        horizon=horizon,
        max_spread=draw(st.integers(1, horizon)),
        method=draw(st.sampled_from(["nextk", "smart_scan"])),
        wt_mode=draw(st.sampled_from(["exact_wayeb", "merged"])),
        cutoff=draw(st.sampled_from([0.0, 0.001, 0.05])),
        distance=draw(st.sampled_from([(0.0, 1.0), (-1.0, -1.0), (0.0001, 1.0), (0.0, 0.5)])),
        finals_enabled=draw(st.booleans()),
    )


@st.composite
def learn_settings(draw: st.DrawFn) -> tuple[HandPattern, LearnParams, list[str]]:
    """A hand-built pattern over 1-3 event types (plus "other"), PST learning settings and training types."""
    types = TYPES[: draw(st.integers(1, 3))]
    symbolizer = TypeSymbolizer(types)
    order = draw(st.integers(1, 2))
    learn = LearnParams(
        order=order,
        p_min=draw(st.sampled_from([0.0, 0.001, 0.05])),
        alpha=draw(st.sampled_from([0.0, 0.5])),
        gamma=draw(st.sampled_from([0.0, 0.001, 0.05])),
        r=draw(st.sampled_from([1.05, 2.0])),
    )
    pattern = HandPattern(draw(sdfas(symbolizer.n_symbols)), symbolizer, order=order, partition_by="vessel")
    train = draw(st.lists(st.sampled_from([*types, "Z"]), min_size=1, max_size=60))
    return pattern, learn, train


@st.composite
def models(draw: st.DrawFn) -> SPSTModel:
    """A model learned on a random training stream of a random hand-built pattern."""
    pattern, learn, train = draw(learn_settings())
    symbols = np.array([pattern.symbolizer.symbol({"type": x}) for x in train])
    cst = build_cst([symbols], pattern.symbolizer.n_symbols, learn.order + 1)
    provenance = {"dataset_id": "prop", "rows": len(train)}
    return SPSTModel(pattern, learn_pst(cst, learn), learn, draw(forecast_params()), provenance)


def event_streams(max_size: int = 80) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Events with a type (A/B/C, Z = other, or a RESET marker), a vessel key and increasing timestamps."""
    kind = st.sampled_from([*TYPES, "Z", "Z", "RESET"])
    item = st.tuples(kind, st.sampled_from(["v1", "v2"]))
    return st.lists(item, max_size=max_size).map(
        lambda xs: [
            {"type": t, "vessel": v, "timestamp": -1 if t == "RESET" else i + 1}
            for i, (t, v) in enumerate(xs)
        ]
    )


def _run(model: SPSTModel, events: list[dict[str, Any]], state: RunState | None = None) -> list[Any]:
    """Every (state, result) of a single run over ``events``, then the end-of-stream flush."""
    state = state or model.new_run()
    out: list[Any] = []
    for event in events:
        state, result = model.step(state, event)
        out.append((state, result))
    out.append(model.flush(state))
    return out


# ---------------------------------------------------------------------------------------------- properties
@PROPS
@given(models(), event_streams())
def test_model_file_round_trip_gives_an_equal_model_that_behaves_identically(
    model: SPSTModel, events: list[dict[str, Any]]
) -> None:
    doc = json.loads(json.dumps(encode_model(model), allow_nan=False))
    decoded = SPSTModel.from_document(doc, pattern_decoder=decode_hand_pattern)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_model(model, Path(tmp) / "m.spst")
        loaded = SPSTModel.load(path, pattern_decoder=decode_hand_pattern)
        again = write_model(loaded, Path(tmp) / "again.spst")
        assert again.read_bytes() == path.read_bytes()
    for other in (decoded, loaded):
        assert other.key == model.key and other.pst == model.pst
        assert other.pattern.sdfa == model.pattern.sdfa
        assert other.learn_params == model.learn_params and other.forecast_params == model.forecast_params
        assert other.provenance == model.provenance
        assert encode_model(other) == encode_model(model)
        np.testing.assert_array_equal(other.table.valid, model.table.valid)
        assert other.table.rows == model.table.rows
        assert _run(other, events) == _run(model, events)


@PROPS
@given(models(), event_streams())
def test_run_state_dict_round_trip_is_lossless_at_every_step(
    model: SPSTModel, events: list[dict[str, Any]]
) -> None:
    state = model.new_run()
    for event in events:
        restored = RunState.from_dict(json.loads(json.dumps(state.to_dict())))
        assert restored == state
        state, result = model.step(state, event)
        restored_next, restored_result = model.step(restored, event)
        assert (restored_next, restored_result) == (state, result)
    restored = RunState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert model.flush(restored) == model.flush(state)


@PROPS
@given(learn_settings(), forecast_params())
def test_same_data_and_params_give_a_byte_identical_model_file(
    setting: tuple[HandPattern, LearnParams, list[str]], fparams: ForecastParams
) -> None:
    pattern, learn, train = setting
    frame = pd.DataFrame({"type": train, "timestamp": range(1, len(train) + 1)})
    kwargs = {
        "order": learn.order,
        "p_min": learn.p_min,
        "alpha": learn.alpha,
        "gamma": learn.gamma,
        "r": learn.r,
        **fparams.to_dict(),
        "distance": tuple(fparams.distance),
        "partitioned": False,
    }
    fixed = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp, mock.patch("wayeb_py.estimator.datetime") as clock:
        clock.now.return_value = fixed
        first = SPSTForecaster(pattern, **kwargs).fit(frame).save(Path(tmp) / "a.spst")
        second = SPSTForecaster(pattern, **kwargs).fit(frame.copy()).save(Path(tmp) / "b.spst")
        assert first.read_bytes() == second.read_bytes()


def test_model_file_bytes_do_not_depend_on_the_process_hash_seed(tmp_path: Path) -> None:
    """Two interpreters with different string-hash seeds write the same compiled-pattern model."""
    pattern, declarations = pattern_files("port")
    script = (
        "import sys\n"
        "from unittest import mock\n"
        "from datetime import UTC, datetime\n"
        "from wayeb_py.estimator import SPSTForecaster\n"
        "from wayeb_py.io import read_events\n"
        "from wayeb_py.patterns import load_pattern\n"
        "pattern = load_pattern(sys.argv[1], sys.argv[2])\n"
        "frame = read_events(sys.argv[3], 'maritime', nrows=2000)\n"
        "with mock.patch('wayeb_py.estimator.datetime') as clock:\n"
        "    clock.now.return_value = datetime(2024, 1, 2, tzinfo=UTC)\n"
        "    SPSTForecaster(pattern, order=2).fit(frame, dataset_id='d').save(sys.argv[4])\n"
    )
    stream = data_path("maritime", "227592820.csv")
    procs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
        argv = [sys.executable, "-c", script, str(pattern), str(declarations), str(stream)]
        procs.append(subprocess.Popen([*argv, str(tmp_path / f"{seed}.spst")], env=env))
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert (tmp_path / "1.spst").read_bytes() == (tmp_path / "2.spst").read_bytes()


@PROPS
@given(st.data())
def test_merged_waiting_times_equal_exact_wayeb_at_cutoff_zero(data: st.DataObject) -> None:
    n_symbols = data.draw(st.integers(1, 3))
    va = VirtualAutomaton.from_sdfa(data.draw(psts(n_symbols)), data.draw(sdfas(n_symbols)))
    horizon = data.draw(st.integers(1, 5))
    merged = waiting_times(va, horizon, mode="merged")
    exact = waiting_times(va, horizon, mode="exact_wayeb", cutoff=0.0)
    np.testing.assert_allclose(exact, merged, rtol=1e-9, atol=1e-12)
    assert np.all(merged.sum(axis=1) <= 1.0 + 1e-9)


@PROPS
@given(models(), event_streams(120), st.booleans())
def test_batch_scoring_equals_stepping_event_by_event(
    model: SPSTModel, events: list[dict[str, Any]], partitioned: bool
) -> None:
    frame = pd.DataFrame(events, columns=["type", "vessel", "timestamp"])
    stepped = score_stream(model, iter(events), partitioned=partitioned)
    assert score_stream(model, frame, partitioned=partitioned) == stepped
    tp = tn = fp = fn = 0
    for _, _, result in iter_steps(model, frame, partitioned=partitioned):
        r = result.resolved
        tp, tn, fp, fn = tp + r.tp, tn + r.tn, fp + r.fp, fn + r.fn
    assert (tp, tn, fp, fn) == (stepped.tp, stepped.tn, stepped.fp, stepped.fn)


@PROPS
@given(models(), event_streams(), st.sets(st.integers(1, 79), max_size=6))
def test_step_many_over_chunks_equals_stepping_event_by_event(
    model: SPSTModel, events: list[dict[str, Any]], cuts: set[int]
) -> None:
    """The engine's batch path: any chunking of a run gives the states and results of `step`."""
    expected_state = model.new_run()
    expected = []
    for event in events:
        expected_state, result = model.step(expected_state, event)
        expected.append(result)
    state = model.new_run()
    results = []
    bounds = [0, *sorted(c for c in cuts if c < len(events)), len(events)]
    for a, b in zip(bounds, bounds[1:], strict=False):
        chunk = events[a:b]
        symbols = [model.symbol_of(e) for e in chunk]
        state, out = model.step_many(state, symbols, [e["timestamp"] for e in chunk])
        results += out
    assert results == expected
    assert state == expected_state
