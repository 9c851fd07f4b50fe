"""A pattern's sentences compiled into one straight-line Python function: event -> minterm code.

:meth:`Symbolizer.symbol <wayeb_py.patterns.symbolizer.Symbolizer.symbol>` is on the engine's per-event
path. Evaluating the sentence objects costs a method call per sentence, predicate and cache lookup (about
2.4 us/event on the port pattern); the compiled function reads each attribute and computes each distance
once, then tests every sentence inline (about 0.5 us/event).

The function computes every feature it needs (numeric attributes, distances to each centre) before the
tests, whereas the sentence objects short-circuit and may never read an attribute an ``And`` did not reach.
So it gives the reference answer whenever it returns, and the symbolizer falls back to the sentence objects
whenever it raises (a missing or non-numeric attribute): those then decide, with their own error messages.

Safety: the generated source holds only names this module makes up (``n0``, ``d0``, ``k0``...); every
argument of the pattern (numbers, attribute names, event types) is bound to a ``k`` name in the function's
namespace, never written into the source. A predicate class this module does not know is called through
its own ``evaluate``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from wayeb_py.patterns.predicates import (
    _ATTRIBUTE_ALIASES,
    BT,
    EARTH_RADIUS_KM,
    EQ,
    GT,
    GTE,
    LT,
    LTE,
    DistanceBetweenPredicate,
    EQStr,
    IsEventTypePredicate,
    OutsideCirclePredicate,
    Predicate,
    SpeedBetween,
    WithinCirclePredicate,
    _CompareConstant,
)
from wayeb_py.patterns.sentences import And, Atom, Not, Or, Sentence

__all__ = ["CodeFunction", "compile_code_function", "generated_source"]

CodeFunction = Callable[[Mapping[str, Any]], int]
"""Event -> minterm code (bit ``i`` set iff sentence ``i`` holds)."""


class _Writer:
    """Collects the function's constants, feature lines (computed once, first use first) and tests."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {
            "_radians": math.radians, "_sin": math.sin, "_cos": math.cos, "_atan2": math.atan2,
            "_sqrt": math.sqrt, "_float": float, "_str": str,
        }  # fmt: skip
        self.features: list[str] = []
        self._names: dict[tuple[Any, ...], str] = {}
        self._constants = 0
        self.uses_cache = False

    def constant(self, value: Any) -> str:
        """A namespace name bound to ``value`` (never written into the source)."""
        name = f"k{self._constants}"
        self._constants += 1
        self.namespace[name] = value
        return name

    def _feature(self, key: tuple[Any, ...], prefix: str, line: Callable[[str], str]) -> str:
        name = self._names.get(key)
        if name is None:
            name = self._names[key] = f"{prefix}{len(self._names)}"
            self.features.append(line(name))
        return name

    def raw(self, attribute: str) -> str:
        """Local holding the event's raw ``attribute`` (Wayeb's aliases apply, as in the predicates)."""
        alias = _ATTRIBUTE_ALIASES.get(attribute)

        def line(name: str) -> str:
            key = self.constant(attribute)
            if alias is None:
                return f"{name} = event[{key}]"
            other = self.constant(alias)
            return f"{name} = event[{key}] if {key} in event else event[{other}]"

        return self._feature(("raw", attribute), "r", line)

    def number(self, attribute: str) -> str:
        """Local holding ``float`` of the event's ``attribute``."""
        raw = self.raw(attribute)
        return self._feature(("number", attribute), "n", lambda name: f"{name} = _float({raw})")

    def distance(self, lon: float, lat: float) -> str:
        """Local holding the haversine distance (km) of the event to ``(lon, lat)``.

        Same operations in the same order as :func:`~wayeb_py.patterns.predicates.haversine_km`, so the
        distance is bit for bit the one the predicates compute.
        """
        key = ("distance", lon, lat)
        if key in self._names:
            return self._names[key]
        event_lon, event_lat = self.number("lon"), self.number("lat")
        cos_event = self._feature(("cos", "lat"), "c", lambda name: f"{name} = _cos(_radians({event_lat}))")
        c_lon, c_lat = self.constant(lon), self.constant(lat)
        cos_lat, diameter = self.constant(math.cos(math.radians(lat))), self.constant(2.0 * EARTH_RADIUS_KM)

        def line(name: str) -> str:
            return (
                f"_h1 = _sin(_radians({c_lat} - {event_lat}) / 2.0); "
                f"_h2 = _sin(_radians({c_lon} - {event_lon}) / 2.0); "
                f"_a = _h1 * _h1 + {cos_event} * {cos_lat} * _h2 * _h2; "
                f"{name} = {diameter} * _atan2(_sqrt(_a), _sqrt(1.0 - _a))"
            )

        return self._feature(key, "d", line)

    def event_type(self) -> str:
        """Local holding the event's ``type`` (None when it has none)."""
        return self._feature(("type",), "t", lambda name: f"{name} = event.get('type')")

    def fallback(self, predicate: Predicate) -> str:
        """A test that calls the predicate's own ``evaluate`` (for a class without an emitter)."""
        self.uses_cache = True
        return f"{self.constant(predicate.evaluate)}(event, _cache)"


