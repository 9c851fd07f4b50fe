"""Streaming engine: run loop semantics, the demo end-to-end vector (spec 6.7), swap/adopt, scoring modes."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from _data import demo_frame, pattern_files
from _spst_helpers import DEMO_FORECAST, DEMO_LEARN, a_then_b, demo_frame_inline, demo_model

from wayeb_py.engine import SPSTModel, is_reset_event
from wayeb_py.evaluation import Metrics
from wayeb_py.forecasting import ForecastParams
from wayeb_py.patterns import load_pattern
from wayeb_py.pst import LearnParams, PredictionSuffixTree, build_cst, learn_pst
from wayeb_py.runstate import RunState
from wayeb_py.scoring import iter_steps, score_stream


def _run(model: SPSTModel, frame: pd.DataFrame) -> tuple[RunState, list]:
    state, results = model.new_run(), []
    for event in frame.to_dict("records"):
        state, res = model.step(state, event)
        results.append(res)
    return state, results


def test_demo_pst_matches_spec() -> None:
    model = demo_model()
    expected = {
        (): [0.34, 0.3001, 0.3599],
        (0,): [0.3938, 0.3031, 0.3031],
        (1,): [0.2336, 0.3998, 0.3666],
        (2,): [0.361, 0.2226, 0.4164],
    }
    assert set(model.pst.labels) == set(expected)
    for label, dist in expected.items():
        np.testing.assert_allclose(model.pst.distribution(label), dist, atol=1e-4)


def test_demo_vector_default_cutoff() -> None:
    model = demo_model()
    state, results = _run(model, demo_frame_inline())
    detections = [r.forecast.counter if r.forecast else None for r in results]
    assert sum(r.detected for r in results) == 10 == state.detections
    counters = [i + 1 for i, r in enumerate(results) if r.detected]  # run starts at event 1
    assert counters == [3, 22, 29, 33, 52, 70, 85, 90, 94, 98]
    assert sum(r.forecast is not None for r in results) == 90 and detections[0] == 1
    metrics = score_stream(model, demo_frame_inline())
    assert metrics == Metrics(tp=51, tn=10, fp=19, fn=10)
    assert metrics.mcc == pytest.approx(0.2033, abs=1e-4)


def test_demo_vector_zero_cutoff_changes_scores() -> None:
    model = demo_model(forecast=replace(DEMO_FORECAST, cutoff=0.0))
    assert score_stream(model, demo_frame_inline()) == Metrics(tp=61, tn=0, fp=29, fn=0)


def test_demo_vector_with_compiled_pattern() -> None:
    pattern = load_pattern(*pattern_files("demo", "pattern-order1.sre"))
    frame = demo_frame()
    cst = build_cst([pattern.symbolizer.symbols(frame)], pattern.symbolizer.n_symbols, 2)
    model = SPSTModel(pattern, learn_pst(cst, DEMO_LEARN), DEMO_LEARN, DEMO_FORECAST)
    assert score_stream(model, frame) == Metrics(tp=51, tn=10, fp=19, fn=10)
    order2 = LearnParams(order=2, p_min=0.001, alpha=0.0, gamma=0.001, r=1.05)
    assert learn_pst(build_cst([pattern.symbolizer.symbols(frame)], 3, 3), order2).n_nodes == 12


def test_finals_enabled_forecasts_after_every_event() -> None:
    model = demo_model(forecast=replace(DEMO_FORECAST, finals_enabled=True, distance=(-1, -1)))
    _, results = _run(model, demo_frame_inline())
    assert sum(r.forecast is not None for r in results) == 100


def test_warm_up_waits_for_a_leaf() -> None:
    pat = a_then_b()
    symbols = np.array([0, 1] * 30)  # N never seen: with pMin > 0 the root has no child for N
    learn = LearnParams(order=1, p_min=0.01, alpha=0.0, gamma=0.001, r=1.05)
    pst = learn_pst(build_cst([symbols], 3, 2), learn)
    assert (2,) not in pst.index
    model = SPSTModel(pat, pst, learn, DEMO_FORECAST)
    state = model.new_run()
    state, res = model.step(state, {"type": "C", "timestamp": 1})
    assert not state.started and state.counter == 0 and res.forecast is None and state.buffer == (2,)
    state, res = model.step(state, {"type": "A", "timestamp": 2})
    assert state.started and state.counter == 1 and state.sdfa_state == 1
    state, res = model.step(state, {"type": "B", "timestamp": 3})
    assert res.detected and state.counter == 2


def test_reset_event_restarts_warm_up_but_keeps_counter() -> None:
    model = demo_model()
    state, _ = _run(model, demo_frame_inline().head(5))
    assert is_reset_event({"timestamp": -1}) and is_reset_event({"type": "RESET"})
    after, res = model.step(state, {"type": "A", "timestamp": -1})
    assert (
        res.forecast is None and not after.started and after.buffer == () and after.counter == state.counter
    )
    assert after.pending == state.pending


def test_step_is_pure_and_state_round_trips_through_json() -> None:
    model = demo_model()
    events = demo_frame_inline().to_dict("records")
    state, _ = _run(model, demo_frame_inline().head(40))
    snapshot = state.to_dict()
    restored = RunState.from_dict(json.loads(json.dumps(snapshot)))
    assert restored == state
    a, ra = model.step(state, events[40])
    b, rb = model.step(restored, events[40])
    assert a == b and ra == rb and state.to_dict() == snapshot


def test_foreign_state_is_rejected() -> None:
    m1 = demo_model()
    m2 = demo_model(forecast=replace(DEMO_FORECAST, threshold=0.2))
    with pytest.raises(ValueError, match="adopt"):
        m2.step(m1.new_run(), {"type": "A", "timestamp": 1})


def test_adopt_keeps_sdfa_state_and_rebuilds_context() -> None:
    m1 = demo_model()
    learn2 = LearnParams(order=2, p_min=0.001, alpha=0.0, gamma=0.002, r=1.05)
    m2 = demo_model(learn=learn2, pattern=a_then_b(order=2))
    events = demo_frame_inline().to_dict("records")
    state = m1.new_run()
    for e in events[:50]:
        state, _ = m1.step(state, e)
    moved = m2.adopt(state)
    assert moved.model_key == m2.key and moved.sdfa_state == state.sdfa_state
    assert moved.pending == state.pending and moved.counter == state.counter
    assert moved.node == m2.pst.deepest(state.buffer)
    assert m2.adopt(moved) is moved
    # detections after the swap are those of an uninterrupted run (same SDFA)
    ref_state, ref = m1.new_run(), []
    for e in events:
        ref_state, r = m1.step(ref_state, e)
        ref.append(r.detected)
    swapped = []
    for e in events[50:]:
        moved, r = m2.step(moved, e)
        swapped.append(r.detected)
    assert swapped == ref[50:]


def test_adopted_pending_forecasts_keep_their_original_positivity() -> None:
    always = demo_model(forecast=replace(DEMO_FORECAST, threshold=0.0, max_spread=2))
    never = demo_model(forecast=replace(DEMO_FORECAST, threshold=1.0, max_spread=2))
    events = demo_frame_inline().to_dict("records")
    state = always.new_run()
    for e in events[:10]:
        state, _ = always.step(state, e)
    assert state.pending and all(pos for _, _, pos in state.pending)
    moved = never.adopt(state)
    total = Metrics()
    for e in events[10:12]:
        moved, res = never.step(moved, e)
        total += res.resolved
    assert total.tp + total.fp >= len(state.pending) and total.fn + total.tn <= 1


def test_adopt_rejects_another_pattern() -> None:
    port = load_pattern(*pattern_files("port"))
    frame = pd.DataFrame({"lon": [-4.5] * 20, "lat": [48.3] * 20, "timestamp": range(20)})
    cst = build_cst([port.symbolizer.symbols(frame)], port.symbolizer.n_symbols, 3)
    learn = LearnParams(order=2)
    port_model = SPSTModel(port, learn_pst(cst, learn), learn, ForecastParams())
    with pytest.raises(ValueError, match="different pattern"):
        port_model.adopt(demo_model().new_run())
    with pytest.raises(ValueError, match="different pattern"):
        port_model.adopt_from(demo_model(), demo_model().new_run())


def test_flush_scores_open_forecasts_as_misses() -> None:
    model = demo_model()
    state, _ = _run(model, demo_frame_inline().head(30))
    n_pos = sum(1 for *_, pos in state.pending if pos)
    done, tail = model.flush(state)
    assert done.pending == () and tail == Metrics(fp=n_pos, tn=len(state.pending) - n_pos)


def test_dataframe_and_records_paths_agree() -> None:
    model = demo_model()
    frame = demo_frame_inline()
    assert score_stream(model, frame) == score_stream(model, frame.to_dict("records"))


def test_partitioned_scoring_runs_one_run_per_key() -> None:
    frame = demo_frame_inline()
    two = pd.concat([frame.assign(key="x"), frame.assign(key="y")]).sort_values("timestamp", kind="stable")
    model = demo_model(pattern=a_then_b(partition_by="key"))
    single = score_stream(model, frame)
    assert score_stream(model, two, partitioned=True) == single + single
    assert score_stream(model, two.to_dict("records"), partitioned=True) == single + single
    assert score_stream(model, two, partitioned=False) != single + single  # RTCEF-compatible: one run
    with pytest.raises(ValueError, match="partition"):
        score_stream(demo_model(), frame, partitioned=True)


def test_iter_steps_reports_tail_and_precomputed_symbols() -> None:
    model = demo_model()
    frame = demo_frame_inline()
    items = list(iter_steps(model, frame, symbols=model.symbolizer.symbols(frame)))
    assert items[-1][1] == -1 and items[-1][2].resolved
    with pytest.raises(ValueError, match="precomputed"):
        list(iter_steps(model, frame, symbols=np.zeros(3, dtype=np.int64)))


def test_model_with_root_only_pst_starts_immediately() -> None:
    pst = PredictionSuffixTree(((),), np.array([[0.5, 0.25, 0.25]]), 1)
    model = SPSTModel(a_then_b(), pst, DEMO_LEARN, DEMO_FORECAST)
    state, res = model.step(model.new_run(), {"type": "C", "timestamp": 1})
    assert state.started and res.forecast is not None and res.forecast.probability > 0


def test_engine_package_imports_no_streaming_framework() -> None:
    import re
    from pathlib import Path

    import wayeb_py

    banned = re.compile(r"^\s*(from|import)\s+(pyflink|confluent_kafka|kafka)\b", re.MULTILINE)
    offenders = [
        str(path) for path in Path(wayeb_py.__file__).parent.rglob("*.py") if banned.search(path.read_text())
    ]
    assert offenders == []


def test_merged_mode_and_interval_forecasts_through_the_engine() -> None:
    merged = demo_model(forecast=replace(DEMO_FORECAST, wt_mode="merged"))
    exact0 = demo_model(forecast=replace(DEMO_FORECAST, cutoff=0.0))
    assert score_stream(merged, demo_frame_inline()) == score_stream(exact0, demo_frame_inline())
    scan = demo_model(forecast=replace(DEMO_FORECAST, method="smart_scan", threshold=0.3, max_spread=4))
    _, results = _run(scan, demo_frame_inline())
    forecasts = [r.forecast for r in results if r.forecast is not None]
    assert forecasts and all(not f.positive and f.end - f.start <= 4 for f in forecasts)
    m = score_stream(scan, demo_frame_inline())
    assert m.tp == m.fp == 0 and m.tn + m.fn == len(forecasts)
