"""Custom Flink metrics of the jobs' Python functions: declared with the function, bound in ``open``.

Every metric here is a no-op until :meth:`OperatorMetrics.bind` registers it in the operator's metric group
(``runtime_context.get_metrics_group()``, from the function's ``open``), so functions stay usable and
unit-testable outside Flink, and a pickled function never carries a bound Flink object (Flink pickles the
function to ship it to the Python worker, before ``open``).

How PyFlink ships them, and what that means for the values:

* **Counters** (:class:`Counter`) are counts kept in the function and registered as gauges, not Beam
  counters: PyFlink loses a Beam counter's increments made in timer callbacks.
* **Gauges** are read once per bundle, when it ends (``python.fn-execution.bundle.time``: 50 ms in the
  inference job, 1 s in the collector, 20 ms in the control plane), not on every scrape. So a gauge here is a
  plain value holder (:class:`Gauge`): the function sets it when what it shows changes, and the read at the
  end of the bundle is an attribute access. Values are integers (PyFlink passes them through ``int()``):
  fractions are scaled, e.g. an MCC of 0.734 is the gauge value 734 in a ``*_milli`` gauge.
* **Distributions** (PyFlink has no histogram) reach the JVM as a gauge whose value is Beam's
  ``DistributionResult`` (count, sum, min, max since the task started): the web UI and REST API show it as
  text, and the Prometheus reporter, which takes numeric gauges only, reports 0. :class:`Summary` therefore
  also keeps the last samples and exposes numeric gauges of their median, 95th percentile and maximum.

A gauge whose name depends on data (a model key) is a :class:`KeyedGauges` member: the first value for a
key registers it in a sub-group ``<group>.<key>`` (in Prometheus a label ``<group>="<key>"``); registrations
cannot be undone in Flink, so the number of keys is capped.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, TypeVar

__all__ = ["Counter", "Gauge", "KeyedGauges", "OperatorMetrics", "Summary", "milli"]


def milli(value: float) -> int:
    """``value`` in thousandths, rounded, as an integer gauge value (0.7346 -> 735)."""
    return int(round(value * 1000)) if math.isfinite(value) else 0


class Counter:
    """A count kept in the function and registered as a gauge; increments before :meth:`bind` are dropped
    (the function runs outside Flink).

    Not a Beam counter: PyFlink adds a Beam counter's increments to the metrics container of the bundle
    being processed, and increments made in a timer callback (a pause's replay, a flush) are lost, which the
    metrics e2e test showed (the replay's forecasts never reached ``forecasts_out``). A gauge is read from
    the Python object when the bundle ends, whatever callback changed it. Like a Flink counter, the count is
    per subtask and starts again at 0 when the task restarts.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self.bound = False

    def bind(self, group: Any) -> None:
        group.gauge(self.name, self.read)
        self.bound = True

    def inc(self, n: int = 1) -> None:
        if self.bound:
            self.count += n

    def read(self) -> int:
        return self.count

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name, "count": 0, "bound": False}


class Gauge:
    """A value holder registered as a gauge: Flink reads :attr:`value` when a bundle ends.

    With ``initial=None`` the gauge is registered only once it has a value (it is absent, rather than a
    misleading 0, until then): a value set before :meth:`bind` is kept and shown from the start.
    """

    def __init__(self, name: str, initial: int | None = 0) -> None:
        self.name = name
        self.value = initial
        self._group: Any = None
        self._registered = False

    def bind(self, group: Any) -> None:
        self._group = group
        self._register()

    def set(self, value: int) -> None:
        self.value = int(value)
        if not self._registered:
            self._register()

    def read(self) -> int:
        """What Flink shows (0 while unset)."""
        return self.value if self.value is not None else 0

    def _register(self) -> None:
        if self._group is not None and self.value is not None and not self._registered:
            self._group.gauge(self.name, self.read)
            self._registered = True

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "_group": None, "_registered": False}


