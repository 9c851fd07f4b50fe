"""Environment and Kafka I/O helpers for PyFlink 2.2 jobs."""

from __future__ import annotations

import os
import sys
import weakref

from pyflink.common import Configuration, Types, WatermarkStrategy
from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream import (
    CheckpointingMode,
    DataStream,
    ExternalizedCheckpointRetention,
    OutputTag,
    StreamExecutionEnvironment,
)
from pyflink.datastream.connectors.base import DeliveryGuarantee
from pyflink.datastream.connectors.kafka import (
    KafkaOffsetsInitializer,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
)
from pyflink.java_gateway import get_gateway
from pyflink.table import DataTypes, StreamTableEnvironment
from pyflink.table.types import _to_java_data_type
from pyflink.util.java_utils import load_java_class

from flink_common.loopback import bind_loopback_only
from protocol.codec import TOMBSTONE
from protocol.settings import PROJECT_ROOT, Settings

CONNECTOR_DIR = PROJECT_ROOT / "runtime" / "lib" / "connector"


def connector_jars() -> list[str]:
    """``file://`` URLs of the Kafka connector jars fetched by ``make install``."""
    jars = sorted(CONNECTOR_DIR.glob("*.jar"))
    if not jars:
        raise FileNotFoundError(f"no Kafka connector jar in {CONNECTOR_DIR}: run `make install`")
    return [jar.resolve().as_uri() for jar in jars]


def flink_options(settings: Settings) -> Configuration:
    """Per-job Flink options from ``settings`` (only those set; unset ones keep the cluster's values).

    Python operators read their bundle size/time from the environment's configuration when the graph is
    built, so they must be set when the environment is created, before any operator is added.
    """
    config = Configuration()
    config.set_string("pipeline.object-reuse", str(settings.object_reuse).lower())
    if settings.python_bundle_size is not None:
        config.set_string("python.fn-execution.bundle.size", str(settings.python_bundle_size))
    if settings.python_bundle_time_ms is not None:
        config.set_string("python.fn-execution.bundle.time", str(settings.python_bundle_time_ms))
    if settings.buffer_timeout_ms is not None:
        config.set_string("execution.buffer-timeout.interval", f"{settings.buffer_timeout_ms} ms")
    return config


def make_env(settings: Settings, *, with_kafka: bool = True) -> StreamExecutionEnvironment:
    """A stream environment with checkpointing, the venv's Python for UDF workers and the connector.

    On the project's session cluster the connector is in the cluster's lib folder (``RTCEF_CLUSTER_LIB=1``
    in the submitting environment), and adding it per job would load its classes once per job. In local
    (MiniCluster) runs adding it is what makes the Kafka classes visible.

    On the cluster, checkpoints are retained when a job is cancelled, so a cancelled (or crashed) job can
    be resubmitted from its newest checkpoint (``rtcef_ops.recovery``). Local runs keep Flink's default:
    they have no checkpoint directory to retain anything in.
    """
    bind_loopback_only()
    env = StreamExecutionEnvironment.get_execution_environment(flink_options(settings))
    env.set_parallelism(settings.parallelism)
    env.enable_checkpointing(settings.checkpoint_interval_ms, CheckpointingMode.EXACTLY_ONCE)
    env.set_python_executable(os.environ.get("RTCEF_PYTHON", sys.executable))
    on_cluster = os.environ.get("RTCEF_CLUSTER_LIB") == "1"
    if on_cluster:
        env.get_checkpoint_config().set_externalized_checkpoint_retention(
            ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION
        )
    if with_kafka and not on_cluster:
        env.add_jars(*connector_jars())
    return env


def read_topic(
    env: StreamExecutionEnvironment,
    settings: Settings,
    topic: str,
    *,
    group: str,
    from_latest: bool = False,
    bounded: bool = False,
    tag_partitions: bool = False,
) -> DataStream:
    """A stream of raw record values of ``topic`` as text; offsets are in Flink state, so restarts resume.

    No record can fail the source: values are decoded with Kafka's own ``StringDeserializer`` (bytes that
    are not UTF-8 become U+FFFD, never an error), and a record without a value (a tombstone) becomes the
    text :data:`protocol.codec.TOMBSTONE`, which every decoder rejects with the reason "tombstone", so it
    goes to the topic's dead letters like any other unusable record. The replacement happens in the JVM
    (Flink SQL), before any Python operator, because a null would already break PyFlink's string coder.

    ``bounded`` stops the source at the offsets that are latest when the job starts, so that a batch of
    records already in the topic can be processed to the end (tests, replays); jobs run unbounded.

    ``tag_partitions`` prefixes each value with the partition it was read from, ``"<partition>\t<value>"``
    (:func:`flink_common.partitions.split_partition`), decoded in the JVM by ``runtime/kafka-records``
    (tombstones become :data:`~protocol.codec.TOMBSTONE` there as well): for consumers that follow event
    time per partition.
    """
    builder = (
        KafkaSource.builder()
        .set_bootstrap_servers(settings.kafka_bootstrap_servers)
        .set_topics(topic)
        .set_group_id(f"{settings.consumer_group_prefix}-{group}")
        .set_starting_offsets(
            KafkaOffsetsInitializer.latest() if from_latest else KafkaOffsetsInitializer.earliest()
        )
        .set_property("partition.discovery.interval.ms", "10000")
        .set_property("isolation.level", "read_committed")  # never a transaction that may still abort
    )
    deserializer = _partition_tagged_values() if tag_partitions else _null_keeping_value_deserializer()
    builder._j_builder.setDeserializer(deserializer)
    if bounded:
        builder = builder.set_bounded(KafkaOffsetsInitializer.latest())
    source = builder.build()
    watermarks = WatermarkStrategy.no_watermarks()
    values = env.from_source(source, watermarks, f"kafka:{topic}").uid(f"source-{topic}-{group}")
    return values if tag_partitions else _tombstones_as_text(env, values, f"{topic}-{group}")


