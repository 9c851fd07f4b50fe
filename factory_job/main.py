"""Factory job: controller commands + collector dataset versions -> reports, assembly ACKs, models.

Graph (``build_graph``)::

    factory_commands ──┐                                      ┌─> factory_reports   (main output)
                       ├─ key "factory" ─> FactoryProcess ────┼─> assembly_reports  (side output)
    datasets ──────────┘                                      └─> dead_letters      (side output)

``build_pipeline`` wires the graph to the Kafka topics named by :class:`Settings`; ``main`` reads settings
from the environment and runs the job as ``factory_job``. Both sources start from the earliest offset on a
first start (commands and datasets sent before the factory came up are not lost) and from the checkpointed
offsets on a restore; replays are harmless because commands and datasets are idempotent in the state.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyflink.common import Types
from pyflink.datastream import DataStream, StreamExecutionEnvironment

from factory_job.factory_process import FactoryProcess, ToolsFactory, factory_key, volume_tools
from factory_job.factory_state import JOB_NAME
from flink_common.dead_letters import write_dead_letters
from flink_common.io import read_topic, string_tag, write_topic
from flink_common.job import run_job
from flink_common.latency import CONTROL_PLANE_BUNDLE_TIME_MS
from protocol.settings import Settings

__all__ = ["ASSEMBLY_TAG", "DEAD_LETTER_TAG", "build_graph", "build_pipeline", "main"]

ASSEMBLY_TAG = "assembly_reports"
DEAD_LETTER_TAG = "dead_letters"


def build_graph(
    commands_raw: DataStream,
    datasets_raw: DataStream,
    settings: Settings,
    *,
    tools_factory: ToolsFactory = volume_tools,
) -> tuple[DataStream, DataStream, DataStream]:
    """Wire the factory on raw JSON streams; returns (reports, assembly ACKs, dead letters), all strings."""
    assembly_tag = string_tag(ASSEMBLY_TAG)
    dead_tag = string_tag(DEAD_LETTER_TAG)
    reports = (
        commands_raw.connect(datasets_raw)
        .key_by(factory_key, factory_key, key_type=Types.STRING())
        .process(FactoryProcess(settings, assembly_tag, dead_tag, tools_factory), output_type=Types.STRING())
        .name("factory")
        .uid("factory-process")
        .set_parallelism(1)
    )
    return reports, reports.get_side_output(assembly_tag), reports.get_side_output(dead_tag)


def build_pipeline(env: StreamExecutionEnvironment, settings: Settings) -> None:
    """The factory on Kafka: command + dataset topics in; report, assembly and dead-letter topics out."""
    commands_raw = read_topic(env, settings, settings.command_topic, group="factory-commands")
    datasets_raw = read_topic(env, settings, settings.datasets_topic, group="factory-datasets")
    reports, acks, dead_letters = build_graph(commands_raw, datasets_raw, settings)
    write_topic(reports, settings, settings.report_topic)
    write_topic(acks, settings, settings.assembly_topic)
    write_dead_letters(dead_letters, settings)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the factory job with settings from the environment."""
    run_job(JOB_NAME, __doc__, build_pipeline, argv, bundle_time_ms=CONTROL_PLANE_BUNDLE_TIME_MS)


if __name__ == "__main__":
    main()
