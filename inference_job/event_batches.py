"""Input events grouped into per-shard batches before they reach Python; forecasts split after it.

Every record that enters or leaves a PyFlink Python operator pays a fixed price in the Beam harness
(coders, data channel, bundle bookkeeping) that is several times what the forecasting engine itself
spends on an event. So the engine does not take events one by one: it takes *batches*, rows
``(shard, events)`` where ``events`` is a JSON array of the raw events of one engine shard, in arrival
order, and :func:`key_by_shard` keys them by shard without a Python key selector.

* :func:`batch_in_jvm` (unbounded inputs, the deployed job): a Flink SQL processing-time tumbling window
  of ``event_batch_ms`` groups the raw records by shard with ``JSON_ARRAYAGG``, entirely in the JVM. The
  shard is computed there too (``JSON_VALUE`` of the partition attribute, Flink SQL's ``HASH_CODE`` of that
  text, modulo the shard count), so a raw event never crosses into Python before the engine. The window
  is one-phase (no local pre-aggregation), so the events of a shard keep their arrival order; records of
  one partition key come from one Kafka partition (the producers key by it), hence in offset order.
* :func:`batch_each` (bounded inputs: tests, replays of a finished topic): one single-event batch per
  record, made in Python. Flink does not fire processing-time windows when a bounded input ends, so the
  JVM path would lose the last window there.

Each path maps a partition key to one fixed shard (the JVM path with Flink's string hash, the Python path
with CRC-32: :func:`shard_of`); a job's state is only ever written by one of them, so they need not agree.
The shard function and the shard count are part of the engine's state layout. Undecodable records still
reach the engine (in the shard of the empty key), which dead-letters them with the reason.

The way out is batched the same way: the engine emits the forecasts of one batch as one record of
JSON lines, and :func:`split_lines_in_jvm` turns it back into one record per forecast in the JVM, so
the ``forecasts`` topic still carries one message per forecast.
"""

from __future__ import annotations

import json
import zlib

from pyflink.common import Row, Types
from pyflink.datastream import DataStream, KeyedStream
from pyflink.datastream.functions import MapFunction
from pyflink.java_gateway import get_gateway
from pyflink.table import DataTypes, Schema, StreamTableEnvironment

from flink_common.io import project_java_object

__all__ = [
    "BATCH_TYPE",
    "batch_each",
    "batch_in_jvm",
    "key_by_shard",
    "shard_of",
    "shard_of_raw",
    "split_lines",
    "split_lines_in_jvm",
]

BATCH_TYPE = Types.ROW([Types.INT(), Types.STRING()])
"""Type of a batch row: the engine shard and a JSON array of the raw events of that shard (strings, in
arrival order). One string rather than an array column: PyFlink cannot key a stream whose rows hold an
array converted from SQL, and one string is also the cheapest thing to move into Python."""


def shard_of(key: str, shards: int) -> int:
    """The shard :func:`batch_each` gives a partition key: stable across processes and restarts."""
    return zlib.crc32(key.encode()) % shards


def shard_of_raw(raw: str, attribute: str, shards: int) -> int:
    """The shard :func:`batch_each` gives a raw JSON event: that of its partition key's text as SQL's
    ``JSON_VALUE`` reads it (so keys ``227`` and ``"227"`` share a shard, as in :func:`batch_in_jvm`).

    Anything without a scalar ``attribute`` lands in the shard of the empty key, where the engine's
    decoder rejects it.
    """
    try:
        value = json.loads(raw).get(attribute)
    except (ValueError, AttributeError, RecursionError):
        value = None
    if isinstance(value, bool):
        return shard_of("true" if value else "false", shards)
    if not isinstance(value, str | int | float):
        return shard_of("", shards)
    return shard_of(str(value), shards)


class _SingleEventBatch(MapFunction):
    """One batch per raw event (bounded inputs)."""

    def __init__(self, attribute: str, shards: int) -> None:
        self.attribute = attribute
        self.shards = shards

    def map(self, value: str) -> Row:
        return Row(shard_of_raw(value, self.attribute, self.shards), json.dumps([value]))


