"""Controller job: observer instructions + factory reports -> factory commands and engine syncs.

Graph (``build_graph``)::

    instructions ─> ParseMessages ─┐                                ┌─> factory_commands (side output)
                                   ├─ key model_id ─> Controller ───┼─> enginesync       (side output)
    factory_reports ─> ParseMessages┘                               └─> dead_letters     (side output)

``build_pipeline`` wires the graph to the Kafka topics named by :class:`Settings`; ``main`` reads settings
from the environment and runs the job as ``controller_job``. Both sources start from the *latest* offset on a
first start and from the checkpointed offsets on a restore: without state, old instructions would start
sessions again and old reports could not be matched to anything (a fault of the Flink design this port
avoids).
"""

from __future__ import annotations

from collections.abc import Sequence

from pyflink.common import Types
from pyflink.datastream import DataStream, StreamExecutionEnvironment

from controller_job.controller_process import ControllerProcess, instruction_key, report_key
from controller_job.parse_messages import JOB_NAME, ParseMessages
from controller_job.state import ControllerConfig
from flink_common.dead_letters import write_dead_letters
from flink_common.io import read_topic, string_tag, write_topic
from flink_common.job import run_job
from flink_common.latency import CONTROL_PLANE_BUNDLE_TIME_MS
from protocol.messages import FactoryReport, Instruction
from protocol.settings import Settings, load_settings

__all__ = [
    "COMMANDS_TAG",
    "DEAD_LETTER_TAG",
    "JOB_NAME",
    "SYNCS_TAG",
    "build_graph",
    "build_pipeline",
    "main",
]

COMMANDS_TAG = "factory_commands"
SYNCS_TAG = "enginesync"
DEAD_LETTER_TAG = "dead_letters"


def build_graph(
    instructions_raw: DataStream,
    reports_raw: DataStream,
    settings: Settings | None = None,
    *,
    config: ControllerConfig | None = None,
) -> tuple[DataStream, DataStream, DataStream]:
    """Wire the controller on raw JSON streams; returns (commands, syncs, dead letters), all strings."""
    settings = settings or load_settings()
    config = config or ControllerConfig.from_settings(settings)
    commands_tag, syncs_tag = string_tag(COMMANDS_TAG), string_tag(SYNCS_TAG)
    dead_tag = string_tag(DEAD_LETTER_TAG)
    instructions = (
        instructions_raw.process(
            ParseMessages(Instruction, settings.instruction_topic, dead_tag), output_type=Types.STRING()
        )
        .name("parse-instructions")
        .uid("controller-parse-instructions")
    )
    reports = (
        reports_raw.process(
            ParseMessages(FactoryReport, settings.report_topic, dead_tag), output_type=Types.STRING()
        )
        .name("parse-reports")
        .uid("controller-parse-reports")
    )
    controller = (
        instructions.connect(reports)
        .key_by(instruction_key, report_key, key_type=Types.STRING())
        .process(
            ControllerProcess(
                config,
                commands_tag,
                syncs_tag,
                dead_tag,
                topics=(settings.instruction_topic, settings.report_topic),
            ),
            output_type=Types.STRING(),
        )
        .name("controller")
        .uid("controller-process")
    )
    dead_letters = instructions.get_side_output(dead_tag).union(
        reports.get_side_output(dead_tag), controller.get_side_output(dead_tag)
    )
    return controller.get_side_output(commands_tag), controller.get_side_output(syncs_tag), dead_letters


def build_pipeline(env: StreamExecutionEnvironment, settings: Settings) -> None:
    """The controller on Kafka: instruction + report topics in; command, sync and dead-letter topics out."""
    instructions = read_topic(
        env, settings, settings.instruction_topic, group="controller-instructions", from_latest=True
    )
    reports = read_topic(env, settings, settings.report_topic, group="controller-reports", from_latest=True)
    commands, syncs, dead_letters = build_graph(instructions, reports, settings)
    write_topic(commands, settings, settings.command_topic)
    write_topic(syncs, settings, settings.sync_topic)
    write_dead_letters(dead_letters, settings)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the controller job with settings from the environment."""
    run_job(JOB_NAME, __doc__, build_pipeline, argv, bundle_time_ms=CONTROL_PLANE_BUNDLE_TIME_MS)


if __name__ == "__main__":
    main()
