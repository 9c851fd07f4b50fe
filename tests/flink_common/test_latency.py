"""The control-plane jobs shorten PyFlink's bundle time; the setting reaches the job configuration."""

from __future__ import annotations

from pyflink.datastream import StreamExecutionEnvironment

from flink_common.latency import CONTROL_PLANE_BUNDLE_TIME_MS, bundle_time, set_bundle_time


def test_set_bundle_time_is_visible_in_the_environment_configuration() -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    set_bundle_time(env, CONTROL_PLANE_BUNDLE_TIME_MS)
    assert bundle_time(env) == str(CONTROL_PLANE_BUNDLE_TIME_MS)
    assert CONTROL_PLANE_BUNDLE_TIME_MS < 100  # well below PyFlink's default of 1000 ms
