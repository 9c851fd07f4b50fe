"""Values tagged with the Kafka partition they were read from: ``"<partition>\\t<value>"`` (pure).

A source built with ``flink_common.io.read_topic(..., tag_partitions=True)`` emits such values (the tag is
added in the JVM by ``runtime/kafka-records``); consumers that follow event time per partition split them
here.
"""

from __future__ import annotations

__all__ = ["PARTITION_SEPARATOR", "split_partition"]

PARTITION_SEPARATOR = "\t"


def split_partition(tagged: str) -> tuple[int, str]:
    """``"<partition>\\t<value>"`` -> ``(partition, value)``; ``ValueError`` if there is no such tag."""
    head, separator, value = tagged.partition(PARTITION_SEPARATOR)
    if not separator or not head.isdigit():
        raise ValueError(f"not a partition-tagged value: {tagged[:40]!r}")
    return int(head), value
