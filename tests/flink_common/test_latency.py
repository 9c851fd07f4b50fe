"""The control-plane jobs shorten PyFlink's bundle time; the setting reaches the job configuration."""

from __future__ import annotations

from pyflink.datastream import StreamExecutionEnvironment

from flink_common.latency import CONTROL_PLANE_BUNDLE_TIME_MS, bundle_time, set_bundle_time


def test_set_bundle_time_is_visible_in_the_environment_configuration() -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    set_bundle_time(env, CONTROL_PLANE_BUNDLE_TIME_MS)
    assert bundle_time(env) == str(CONTROL_PLANE_BUNDLE_TIME_MS)
    assert CONTROL_PLANE_BUNDLE_TIME_MS < 100  # well below PyFlink's default of 1000 ms


def test_the_inference_job_defaults_to_short_bundles_unless_settings_say_otherwise() -> None:
    from inference_job.main import BUFFER_TIMEOUT_MS, BUNDLE_TIME_MS, apply_latency_defaults
    from protocol.settings import Settings

    env = StreamExecutionEnvironment.get_execution_environment()
    apply_latency_defaults(env, Settings())
    assert bundle_time(env) == str(BUNDLE_TIME_MS) and env.get_buffer_timeout() == BUFFER_TIMEOUT_MS
    mine = StreamExecutionEnvironment.get_execution_environment()
    set_bundle_time(mine, 700)
    mine.set_buffer_timeout(70)
    apply_latency_defaults(mine, Settings(python_bundle_time_ms=700, buffer_timeout_ms=70))
    assert bundle_time(mine) == "700" and mine.get_buffer_timeout() == 70