def _within(p: WithinCirclePredicate, w: _Writer) -> str:
    return f"({w.distance(p.lon, p.lat)} < {w.constant(p.radius)})"


def _outside(p: OutsideCirclePredicate, w: _Writer) -> str:
    return f"(not {w.distance(p.lon, p.lat)} < {w.constant(p.radius)})"


def _ring(p: DistanceBetweenPredicate, w: _Writer) -> str:
    return f"({w.constant(p.inner)} < {w.distance(p.lon, p.lat)} < {w.constant(p.outer)})"


def _event_type(p: IsEventTypePredicate, w: _Writer) -> str:
    kind = w.event_type()
    return f"({kind} is not None and _str({kind}) == {w.constant(p.event_type)})"


def _eq_str(p: EQStr, w: _Writer) -> str:
    return f"(_str({w.raw(p.attribute)}) == {w.constant(p.value)})"


def _comparison(operator: str) -> Callable[[Any, _Writer], str]:
    def test(p: _CompareConstant, w: _Writer) -> str:
        return f"({w.number(p.attribute)} {operator} {w.constant(p.constant)})"

    return test


def _between(p: BT, w: _Writer) -> str:
    return f"({w.constant(p.low)} <= {w.number(p.attribute)} < {w.constant(p.high)})"


def _speed_between(p: SpeedBetween, w: _Writer) -> str:
    return f"({w.constant(p.low)} <= {w.number('speed')} < {w.constant(p.high)})"


_TESTS: dict[type[Predicate], Callable[[Any, _Writer], str]] = {
    WithinCirclePredicate: _within,
    OutsideCirclePredicate: _outside,
    DistanceBetweenPredicate: _ring,
    IsEventTypePredicate: _event_type,
    EQStr: _eq_str,
    EQ: _comparison("=="),
    GT: _comparison(">"),
    GTE: _comparison(">="),
    LT: _comparison("<"),
    LTE: _comparison("<="),
    BT: _between,
    SpeedBetween: _speed_between,
}
"""Inline test of each predicate class, by exact class: a subclass may redefine the test, so it is called
through its own ``evaluate``."""


def _test(predicate: Predicate, w: _Writer) -> str:
    write = _TESTS.get(type(predicate))
    return write(predicate, w) if write is not None else w.fallback(predicate)


def _sentence(sentence: Sentence, w: _Writer) -> str:
    if isinstance(sentence, Atom):
        return _test(sentence.predicate, w)
    if isinstance(sentence, Not):
        return f"(not {_sentence(sentence.operand, w)})"
    if isinstance(sentence, And | Or):
        joiner = " and " if isinstance(sentence, And) else " or "
        parts = [_sentence(o, w) for o in sentence.operands]
        return f"({joiner.join(parts)})" if parts else ("True" if isinstance(sentence, And) else "False")
    raise TypeError(f"cannot compile sentence {sentence!r}")


def _write(sentences: Sequence[Sentence]) -> tuple[str, dict[str, Any]]:
    w = _Writer()
    tests = [f"    if {_sentence(s, w)}:\n        code |= {1 << i}" for i, s in enumerate(sentences)]
    lines = ["def code_of(event):"]
    if w.uses_cache:
        lines.append("    _cache = {}")
    lines += [f"    {feature}" for feature in w.features]
    lines.append("    code = 0")
    lines += tests
    lines.append("    return code")
    return "\n".join(lines) + "\n", w.namespace


def generated_source(sentences: Sequence[Sentence]) -> str:
    """The source :func:`compile_code_function` runs (for tests and for reading)."""
    return _write(sentences)[0]


def compile_code_function(sentences: Sequence[Sentence]) -> CodeFunction:
    """One function computing the minterm code of an event for these sentences, in this order.

    Raises whatever reading the event raises (a missing key, a value ``float`` rejects); the caller then
    asks the sentence objects, which give the reference answer or error.
    """
    source, namespace = _write(sentences)
    exec(compile(source, "<wayeb_py symbolizer>", "exec"), namespace)  # noqa: S102 - see the module docstring
    function: CodeFunction = namespace["code_of"]
    return function
