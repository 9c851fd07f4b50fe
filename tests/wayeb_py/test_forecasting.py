"""Waiting-time distributions and forecasts (spec 6.4, 6.5, 6.6, 6.9)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from _data import pattern_files
from _spst_helpers import a_then_b

from wayeb_py.forecasting import (
    ForecastParams,
    VirtualAutomaton,
    build_forecast_table,
    full_scan,
    nextk,
    remaining_percentage,
    retained_states,
    smart_scan,
    waiting_times,
)
from wayeb_py.patterns import compile_pattern, load_pattern
from wayeb_py.pst import LearnParams, PredictionSuffixTree, build_cst, learn_pst

SPEC_WT = np.array([0.0, 0.2, 0.3, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.0])


def _root_only_va() -> VirtualAutomaton:
    pst = PredictionSuffixTree(((),), np.array([[0.5, 0.25, 0.25]]), 1)
    return VirtualAutomaton.from_sdfa(pst, a_then_b().sdfa)


@pytest.mark.parametrize("mode", ["exact_wayeb", "merged"])
def test_hand_checkable_wt(mode: str) -> None:
    wt = waiting_times(_root_only_va(), 6, mode=mode, cutoff=0.0)  # type: ignore[arg-type]
    from_start = [0, 0.125, 0.125, 0.109375, 0.09375, 0.080078]
    from_after_a = [0.25, 0.125, 0.09375, 0.078125, 0.066406, 0.056641]
    np.testing.assert_allclose(wt[0], from_start, atol=1e-6)
    np.testing.assert_allclose(wt[1], from_after_a, atol=1e-6)
    np.testing.assert_allclose(wt[2], from_start, atol=1e-6)  # a final state: the next completion
    assert nextk(wt[0], 3, 0.5)[0] == pytest.approx(0.25)
    assert nextk(wt[1], 3, 0.5)[0] == pytest.approx(0.46875)


def test_wt_is_causal_in_the_horizon() -> None:
    va = _root_only_va()
    short = waiting_times(va, 3, cutoff=0.001)
    long = waiting_times(va, 12, cutoff=0.001)
    np.testing.assert_array_equal(short, long[:, :3])


@pytest.mark.parametrize(("theta", "expected"), [(0.3, (3, 3)), (0.5, (2, 3)), (0.7, (2, 5))])
def test_smart_scan_spec_vectors(theta: float, expected: tuple[int, int]) -> None:
    smart = smart_scan(SPEC_WT, theta)
    full = full_scan(SPEC_WT, theta)
    assert smart is not None and full is not None
    assert smart[1:] == expected == full[1:]
    assert smart[0] == pytest.approx(theta)


def test_nextk_spec_vector() -> None:
    prob, start, end, _ = nextk(SPEC_WT, 5, 0.7)
    assert prob == pytest.approx(0.7) and (start, end) == (1, 5)
    assert not nextk(SPEC_WT, 5, 0.71)[3]


def _poisson(lam: float, n: int) -> np.ndarray:
    return np.array([math.exp(-lam + k * math.log(lam) - math.lgamma(k + 1)) for k in range(1, n + 1)])


def _gauss(mu: float, sigma: float, n: int) -> np.ndarray:
    x = np.arange(1, n + 1)
    d = np.exp(-0.5 * ((x - mu) / sigma) ** 2)
    return d / d.sum()


@pytest.mark.parametrize(
    "wt",
    [_poisson(lam, 500) for lam in range(1, 11)]
    + [_gauss(m, s, 500) for m, s in [(5, 1), (10, 3), (25, 5), (50, 10)]],
)
def test_smart_scan_equals_full_scan(wt: np.ndarray) -> None:
    smart, full = smart_scan(wt[:120], 0.3), full_scan(wt[:120], 0.3)
    assert smart is not None and full is not None
    assert smart[2] - smart[1] == full[2] - full[1]
    assert smart[0] == pytest.approx(full[0], abs=1e-9)


def test_smart_scan_none_when_mass_too_small() -> None:
    assert smart_scan(np.array([0.1, 0.1]), 0.5) is None


def _iid_model(pattern_text: str, seed: int) -> VirtualAutomaton:
    pat = compile_pattern(
        pattern_text, "~(IsEventTypePredicate(A),IsEventTypePredicate(B),IsEventTypePredicate(C))"
    )
    rng = np.random.default_rng(seed)
    types = rng.choice(["A", "B", "C"], size=3000, p=[0.25, 0.25, 0.5])
    symbols = pat.symbolizer.symbols(pd.DataFrame({"type": types}))
    cst = build_cst([symbols], pat.symbolizer.n_symbols, 4)
    pst = learn_pst(cst, LearnParams(order=3, p_min=0.0001, alpha=0.0, gamma=0.001, r=1.05))
    return VirtualAutomaton.from_sdfa(pst, pat.sdfa)


def _exhaustive(va: VirtualAutomaton, h: int) -> np.ndarray:
    """Oracle: enumerate all t**h symbol sequences from every virtual state."""
    out = np.zeros((va.n_vstates, h))
    for v in range(va.n_vstates):
        node0, q0 = va.split(v)
        for seq in itertools.product(range(va.n_symbols), repeat=h):
            node, q, p = node0, q0, 1.0
            for t, x in enumerate(seq):
                p *= va.pst.probs[node, x]
                node, q = int(va.succ_node[node, x]), int(va.delta[q, x])
                if q in va.finals:
                    out[v, t] += p / va.n_symbols ** (h - 1 - t)  # each prefix is counted t**(h-1-t) times
                    break
    return out


@pytest.mark.parametrize(
    ("pattern", "seed"),
    [
        (";(IsEventTypePredicate(A),IsEventTypePredicate(B)){order:3}", 1),
        (";(IsEventTypePredicate(A),*(IsEventTypePredicate(C)),IsEventTypePredicate(B)){order:3}", 2),
        (
            "+(;(IsEventTypePredicate(C),IsEventTypePredicate(A)),;(IsEventTypePredicate(B),IsEventTypePredicate(B))){order:3}",
            3,
        ),
    ],
)
def test_wt_modes_agree_with_exhaustive_oracle(pattern: str, seed: int) -> None:
    va = _iid_model(pattern, seed)
    oracle = _exhaustive(va, 3)
    exact = waiting_times(va, 3, mode="exact_wayeb", cutoff=0.0)
    merged = waiting_times(va, 3, mode="merged")
    np.testing.assert_allclose(exact, oracle, atol=1e-9)
    np.testing.assert_allclose(merged, oracle, atol=1e-9)
    pruned = waiting_times(va, 3, mode="exact_wayeb", cutoff=0.01)
    assert np.all(pruned <= merged + 1e-12)


def test_remaining_percentages() -> None:
    port = load_pattern(*pattern_files("port"))
    assert sorted(remaining_percentage(port.sdfa).tolist()) == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])
    assert remaining_percentage(a_then_b().sdfa).tolist() == [1.0, 0.5, 0.0]
    assert retained_states(a_then_b().sdfa, (0.0001, 1.0)).tolist() == [True, True, False]
    assert retained_states(a_then_b().sdfa, (-1, -1)).all()
    with pytest.raises(ValueError, match="time-based"):
        retained_states(a_then_b().sdfa, (5.0, 60.0))


def test_forecast_table_nextk_and_smart_scan() -> None:
    va = _root_only_va()
    table = build_forecast_table(
        va, ForecastParams(threshold=0.4, horizon=6, max_spread=3, distance=(-1, -1))
    )
    assert table.rows[1] == (pytest.approx(0.46875), 1, 3, True)
    assert table.rows[0] == (pytest.approx(0.25), 1, 3, False)
    scan = build_forecast_table(
        va,
        ForecastParams(threshold=0.3, horizon=6, max_spread=3, method="smart_scan", distance=(0.0001, 1.0)),
    )
    assert scan.rows[2] is None  # final state excluded by the distance range
    prob, start, end, positive = scan.rows[1]
    assert (start, end, positive) == (1, 2, False) and prob == pytest.approx(0.375)


@pytest.mark.parametrize(
    "bad",
    [
        ForecastParams(threshold=1.5),
        ForecastParams(max_spread=700, horizon=600),
        ForecastParams(method="argmax"),  # type: ignore[arg-type]
        ForecastParams(wt_mode="fast"),  # type: ignore[arg-type]
        ForecastParams(cutoff=-1.0),
    ],
)
def test_invalid_forecast_params(bad: ForecastParams) -> None:
    with pytest.raises(ValueError):
        bad.validate()


def test_forecast_params_round_trip() -> None:
    p = ForecastParams(threshold=0.1, distance=(0.0001, 0.5), method="smart_scan", horizon=50, max_spread=20)
    assert ForecastParams.from_dict(p.to_dict()) == p
