"""Event predicates: the atoms of pattern sentences.

Each predicate is a small frozen dataclass. Equality is structural (class + arguments), which is exactly the
identity Wayeb uses when it deduplicates sentences: two occurrences of
``OutsideCirclePredicate(-4.47530,48.38273,5.0)`` are the same sentence, and numeric arguments are compared as
floats (``-4.47530`` and ``-4.4753`` are the same argument).

Every predicate evaluates one event (``evaluate``) or a whole ``pandas.DataFrame`` at once
(``evaluate_frame``); both paths share a per-event / per-frame ``cache`` dict so that, e.g., all circle and
ring predicates around the same centre compute the haversine distance only once.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from wayeb_py.patterns.errors import MissingAttributeError

if TYPE_CHECKING:
    import pandas as pd

EARTH_RADIUS_KM = 6371.0
"""Mean Earth radius used by Wayeb's haversine distance."""

Cache = dict[Hashable, Any]
Arg = float | str

# Wayeb maps these attribute names onto event fields rather than onto the attribute map.
_ATTRIBUTE_ALIASES: dict[str, str] = {"Timestamp": "timestamp", "EventType": "type"}


def haversine_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in kilometres between two (lon, lat) points given in degrees."""
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    half_dphi = math.sin(math.radians(lat2 - lat1) / 2.0)
    half_dlmb = math.sin(math.radians(lon2 - lon1) / 2.0)
    a = half_dphi * half_dphi + math.cos(phi1) * math.cos(phi2) * half_dlmb * half_dlmb
    return 2.0 * EARTH_RADIUS_KM * math.atan2(math.sqrt(a), math.sqrt(1.0 - a))


def haversine_km_array(lon1: np.ndarray, lat1: np.ndarray, lon2: float, lat2: float) -> np.ndarray:
    """Vectorised :func:`haversine_km` (same operation order, so results agree row by row)."""
    phi1 = np.radians(lat1)
    phi2 = math.radians(lat2)
    half_dphi = np.sin(np.radians(lat2 - lat1) / 2.0)
    half_dlmb = np.sin(np.radians(lon2 - lon1) / 2.0)
    a = half_dphi * half_dphi + np.cos(phi1) * math.cos(phi2) * half_dlmb * half_dlmb
    return 2.0 * EARTH_RADIUS_KM * np.arctan2(np.sqrt(a), np.sqrt(1.0 - a))


def _raw_value(event: Mapping[str, Any], attribute: str, needed_by: Predicate) -> Any:
    if attribute in event:
        return event[attribute]
    alias = _ATTRIBUTE_ALIASES.get(attribute)
    if alias is not None and alias in event:
        return event[alias]
    raise MissingAttributeError(attribute, needed_by.text())


def _float_value(event: Mapping[str, Any], attribute: str, needed_by: Predicate) -> float:
    value = _raw_value(event, attribute, needed_by)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"attribute {attribute!r} = {value!r} is not a number (needed by {needed_by.text()})"
        ) from None


def _frame_column_name(frame: pd.DataFrame, attribute: str, needed_by: Predicate) -> str:
    if attribute in frame.columns:
        return attribute
    alias = _ATTRIBUTE_ALIASES.get(attribute)
    if alias is not None and alias in frame.columns:
        return alias
    raise MissingAttributeError(attribute, needed_by.text())


def _column(frame: pd.DataFrame, attribute: str, needed_by: Predicate, cache: Cache) -> np.ndarray:
    key = ("column", attribute)
    if key not in cache:
        name = _frame_column_name(frame, attribute, needed_by)
        try:
            cache[key] = np.asarray(frame[name], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"column {attribute!r} is not numeric (needed by {needed_by.text()})") from None
    return cache[key]


@dataclass(frozen=True)
class Predicate:
    """Base class of all predicates; subclasses declare ``NAME`` and one ``KINDS`` entry per field."""

    NAME: ClassVar[str]
    KINDS: ClassVar[tuple[str, ...]]  # "num" (float argument) or "name" (identifier argument)

    @property
    def args(self) -> tuple[Arg, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))

    def text(self) -> str:
        """Canonical SRE text, e.g. ``WithinCirclePredicate(-4.4753,48.38273,5.0)``."""
        rendered = (repr(a) if isinstance(a, float) else a for a in self.args)
        return f"{self.NAME}({','.join(rendered)})"

    def __str__(self) -> str:
        return self.text()

    def evaluate(self, event: Mapping[str, Any], cache: Cache) -> bool:
        raise NotImplementedError

    def evaluate_frame(self, frame: pd.DataFrame, cache: Cache) -> np.ndarray:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.NAME, "args": list(self.args)}


PREDICATES: dict[str, type[Predicate]] = {}
"""Registry of predicate classes by their SRE name."""


def _register(cls: type[Predicate]) -> type[Predicate]:
    PREDICATES[cls.NAME] = cls
    return cls


def make_predicate(name: str, args: Sequence[Arg]) -> Predicate:
    """Build a predicate from its SRE name and arguments (floats for numbers, str for identifiers).

    Raises ``LookupError`` for an unknown name and ``ValueError`` for a wrong number or kind of arguments;
    the parser turns both into a located :class:`PatternSyntaxError`.
    """
    cls = PREDICATES.get(name)
    if cls is None:
        known = ", ".join(sorted(PREDICATES))
        raise LookupError(f"unknown predicate {name!r}; known predicates: {known}")
    if len(args) != len(cls.KINDS):
        raise ValueError(f"{name} takes {len(cls.KINDS)} argument(s) ({_signature(cls)}), got {len(args)}")
    converted: list[Arg] = []
    for position, (kind, arg) in enumerate(zip(cls.KINDS, args, strict=True), start=1):
        if kind == "num":
            if isinstance(arg, str | bool):
                raise ValueError(f"argument {position} of {name} must be a number with a decimal point")
            converted.append(float(arg))
        else:
            if not isinstance(arg, str):
                raise ValueError(f"argument {position} of {name} must be an identifier, not a number")
            converted.append(arg)
    return cls(*converted)


def predicate_from_dict(d: Mapping[str, Any]) -> Predicate:
    """Inverse of :meth:`Predicate.to_dict`."""
    return make_predicate(str(d["name"]), list(d["args"]))


def _signature(cls: type[Predicate]) -> str:
    return ", ".join("number" if k == "num" else "identifier" for k in cls.KINDS)


# ---------------------------------------------------------------------------------------------------------
# Geometry (haversine distance of the event's lon/lat to a fixed centre, kilometres)


@dataclass(frozen=True)
class _DistancePredicate(Predicate):
    lon: float
    lat: float

    def holds_at(self, distance: float | np.ndarray) -> Any:
        """Decision on the distance (km) of the event to the centre; works on floats and arrays."""
        raise NotImplementedError

    def evaluate(self, event: Mapping[str, Any], cache: Cache) -> bool:
        key = ("haversine", self.lon, self.lat)
        distance = cache.get(key)
        if distance is None:
            lon = _float_value(event, "lon", self)
            lat = _float_value(event, "lat", self)
            distance = cache[key] = haversine_km(lon, lat, self.lon, self.lat)
        return bool(self.holds_at(distance))

    def evaluate_frame(self, frame: pd.DataFrame, cache: Cache) -> np.ndarray:
        key = ("haversine", self.lon, self.lat)
        distance = cache.get(key)
        if distance is None:
            lon = _column(frame, "lon", self, cache)
            lat = _column(frame, "lat", self, cache)
            distance = cache[key] = haversine_km_array(lon, lat, self.lon, self.lat)
        return np.asarray(self.holds_at(distance), dtype=bool)


@_register
@dataclass(frozen=True)
class WithinCirclePredicate(_DistancePredicate):
    """True iff the event lies strictly inside the circle: ``d < radius``."""

    NAME = "WithinCirclePredicate"
    KINDS = ("num", "num", "num")
    radius: float

    def holds_at(self, distance: float | np.ndarray) -> Any:
        return distance < self.radius


@_register
@dataclass(frozen=True)
class OutsideCirclePredicate(_DistancePredicate):
    """Exact complement of :class:`WithinCirclePredicate`: ``not (d < radius)``."""

    NAME = "OutsideCirclePredicate"
    KINDS = ("num", "num", "num")
    radius: float

    def holds_at(self, distance: float | np.ndarray) -> Any:
        return ~(distance < self.radius) if isinstance(distance, np.ndarray) else not distance < self.radius


@_register
@dataclass(frozen=True)
class DistanceBetweenPredicate(_DistancePredicate):
    """True iff the event lies in the open ring ``inner < d < outer`` (both bounds strict)."""

    NAME = "DistanceBetweenPredicate"
    KINDS = ("num", "num", "num", "num")
    inner: float
    outer: float

    def holds_at(self, distance: float | np.ndarray) -> Any:
        return (self.inner < distance) & (distance < self.outer)


# ---------------------------------------------------------------------------------------------------------
# Event type and string attributes


@_register
@dataclass(frozen=True)
class IsEventTypePredicate(Predicate):
    """True iff the event's ``type`` equals the constant.

    An event without a ``type`` key has no declared type, so the predicate is false for it (AIS events carry
    no type; this keeps extras such as ``IsEventTypePredicate(RESET)`` usable on them).
    """

    NAME = "IsEventTypePredicate"
    KINDS = ("name",)
    event_type: str

    def evaluate(self, event: Mapping[str, Any], cache: Cache) -> bool:
        value = event.get("type")
        return value is not None and str(value) == self.event_type

    def evaluate_frame(self, frame: pd.DataFrame, cache: Cache) -> np.ndarray:
        if "type" not in frame.columns:
            return np.zeros(len(frame), dtype=bool)
        return _string_column(frame, "type", cache) == self.event_type


@_register
@dataclass(frozen=True)
class EQStr(Predicate):
    """True iff the string value of ``attribute`` equals the constant."""

    NAME = "EQStr"
    KINDS = ("name", "name")
    attribute: str
    value: str

    def evaluate(self, event: Mapping[str, Any], cache: Cache) -> bool:
        return str(_raw_value(event, self.attribute, self)) == self.value

    def evaluate_frame(self, frame: pd.DataFrame, cache: Cache) -> np.ndarray:
        return _string_column(frame, _frame_column_name(frame, self.attribute, self), cache) == self.value


def _string_column(frame: pd.DataFrame, name: str, cache: Cache) -> np.ndarray:
    key = ("string-column", name)
    if key not in cache:
        cache[key] = frame[name].astype(str).to_numpy(dtype=object)
    return cache[key]


# ---------------------------------------------------------------------------------------------------------
# Numeric comparisons on one attribute


@dataclass(frozen=True)
class _NumericPredicate(Predicate):
    attribute: str

    def holds_for(self, value: float | np.ndarray) -> Any:
        raise NotImplementedError

    def evaluate(self, event: Mapping[str, Any], cache: Cache) -> bool:
        return bool(self.holds_for(_float_value(event, self.attribute, self)))

    def evaluate_frame(self, frame: pd.DataFrame, cache: Cache) -> np.ndarray:
        return np.asarray(self.holds_for(_column(frame, self.attribute, self, cache)), dtype=bool)


@dataclass(frozen=True)
class _CompareConstant(_NumericPredicate):
    KINDS = ("name", "num")
    constant: float


@_register
@dataclass(frozen=True)
class EQ(_CompareConstant):
    """``value == constant``."""

    NAME = "EQ"

    def holds_for(self, value: float | np.ndarray) -> Any:
        return value == self.constant


@_register
@dataclass(frozen=True)
class GT(_CompareConstant):
    """``value > constant``."""

    NAME = "GT"

    def holds_for(self, value: float | np.ndarray) -> Any:
        return value > self.constant


@_register
@dataclass(frozen=True)
class GTE(_CompareConstant):
    """``value >= constant``."""

    NAME = "GTE"

    def holds_for(self, value: float | np.ndarray) -> Any:
        return value >= self.constant


@_register
@dataclass(frozen=True)
class LT(_CompareConstant):
    """``value < constant``."""

    NAME = "LT"

    def holds_for(self, value: float | np.ndarray) -> Any:
        return value < self.constant


@_register
@dataclass(frozen=True)
class LTE(_CompareConstant):
    """``value <= constant``."""

    NAME = "LTE"

    def holds_for(self, value: float | np.ndarray) -> Any:
        return value <= self.constant


@_register
@dataclass(frozen=True)
class BT(_NumericPredicate):
    """Half-open range on an attribute: ``low <= value < high``."""

    NAME = "BT"
    KINDS = ("name", "num", "num")
    low: float
    high: float

    def holds_for(self, value: float | np.ndarray) -> Any:
        return (self.low <= value) & (value < self.high)


@_register
@dataclass(frozen=True)
class SpeedBetween(Predicate):
    """Half-open range on the ``speed`` attribute (knots): ``low <= speed < high``."""

    NAME = "SpeedBetween"
    KINDS = ("num", "num")
    low: float
    high: float

    def evaluate(self, event: Mapping[str, Any], cache: Cache) -> bool:
        speed = _float_value(event, "speed", self)
        return self.low <= speed < self.high

    def evaluate_frame(self, frame: pd.DataFrame, cache: Cache) -> np.ndarray:
        speed = _column(frame, "speed", self, cache)
        return (self.low <= speed) & (speed < self.high)
