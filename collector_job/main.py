"""Collector job: input events -> append-only bucket files -> dataset versions for the factory.

Graph (``build_graph``)::

    input topic ─parse─> events ─guard (p=1)─> trusted ─watermarks(delay)─ key by part ─> bucket writers (p=P)
                                                                                              │ closed parts
    assembly_reports ─parse─> ACKs ─watermarks(idle)─────────────────────────────────────────┤
                                                                    key "collector" ─> versioner (p=1)
                                                                                              ├─> datasets
    (every parser, the guard, the writers and the versioner) ────────────────────────────────┴─> dead letters

The guard (:mod:`collector_job.event_guard`) stops event-time outliers before they reach the watermarks and
stamps each event with the bucket-grid origin and the stream's watermark. The writers
(:mod:`collector_job.writer_process`) each own a part of the partition keys (:mod:`collector_job.parts`);
the versioner (:mod:`collector_job.versioner_process`) turns their closed parts into dataset versions.

``build_pipeline`` wires the graph to Kafka topics named by :class:`Settings`; ``main`` reads settings
from the environment and runs the job as ``collector_job``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyflink.common import Types
from pyflink.datastream import DataStream, KeyedStream, StreamExecutionEnvironment

from collector_job.buckets import BucketScheme
from collector_job.event_guard import GuardConfig
from collector_job.guard_process import EventGuardProcess, guard_key
from collector_job.parse_acks import ParseAcks
from collector_job.parse_events import JOB_NAME, ParseEvents
from collector_job.parts import WRITER_MAX_PARALLELISM
from collector_job.timestamps import ack_watermarks, event_watermarks
from collector_job.versioner_process import VersionerProcess, versioner_key
from collector_job.versioner_state import VersionerConfig
from collector_job.writer_process import PartKey, WriterProcess
from collector_job.writer_state import WriterConfig
from flink_common.dead_letters import write_dead_letters
from flink_common.io import read_topic, string_tag, topic_partitions, write_topic
from flink_common.job import run_job
from protocol.settings import Settings

DEAD_LETTER_TAG = "collector-dead-letters"


def pin_parallelism(stream: DataStream | KeyedStream, since: DataStream, parallelism: int) -> None:
    """Run every transformation after ``since`` up to ``stream`` at ``parallelism``.

    PyFlink's ``assign_timestamps_and_watermarks`` and ``key_by`` add operators of their own that run at the
    job's default parallelism. After the global guard that would spread its events round-robin over several
    subtasks and mix their order (and the watermark would follow a share of the stream each); pinned to
    the guard's parallelism they are forwarded in the guard's order, so each partition key's events reach
    its writer in that order.
    """
    stop = since._j_data_stream.getTransformation().getId()
    pending = [stream._j_data_stream.getTransformation()]
    while pending:
        transformation = pending.pop()
        if transformation.getId() == stop:
            continue
        transformation.setParallelism(parallelism)
        pending.extend(transformation.getInputs())


def build_graph(
    events_raw: DataStream,
    acks_raw: DataStream,
    settings: Settings,
    *,
    tagged: bool = False,
    input_partitions: int = 1,
) -> tuple[DataStream, DataStream]:
    """Wire the collector on raw JSON streams; returns (dataset versions, dead letters), both strings.

    ``tagged``: the events come partition-tagged (``read_topic(..., tag_partitions=True)``) from a topic of
    ``input_partitions`` partitions, whose event time the guard follows one by one.
    """
    dead_tag = string_tag(DEAD_LETTER_TAG)
    scheme = BucketScheme.from_settings(settings)
    guard_config = GuardConfig.from_settings(settings, partitions=input_partitions)
    parts = settings.collector_part_count

    events = (
        events_raw.process(ParseEvents(settings.domain, settings.input_topic, dead_tag, tagged=tagged))
        .name("parse-events")
        .uid("collector-parse-events")
    )
    acks = (
        acks_raw.process(ParseAcks(settings.assembly_topic, dead_tag))
        .name("parse-acks")
        .uid("collector-parse-acks")
    )
    trusted = (
        events.key_by(guard_key, key_type=Types.STRING())
        .process(EventGuardProcess(guard_config, settings.input_topic, dead_tag))
        .name("event-guard")
        .uid("collector-event-guard")
        .set_parallelism(1)
    )
    timed_events = trusted.assign_timestamps_and_watermarks(
        event_watermarks(scheme.ms_per_unit, settings.watermark_delay_s)
    ).name("event-time")
    timed_acks = acks.assign_timestamps_and_watermarks(ack_watermarks()).name("ack-time")
    by_part = timed_events.key_by(PartKey(parts, settings.domain.partition_key), key_type=Types.INT())
    pin_parallelism(by_part, trusted, 1)

    writer = WriterProcess(
        WriterConfig.from_settings(settings), parts, dead_tag, fsync_rows=settings.collector_fsync_rows
    )
    closed_parts = (
        by_part.process(writer)
        .name("bucket-writer")
        .uid("collector-bucket-writer")
        .set_parallelism(min(settings.parallelism, WRITER_MAX_PARALLELISM))
        .set_max_parallelism(WRITER_MAX_PARALLELISM)
    )
    datasets = (
        closed_parts.connect(timed_acks)
        .key_by(versioner_key, versioner_key, key_type=Types.STRING())
        .process(
            VersionerProcess(VersionerConfig.from_settings(settings), dead_tag), output_type=Types.STRING()
        )
        .name("versioner")
        .uid("collector-versioner")
        .set_parallelism(1)
    )
    dead_letters = events.get_side_output(dead_tag).union(
        trusted.get_side_output(dead_tag),
        acks.get_side_output(dead_tag),
        closed_parts.get_side_output(dead_tag),
        datasets.get_side_output(dead_tag),
    )
    return datasets, dead_letters


def build_pipeline(env: StreamExecutionEnvironment, settings: Settings) -> None:
    """The collector on Kafka: input + assembly topics in, dataset + dead-letter topics out."""
    events_raw = read_topic(env, settings, settings.input_topic, group="collector-input", tag_partitions=True)
    acks_raw = read_topic(env, settings, settings.assembly_topic, group="collector-acks")
    partitions = topic_partitions(settings, settings.input_topic)
    datasets, dead_letters = build_graph(
        events_raw, acks_raw, settings, tagged=True, input_partitions=partitions
    )
    write_topic(datasets, settings, settings.datasets_topic)
    write_dead_letters(dead_letters, settings)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the collector job with settings from the environment."""
    run_job(JOB_NAME, __doc__, build_pipeline, argv)


if __name__ == "__main__":
    main()