def batch_each(events: DataStream, attribute: str, shards: int) -> DataStream:
    """Raw JSON events -> single-event batch rows, in Python (correct at the end of a bounded input)."""
    return events.map(_SingleEventBatch(attribute, shards), output_type=BATCH_TYPE).name("event-batches")


def batch_in_jvm(
    t_env: StreamTableEnvironment, events: DataStream, attribute: str, shards: int, window_ms: int
) -> DataStream:
    """Raw JSON events -> batch rows per shard and ``window_ms`` of processing time, in Flink SQL.

    ``events`` must be produced in the JVM (a Kafka source): a Python operator before this would
    bring back the per-event crossing that batching removes.
    """
    if not attribute.isidentifier():
        raise ValueError(f"partition attribute {attribute!r} is not a plain JSON field name")
    t_env.get_config().set("table.optimizer.agg-phase-strategy", "ONE_PHASE")
    schema = (
        Schema.new_builder()
        .column("f0", DataTypes.STRING())
        .column_by_expression("arrival", "PROCTIME()")
        .build()
    )
    raw = t_env.from_data_stream(events, schema)
    view = f"raw_events_{attribute}_{id(raw)}"
    t_env.create_temporary_view(view, raw)
    key = f"COALESCE(JSON_VALUE(f0, '$.{attribute}'), '')"
    keyed = t_env.sql_query(
        f"SELECT f0 AS payload, arrival, MOD(MOD(HASH_CODE({key}), {shards}) + {shards}, {shards}) AS shard"
        f" FROM {view}"
    )
    t_env.create_temporary_view(f"{view}_keyed", keyed)
    batches = t_env.sql_query(
        f"SELECT shard, JSON_ARRAYAGG(payload) AS events FROM TABLE(TUMBLE(TABLE {view}_keyed,"
        f" DESCRIPTOR(arrival), INTERVAL '{window_ms / 1000:.3f}' SECOND)) GROUP BY shard, window_start,"
        " window_end"
    )
    stream = t_env.to_data_stream(batches)
    # Flink SQL types its output as table rows; they are plain (shard, events) rows, and declaring them
    # so (before anything reads the type) is what lets PyFlink's operators decode them.
    stream._j_data_stream.getTransformation().setOutputType(BATCH_TYPE.get_java_type_info())
    return stream


def key_by_shard(batches: DataStream) -> KeyedStream:
    """Batch rows keyed by their shard, in the JVM: the engine receives the events JSON, keyed by shard.

    ``DataStream.key_by`` would run a Python key selector, one more Python operator (with its own
    bundle wait) per batch. The rows already have the layout PyFlink's keyed operators read, ``(key,
    value)``, so the stream is keyed on field 0 with PyFlink's own Java key selector instead.
    ``batches`` must be typed :data:`BATCH_TYPE` (both batch functions make it so).
    """
    j_stream = batches._j_data_stream
    gateway = get_gateway()
    j_keyed = j_stream.keyBy(gateway.jvm.KeyByKeySelector(), Types.ROW([Types.INT()]).get_java_type_info())
    return KeyedStream(j_keyed, Types.STRING(), batches)


def events_of(batch: str) -> list[str]:
    """The raw events of a batch (its JSON array of strings), in arrival order."""
    return [e for e in json.loads(batch) if isinstance(e, str)]


def split_lines(batch: str) -> list[str]:
    """The records of a batch of JSON lines (what :func:`split_lines_in_jvm` does, in Python)."""
    return batch.split("\n")


def split_lines_in_jvm(batches: DataStream) -> DataStream:
    """A stream of newline-joined JSON records -> a stream of the records, split in the JVM.

    Each record must be a single line (the project's compact JSON encoding never contains a newline). The
    split is ``runtime/kafka-records``' ``SplitLines``, a Java flat map chained to the engine: the same split
    in Flink SQL (``UNNEST`` of ``SPLIT``) converted every batch to a table row and back, which took most of
    the engine task's own JVM time.
    """
    splitter = project_java_object("io.rtcef.kafka.SplitLines")
    j_stream = batches._j_data_stream.flatMap(splitter).returns(Types.STRING().get_java_type_info())
    return DataStream(j_stream.name("split-forecasts"))
