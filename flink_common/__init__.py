"""Flink plumbing shared by the four jobs: environment set-up, Kafka sources and sinks, dead letters.

Jobs stay thin: their ``main.py`` builds an environment with :func:`make_env`, reads topics with
:func:`read_topic`, hands the streams to the job's own ``build_graph`` and writes the results with
:func:`write_topic`; dead letters go through :func:`write_dead_letters`, which routes each one to the
``.dlq`` topic of its source. Nothing here knows about the messages themselves beyond a dead letter's
``source_topic``.
"""

from flink_common.dead_letters import DeadLetterCounter, write_dead_letters
from flink_common.io import make_env, read_topic, string_tag, write_topic

__all__ = ["DeadLetterCounter", "make_env", "read_topic", "string_tag", "write_dead_letters", "write_topic"]
