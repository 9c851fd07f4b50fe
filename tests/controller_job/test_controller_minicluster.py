"""The controller graph in a local MiniCluster on bounded collections.

The two inputs race, so the reports are written up front with the command ids the controller will use
(``default#<session>.<n>``): whichever arrives first, a report is either the answer to the awaited command
or buffered until that command is sent. The expected output is therefore the same in every interleaving.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from controller_fakes import CHEAP
from pyflink.common import Types

from controller_job.main import build_graph
from flink_common.io import make_env
from protocol.codec import decode, encode
from protocol.messages import (
    CommandType,
    CreationMethod,
    DeadLetter,
    EngineSync,
    FactoryCommand,
    FactoryReport,
    Hyperparameters,
    Instruction,
    InstructionType,
    ReportStatus,
    SyncType,
)
from protocol.settings import Settings

FINAL = Hyperparameters(confidence=0.18, order=5, p_min=0.0001, gamma=0.00076)


def report(reply_id: str, kind: CommandType, **fields: object) -> str:
    session = reply_id.rsplit(".", 1)[0]
    message = FactoryReport(
        reply_id=reply_id, command_type=kind, status=ReportStatus.SUCCESS, session_id=session, **fields
    )
    return encode(message)


@pytest.mark.minicluster
def test_retrain_then_optimise_produce_the_expected_commands_and_syncs() -> None:
    settings = Settings(parallelism=1)
    # a long report timeout: processing-time timers do fire while the job runs, and a retry would add commands
    config = replace(CHEAP, optimiser=replace(CHEAP.optimiser, steps=2), report_timeout_ms=600_000)
    instructions = [
        encode(Instruction(id="r1", type=InstructionType.RETRAIN, timestamp=100)),
        "not json",
        encode(Instruction(id="o1", type=InstructionType.OPTIMIZE, timestamp=200)),
        encode(Instruction(id="r1", type=InstructionType.RETRAIN, timestamp=100)),  # duplicate: no-op
    ]
    reports = [
        report(
            "default#1.0",
            CommandType.TRAIN,
            model_id="wayeb_0",
            model_path="/m/wayeb_0.spst",
            production_time=7.5,
        ),
        report(
            "default#1.0", CommandType.TRAIN, model_id="wayeb_0", model_path="/m/wayeb_0.spst"
        ),  # duplicate
        report("default#2.0", CommandType.OPT_INITIALISE),
        report("default#2.1", CommandType.OPT_STEP, step=0, objective=-0.3),
        report("default#2.2", CommandType.OPT_STEP, step=1, objective=-0.6),
        report(
            "default#2.3",
            CommandType.OPT_FINALISE,
            model_id="wayeb_3",
            model_path="/m/wayeb_3.spst",
            creation_method=CreationMethod.OPTIMISATION,
            params=FINAL,
            production_time=42.0,
        ),
        json.dumps({"reply_id": 5}),
    ]
    env = make_env(settings, with_kafka=False)
    commands, syncs, dead_letters = build_graph(
        env.from_collection(instructions, type_info=Types.STRING()),
        env.from_collection(reports, type_info=Types.STRING()),
        settings,
        config=config,
    )
    tagged = (
        commands.map(lambda s: "C" + s, output_type=Types.STRING())
        .union(syncs.map(lambda s: "S" + s, output_type=Types.STRING()))
        .union(dead_letters.map(lambda s: "D" + s, output_type=Types.STRING()))
    )
    with tagged.execute_and_collect() as results:
        collected = list(results)

    sent = [decode(FactoryCommand, r[1:]) for r in collected if r[0] == "C"]
    assert [(c.id, c.type, c.step, c.best_step) for c in sent] == [
        ("default#1.0", CommandType.TRAIN, -1, -1),
        ("default#2.0", CommandType.OPT_INITIALISE, -1, -1),
        ("default#2.1", CommandType.OPT_STEP, 0, -1),
        ("default#2.2", CommandType.OPT_STEP, 1, -1),
        ("default#2.3", CommandType.OPT_FINALISE, -1, 1),
    ]
    assert sent[0].params == config.default_params and sent[0].timestamp == 100
    assert all(c.timestamp == 200 for c in sent[1:])

    synced = [decode(EngineSync, r[1:]) for r in collected if r[0] == "S"]
    assert [(s.type, s.instruction_id, s.model_id, s.model_path, s.production_time) for s in synced] == [
        (SyncType.PAUSE, "r1", None, None, 0.0),
        (SyncType.PLAY, "r1", "wayeb_0", "/m/wayeb_0.spst", 7.5),
        (SyncType.PAUSE, "o1", None, None, 0.0),
        (SyncType.PLAY, "o1", "wayeb_3", "/m/wayeb_3.spst", 42.0),
    ]

    dead = [decode(DeadLetter, r[1:]) for r in collected if r[0] == "D"]
    assert sorted(d.source_topic for d in dead) == [settings.report_topic, settings.instruction_topic]
    assert all(d.job == "controller_job" for d in dead)