class Summary:
    """A distribution, plus gauges over its last ``window`` samples: ``<name>_p50``, ``_p95``, ``_max``.

    The gauges sort the window only when a bundle ends after new samples arrived, at most once per bundle.
    """

    def __init__(self, name: str, window: int = 512) -> None:
        self.name = name
        self.window = window
        self._samples: deque[int] = deque(maxlen=window)
        self._sorted: list[int] = []
        self._dirty = False
        self._distribution: Any = None

    def bind(self, group: Any) -> None:
        self._distribution = group.distribution(self.name)
        group.gauge(f"{self.name}_p50", self.p50)
        group.gauge(f"{self.name}_p95", self.p95)
        group.gauge(f"{self.name}_max", self.max)

    def update(self, value: int) -> None:
        sample = int(value)
        self._samples.append(sample)
        self._dirty = True
        if self._distribution is not None:
            self._distribution.update(sample)

    def quantile(self, q: float) -> int:
        """The ``q`` quantile of the window (nearest rank; 0 when empty)."""
        if self._dirty:
            self._sorted = sorted(self._samples)
            self._dirty = False
        if not self._sorted:
            return 0
        return self._sorted[min(len(self._sorted) - 1, max(0, math.ceil(q * len(self._sorted)) - 1))]

    def p50(self) -> int:
        return self.quantile(0.5)

    def p95(self) -> int:
        return self.quantile(0.95)

    def max(self) -> int:
        return self.quantile(1.0)

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name, "window": self.window, "_samples": deque(maxlen=self.window),
                "_sorted": [], "_dirty": False, "_distribution": None}  # fmt: skip


class KeyedGauges:
    """Gauges per data key, in a key/value sub-group ``<group>.<key>`` (a label ``group`` in Prometheus).

    ``names`` are the gauges every key gets; they are registered together the first time a key is set.
    Past ``max_keys`` keys, new keys are not registered (Flink cannot unregister a gauge, and keys such as
    model ids keep coming): their values are still kept, so :meth:`value` answers for them.
    """

    def __init__(self, group: str, names: tuple[str, ...], max_keys: int = 64) -> None:
        self.group = group
        self.names = names
        self.max_keys = max_keys
        self._values: dict[str, dict[str, int]] = {}
        self._registered: set[str] = set()
        self._parent: Any = None

    def bind(self, group: Any) -> None:
        self._parent = group
        for key in self._values:
            self._register(key)

    def set(self, key: str, name: str, value: int) -> None:
        """Set gauge ``name`` of ``key`` (the key's other gauges start at 0)."""
        values = self._values.get(key)
        if values is None:
            values = self._values[key] = dict.fromkeys(self.names, 0)
            self._register(key)
        values[name] = int(value)

    def value(self, key: str, name: str) -> int | None:
        values = self._values.get(key)
        return None if values is None else values.get(name)

    def keys(self) -> list[str]:
        return list(self._values)

    def _register(self, key: str) -> None:
        if self._parent is None or key in self._registered or len(self._registered) >= self.max_keys:
            return
        sub = self._parent.add_group(self.group, key)
        values = self._values[key]
        for name in self.names:
            sub.gauge(name, _Reader(values, name))
        self._registered.add(key)

    def __getstate__(self) -> dict[str, Any]:
        return {"group": self.group, "names": self.names, "max_keys": self.max_keys, "_values": {},
                "_registered": set(), "_parent": None}  # fmt: skip


class _Reader:
    """Reads one gauge of a key's value dict (a callable Flink keeps; no closure over loop variables)."""

    __slots__ = ("name", "values")

    def __init__(self, values: dict[str, int], name: str) -> None:
        self.values, self.name = values, name

    def __call__(self) -> int:
        return self.values[self.name]


Metric = Counter | Gauge | Summary | KeyedGauges
_M = TypeVar("_M", Counter, Gauge, Summary, KeyedGauges)


class OperatorMetrics:
    """The metrics of one function, declared in its constructor and bound together in ``open``.

    Subclasses declare their metrics as attributes built with :meth:`counter`, :meth:`gauge`,
    :meth:`summary` and :meth:`keyed`; :meth:`bind` registers all of them.
    """

    def __init__(self) -> None:
        self._metrics: list[Metric] = []

    def counter(self, name: str) -> Counter:
        return self._declare(Counter(name))

    def gauge(self, name: str, initial: int | None = 0) -> Gauge:
        return self._declare(Gauge(name, initial))

    def summary(self, name: str, window: int = 512) -> Summary:
        return self._declare(Summary(name, window))

    def keyed(self, group: str, names: tuple[str, ...], max_keys: int = 64) -> KeyedGauges:
        return self._declare(KeyedGauges(group, names, max_keys))

    def bind(self, runtime_context: Any) -> None:
        """Register every declared metric in the operator's metric group (call from ``open``).

        Without a group (``python.metric.enabled: false``) the metrics stay unbound no-ops.
        """
        group = runtime_context.get_metrics_group()
        if group is None:
            return
        for metric in self._metrics:
            metric.bind(group)

    def _declare(self, metric: _M) -> _M:
        self._metrics.append(metric)
        return metric
