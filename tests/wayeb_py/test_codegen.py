"""The generated symbolizer function gives what the sentence objects give, on every event."""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from _data import maritime_frame, pattern_files
from hypothesis import given, settings
from hypothesis import strategies as st

from wayeb_py.patterns import And, Atom, Not, Or, load_pattern, make_predicate
from wayeb_py.patterns.codegen import compile_code_function, generated_source
from wayeb_py.patterns.predicates import GT, predicate_from_dict
from wayeb_py.symbolize import Symbolizer

PATTERNS = [("port", "pattern.sre"), ("port-original", "pattern.sre"), ("fishing", "pattern.sre"),
            ("cards", "pattern.sre"), ("demo", "pattern.sre")]  # fmt: skip

ATTRIBUTES = ["lon", "lat", "speed", "heading", "amountDiff", "timeDiff", "type", "Timestamp", "timestamp"]


def _outcome(call: Callable[[], int]) -> tuple[str, Any]:
    """A symbol, or the error's class and message."""
    try:
        return ("symbol", call())
    except Exception as exc:  # noqa: BLE001 - the error itself is what is compared
        return (type(exc).__name__, str(exc))


def _same_as_sentences(symbolizer: Symbolizer, event: Mapping[str, Any]) -> None:
    by_sentences = _outcome(lambda: symbolizer.symbol_by_sentences(event))
    assert _outcome(lambda: symbolizer.symbol(event)) == by_sentences


values = st.one_of(
    st.floats(-200.0, 200.0),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-1000, 1000),
    st.sampled_from(["3.5", "abc", "", "RESET", "A", "B", None, True]),
)
near_brest = st.fixed_dictionaries(
    {"lon": st.floats(-5.0, -4.0), "lat": st.floats(48.0, 48.8), "speed": st.floats(0.0, 30.0)},
    optional={"type": st.sampled_from(["RESET", "A", "B", "C", None]), "amountDiff": st.floats(-50, 900),
              "timeDiff": st.floats(0, 10_000)},
)  # fmt: skip
anything = st.dictionaries(st.sampled_from(ATTRIBUTES), values, max_size=len(ATTRIBUTES))


@pytest.fixture(scope="module", params=PATTERNS, ids=lambda p: p[0])
def symbolizer(request: pytest.FixtureRequest) -> Symbolizer:
    return load_pattern(*pattern_files(*request.param)).symbolizer


@settings(max_examples=300, deadline=None)
@given(event=st.one_of(near_brest, anything))
def test_generated_function_equals_sentence_objects(symbolizer: Symbolizer, event: dict[str, Any]) -> None:
    """Same symbol, or the same error with the same message, for plausible and for hostile events."""
    _same_as_sentences(symbolizer, event)


def test_real_ais_track_symbolises_the_same_both_ways() -> None:
    port = load_pattern(*pattern_files("port")).symbolizer
    rows = maritime_frame(3000).to_dict("records")
    assert [port.symbol(r) for r in rows] == [port.symbol_by_sentences(r) for r in rows]


def test_distance_is_bit_for_bit_the_predicates_one() -> None:
    """Events on a ring's border land on the same side as with the predicates' haversine."""
    ring = Atom(make_predicate("DistanceBetweenPredicate", [-4.4753, 48.38273, 5.0, 6.0]))
    code_of = compile_code_function([ring])
    borders = 0
    for step in range(4000):
        event = {"lon": -4.4753 + step * 1e-6, "lat": 48.38273 + 0.0449 + step * 1e-9}
        assert code_of(event) == int(ring.evaluate(event, {}))
        borders += code_of(event)
    assert 0 < borders < 4000  # the walk crosses the inner border


def test_an_attribute_behind_a_short_circuit_may_be_missing() -> None:
    """``^(type A, speed > 3)`` on a type-B event without speed: false, as the sentence objects say, not an
    error (the generated function raises, and the symbolizer asks the sentences)."""
    guard = And((Atom(make_predicate("IsEventTypePredicate", ["A"])), Atom(GT("speed", 3.0))))
    symbolizer = Symbolizer([guard], [[True], [False]])
    assert symbolizer.symbol({"type": "B"}) == 1
    with pytest.raises(KeyError):
        compile_code_function([guard])({"type": "B"})


def test_missing_and_non_numeric_attributes_keep_their_errors() -> None:
    port = load_pattern(*pattern_files("port")).symbolizer
    for event in ({"lat": 48.3}, {"lon": "east", "lat": 48.3}, {"lon": math.inf, "lat": 48.3}):
        _same_as_sentences(port, event)
        assert _outcome(lambda e=event: port.symbol(e))[0] != "symbol"


def test_nested_sentences() -> None:
    a, b = make_predicate("IsEventTypePredicate", ["A"]), make_predicate("LT", ["speed", 5.0])
    c = make_predicate("WithinCirclePredicate", [0.0, 0.0, 100.0])
    sentences = [Or((Atom(a), Not(Atom(b)))), And((Not(Atom(a)), Or((Atom(b), Atom(c)))))]
    code_of = compile_code_function(sentences)
    for kind in ("A", "B", None):
        for speed in (1.0, 9.0):
            for lon in (0.1, 5.0):
                event = {"type": kind, "speed": speed, "lon": lon, "lat": 0.0}
                expected = sum(1 << i for i, s in enumerate(sentences) if s.evaluate(event, {}))
                assert code_of(event) == expected


def test_pattern_arguments_never_enter_the_source() -> None:
    """Attribute names and constants from a model file are bound as names: a hostile one is only data."""
    hostile = "x') or __import__('os').system('false') or ('"
    predicate = predicate_from_dict({"name": "EQStr", "args": [hostile, "v') + ('"]})
    source = generated_source([Atom(predicate)])
    assert hostile not in source and "__import__" not in source and "v')" not in source
    code_of = compile_code_function([Atom(predicate)])
    assert code_of({hostile: "v') + ('"}) == 1
    assert code_of({hostile: "w"}) == 0


def test_a_predicate_subclass_runs_its_own_evaluate() -> None:
    """A subclass may change the test, so only the exact classes are inlined."""

    @dataclass(frozen=True)
    class Never(GT):
        def evaluate(self, event: Mapping[str, Any], cache: dict[Any, Any]) -> bool:
            return False

    code_of = compile_code_function([Atom(Never("speed", 0.0)), Atom(GT("speed", 0.0))])
    assert code_of({"speed": 5.0}) == 0b10


def test_symbolizer_pickles_and_compares_equal() -> None:
    port = load_pattern(*pattern_files("port")).symbolizer
    copy = pickle.loads(pickle.dumps(port))
    assert copy == port
    assert copy.symbol({"lon": -4.4753, "lat": 48.38273}) == port.symbol({"lon": -4.4753, "lat": 48.38273})
