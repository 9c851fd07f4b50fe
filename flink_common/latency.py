"""Latency tuning of PyFlink's Python workers for the low-volume control-plane jobs.

PyFlink hands records to a Python worker in *bundles* and gets the results back when a bundle finishes: by
default after 100,000 records or 1,000 ms (``python.fn-execution.bundle.size`` / ``.bundle.time``). On a
job that sees a few messages per minute the time limit is what ends every bundle, so each Python stage
holds a message for up to a second. The controller has two such stages (parse, then the keyed process
function), which made an instruction wait about 2 s for its first factory command. The controller and the
factory each handle a handful of messages per optimisation step, so a short bundle time costs them nothing
measurable and removes that wait; the high-volume collector and inference jobs keep the default.
"""

from __future__ import annotations

from pyflink.datastream import StreamExecutionEnvironment

__all__ = ["CONTROL_PLANE_BUNDLE_TIME_MS", "bundle_time", "set_bundle_time"]

CONTROL_PLANE_BUNDLE_TIME_MS = 20
"""Bundle time of the controller and factory jobs (ms)."""


def set_bundle_time(env: StreamExecutionEnvironment, milliseconds: int) -> None:
    """Set ``python.fn-execution.bundle.time`` of the jobs built on ``env`` (the way PyFlink sets its own
    Python options, e.g. ``set_python_executable``)."""
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    config = jvm.org.apache.flink.python.util.PythonConfigUtil.getEnvironmentConfig(
        env._j_stream_execution_environment  # noqa: SLF001 - the documented PyFlink route has no public setter
    )
    config.setString("python.fn-execution.bundle.time", str(int(milliseconds)))


def bundle_time(env: StreamExecutionEnvironment) -> str | None:
    """The configured ``python.fn-execution.bundle.time`` of ``env`` (None when not set)."""
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    config = jvm.org.apache.flink.python.util.PythonConfigUtil.getEnvironmentConfig(
        env._j_stream_execution_environment  # noqa: SLF001
    )
    return config.getString("python.fn-execution.bundle.time", None)
