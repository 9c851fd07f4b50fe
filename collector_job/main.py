"""Collector job: input events -> append-only bucket files -> dataset versions for the factory.

Graph (``build_graph``)::

    input topic ─parse─> events ─guard─> trusted ─watermarks(delay)─┐
                                                                    ├─ key "collector" ─> CollectorProcess
    assembly_reports ─parse─> ACKs ─watermarks(idle)────────────────┘        ├─> datasets
    (every parser, the guard and the collector) ─────────────────────────────┴─> dead letters

The guard (:mod:`collector_job.event_guard`) stops event-time outliers before they reach the watermarks.

``build_pipeline`` wires the graph to Kafka topics named by :class:`Settings`; ``main`` reads settings
from the environment and runs the job as ``collector_job``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyflink.common import Types
from pyflink.datastream import DataStream, StreamExecutionEnvironment

from collector_job.buckets import BucketScheme
from collector_job.collector_process import CollectorProcess, collector_key
from collector_job.collector_state import JOB_NAME, CollectorConfig
from collector_job.event_guard import GuardConfig
from collector_job.guard_process import EventGuardProcess
from collector_job.parse_acks import ParseAcks
from collector_job.parse_events import ParseEvents
from collector_job.timestamps import ack_watermarks, event_watermarks
from flink_common.dead_letters import write_dead_letters
from flink_common.io import read_topic, string_tag, write_topic
from flink_common.job import run_job
from protocol.settings import Settings

DEAD_LETTER_TAG = "collector-dead-letters"


def build_graph(
    events_raw: DataStream, acks_raw: DataStream, settings: Settings
) -> tuple[DataStream, DataStream]:
    """Wire the collector on raw JSON streams; returns (dataset versions, dead letters), both strings."""
    dead_tag = string_tag(DEAD_LETTER_TAG)
    scheme = BucketScheme.from_settings(settings)
    config = CollectorConfig.from_settings(settings)

    events = (
        events_raw.process(ParseEvents(settings.domain, settings.input_topic, dead_tag))
        .name("parse-events")
        .uid("collector-parse-events")
    )
    acks = (
        acks_raw.process(ParseAcks(settings.assembly_topic, dead_tag))
        .name("parse-acks")
        .uid("collector-parse-acks")
    )
    trusted = (
        events.key_by(collector_key, key_type=Types.STRING())
        .process(EventGuardProcess(GuardConfig.from_settings(settings), settings.input_topic, dead_tag))
        .name("event-guard")
        .uid("collector-event-guard")
        .set_parallelism(1)
    )
    timed_events = trusted.assign_timestamps_and_watermarks(
        event_watermarks(scheme.ms_per_unit, settings.watermark_delay_s)
    ).name("event-time")
    timed_acks = acks.assign_timestamps_and_watermarks(ack_watermarks()).name("ack-time")

    datasets = (
        timed_events.connect(timed_acks)
        .key_by(collector_key, collector_key, key_type=Types.STRING())
        .process(
            CollectorProcess(config, dead_tag, fsync_rows=settings.collector_fsync_rows),
            output_type=Types.STRING(),
        )
        .name("collector")
        .uid("collector-process")
        .set_parallelism(1)
    )
    dead_letters = events.get_side_output(dead_tag).union(
        trusted.get_side_output(dead_tag), acks.get_side_output(dead_tag), datasets.get_side_output(dead_tag)
    )
    return datasets, dead_letters


def build_pipeline(env: StreamExecutionEnvironment, settings: Settings) -> None:
    """The collector on Kafka: input + assembly topics in, dataset + dead-letter topics out."""
    events_raw = read_topic(env, settings, settings.input_topic, group="collector-input")
    acks_raw = read_topic(env, settings, settings.assembly_topic, group="collector-acks")
    datasets, dead_letters = build_graph(events_raw, acks_raw, settings)
    write_topic(datasets, settings, settings.datasets_topic)
    write_dead_letters(dead_letters, settings)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the collector job with settings from the environment."""
    run_job(JOB_NAME, __doc__, build_pipeline, argv)


if __name__ == "__main__":
    main()
