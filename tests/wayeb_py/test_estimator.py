"""SPSTForecaster (scikit-learn style contract) and the count cache used by optimisation sessions."""

from __future__ import annotations

import pandas as pd
import pytest
from _data import demo_frame, maritime_frame, pattern_files

from wayeb_py.counting import CountCache, fit_counts
from wayeb_py.estimator import SPSTForecaster
from wayeb_py.evaluation import Metrics
from wayeb_py.patterns import load_pattern


@pytest.fixture(scope="module")
def port() -> object:
    return load_pattern(*pattern_files("port"))


@pytest.fixture(scope="module")
def vessel() -> pd.DataFrame:
    return maritime_frame().head(5000)


def _demo_estimator(**kw: object) -> SPSTForecaster:
    pattern = load_pattern(*pattern_files("demo", "pattern-order1.sre"))
    params = dict(threshold=0.5, horizon=10, max_spread=10, distance=(0.0001, 1.0), finals_enabled=False)
    params.update(kw)
    return SPSTForecaster(pattern, **params)  # type: ignore[arg-type]


def test_demo_end_to_end_vector() -> None:
    est = _demo_estimator()
    assert est.fit(demo_frame()) is est
    assert est.score(demo_frame()) == Metrics(tp=51, tn=10, fp=19, fn=10)
    assert est.pst_.n_nodes == 4 and est.n_events_ == 100 and est.counts_.n_events == 100
    assert _demo_estimator(cutoff=0.0).fit(demo_frame()).score(demo_frame()) == Metrics(61, 0, 29, 0)
    assert _demo_estimator(order=2).fit(demo_frame()).pst_.n_nodes == 12


def test_init_stores_params_without_logic_and_validates_in_fit() -> None:
    est = _demo_estimator(threshold=7.0)  # accepted by __init__
    with pytest.raises(ValueError, match="threshold"):
        est.fit(demo_frame())
    with pytest.raises(RuntimeError, match="not fitted"):
        _demo_estimator().score(demo_frame())


def test_get_set_params() -> None:
    est = _demo_estimator()
    params = est.get_params()
    assert params["threshold"] == 0.5 and "pattern" in params
    assert est.set_params(p_min=0.01).p_min == 0.01
    with pytest.raises(ValueError, match="invalid parameter"):
        est.set_params(bogus=1)


def test_refit_equals_fresh_fit(port: object, vessel: pd.DataFrame) -> None:
    a = SPSTForecaster(port).fit(vessel.head(1000)).fit(vessel)
    b = SPSTForecaster(port).fit(vessel)
    assert a.model_.key == b.model_.key and a.score(vessel) == b.score(vessel)


def test_iterable_of_mappings_input(port: object, vessel: pd.DataFrame) -> None:
    small = vessel.head(800)
    a = SPSTForecaster(port).fit(small)
    b = SPSTForecaster(port).fit(small.to_dict("records"))
    assert a.model_.key == b.model_.key


def test_count_cache_counts_once_per_dataset(port: object, vessel: pd.DataFrame) -> None:
    cache = CountCache()
    fit_counts(port, vessel, max_order=4, cache=cache, dataset_id="d1")
    scores = []
    for p_min, gamma, order in [(0.001, 0.001, 2), (0.01, 0.0, 3), (0.05, 0.004, 1), (0.002, 0.002, 4)]:
        est = SPSTForecaster(port, order=order, p_min=p_min, gamma=gamma, count_cache=cache)
        scores.append(est.fit(vessel, dataset_id="d1").score(vessel, dataset_id="d1"))
        fresh = SPSTForecaster(port, order=order, p_min=p_min, gamma=gamma).fit(vessel)
        assert fresh.model_.pst == est.model_.pst
    assert cache.misses == 1 and cache.hits == 4
    assert all(m.total > 4000 for m in scores)


def test_reasonable_skill_on_real_vessel(port: object, vessel: pd.DataFrame) -> None:
    m = SPSTForecaster(port, order=2, p_min=0.001, gamma=0.001).fit(vessel).score(vessel)
    assert m.mcc > 0.3 and m.tp > 0


def test_predict_lists_forecasts() -> None:
    est = _demo_estimator().fit(demo_frame())
    out = est.predict(demo_frame())
    assert len(out) == 90 and {"probability", "start", "end", "positive"} <= set(out.columns)
    assert out["end"].eq(10).all()


def test_order_missing_everywhere_is_an_error() -> None:
    pattern = load_pattern(*pattern_files("port-original"))  # {order:0}
    with pytest.raises(ValueError, match="order"):
        SPSTForecaster(pattern).fit(maritime_frame().head(100))


def test_empty_stream_is_an_error(port: object, vessel: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="empty"):
        SPSTForecaster(port).fit(vessel.head(0))
