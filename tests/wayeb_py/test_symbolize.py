"""The Symbolizer: scalar and vectorised symbolization, errors, description and serialisation."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from _data import demo_frame, maritime_frame, pattern_files

from wayeb_py.patterns import MissingAttributeError, UnmatchedEventError, compile_pattern, load_pattern
from wayeb_py.symbolize import Symbolizer

LETTERS = "ABCDR"
TYPES = [f"IsEventTypePredicate({t})" for t in LETTERS]


@pytest.fixture(scope="module")
def port() -> Symbolizer:
    return load_pattern(*pattern_files("port")).symbolizer


@pytest.fixture(scope="module")
def maritime() -> pd.DataFrame:
    return maritime_frame()


def test_abracadabra_symbols_follow_sorted_sentences() -> None:
    """§6.3 alphabet A, B, C, D, R: symbols 0..4 in that order (Wayeb's Symbol(1..5)), then 'none'."""
    compiled = compile_pattern(f"+({','.join(TYPES)})", f"~({','.join(TYPES)})")
    symbolizer = compiled.symbolizer
    assert symbolizer.n_symbols == 6
    assert symbolizer.describe()[:5] == TYPES
    stream = [symbolizer.symbol({"type": t}) for t in "ABRACADABRA"]
    assert stream == [0, 1, 4, 0, 2, 0, 3, 0, 1, 4, 0]
    assert symbolizer.symbol({"type": "Z"}) == 5


def test_demo_stream_symbols() -> None:
    compiled = load_pattern(*pattern_files("demo", "pattern-order1.sre"))
    frame = demo_frame()
    symbols = compiled.symbolizer.symbols(frame)
    expected = frame["type"].map({"A": 0, "B": 1, "C": 2}).to_numpy()
    assert symbols.dtype == np.int32
    assert symbols.tolist() == expected.tolist()
    assert [compiled.symbolizer.symbol(row) for row in frame.to_dict("records")] == expected.tolist()


def test_vectorised_equals_row_by_row_on_real_ais_track(port: Symbolizer, maritime: pd.DataFrame) -> None:
    sample = maritime.iloc[::5]
    vectorised = port.symbols(sample)
    assert vectorised.tolist() == [port.symbol(row) for row in sample.to_dict("records")]
    # Only the physically possible minterms occur: outside with or without a ring, and within.
    occurring = {port.describe()[s] for s in set(vectorised.tolist())}
    assert "WithinCirclePredicate(-4.4753,48.38273,5.0)" in occurring
    assert all("-OutsideCircle" not in d for d in occurring if "DistanceBetween" in d.split(",-")[0])


def test_vectorised_symbols_are_fast(port: Symbolizer, maritime: pd.DataFrame) -> None:
    frame = pd.concat([maritime] * 4, ignore_index=True).iloc[:100_000]
    started = time.perf_counter()
    symbols = port.symbols(frame)
    elapsed = time.perf_counter() - started
    assert len(symbols) == 100_000
    assert elapsed < 0.5, f"100k rows took {elapsed:.3f} s"


def test_symbols_on_an_empty_frame(port: Symbolizer) -> None:
    empty = pd.DataFrame({"lon": [], "lat": []})
    assert port.symbols(empty).shape == (0,)


def test_symbols_respect_a_non_default_index(port: Symbolizer, maritime: pd.DataFrame) -> None:
    sample = maritime.iloc[100:110].set_index("timestamp")
    assert port.symbols(sample).tolist() == port.symbols(maritime.iloc[100:110]).tolist()


def test_events_need_only_the_attributes_the_pattern_reads(port: Symbolizer) -> None:
    inside = {"lon": -4.4753, "lat": 48.38273}
    assert port.describe()[port.symbol(inside)] == "WithinCirclePredicate(-4.4753,48.38273,5.0)"
    with pytest.raises(MissingAttributeError) as info:
        port.symbol({"lon": 1.0, "speed": 3.0})
    assert info.value.attribute == "lat"
    with pytest.raises(MissingAttributeError, match="'lat'"):
        port.symbols(pd.DataFrame({"lon": [1.0]}))


def test_reset_events_are_not_symbols_of_the_port_pattern() -> None:
    # Under the port declarations RESET excludes both Outside and Within, so no located event can take the
    # RESET minterm: resets must be handled by the stream layer before symbolization (as Wayeb does).
    symbolizer = load_pattern(*pattern_files("port")).symbolizer
    far = {"lon": 0.0, "lat": 0.0}
    with pytest.raises(UnmatchedEventError, match="IsEventTypePredicate"):
        symbolizer.symbol({**far, "type": "RESET"})
    outside_only = symbolizer.describe()[symbolizer.symbol({**far, "type": "SampledCritical"})]
    assert outside_only.startswith("^(-DistanceBetween") and "-IsEventType" not in outside_only


def test_events_violating_exclusives_are_rejected() -> None:
    symbolizer = load_pattern(*pattern_files("port")).symbolizer
    reset_inside = {"lon": -4.4753, "lat": 48.38273, "type": "RESET"}  # RESET and Within are exclusive
    with pytest.raises(UnmatchedEventError, match="violate the declared exclusives"):
        symbolizer.symbol(reset_inside)
    frame = pd.DataFrame([{"lon": 0.0, "lat": 0.0, "type": "X"}, reset_inside])
    with pytest.raises(UnmatchedEventError, match=r"row 1 .*1 row\(s\)"):
        symbolizer.symbols(frame)


def test_finance_events() -> None:
    compiled = compile_pattern(
        ";(EQ(is_fraud,0.0),EQ(is_fraud,1.0)){order:2}{partitionBy:pan}",
        "~(EQ(is_fraud,0.0),EQ(is_fraud,1.0))",
    )
    symbolizer = compiled.symbolizer
    assert symbolizer.describe() == [
        "EQ(is_fraud,0.0)",
        "EQ(is_fraud,1.0)",
        "^(-EQ(is_fraud,0.0),-EQ(is_fraud,1.0))",
    ]
    events = [{"pan": "p", "is_fraud": v, "amount": 3.0} for v in (0.0, 1, "1.0", 2.0)]
    assert [symbolizer.symbol(e) for e in events] == [0, 1, 1, 2]
    assert symbolizer.symbols(pd.DataFrame(events[:2] + events[3:])).tolist() == [0, 1, 2]


def test_cards_vectorised_matches_scalar() -> None:
    symbolizer = load_pattern(*pattern_files("cards")).symbolizer
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "amountDiff": rng.choice([-5.0, 0.0, 1.0, 50.0, 101.0, 350.0, 550.0, 900.0], 400),
            "timeDiff": rng.choice([0.0, 120000.0, 120001.0], 400),
        }
    )
    assert symbolizer.symbols(frame).tolist() == [symbolizer.symbol(r) for r in frame.to_dict("records")]


