"""Probe job of ``bench_runtime.py``: Kafka -> Python map (identity) -> Kafka, nothing else.

It reads ``INPUT_TOPIC`` and writes ``FORECAST_TOPIC`` of the environment's settings with the project's own
``make_env``/``read_topic``/``write_topic``, so its round trip is the floor of every job's: the connector,
the Java <-> Python worker hand-over of one PyFlink operator, and the sink.
"""

from __future__ import annotations

from pyflink.common import Types

from flink_common.io import make_env, read_topic, write_topic
from protocol.settings import load_settings

JOB_NAME = "bench_passthrough"


def identity(value: str) -> str:
    """The record unchanged (runs in the Python worker)."""
    return value


def main() -> None:
    """Build and run the pass-through job with the environment's settings."""
    settings = load_settings()
    env = make_env(settings)
    stream = read_topic(env, settings, settings.input_topic, group="passthrough")
    write_topic(stream.map(identity, output_type=Types.STRING()).name("identity"), settings,
                settings.forecast_topic)  # fmt: skip
    env.execute(JOB_NAME)


if __name__ == "__main__":
    main()
