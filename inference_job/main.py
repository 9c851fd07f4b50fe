"""The inference job: forecasting per partition key, global scores, observer instructions.

Graph (:func:`build_graph`)::

    input JSON --ParseMessages--> events --key_by(ShardKey)--+
                                                             +--EngineProcess--> score-delta batches
    enginesync JSON --ParseMessages--> EngineSync --broadcast+        |  \\--> forecasts (side)
                                                                          v
        watermarks (bounded out-of-orderness, on the batch timestamps, parallelism 1)
              --key_by(global_key)--> ScoreAggregator --> scores --key_by(global_key)--> ObserverProcess
              --> instructions
    dead letters: parse failures of both inputs + engine failures

``python -m inference_job.main`` runs it against Kafka with the environment's :class:`Settings`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pyflink.common import Duration, Types, WatermarkStrategy
from pyflink.datastream import DataStream, StreamExecutionEnvironment

from flink_common.dead_letters import write_dead_letters
from flink_common.io import read_topic, write_topic
from flink_common.job import run_job
from inference_job.engine_process import (
    CONTROL_STATE,
    FORECASTS,
    EngineProcess,
    ShardKey,
    partition_attribute,
    resolve_initial_model,
    ticks_per_second,
)
from inference_job.lifecycle import ModelRef
from inference_job.observer import ObserverConfig
from inference_job.observer_process import ObserverProcess
from inference_job.parse_messages import DEAD_LETTERS, JOB_NAME, ParseMessages
from inference_job.score_aggregator import DeltaTimestamp, ScoreAggregator, global_key
from protocol.messages import CardTransaction, EngineSync, MaritimeEvent
from protocol.settings import Domain, Settings

__all__ = ["build_graph", "build_pipeline", "main"]


def build_graph(
    events: DataStream,
    control: DataStream,
    settings: Settings,
    *,
    initial: ModelRef,
    loader: Callable[[str], Any] | None = None,
) -> dict[str, DataStream]:
    """Wire the job on raw JSON input streams; returns forecasts, scores, instructions, dead_letters."""
    event_model = CardTransaction if settings.domain is Domain.FINANCE else MaritimeEvent
    parsed = events.process(ParseMessages(event_model, settings.input_topic, as_dict=True)).name(
        "parse-events"
    )
    syncs = control.process(ParseMessages(EngineSync, settings.sync_topic)).name("parse-enginesync")

    ticks = ticks_per_second(settings)
    attribute = partition_attribute(settings)
    engine = EngineProcess(
        initial,
        partition_attribute=attribute,
        ticks_per_second=ticks,
        registry_path=str(settings.registry_path),
        loader=loader,
        batch_size=settings.score_batch_size,
        flush_ms=settings.score_flush_ms,
        input_topic=settings.input_topic,
        sync_topic=settings.sync_topic,
    )
    deltas = (
        parsed.key_by(ShardKey(attribute, settings.engine_shards), key_type=Types.INT())
        .connect(syncs.broadcast(CONTROL_STATE))
        .process(engine, output_type=Types.STRING())
        .name("engine")
        .uid("inference-engine")
    )

    ms_per_tick = 1000 // ticks
    watermarks = WatermarkStrategy.for_bounded_out_of_orderness(
        Duration.of_seconds(settings.watermark_delay_s)
    ).with_timestamp_assigner(DeltaTimestamp(ms_per_tick))
    scores = (
        deltas.assign_timestamps_and_watermarks(watermarks)
        .set_parallelism(1)
        .name("delta-watermarks")
        .key_by(global_key, key_type=Types.STRING())
        .process(
            ScoreAggregator(settings.reporting_interval_s * ticks, ms_per_tick), output_type=Types.STRING()
        )
        .set_parallelism(1)
        .name("score-aggregator")
        .uid("inference-score-aggregator")
    )
    instructions = (
        scores.key_by(global_key, key_type=Types.STRING())
        .process(ObserverProcess(ObserverConfig.from_settings(settings)), output_type=Types.STRING())
        .set_parallelism(1)
        .name("observer")
        .uid("inference-observer")
    )
    dead_letters = (
        parsed.get_side_output(DEAD_LETTERS)
        .union(syncs.get_side_output(DEAD_LETTERS))
        .union(deltas.get_side_output(DEAD_LETTERS))
    )
    return {
        "forecasts": deltas.get_side_output(FORECASTS),
        "scores": scores,
        "instructions": instructions,
        "dead_letters": dead_letters,
    }


def build_pipeline(env: StreamExecutionEnvironment, settings: Settings) -> dict[str, DataStream]:
    """Kafka sources -> :func:`build_graph` -> Kafka sinks (topic names from ``settings``)."""
    events = read_topic(env, settings, settings.input_topic, group="inference-input")
    control = read_topic(env, settings, settings.sync_topic, group="inference-enginesync")
    outputs = build_graph(events, control, settings, initial=resolve_initial_model(settings))
    write_topic(outputs["forecasts"], settings, settings.forecast_topic)
    write_topic(outputs["scores"], settings, settings.score_topic)
    write_topic(outputs["instructions"], settings, settings.instruction_topic)
    write_dead_letters(outputs["dead_letters"], settings)
    return outputs


def main(argv: Sequence[str] | None = None) -> None:
    """Run the job with the environment's settings (extra arguments are left to Flink)."""
    run_job(JOB_NAME, __doc__, build_pipeline, argv, prog="python -m inference_job.main")


if __name__ == "__main__":
    main()
