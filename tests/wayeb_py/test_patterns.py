"""Parsing of SRE patterns and declarations, predicate semantics, and compile_pattern/load_pattern."""

from __future__ import annotations

import math
import pickle

import pytest
from _data import data_path, pattern_files

from wayeb_py.automata.regex import Concat, Lit, Star, Union
from wayeb_py.patterns import (
    PREDICATES,
    And,
    Atom,
    CompiledPattern,
    MissingAttributeError,
    Not,
    Or,
    PatternSyntaxError,
    compile_pattern,
    haversine_km,
    load_pattern,
    make_predicate,
    parse_declarations,
    parse_pattern,
)
from wayeb_py.patterns.predicates import (
    DistanceBetweenPredicate,
    OutsideCirclePredicate,
    WithinCirclePredicate,
)

A = "IsEventTypePredicate(A)"
B = "IsEventTypePredicate(B)"
C = "IsEventTypePredicate(C)"


def atom(name: str, *args: float | str) -> Atom:
    return Atom(make_predicate(name, list(args)))


# -- grammar ------------------------------------------------------------------------------------------------


def test_sequence_is_folded_left_to_right() -> None:
    parsed = parse_pattern(f";({A},{B},{C})")
    a, b, c = (atom("IsEventTypePredicate", t) for t in "ABC")
    assert parsed.formula == Concat(Concat(Lit(a), Lit(b)), Lit(c))


def test_choice_star_and_nesting() -> None:
    parsed = parse_pattern(f";({A},+({B},{C}),*({A}))")
    a, b, c = (atom("IsEventTypePredicate", t) for t in "ABC")
    assert parsed.formula == Concat(Concat(Lit(a), Union(Lit(b), Lit(c))), Star(Lit(a)))


def test_sentence_operators() -> None:
    parsed = parse_pattern(f"^({A},-{B},|({B},{C}))")
    a, b, c = (atom("IsEventTypePredicate", t) for t in "ABC")
    assert parsed.formula == Lit(And((a, Not(b), Or((b, c)))))


def test_annotations_and_defaults() -> None:
    parsed = parse_pattern(f";({A},{B}){{order:2}}{{partitionBy:mmsi}}{{window:1000}}{{windowType:count}}")
    assert (parsed.order, parsed.partition_by, parsed.window, parsed.window_type) == (
        2,
        "mmsi",
        1000,
        "count",
    )
    bare = parse_pattern(f";({A},{B})")
    assert (bare.order, bare.partition_by, bare.window, bare.window_type) == (None, None, None, None)


def test_whitespace_and_newlines_are_ignored() -> None:
    assert parse_pattern(f" ;(\n  {A} ,\n\t{B}\n) {{order:1}}\n") == parse_pattern(f";({A},{B}){{order:1}}")


def test_numbers_are_compared_as_floats() -> None:
    # Wayeb re-stringifies numbers through toDouble: -4.47530 and -4.4753 are the same argument.
    one = make_predicate("WithinCirclePredicate", [-4.47530, 48.38273, 5.0])
    parsed = parse_pattern("WithinCirclePredicate(-4.4753,48.382730,5.00)")
    assert parsed.formula == Lit(Atom(one))
    assert one.text() == "WithinCirclePredicate(-4.4753,48.38273,5.0)"


def test_declarations_exclusives_and_extras() -> None:
    decl = parse_declarations(f"+({A},{B}),\n~({A},{B},{C}),+({C})")
    preds = {t: make_predicate("IsEventTypePredicate", [t]) for t in "ABC"}
    assert decl.exclusives == (frozenset(preds.values()),)
    assert decl.extras == (preds["A"], preds["B"], preds["C"])
    assert parse_declarations("") == parse_declarations("  \n ")


@pytest.mark.parametrize("name", ["port", "port-original", "fishing", "cards", "demo"])
def test_every_shared_pattern_parses(name: str) -> None:
    pattern, declarations = pattern_files(name, "pattern-order1.sre" if name == "demo" else "pattern.sre")
    compiled = load_pattern(pattern, declarations)
    assert isinstance(compiled, CompiledPattern)
    assert compiled.pattern_text == pattern.read_text(encoding="utf-8")
    assert compiled.declarations_text == declarations.read_text(encoding="utf-8")


