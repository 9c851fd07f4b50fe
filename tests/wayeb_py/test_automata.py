"""SNFA construction, minterms, determinisation and the SDFA table, checked against the spec's vectors."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from _data import demo_frame, pattern_files

from wayeb_py.automata import (
    EPSILON,
    SDFA,
    TRUE,
    Concat,
    Lit,
    Regex,
    Star,
    Union,
    build_minterms,
    build_snfa,
    determinize,
)
from wayeb_py.patterns import compile_pattern, load_pattern, make_predicate
from wayeb_py.patterns.sentences import And, Atom, Not

A = "IsEventTypePredicate(A)"
B = "IsEventTypePredicate(B)"
C = "IsEventTypePredicate(C)"
DEMO_DECLARATIONS = f"~({A},{B},{C})"


def event_type(t: str) -> Atom:
    return Atom(make_predicate("IsEventTypePredicate", [t]))


def final_positions(sdfa: SDFA, symbols: np.ndarray) -> list[int]:
    """1-based positions of the events after which the SDFA is in a final state."""
    states = sdfa.run(symbols)
    return [i + 1 for i, q in enumerate(states.tolist()) if q in sdfa.finals]


# -- Thompson construction ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("regex", "n_states"),
    [
        (Lit("a"), 2),
        (Concat(Lit("a"), Lit("b")), 4),
        (Union(Lit("a"), Lit("b")), 6),
        (Star(Lit("a")), 4),
    ],
)
def test_thompson_state_counts(regex: Regex, n_states: int) -> None:
    labels = {"a": 0, "b": 1}
    assert build_snfa(regex, labels.__getitem__, streaming=False).n_states == n_states
    assert build_snfa(regex, labels.__getitem__).n_states == n_states + 1


def test_streaming_prefix_has_true_self_loop() -> None:
    snfa = build_snfa(Lit("a"), {"a": 0}.__getitem__)
    assert (TRUE, snfa.start) in snfa.transitions[snfa.start]
    assert any(label == EPSILON for label, _ in snfa.transitions[snfa.start])
    assert snfa.epsilon_closure({snfa.start}) == frozenset({snfa.start, 0})


# -- minterms (§1.3) ---------------------------------------------------------------------------------------


def test_minterms_without_exclusives_are_all_sign_vectors_in_canonical_order() -> None:
    sentences = [event_type("A"), event_type("B")]
    assert build_minterms(sentences) == [(True, True), (True, False), (False, True), (False, False)]


def test_minterms_pruned_by_exclusives_and_partner_only_in_declarations() -> None:
    a, b, c = (make_predicate("IsEventTypePredicate", [t]) for t in "ABC")
    minterms = build_minterms([Atom(a), Atom(b)], [frozenset({a, b, c})])
    assert minterms == [(True, False), (False, True), (False, False)]  # A, B, neither: t = 3


def test_contradictory_complex_minterms_survive() -> None:
    within = make_predicate("WithinCirclePredicate", [-4.7051, 48.1281, 8.0])
    outside = make_predicate("OutsideCirclePredicate", [-4.7051, 48.1281, 8.0])
    speed = Atom(make_predicate("SpeedBetween", [1.0, 9.0]))
    sentences = [And((Atom(within), Not(speed))), And((Atom(within), speed)), Atom(outside)]
    minterms = build_minterms(sentences, [frozenset({within, outside})])
    # Negations are always "satisfiable" for the pruning rule, so ^(W,-S) together with ^(W,S) is kept;
    # only W together with O is excluded.
    assert (True, True, False) in minterms
    assert not any(m[2] and (m[0] or m[1]) for m in minterms)
    assert len(minterms) == 5


def test_minterm_explosion_is_refused() -> None:
    sentences = [Atom(make_predicate("GT", [f"x{i}", 0.0])) for i in range(5)]
    with pytest.raises(ValueError, match="more than 16 minterms"):
        build_minterms(sentences, max_minterms=16)


# -- §6.6 / §6.9: the demo pattern ;(A,B) with exclusives {A,B,C} -------------------------------------------


def test_demo_sdfa_matches_hand_checkable_vector() -> None:
    compiled = compile_pattern(f";({A},{B}){{order:1}}", DEMO_DECLARATIONS)
    assert compiled.symbolizer.describe() == [A, B, f"^(-{A},-{B})"]  # symbols A=0, B=1, N=2
    sdfa = compiled.sdfa
    # Spec (1-based): 1 -A-> 2, 1 -B/N-> 1, 2 -A-> 2, 2 -B-> 3 (final), 2 -N-> 1, 3 = copy of 1.
    assert sdfa.start == 0 and sdfa.finals == frozenset({2})
    assert sdfa.delta.tolist() == [[1, 0, 0], [1, 2, 0], [1, 0, 0]]
    assert sdfa.with_policy("nonoverlap") == sdfa
    assert sdfa.remaining_percentages() == [1.0, 0.5, 0.0]


def test_demo_detections_on_demo_data() -> None:
    """§6.7: the run starts at event 1 and detects at counters 3, 22, 29, 33, 52, 70, 85, 90, 94, 98."""
    compiled = load_pattern(*pattern_files("demo", "pattern-order1.sre"))
    frame = demo_frame()
    assert "".join(frame["type"]) == (
        "AABAAACCCBBCCCCAAAACABCAACAABBCABBCACBBCCCACBCACCBABCBBAAACCACCAACCCABACBBBBBCBCCCBABBBAABCAABCCABBA"
    )
    symbols = compiled.symbolizer.symbols(frame)
    assert final_positions(compiled.sdfa, symbols) == [3, 22, 29, 33, 52, 70, 85, 90, 94, 98]


def test_finance_pattern_has_three_symbols_and_three_states() -> None:
    compiled = compile_pattern(
        ";(EQ(is_fraud,0.0),EQ(is_fraud,1.0)){order:2}{partitionBy:pan}{window:1000}",
        "~(EQ(is_fraud,0.0),EQ(is_fraud,1.0))",
    )
    assert compiled.sdfa.n_symbols == compiled.symbolizer.n_symbols == 3
    assert compiled.sdfa.n_states == 3
    assert compiled.sdfa.delta.tolist() == [[1, 0, 0], [1, 2, 0], [1, 0, 0]]
    assert (compiled.order, compiled.partition_by, compiled.window) == (2, "pan", 1000)


# -- §1.3 / §1.4 / §6.9: the maritime port pattern ---------------------------------------------------------

PORT_DELTA = [
    [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0, 0],
    [2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 0, 2, 0, 0],
    [2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 0, 2, 3, 0],
    [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0, 0],
]


def test_port_pattern_has_fourteen_symbols_and_four_states() -> None:
    compiled = load_pattern(*pattern_files("port"))
    sdfa, symbolizer = compiled.sdfa, compiled.symbolizer
    assert sdfa.n_symbols == symbolizer.n_symbols == 14
    assert sdfa.n_states == 4 and sdfa.start == 0 and sdfa.finals == frozenset({3})
    texts = [s.text() for s in symbolizer.sentences]
    outside = texts.index("OutsideCirclePredicate(-4.4753,48.38273,5.0)")
    within = texts.index("WithinCirclePredicate(-4.4753,48.38273,5.0)")
    for s, minterm in enumerate(symbolizer.minterms):
        o, w = minterm[outside], minterm[within]
        assert sdfa.delta[0, s] == (1 if o else 0)
        assert sdfa.delta[1, s] == (2 if o else 0)
        assert sdfa.delta[2, s] == (2 if o else 3 if w else 0)
    assert sdfa.delta[3].tolist() == sdfa.delta[0].tolist()  # final behaves like start
    assert sdfa.delta.tolist() == PORT_DELTA  # canonical numbering, reproducible byte for byte
    assert sdfa.with_policy("nonoverlap") == sdfa
    assert sdfa.remaining_percentages() == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])


def test_port_original_pattern_compiles_to_the_same_sdfa() -> None:
    # *(O),O,O,W accepts the same streams as O,O,W once the Σ* prefix is added.
    original = load_pattern(*pattern_files("port-original"))
    assert original.sdfa == load_pattern(*pattern_files("port")).sdfa


def test_fishing_pattern_minterm_count() -> None:
    # Hand count: with a W-sentence positive: ^(W,-S) alone with none/one of four speed extras (5) or
    # ^(W,S) with or without ^(W,-S) (2); otherwise RESET alone (1) or O in {T,F} x ring in {none, D89, D910}
    # x speed extra in {none, 4 choices} (30): 5 + 2 + 1 + 30 = 38.
    compiled = load_pattern(*pattern_files("fishing"))
    assert compiled.symbolizer.n_symbols == compiled.sdfa.n_symbols == 38
    assert len(compiled.symbolizer.sentences) == 10


def test_cards_pattern_is_a_chain_of_eight_states() -> None:
    compiled = load_pattern(*pattern_files("cards"))
    sdfa = compiled.sdfa
    assert (sdfa.n_states, sdfa.n_symbols) == (8, 64)  # 6 unconstrained sentences: 2^6 minterms
    gt = [s.text() for s in compiled.symbolizer.sentences].index("GT(amountDiff,0.0)")
    for s, minterm in enumerate(compiled.symbolizer.minterms):
        expected = [min(q + 1, 7) if minterm[gt] else 0 for q in range(8)]
        assert sdfa.delta[:, s].tolist() == expected
    assert sdfa.finals == frozenset({7})


# -- determinisation properties -----------------------------------------------------------------------------


def test_numbering_is_canonical_and_reproducible() -> None:
    one = compile_pattern(f";({A},+({B},{C}),*({A}))", DEMO_DECLARATIONS)
    two = compile_pattern(f";( {A} , +( {C} , {B} ) , *( {A} ) )", DEMO_DECLARATIONS)
    assert one.sdfa == two.sdfa
    assert json.dumps(one.sdfa.to_dict()) == json.dumps(two.sdfa.to_dict())
    assert one.symbolizer == two.symbolizer


def test_overlap_and_nonoverlap_differ_when_matches_can_share_events() -> None:
    sdfa = compile_pattern(f";({A},{A})", DEMO_DECLARATIONS).sdfa
    a = 0
    assert sdfa.finals == frozenset({2})
    assert sdfa.delta[2, a] == 2  # AAA: the second and third A make another match
    restarted = sdfa.with_policy("nonoverlap")
    assert restarted.delta[2].tolist() == sdfa.delta[0].tolist()
    assert final_positions(sdfa, np.zeros(4, dtype=int)) == [2, 3, 4]
    assert final_positions(restarted, np.zeros(4, dtype=int)) == [2, 4]
    with pytest.raises(ValueError, match="unknown policy"):
        sdfa.with_policy("skip")


def test_choice_and_star_languages() -> None:
    compiled = compile_pattern(f";({A},*({C}),+({B},{C}))", DEMO_DECLARATIONS)
    sym = {t: compiled.symbolizer.symbol({"type": t}) for t in "ABCD"}

    def detections(stream: str) -> list[int]:
        return final_positions(compiled.sdfa, np.array([sym[t] for t in stream]))

    assert detections("AB") == [2]
    assert detections("AC") == [2]
    assert detections("ACCCB") == [2, 3, 4, 5]
    assert detections("ADB") == []
    assert detections("DACB") == [3, 4]


def test_determinize_rejects_empty_alphabet() -> None:
    with pytest.raises(ValueError):
        determinize(build_snfa(Lit("a"), {"a": 0}.__getitem__), [])


# -- the SDFA value type ------------------------------------------------------------------------------------


def test_sdfa_dict_round_trip_and_json() -> None:
    sdfa = load_pattern(*pattern_files("port")).sdfa
    d = sdfa.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert all(type(x) is int for row in d["delta"] for x in row)
    back = SDFA.from_dict(d)
    assert back == sdfa and hash(back) == hash(sdfa)
    assert back.delta.dtype == np.int32
    assert {sdfa: 1}[back] == 1
    unpickled = pickle.loads(pickle.dumps(sdfa))
    assert unpickled == sdfa and not unpickled.delta.flags.writeable


def test_sdfa_is_immutable_and_validated() -> None:
    sdfa = SDFA(delta=np.array([[1, 0], [1, 1]]), start=0, finals=frozenset({1}))
    assert (sdfa.n_states, sdfa.n_symbols) == (2, 2)
    with pytest.raises(ValueError):
        sdfa.delta[0, 0] = 1
    assert sdfa != SDFA(delta=np.array([[1, 0], [1, 1]]), start=0, finals=frozenset({0}))
    with pytest.raises(ValueError, match="complete"):
        SDFA(delta=np.array([[2, 0], [1, 1]]), start=0, finals=frozenset())
    with pytest.raises(ValueError, match="start"):
        SDFA(delta=np.array([[0]]), start=1, finals=frozenset())
    with pytest.raises(ValueError, match="final"):
        SDFA(delta=np.array([[0]]), start=0, finals=frozenset({3}))
    with pytest.raises(ValueError, match="does not match"):
        SDFA.from_dict({"delta": [[0]], "start": 0, "finals": [], "n_states": 2, "n_symbols": 1})


def test_remaining_percentage_of_unreachable_final() -> None:
    sdfa = SDFA(delta=np.array([[1], [1], [2]]), start=0, finals=frozenset({1}))
    assert sdfa.distances_to_finals() == [1, 0, -1]
    assert sdfa.remaining_percentages() == [1.0, 0.0, -1.0]
