"""Counter suffix tree and PST learning (spec 6.2, 6.3 and invariants)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wayeb_py.pst import (
    CounterSuffixTree,
    LearnParams,
    PredictionSuffixTree,
    build_cst,
    learn_pst,
    smooth,
    split_segments,
)

ABRA = "ABRACADABRA"
ALPHA = "ABCDR"


def _abra_pst() -> PredictionSuffixTree:
    symbols = np.array([ALPHA.index(c) for c in ABRA])
    cst = build_cst([symbols], 5, 13)  # maxOrder 12 > N: exercises the N - |w| + 1 <= 0 guard
    return learn_pst(cst, LearnParams(order=12, p_min=0.001, alpha=0.01, gamma=0.001, r=1.05))


def _word(text: str) -> tuple[int, ...]:
    return tuple(ALPHA.index(c) for c in text)


def test_cst_paper_figure_counts_short_first_word() -> None:
    cst = build_cst([np.array([0, 0, 0, 1, 0, 0, 1, 0, 0, 0])], 2, 2)  # aaabaabaaa, maxOrder 1
    assert cst.n_events == 10
    assert cst.counts == {(0,): 8, (1,): 2, (0, 0): 5, (0, 1): 2, (1, 0): 2}


def test_cst_full_length_words_match_unit_vector() -> None:
    # Wayeb's CST unit test inserts only full words of length 2: their counts equal our length-2 counts.
    cst = build_cst([np.array([0, 0, 0, 1, 0, 0, 1, 0, 0, 0])], 2, 2)
    assert {w: c for w, c in cst.counts.items() if len(w) == 2} == {(0, 0): 5, (0, 1): 2, (1, 0): 2}


def test_cst_consistency_on_random_stream() -> None:
    rng = np.random.default_rng(7)
    stream = rng.integers(0, 3, size=500)
    cst = build_cst([stream], 3, 4)
    assert sum(cst.count((x,)) for x in range(3)) == 500
    for w in [w for w in cst.counts if len(w) < 4]:
        children = sum(cst.count((*w, x)) for x in range(3))
        starts = 1 if tuple(stream[: len(w)][::-1]) == w else 0  # the word ending at the segment's start
        assert cst.count(w) == children + starts
    # brute force on a few words
    s = stream.tolist()
    for w in [(0,), (1, 2), (2, 2, 0), (0, 1, 2, 1)]:
        k = len(w)
        brute = sum(1 for i in range(k - 1, len(s)) if tuple(s[i - j] for j in range(k)) == w)
        assert cst.count(w) == brute


def test_segments_split_partitions_and_resets() -> None:
    symbols = np.array([0, 1, 9, 2, 0, 1, 2])
    parts = ["a", "b", "a", "a", "b", "a", "b"]
    resets = np.array([False, False, True, False, False, False, False])
    segs = [s.tolist() for s in split_segments(symbols, parts, resets)]
    assert segs == [[0], [2, 1], [1, 0, 2]]
    cst = build_cst(split_segments(symbols, parts, resets), 3, 2)
    assert cst.n_events == 6 and cst.count((1, 0)) == 0 and cst.count((0, 1)) == 1


def test_cst_rejects_out_of_range_symbols() -> None:
    with pytest.raises(ValueError, match="symbols must lie"):
        build_cst([np.array([0, 3])], 3, 2)


def test_cst_dict_round_trip_and_truncation() -> None:
    cst = build_cst([np.array([0, 1, 1, 2, 0, 1])], 3, 3)
    again = CounterSuffixTree.from_dict(json.loads(json.dumps(cst.to_dict())))
    assert again == cst
    short = cst.truncated(2)
    assert short.depth == 2 and all(len(w) <= 2 for w in short.counts)
    with pytest.raises(ValueError):
        short.truncated(3)


def test_abracadabra_structure_and_distributions() -> None:
    pst = _abra_pst()
    expected_labels = {"", "A", "B", "C", "D", "R", "AC", "AD", "AR"}
    assert {"".join(ALPHA[x] for x in w) for w in pst.labels} == expected_labels
    assert pst.children(_word("A")) == sorted(_word(c)[0] for c in "CDR")
    assert pst.children(_word("AC")) == []
    expected = {
        "": [0.45, 0.183, 0.092, 0.092, 0.183],
        "A": [0.001, 0.498, 0.25, 0.25, 0.001],
        "B": [0.001, 0.001, 0.001, 0.001, 0.996],
        "C": [0.996, 0.001, 0.001, 0.001, 0.001],
        "D": [0.996, 0.001, 0.001, 0.001, 0.001],
        "R": [0.996, 0.001, 0.001, 0.001, 0.001],
        "AC": [0.001, 0.001, 0.001, 0.996, 0.001],
        "AD": [0.001, 0.996, 0.001, 0.001, 0.001],
        "AR": [0.001, 0.001, 0.996, 0.001, 0.001],
    }
    for label, dist in expected.items():
        np.testing.assert_allclose(pst.distribution(_word(label)), dist, atol=0.005)
    np.testing.assert_allclose(pst.distribution(()), [0.4533, 0.1819, 0.0915, 0.0915, 0.1819], atol=1e-4)


def test_learning_is_deterministic_and_distributions_sum_to_one() -> None:
    a, b = _abra_pst(), _abra_pst()
    assert a == b and hash(a) == hash(b)
    np.testing.assert_allclose(a.probs.sum(axis=1), 1.0, atol=1e-12)


def test_deepest_walk_stops_at_missing_child_or_leaf() -> None:
    pst = _abra_pst()
    assert pst.labels[pst.deepest(_word("AC") + (4,))] == _word("AC")  # AC is a leaf
    assert pst.labels[pst.deepest(_word("AB"))] == _word("A")  # no child B under A
    assert pst.deepest(()) == 0


def test_pst_dict_round_trip() -> None:
    pst = _abra_pst()
    assert PredictionSuffixTree.from_dict(json.loads(json.dumps(pst.to_dict()))) == pst


def test_smoothing_floor_and_sum() -> None:
    d = smooth(np.array([1.0, 0.0, 0.0, 0.0]), 0.01)
    np.testing.assert_allclose(d, [0.97, 0.01, 0.01, 0.01])
    assert smooth(np.array([0.5, 0.5]), 0.0).tolist() == [0.5, 0.5]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (LearnParams(order=0), "order"),
        (LearnParams(gamma=0.3), "gamma"),
        (LearnParams(p_min=1.5), "p_min"),
        (LearnParams(r=0.0), "r must"),
    ],
)
def test_invalid_hyperparameters_are_rejected(params: LearnParams, message: str) -> None:
    cst = build_cst([np.array([0, 1, 2, 0])], 4, 3)
    with pytest.raises(ValueError, match=message):
        learn_pst(cst, params)


def test_order_beyond_cst_depth_is_rejected() -> None:
    cst = build_cst([np.array([0, 1, 2, 0])], 3, 2)
    with pytest.raises(ValueError, match="depth"):
        learn_pst(cst, LearnParams(order=2))


def test_deeper_cst_gives_same_pst_as_exact_depth() -> None:
    rng = np.random.default_rng(3)
    stream = rng.choice(3, size=2000, p=[0.5, 0.3, 0.2])
    params = LearnParams(order=2, p_min=0.001, alpha=0.0, gamma=0.001, r=1.05)
    assert learn_pst(build_cst([stream], 3, 3), params) == learn_pst(build_cst([stream], 3, 6), params)


def test_pmin_zero_explores_unseen_contexts_and_gamma_zero_keeps_zeros() -> None:
    stream = np.array([0, 1] * 50)
    pst = learn_pst(build_cst([stream], 3, 3), LearnParams(order=2, p_min=0.0, alpha=0.0, gamma=0.0, r=1.05))
    assert pst.probs.min() == 0.0
    np.testing.assert_allclose(pst.probs.sum(axis=1), 1.0)
    assert all(len(w) <= 2 for w in pst.labels)


def test_tree_validation() -> None:
    with pytest.raises(ValueError, match="root"):
        PredictionSuffixTree(((0,),), np.ones((1, 2)) / 2, 1)
    with pytest.raises(ValueError, match="parent"):
        PredictionSuffixTree(((), (0, 1)), np.ones((2, 2)) / 2, 2)