def topic_partitions(settings: Settings, topic: str, timeout_s: float = 10.0) -> int:
    """How many partitions ``topic`` has now (1 if the broker does not say within ``timeout_s``)."""
    from confluent_kafka.admin import AdminClient

    try:
        metadata = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers}).list_topics(
            topic, timeout=timeout_s
        )
        return max(1, len(metadata.topics[topic].partitions))
    except Exception:  # noqa: BLE001 - a missing answer must not stop the job from being built
        return 1


def project_java_object(class_name: str, *arguments: str) -> object:
    """A new instance of one of ``runtime/kafka-records``' classes, built with ``String`` arguments.

    By reflection: the classes are in a jar beside the connector, which py4j's own class lookup (``jvm.x.y``)
    does not see.
    """
    gateway = get_gateway()
    parameter_types = gateway.new_array(gateway.jvm.java.lang.Class, len(arguments))
    values = gateway.new_array(gateway.jvm.java.lang.Object, len(arguments))
    for index, argument in enumerate(arguments):
        parameter_types[index] = load_java_class("java.lang.String")
        values[index] = argument
    return load_java_class(class_name).getConstructor(parameter_types).newInstance(values)


def _partition_tagged_values() -> object:
    """``runtime/kafka-records``' deserializer: values as text tagged with their partition, tombstones as
    :data:`~protocol.codec.TOMBSTONE` (it never throws)."""
    return project_java_object("io.rtcef.kafka.PartitionTaggedValues", TOMBSTONE)


def _null_keeping_value_deserializer() -> object:
    """Kafka's ``StringDeserializer`` on record values: a null value stays null instead of throwing.

    The class is the one inside the SQL connector jar the cluster loads, where Kafka is relocated.
    """
    schema = get_gateway().jvm.org.apache.flink.connector.kafka.source.reader.deserializer
    string_deserializer = load_java_class(
        "org.apache.flink.kafka.shaded.org.apache.kafka.common.serialization.StringDeserializer"
    )
    return schema.KafkaRecordDeserializationSchema.valueOnly(string_deserializer)


def _tombstones_as_text(env: StreamExecutionEnvironment, values: DataStream, name: str) -> DataStream:
    """``values`` with every null replaced by :data:`~protocol.codec.TOMBSTONE`, in Flink SQL (JVM only)."""
    t_env = table_env(env)
    view = "values_" + "".join(c if c.isalnum() else "_" for c in name) + f"_{id(values)}"
    t_env.create_temporary_view(view, t_env.from_data_stream(values))
    marker = TOMBSTONE.replace("'", "''")
    texts = t_env.sql_query(f"SELECT COALESCE(f0, '{marker}') AS v FROM {view}")
    j_stream = t_env._j_tenv.toDataStream(texts._j_table, _to_java_data_type(DataTypes.STRING()))
    return DataStream(j_stream)


_TABLE_ENVS: weakref.WeakKeyDictionary[StreamExecutionEnvironment, StreamTableEnvironment] = (
    weakref.WeakKeyDictionary()
)


def table_env(env: StreamExecutionEnvironment) -> StreamTableEnvironment:
    """The one table environment of ``env`` (made on first use), for the SQL parts of a job's graph."""
    if env not in _TABLE_ENVS:
        _TABLE_ENVS[env] = StreamTableEnvironment.create(env)
    return _TABLE_ENVS[env]


def write_topic(stream: DataStream, settings: Settings, topic: str, *, exactly_once: bool = False) -> None:
    """Write a stream of JSON strings to ``topic``.

    At-least-once by default (consumers de-duplicate by id). With ``exactly_once`` the sink writes in Kafka
    transactions that commit when the checkpoint that covers them completes, so a failover never exposes a
    record twice to ``read_committed`` readers; the transactional ids are ``<consumer group prefix>-<topic>``
    (unique per deployment and topic, stable across restarts so a restored job can finish or abort them).
    """
    builder = (
        KafkaSink.builder()
        .set_bootstrap_servers(settings.kafka_bootstrap_servers)
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder()
            .set_topic(topic)
            .set_value_serialization_schema(SimpleStringSchema())
            .build()
        )
    )
    if exactly_once:
        builder = (
            builder.set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
            .set_transactional_id_prefix(f"{settings.consumer_group_prefix}-{topic}")
            .set_property("transaction.timeout.ms", str(settings.transaction_timeout_ms))
        )
    else:
        builder = builder.set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE)
    # The sink runs at its input's parallelism, so it is chained to it: a single-instance producer (the
    # collector's versions, the score aggregator's reports) keeps its order on the topic. At the job's
    # default parallelism the records would be spread round-robin over several Kafka producers and reach
    # the topic out of order.
    sink = stream.sink_to(builder.build()).name(f"kafka:{topic}").uid(f"sink-{topic}")
    sink.set_parallelism(stream._j_data_stream.getParallelism())


def string_tag(name: str) -> OutputTag:
    """A side output carrying JSON strings (typed, so that Java sinks can consume it)."""
    return OutputTag(name, Types.STRING())
