r"""The inference job: forecasting per partition key, global scores, observer instructions.

Graph (:func:`build_graph`)::

    input JSON --(JVM: per-shard batches keyed by shard, event_batches)--+
                                                                         +--EngineProcess--> delta batches
    enginesync JSON --ParseMessages--> EngineSync --broadcast------------+        \--> forecasts (side,
                                                                                       JSON lines)
    delta batches --key_by(global_key)--> ScoreAggregator (p=1) --> scores
    scores --key_by(global_key)--> ObserverProcess (p=1) --> instructions
    dead letters: undecodable events and engine failures (engine), bad control records, unloadable models

``python -m inference_job.main`` runs it against Kafka with the environment's :class:`Settings`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pyflink.common import Types
from pyflink.datastream import DataStream, StreamExecutionEnvironment

from flink_common.dead_letters import write_dead_letters
from flink_common.io import read_topic, table_env, write_topic
from flink_common.job import run_job
from flink_common.latency import set_bundle_time
from inference_job.domain import event_model, partition_attribute, ticks_per_second
from inference_job.engine_process import CONTROL_STATE, FORECASTS, EngineProcess
from inference_job.event_batches import batch_in_jvm, key_by_shard, split_lines_in_jvm
from inference_job.lifecycle import ModelRef
from inference_job.models import resolve_initial_model
from inference_job.observer import ObserverConfig
from inference_job.observer_process import ObserverProcess
from inference_job.parse_messages import DEAD_LETTERS, JOB_NAME, ParseMessages
from inference_job.score_aggregator import ScoreAggregator, global_key
from protocol.messages import EngineSync
from protocol.settings import OutputGuarantee, Settings

__all__ = [
    "BUFFER_TIMEOUT_MS",
    "BUNDLE_TIME_MS",
    "apply_latency_defaults",
    "build_graph",
    "build_pipeline",
    "main",
]

BUNDLE_TIME_MS = 50
"""Python bundle time of this job (ms) when ``PYTHON_BUNDLE_TIME_MS`` is not set."""
BUFFER_TIMEOUT_MS = 10
"""Network buffer timeout of this job (ms) when ``BUFFER_TIMEOUT_MS`` is not set."""


def build_graph(
    batches: DataStream,
    control: DataStream,
    settings: Settings,
    *,
    initial: ModelRef,
    loader: Callable[[str], Any] | None = None,
) -> dict[str, DataStream]:
    """Wire the job on event batches (:mod:`~inference_job.event_batches`) and raw engine-sync JSON.

    Returns the forecasts (JSON lines, one record per engine call: see
    :func:`~inference_job.event_batches.split_lines`), scores, instructions and dead_letters streams.
    """
    syncs = control.process(ParseMessages(EngineSync, settings.sync_topic)).name("parse-enginesync")

    ticks = ticks_per_second(settings)
    attribute = partition_attribute(settings)
    engine = EngineProcess(
        initial,
        event_model=event_model(settings),
        partition_attribute=attribute,
        ticks_per_second=ticks,
        registry_path=str(settings.registry_path),
        loader=loader,
        models_dir=str(settings.models_dir),
        max_model_bytes=settings.max_model_bytes,
        batch_size=settings.score_batch_size,
        flush_ms=settings.score_flush_ms,
        pause_timeout_ms=settings.pause_timeout_ms,
        max_pause_buffer=settings.max_pause_buffer,
        input_topic=settings.input_topic,
        sync_topic=settings.sync_topic,
    )
    deltas = (
        key_by_shard(batches)
        .connect(syncs.broadcast(CONTROL_STATE))
        .process(engine, output_type=Types.STRING())
        .name("engine")
        .uid("inference-engine")
    )

    scores = (
        deltas.key_by(global_key, key_type=Types.STRING())
        .process(
            ScoreAggregator(
                settings.reporting_interval_s * ticks,
                delay_ticks=settings.watermark_delay_s * ticks,
                hold_ms=settings.score_hold_ms,
                ahead_ticks=settings.max_event_ahead_s * ticks,
                quorum=settings.anchor_quorum,
            ),
            output_type=Types.STRING(),
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
    dead_letters = syncs.get_side_output(DEAD_LETTERS).union(deltas.get_side_output(DEAD_LETTERS))
    return {
        "forecasts": deltas.get_side_output(FORECASTS),
        "scores": scores,
        "instructions": instructions,
        "dead_letters": dead_letters,
    }


def apply_latency_defaults(env: StreamExecutionEnvironment, settings: Settings) -> None:
    """Unless ``settings`` say otherwise, Python bundles end after :data:`BUNDLE_TIME_MS` and network
    buffers are flushed after :data:`BUFFER_TIMEOUT_MS`.

    With batched input a short bundle costs little throughput, and it is what keeps an event's forecast
    within a second (docs/inference_job.md, Performance). Must run before any operator is added.
    """
    if settings.python_bundle_time_ms is None:
        set_bundle_time(env, BUNDLE_TIME_MS)
    if settings.buffer_timeout_ms is None:
        env.set_buffer_timeout(BUFFER_TIMEOUT_MS)


def build_pipeline(env: StreamExecutionEnvironment, settings: Settings) -> dict[str, DataStream]:
    """Kafka sources -> :func:`build_graph` -> Kafka sinks (topic names from ``settings``).

    The job's latency defaults apply (:func:`apply_latency_defaults`).
    """
    apply_latency_defaults(env, settings)
    t_env = table_env(env)
    events = read_topic(env, settings, settings.input_topic, group="inference-input")
    batches = batch_in_jvm(
        t_env,
        events,
        partition_attribute(settings),
        settings.engine_shards,
        settings.event_batch_ms,
    )
    control = read_topic(env, settings, settings.sync_topic, group="inference-enginesync")
    outputs = build_graph(batches, control, settings, initial=resolve_initial_model(settings))
    exactly_once = settings.output_guarantee is OutputGuarantee.EXACTLY_ONCE
    write_topic(split_lines_in_jvm(outputs["forecasts"]), settings, settings.forecast_topic,
                exactly_once=exactly_once)  # fmt: skip
    write_topic(outputs["scores"], settings, settings.score_topic, exactly_once=exactly_once)
    write_topic(outputs["instructions"], settings, settings.instruction_topic)
    write_dead_letters(outputs["dead_letters"], settings)
    return outputs


def main(argv: Sequence[str] | None = None) -> None:
    """Run the job with the environment's settings (extra arguments are left to Flink)."""
    run_job(JOB_NAME, __doc__, build_pipeline, argv, prog="python -m inference_job.main")


if __name__ == "__main__":
    main()
