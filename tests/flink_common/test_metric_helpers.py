"""The shared metric helpers: no-ops until bound, registered once, integer gauges, never pickled bound."""

from __future__ import annotations

import pickle

from metric_fakes import FakeMetricsRuntime, gauges_of

from flink_common.metrics import Counter, Gauge, KeyedGauges, OperatorMetrics, Summary, milli


class Example(OperatorMetrics):
    def __init__(self) -> None:
        super().__init__()
        self.seen = self.counter("seen")
        self.level = self.gauge("level")
        self.last = self.gauge("last", initial=None)
        self.latency = self.summary("latency_ms", window=4)
        self.per_key = self.keyed("model_key", ("a", "b"), max_keys=2)


def test_everything_is_a_no_op_until_bound_then_registered_in_the_operator_group() -> None:
    metrics = Example()
    metrics.seen.inc(5)
    metrics.level.set(3)
    metrics.latency.update(10)
    metrics.per_key.set("k1", "a", 1)
    runtime = FakeMetricsRuntime()
    metrics.bind(runtime)
    assert runtime.count("seen") == 0  # counted before binding: not in Flink
    metrics.seen.inc()
    metrics.seen.inc(0)
    assert runtime.count("seen") == 1
    assert runtime.gauge("level") == 3  # a gauge shows its value, whenever it was set
    assert runtime.gauge("last") is None  # registered only once it has a value
    metrics.last.set(7)
    assert runtime.gauge("last") == 7
    assert runtime.metrics.sub("model_key", "k1").gauge_value("a") == 1
    assert set(runtime.metrics.gauges) == {
        "seen",  # a count is shipped as a gauge (see flink_common.metrics.Counter)
        "level",
        "last",
        "latency_ms_p50",
        "latency_ms_p95",
        "latency_ms_max",
    }


def test_gauges_give_integers_and_milli_scales_fractions() -> None:
    gauge, runtime = Gauge("mcc_milli"), FakeMetricsRuntime()
    gauge.bind(runtime.metrics)
    gauge.set(milli(0.7346))
    assert runtime.gauge("mcc_milli") == 735  # the fake asserts an int, as PyFlink needs
    assert (milli(-1.0), milli(float("nan")), milli(0.0004)) == (-1000, 0, 0)


def test_summary_keeps_a_distribution_and_gauges_over_its_window() -> None:
    summary, runtime = Summary("latency_ms", window=4), FakeMetricsRuntime()
    summary.bind(runtime.metrics)
    assert (summary.p50(), summary.p95(), summary.max()) == (0, 0, 0)
    for value in (5, 1, 9, 3, 7):
        summary.update(value)
    assert runtime.metrics.distributions["latency_ms"].samples == [5, 1, 9, 3, 7]
    assert runtime.gauge("latency_ms_max") == 9 and runtime.gauge("latency_ms_p50") == 3  # window 1, 9, 3, 7
    assert runtime.gauge("latency_ms_p95") == 9


def test_keyed_gauges_register_each_key_once_up_to_the_cap() -> None:
    keyed, runtime = KeyedGauges("model_key", ("batch", "runtime"), max_keys=2), FakeMetricsRuntime()
    keyed.bind(runtime.metrics)
    keyed.set("m1", "batch", 10)
    keyed.set("m1", "runtime", 20)
    keyed.set("m2", "batch", 30)
    keyed.set("m3", "batch", 40)  # past the cap: kept, not registered
    assert gauges_of(runtime.metrics) == {
        "model_key.m1.batch": 10, "model_key.m1.runtime": 20, "model_key.m2.batch": 30,
        "model_key.m2.runtime": 0,
    }  # fmt: skip
    assert keyed.value("m3", "batch") == 40 and keyed.value("m4", "batch") is None
    keyed.set("m1", "batch", 11)
    assert runtime.metrics.sub("model_key", "m1").gauge_value("batch") == 11


def test_a_pickled_metric_set_carries_no_flink_object_and_binds_again() -> None:
    metrics, runtime = Example(), FakeMetricsRuntime()
    metrics.bind(runtime)
    metrics.seen.inc()
    metrics.per_key.set("k", "a", 1)
    metrics.latency.update(3)
    shipped = pickle.loads(pickle.dumps(metrics))
    assert not shipped.seen.bound and shipped.seen.count == 0
    assert shipped.per_key.keys() == [] and shipped.latency.max() == 0
    shipped.seen.inc()
    assert runtime.count("seen") == 1
    fresh = FakeMetricsRuntime()
    shipped.bind(fresh)  # the declared attributes are the very objects bound
    shipped.seen.inc()
    assert fresh.count("seen") == 1 and isinstance(shipped.seen, Counter)


def test_without_a_metric_group_everything_stays_a_no_op() -> None:
    class NoMetrics:
        def get_metrics_group(self) -> None:
            return None  # python.metric.enabled: false

    metrics = Example()
    metrics.bind(NoMetrics())
    metrics.seen.inc()
    metrics.last.set(1)
    metrics.per_key.set("k", "a", 1)
    assert metrics.per_key.value("k", "a") == 1