def test_fishing_vectorised_matches_scalar(maritime: pd.DataFrame) -> None:
    symbolizer = load_pattern(*pattern_files("fishing")).symbolizer
    # Shift the Brest track onto the fishing area so that every ring and speed band is exercised.
    frame = maritime.iloc[::10].assign(lon=lambda f: f.lon - 0.2297, lat=lambda f: f.lat - 0.2546)
    assert symbolizer.symbols(frame).tolist() == [symbolizer.symbol(r) for r in frame.to_dict("records")]


def test_many_sentences_use_the_unique_row_path() -> None:
    names = [f"T{i:02d}" for i in range(20)]
    types = [f"IsEventTypePredicate({n})" for n in names]
    symbolizer = compile_pattern(f"+({','.join(types)})", f"~({','.join(types)})").symbolizer
    assert symbolizer.n_symbols == 21
    frame = pd.DataFrame({"type": names[::-1] + ["none"]})
    assert symbolizer.symbols(frame).tolist() == list(range(19, -1, -1)) + [20]


@pytest.mark.parametrize("name", ["port", "fishing", "cards"])
def test_dict_round_trip(name: str) -> None:
    symbolizer = load_pattern(*pattern_files(name)).symbolizer
    d = symbolizer.to_dict()
    text = json.dumps(d)
    back = Symbolizer.from_dict(json.loads(text))
    assert back == symbolizer and hash(back) == hash(symbolizer)
    assert back.n_symbols == symbolizer.n_symbols
    assert back.describe() == symbolizer.describe()
    assert json.dumps(back.to_dict()) == text


def test_round_trip_keeps_behaviour(port: Symbolizer, maritime: pd.DataFrame) -> None:
    back = Symbolizer.from_dict(json.loads(json.dumps(port.to_dict())))
    sample = maritime.iloc[:500]
    assert back.symbols(sample).tolist() == port.symbols(sample).tolist()


def test_invalid_construction() -> None:
    symbolizer = load_pattern(*pattern_files("demo", "pattern-order1.sre")).symbolizer
    with pytest.raises(ValueError, match="one sign per sentence"):
        Symbolizer(symbolizer.sentences, [(True,)])
    with pytest.raises(ValueError, match="duplicate"):
        Symbolizer(symbolizer.sentences, [(True, False), (True, False)])
    with pytest.raises(ValueError, match="at least one"):
        Symbolizer(symbolizer.sentences, [])
