"""Flink plumbing shared by the four jobs: environment set-up, Kafka sources and sinks, dead letters.

Jobs stay thin: their ``main.py`` builds an environment with :func:`make_env`, reads topics with
:func:`read_topic`, hands the streams to the job's own ``build_graph`` and writes the results with
:func:`write_topic`. Nothing here knows about the messages themselves.
"""

from flink_common.io import make_env, read_topic, string_tag, write_topic

__all__ = ["make_env", "read_topic", "string_tag", "write_topic"]
