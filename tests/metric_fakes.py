"""A stand-in for Flink's metric group, for unit tests of functions that register metrics in ``open``.

It offers what PyFlink's Python metric group offers (counters, gauges, distributions, meters, key/value
sub-groups), registered once per name as in Flink, and reads the values back the way Flink would: a gauge by
calling the function registered for it (what PyFlink does when a bundle ends).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class FakeCounter:
    """Counts like a Flink ``Counter``."""

    def __init__(self) -> None:
        self.count = 0

    def inc(self, n: int = 1) -> None:
        self.count += n

    def dec(self, n: int = 1) -> None:
        self.count -= n

    def get_count(self) -> int:
        return self.count


class FakeDistribution:
    """Records every sample, like a Beam distribution's count/sum/min/max but keeping them all."""

    def __init__(self) -> None:
        self.samples: list[int] = []

    def update(self, value: int) -> None:
        self.samples.append(value)


class FakeMeter:
    def __init__(self) -> None:
        self.count = 0

    def mark_event(self, value: int = 1) -> None:
        self.count += value

    def get_count(self) -> int:
        return self.count


class FakeMetricGroup:
    """``runtime_context.get_metrics_group()``: metrics by name, registered once; key/value sub-groups."""

    def __init__(self) -> None:
        self.counters: dict[str, FakeCounter] = {}
        self.gauges: dict[str, Callable[[], int]] = {}
        self.distributions: dict[str, FakeDistribution] = {}
        self.meters: dict[str, FakeMeter] = {}
        self.groups: dict[tuple[str, str | None], FakeMetricGroup] = {}

    def counter(self, name: str) -> FakeCounter:
        return self.counters.setdefault(name, FakeCounter())

    def gauge(self, name: str, obj: Callable[[], int]) -> None:
        self.gauges[name] = obj  # a second registration replaces the first, as in PyFlink

    def distribution(self, name: str) -> FakeDistribution:
        return self.distributions.setdefault(name, FakeDistribution())

    def meter(self, name: str, time_span_in_seconds: int = 60) -> FakeMeter:
        return self.meters.setdefault(name, FakeMeter())

    def add_group(self, name: str, extra: str | None = None) -> FakeMetricGroup:
        return self.groups.setdefault((name, extra), FakeMetricGroup())

    # ---- reading back, as Flink would
    def gauge_value(self, name: str) -> int | None:
        """The gauge's value as Flink reads it (an int), or None if no gauge of that name is registered."""
        read = self.gauges.get(name)
        if read is None:
            return None
        value = read()
        assert isinstance(value, int), f"gauge {name} gave {value!r}, PyFlink needs an int"
        return value

    def count(self, name: str) -> int:
        """The counter's value: a Flink counter, or a count registered as a gauge (0 if neither)."""
        counter = self.counters.get(name)
        if counter is not None:
            return counter.count
        return self.gauge_value(name) or 0

    def sub(self, name: str, extra: str) -> FakeMetricGroup:
        """The key/value sub-group ``name.extra`` (it must have been registered)."""
        assert (name, extra) in self.groups, f"no group {name}.{extra}; have {sorted(self.groups)}"
        return self.groups[(name, extra)]


class FakeMetricsRuntime:
    """A runtime context that offers only metrics (for stateless functions such as the parsers)."""

    def __init__(self) -> None:
        self.metrics = FakeMetricGroup()

    def get_metrics_group(self) -> FakeMetricGroup:
        return self.metrics

    def dead_letters(self) -> int:
        """The value of the ``dead_letters`` counter (0 if never registered)."""
        return self.metrics.count("dead_letters")

    def gauge(self, name: str) -> int | None:
        return self.metrics.gauge_value(name)

    def count(self, name: str) -> int:
        return self.metrics.count(name)


def gauges_of(group: FakeMetricGroup) -> dict[str, Any]:
    """Every gauge of ``group`` and its sub-groups by dotted name (sub-groups as ``name.extra.gauge``)."""
    found: dict[str, Any] = {name: group.gauge_value(name) for name in group.gauges}
    for (name, extra), sub in group.groups.items():
        prefix = name if extra is None else f"{name}.{extra}"
        found.update({f"{prefix}.{k}": v for k, v in gauges_of(sub).items()})
    return found
