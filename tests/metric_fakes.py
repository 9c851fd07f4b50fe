"""A stand-in for Flink's metric group, for unit tests of functions that register metrics in ``open``."""

from __future__ import annotations


class FakeCounter:
    """Counts like a Flink ``Counter``."""

    def __init__(self) -> None:
        self.count = 0

    def inc(self, n: int = 1) -> None:
        self.count += n

    def get_count(self) -> int:
        return self.count


class FakeMetricGroup:
    """``runtime_context.get_metrics_group()``: counters by name, registered once."""

    def __init__(self) -> None:
        self.counters: dict[str, FakeCounter] = {}

    def counter(self, name: str) -> FakeCounter:
        return self.counters.setdefault(name, FakeCounter())


class FakeMetricsRuntime:
    """A runtime context that offers only metrics (for stateless functions such as the parsers)."""

    def __init__(self) -> None:
        self.metrics = FakeMetricGroup()

    def get_metrics_group(self) -> FakeMetricGroup:
        return self.metrics

    def dead_letters(self) -> int:
        """The value of the ``dead_letters`` counter (0 if never registered)."""
        counter = self.metrics.counters.get("dead_letters")
        return 0 if counter is None else counter.count