def test_compiled_patterns_compare_hash_and_pickle() -> None:
    # Streaming operators are shipped to workers with (cloud)pickle, so a compiled pattern must survive it.
    first = load_pattern(*pattern_files("port"))
    second = compile_pattern(first.pattern_text, first.declarations_text)
    assert first == second and hash(first) == hash(second)
    copy = pickle.loads(pickle.dumps(first))
    assert copy == first
    assert copy.symbolizer.symbol({"lon": -4.4753, "lat": 48.38273}) == first.symbolizer.symbol(
        {"lon": -4.4753, "lat": 48.38273}
    )


def test_annotations_of_shared_patterns() -> None:
    port = load_pattern(*pattern_files("port"))
    assert (port.order, port.partition_by, port.window) == (2, None, None)
    original = load_pattern(*pattern_files("port-original"))
    assert (original.order, original.partition_by, original.window) == (0, "mmsi", None)
    demo = load_pattern(data_path("patterns", "demo", "pattern.sre"))
    assert (demo.order, demo.partition_by, demo.window) == (2, None, 2)
    cards = load_pattern(*pattern_files("cards"))
    assert cards.partition_by == "pan"


# -- syntax errors ------------------------------------------------------------------------------------------


def syntax_error(text: str, source: str = "p.sre") -> PatternSyntaxError:
    with pytest.raises(PatternSyntaxError) as info:
        compile_pattern(text, source_name=source)
    assert isinstance(info.value, ValueError)
    return info.value


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        (f";({A}", 1, 26, "expected ',' or ')'"),
        (f";({A})", 1, 26, "at least two operands"),
        ("WithinCirclePredicate(-4.4,48.3,5)", 1, 33, "decimal point (write 5.0)"),
        (f";({A},\n  Nope(1.0))", 2, 3, "unknown predicate 'Nope'"),
        ("WithinCirclePredicate(1.0,2.0)", 1, 1, "takes 3 argument(s)"),
        ("GT(1.0,2.0)", 1, 1, "argument 1 of GT must be an identifier"),
        ("IsEventTypePredicate(2.0)", 1, 1, "must be an identifier"),
        (f"{A}{{window:2}}{{order:1}}", 1, 35, "out of place"),
        (f"{A}{{order:x}}", 1, 31, "non-negative integer for order"),
        (f"{A}{{colour:1}}", 1, 25, "annotation name"),
        (f"{A} {B}", 1, 25, "annotation '{...}' or the end"),
        (f"!({A})", 1, 1, "complement"),
        (f"#({A})", 1, 1, "selection strategies"),
        (f"{A}&{B}", 1, 24, "several patterns"),
        (f'{A}["x"]', 1, 24, "register variables"),
        ("", 1, 1, "expected a pattern formula"),
        (f";({A},$)", 1, 27, "unexpected character '$'"),
    ],
)
def test_syntax_errors_name_source_line_column(text: str, line: int, column: int, fragment: str) -> None:
    error = syntax_error(text)
    assert (error.source, error.line, error.column) == ("p.sre", line, column), str(error)
    assert str(error).startswith(f"p.sre:{line}:{column}: ")
    assert fragment in str(error)


def test_syntax_error_in_declarations_names_the_declarations_file(tmp_path) -> None:  # noqa: ANN001
    pattern = tmp_path / "pattern.sre"
    pattern.write_text(f";({A},{B})", encoding="utf-8")
    declarations = tmp_path / "declarations.sre"
    declarations.write_text(f"~({A},{B}),\n*({C})", encoding="utf-8")
    with pytest.raises(PatternSyntaxError) as info:
        load_pattern(pattern, declarations)
    assert info.value.source == str(declarations)
    assert (info.value.line, info.value.column) == (2, 1)
    assert "expected a declaration" in str(info.value)


def test_multiline_pattern_error_position() -> None:
    text = ";(\n OutsideCirclePredicate(-4.7,48.1,8.0),\n WithinCirclePredicate(-4.7,48.1)\n)"
    error = syntax_error(text, "fishing.sre")
    assert (error.line, error.column) == (3, 2)
    assert "WithinCirclePredicate takes 3 argument(s)" in str(error)


# -- predicates ---------------------------------------------------------------------------------------------

BREST = (-4.47530, 48.38273)


def test_haversine_in_kilometres() -> None:
    assert haversine_km(0.0, 0.0, 0.0, 1.0) == pytest.approx(6371.0 * math.pi / 180.0, rel=1e-12)
    assert haversine_km(*BREST, *BREST) == 0.0
    # Brest port to a point 0.1 degree of latitude north.
    assert haversine_km(BREST[0], BREST[1] + 0.1, *BREST) == pytest.approx(11.119492664, rel=1e-9)


