"""The skopt ask/tell optimiser: presets, determinism, warm start, snapshots, tie rule, recorded trace.

GP fits cost about a second each on the CI machine, so most tests use configurations that stay in skopt's
initial-point phase (no fit); the warm-start fixture fits twice and is shared by the tests that need a GP.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from controller_trace import RECORDED_BEST_STEP, RECORDED_STEPS

from controller_job.optimizer import (
    FLINK_DIMENSIONS,
    RTCEF_DIMENSIONS,
    HyperparameterOptimiser,
    OptimiserConfig,
    config_from_settings,
    load_prior_samples,
    preset_config,
    run_optimization,
)
from protocol.settings import load_settings

# No GP fit happens while fewer than n_initial_points samples have been told.
NO_FIT = replace(OptimiserConfig(), n_initial_points=20)

# Regression pins (scikit-optimize 0.10.2): the original set-up warm-started from the first 6 recorded
# steps (told one by one, then the oldest trimmed to 5) asks these two points.
WARM_FIRST_ASK = [0.18481052067247145, 5, 0.0004901207256137915, 0.0008181902795128588]
WARM_SECOND_ASK_AFTER_MINUS_HALF = [0.0, 5, 0.00012856445738282108, 0.0006515004687578221]


def assert_points_close(actual: list[float | int], expected: list[float | int]) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        assert a == pytest.approx(e, abs=1e-6)


@pytest.fixture(scope="module")
def warm_snapshot() -> tuple[str, list[float | int]]:
    """An rtcef optimiser warm-started from 6 recorded samples (2 GP fits), as a snapshot + its first ask."""
    optimiser = HyperparameterOptimiser()
    optimiser.init_session(RECORDED_STEPS[:6])
    return optimiser.get_state_snapshot(), optimiser.ask()


# ---------------------------------------------------------------------------------------------- presets


def test_rtcef_preset_has_the_original_dimensions_and_gp() -> None:
    config = preset_config("rtcef")
    assert [d.name for d in config.dimensions] == ["confidence", "order", "p_min", "gamma"]
    assert config.dimensions == RTCEF_DIMENSIONS
    assert (config.acq_func, config.initial_point_generator, config.seed) == ("gp_hedge", "lhs", 1234)
    assert (config.n_initial_points, config.steps, config.keep_samples, config.reuse) == (5, 15, 5, True)
    optimiser = HyperparameterOptimiser(config)
    optimiser._build()
    skopt = optimiser._opt
    assert [(d.low, d.high) for d in skopt.space.dimensions] == [
        (0.0, 1.0),
        (1, 5),
        (1e-4, 1e-2),
        (1e-4, 1e-2),
    ]
    params = skopt.base_estimator_.get_params()
    assert params["n_restarts_optimizer"] == 2 and params["normalize_y"] is True and params["noise"] == 0.0
    matern = params["kernel"].k2
    assert list(matern.length_scale) == [0.2, 1.0, 1e-4, 1e-4]
    assert matern.nu == 1.5 and matern.length_scale_bounds == (1e-5, 1.0)


def test_flink_preset_reproduces_flink_rtcef_settings() -> None:
    config = preset_config("flink")
    assert config.dimensions == FLINK_DIMENSIONS
    assert [(d.name, d.low, d.high) for d in config.dimensions] == [
        ("p_min", 0.001, 0.1),
        ("gamma", 0.0, 0.005),
    ]
    assert (config.estimator, config.acq_func, config.seed, config.steps) == ("GP", "EI", 42, 10)
    assert (config.n_initial_points, config.reuse, config.keep_samples) == (5, False, 0)


def test_flink_preset_starts_every_session_from_the_same_points() -> None:
    optimiser = HyperparameterOptimiser(preset_config("flink"))
    optimiser.init_session()
    first = [optimiser.ask()]
    optimiser.tell(first[0], -0.1)
    first.append(optimiser.ask())
    optimiser.init_session()  # a fresh skopt optimiser with the same seed, as in Flink-RTCEF
    again = optimiser.ask()
    assert again == first[0]
    assert optimiser.history == ([], [])


def test_unknown_preset_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown optimiser preset"):
        preset_config("bogus")


def test_config_from_settings_overrides_only_explicit_values() -> None:
    flink = config_from_settings(load_settings(optimiser_preset="flink"))
    assert (flink.seed, flink.steps) == (42, 10)
    flink_seeded = config_from_settings(load_settings(optimiser_preset="flink", optimiser_seed=7))
    assert flink_seeded.seed == 7
    rtcef = config_from_settings(load_settings())
    assert rtcef == preset_config("rtcef")  # n_initial_points = keep_samples (5), not the bench count
    cold = config_from_settings(load_settings(optimiser_keep_samples=0, optimiser_initial_points=10))
    assert (cold.keep_samples, cold.n_initial_points) == (0, 10)


# ---------------------------------------------------------------------------------------- determinism


def test_same_seed_asks_the_same_points_and_another_seed_does_not() -> None:
    def first_points(seed: int) -> list[list[float | int]]:
        optimiser = HyperparameterOptimiser(replace(NO_FIT, seed=seed))
        optimiser.init_session()
        points = []
        for value in (-0.1, -0.2, -0.3):
            x = optimiser.ask()
            assert optimiser.ask() == x  # asking twice before telling gives the same point
            points.append(x)
            optimiser.tell(x, value)
        return points

    assert first_points(1234) == first_points(1234)
    assert first_points(1234) != first_points(99)


def test_points_are_plain_python_numbers_inside_the_space() -> None:
    optimiser = HyperparameterOptimiser(NO_FIT)
    optimiser.init_session()
    x = optimiser.ask()
    assert [type(v) for v in x] == [float, int, float, float]
    for value, dim in zip(x, RTCEF_DIMENSIONS, strict=True):
        assert dim.low <= value <= dim.high
    assert optimiser.point_to_params(x) == dict(
        zip(["confidence", "order", "p_min", "gamma"], x, strict=True)
    )


# ----------------------------------------------------------------------------------------- warm start


def test_prior_samples_are_told_one_by_one_then_the_oldest_trimmed(
    warm_snapshot: tuple[str, list[float | int]],
) -> None:
    snapshot, first_ask = warm_snapshot
    optimiser = HyperparameterOptimiser.from_snapshot(snapshot)
    xs, ys = optimiser.history
    assert xs == [x for x, _ in RECORDED_STEPS[1:6]]
    assert ys == [y for _, y in RECORDED_STEPS[1:6]]
    assert_points_close(first_ask, WARM_FIRST_ASK)

    # The first ask comes from the GP fitted on all 6 samples, before the trim (no refit after it).
    reference = HyperparameterOptimiser()
    reference._build()
    with reference._global_rng():
        for x, y in RECORDED_STEPS[:6]:
            reference._opt.tell(x, y)
    assert_points_close(reference._cast(reference._opt.ask()), WARM_FIRST_ASK)


def test_later_sessions_keep_random_samples_of_the_previous_one() -> None:
    config = replace(NO_FIT, steps=3, keep_samples=2)
    optimiser = HyperparameterOptimiser(config)
    optimiser.init_session()
    told = []
    for value in (-0.1, -0.2, -0.3):
        x = optimiser.ask()
        optimiser.tell(x, value)
        told.append(x)
    optimiser.finalize()
    optimiser.init_session()
    # One of the three samples is removed, drawn from the (private) global generator seeded with 1234.
    dropped = int(np.random.RandomState(1234).choice([0, 1, 2], 1, replace=False)[0])
    xs, ys = optimiser.history
    assert xs == [x for i, x in enumerate(told) if i != dropped]
    assert ys == [y for i, y in enumerate([-0.1, -0.2, -0.3]) if i != dropped]
    assert optimiser.steps_done == 0 and optimiser.steps_remaining == 3


def test_load_prior_samples_reads_named_params(tmp_path) -> None:
    path = tmp_path / "prior.json"
    rows = [{"params": {"confidence": 0.3, "order": 4.0, "p_min": 0.001, "gamma": 0.002}, "objective": -0.4}]
    path.write_text(json.dumps(rows))
    assert load_prior_samples(path, OptimiserConfig()) == [([0.3, 4, 0.001, 0.002], -0.4)]


# ------------------------------------------------------------------------------------------- snapshots


def test_snapshot_round_trip_asks_the_same_next_points(warm_snapshot: tuple[str, list[float | int]]) -> None:
    snapshot, first_ask = warm_snapshot
    np.random.seed(999)
    outside = np.random.get_state()[1].copy()
    original = HyperparameterOptimiser.from_snapshot(snapshot)
    restored = HyperparameterOptimiser()
    restored.load_state_snapshot(original.get_state_snapshot())
    assert restored.ask() == original.ask() == first_ask
    original.tell(first_ask, -0.5)
    restored.tell(first_ask, -0.5)
    second = restored.ask()
    assert original.ask() == second
    assert_points_close(second, WARM_SECOND_ASK_AFTER_MINUS_HALF)
    # the GP restarts drew from the optimiser's own generator, not from numpy's global one
    assert (np.random.get_state()[1] == outside).all()


def test_snapshot_is_standard_json_with_session_bookkeeping() -> None:
    optimiser = HyperparameterOptimiser(NO_FIT)
    assert json.loads(optimiser.get_state_snapshot())["skopt"] is None
    optimiser.init_session()
    x = optimiser.ask()

    def no_constants(token: str) -> float:
        raise AssertionError(f"non-standard JSON token {token}")

    data = json.loads(optimiser.get_state_snapshot(), parse_constant=no_constants)
    assert data["session"]["pending_x"] == x and data["session"]["best_value"] is None
    optimiser.tell(x, -0.25)
    restored = HyperparameterOptimiser.from_snapshot(optimiser.get_state_snapshot())
    assert restored.session is not None
    assert (restored.session.best_index, restored.session.best_value) == (0, -0.25)
    assert restored.sessions_started == 1 and restored.config == NO_FIT


# ------------------------------------------------------------------------------------- best step rule


def test_first_minimum_wins_ties() -> None:
    optimiser = HyperparameterOptimiser(replace(NO_FIT, steps=5))
    optimiser.init_session()
    for value in (0.0, -0.5, -0.2, -0.5, -0.0):
        optimiser.tell(optimiser.ask(), value)
    assert optimiser.steps_remaining == 0
    assert optimiser.finalize() == 1


def test_recorded_trace_objectives_select_the_recorded_best_step() -> None:
    optimiser = HyperparameterOptimiser(NO_FIT)
    optimiser.init_session()
    remaining = []
    for x, y in RECORDED_STEPS:  # skopt validates that every recorded point lies in the rtcef space
        remaining.append(optimiser.tell(x, y))
    assert remaining == [True] * 14 + [False]
    assert optimiser.finalize() == RECORDED_BEST_STEP
    assert optimiser.best_point() == RECORDED_STEPS[2][0]


def test_tell_rejects_non_finite_objectives_and_finalize_needs_a_step() -> None:
    optimiser = HyperparameterOptimiser(NO_FIT)
    optimiser.init_session()
    with pytest.raises(ValueError):
        optimiser.tell(optimiser.ask(), math.nan)
    with pytest.raises(RuntimeError):
        optimiser.finalize()


def test_run_optimization_runs_one_session_and_returns_the_best() -> None:
    calls: list[dict[str, float | int]] = []

    def objective(params: dict[str, float | int]) -> float:
        calls.append(params)
        return abs(params["confidence"] - 0.5)

    result = run_optimization(objective, config=replace(NO_FIT, steps=4))
    assert len(calls) == 4 == len(result.xs) == len(result.ys)
    assert result.best_objective == min(result.ys)
    assert result.best_index == result.ys.index(min(result.ys))
    assert result.best_params == calls[result.best_index]
