"""Confusion counts and metrics with Wayeb's edge-case conventions (spec 6.8)."""

from __future__ import annotations

import json
import math

import pytest

from wayeb_py.evaluation import ZERO, Metrics, mcc_from_counts


@pytest.mark.parametrize(
    ("counts", "expected"),
    [((51, 10, 19, 10), 0.203340), ((5, 90, 3, 2), 0.641436), ((0, 10, 0, 5), 0.0), ((10, 0, 5, 0), 0.0)],
)
def test_mcc_vectors(counts: tuple[int, int, int, int], expected: float) -> None:
    assert Metrics(*counts).mcc == pytest.approx(expected, abs=1e-6)


def test_mcc_matches_textbook_formula() -> None:
    for tp, tn, fp, fn in [(51, 10, 19, 10), (5, 90, 3, 2), (3, 1, 7, 9), (1000, 20000, 30, 400)]:
        textbook = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        assert mcc_from_counts(tp, tn, fp, fn) == pytest.approx(textbook, abs=1e-12)


def test_undefined_ratios_are_minus_one() -> None:
    m = Metrics(tp=0, tn=0, fp=0, fn=0)
    assert (m.precision, m.recall, m.specificity, m.npv, m.accuracy, m.f1) == (-1.0,) * 6
    assert m.mcc == 0.0
    only_neg = Metrics(tn=4)
    assert only_neg.precision == -1.0 and only_neg.recall == -1.0 and only_neg.specificity == 1.0


def test_f1_requires_nonzero_precision_plus_recall() -> None:
    assert Metrics(tp=0, fp=3, fn=2, tn=1).f1 == -1.0  # precision = recall = 0
    assert Metrics(tp=2, fp=2, fn=2).f1 == pytest.approx(0.5)


def test_add_sub_give_batch_and_runtime_views() -> None:
    before = Metrics(5, 90, 3, 2)
    after = Metrics(9, 120, 4, 2)
    batch = after - before
    assert batch == Metrics(4, 30, 1, 0)
    assert before + batch == after
    assert ZERO + before == before and not ZERO and before


def test_dict_round_trip_is_json() -> None:
    m = Metrics(51, 10, 19, 10)
    d = json.loads(json.dumps(m.to_dict()))
    assert d["mcc"] == pytest.approx(0.20334, abs=1e-5) and Metrics.from_dict(d) == m
    assert set(d) >= {"tp", "tn", "fp", "fn", "precision", "recall", "f1", "mcc", "specificity", "npv"}


def test_metrics_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Metrics().tp = 3  # type: ignore[misc]


def test_of_outcome_shares_instances() -> None:
    assert Metrics.of_outcome(True, True) == Metrics(tp=1)
    assert Metrics.of_outcome(False, False) is Metrics.of_outcome(False, False)