def test_circle_and_ring_bounds_are_exact() -> None:
    within = WithinCirclePredicate(*BREST, 5.0)
    outside = OutsideCirclePredicate(*BREST, 5.0)
    ring = DistanceBetweenPredicate(*BREST, 5.0, 6.0)
    assert within.holds_at(4.999) and not within.holds_at(5.0)
    assert outside.holds_at(5.0) and not outside.holds_at(4.999)
    assert not ring.holds_at(5.0) and ring.holds_at(5.5) and not ring.holds_at(6.0)
    # At exactly 6 km every ring of the port declarations is false.
    rings = [DistanceBetweenPredicate(*BREST, r, r + 1.0) for r in (5.0, 6.0, 7.0, 8.0, 9.0)]
    assert not any(r.holds_at(6.0) for r in rings)


def test_geometry_on_events() -> None:
    near = {"lon": BREST[0], "lat": BREST[1] + 0.01}  # ~1.1 km
    far = {"lon": BREST[0], "lat": BREST[1] + 0.05}  # ~5.56 km
    cache: dict = {}
    assert WithinCirclePredicate(*BREST, 5.0).evaluate(near, cache)
    assert not OutsideCirclePredicate(*BREST, 5.0).evaluate(near, cache)
    assert DistanceBetweenPredicate(*BREST, 5.0, 6.0).evaluate(far, {})
    assert OutsideCirclePredicate(*BREST, 5.0).evaluate(far, {})


@pytest.mark.parametrize(
    ("name", "args", "true_for", "false_for"),
    [
        ("EQ", ["is_fraud", 1.0], [1.0, "1"], [0.0, 1.5]),
        ("GT", ["x", 0.0], [0.1], [0.0, -1.0]),
        ("GTE", ["x", 0.0], [0.0, 2.0], [-0.1]),
        ("LT", ["x", 0.0], [-0.1], [0.0]),
        ("LTE", ["x", 0.0], [0.0, -3.0], [0.1]),
        ("BT", ["x", 1.0, 101.0], [1.0, 100.99], [0.99, 101.0]),
    ],
)
def test_numeric_predicates(name: str, args: list, true_for: list, false_for: list) -> None:
    predicate = make_predicate(name, args)
    attribute = args[0]
    assert all(predicate.evaluate({attribute: v}, {}) for v in true_for)
    assert not any(predicate.evaluate({attribute: v}, {}) for v in false_for)


def test_speed_between_is_half_open() -> None:
    predicate = make_predicate("SpeedBetween", [1.0, 9.0])
    assert predicate.evaluate({"speed": 1.0}, {}) and predicate.evaluate({"speed": 8.999}, {})
    assert not predicate.evaluate({"speed": 9.0}, {}) and not predicate.evaluate({"speed": 0.5}, {})


def test_event_type_and_string_predicates() -> None:
    reset = make_predicate("IsEventTypePredicate", ["RESET"])
    assert reset.evaluate({"type": "RESET"}, {})
    assert not reset.evaluate({"type": "SampledCritical"}, {})
    assert not reset.evaluate({"lon": 1.0}, {})  # an event without a type has no declared type
    assert make_predicate("EQStr", ["mmsi", "X1"]).evaluate({"mmsi": "X1"}, {})


@pytest.mark.parametrize(
    ("name", "args", "event", "attribute"),
    [
        ("WithinCirclePredicate", [*BREST, 5.0], {"lon": 1.0}, "lat"),
        ("DistanceBetweenPredicate", [*BREST, 5.0, 6.0], {"lat": 1.0}, "lon"),
        ("GT", ["amountDiff", 0.0], {"amount_diff": 3.0}, "amountDiff"),
        ("SpeedBetween", [1.0, 9.0], {"lon": 1.0}, "speed"),
        ("EQStr", ["mmsi", "X"], {}, "mmsi"),
    ],
)
def test_missing_attribute_names_the_attribute(name: str, args: list, event: dict, attribute: str) -> None:
    predicate = make_predicate(name, args)
    with pytest.raises(MissingAttributeError) as info:
        predicate.evaluate(event, {})
    assert isinstance(info.value, KeyError)
    assert info.value.attribute == attribute
    assert repr(attribute) in str(info.value) and name in str(info.value)


def test_registry_covers_the_shared_patterns() -> None:
    needed = {
        "WithinCirclePredicate",
        "OutsideCirclePredicate",
        "DistanceBetweenPredicate",
        "IsEventTypePredicate",
        "SpeedBetween",
        "BT",
        "GT",
        "GTE",
        "LT",
        "LTE",
        "EQ",
        "EQStr",
    }
    assert needed <= set(PREDICATES)
