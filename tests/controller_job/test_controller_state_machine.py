"""The controller state machine, driven with a fake factory (no Flink, no Kafka)."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import replace

import pytest
from controller_fakes import (
    CHEAP,
    FakeFactory,
    commands,
    drive,
    error_reply,
    instruction,
    of_type,
    syncs,
)

from controller_job.optimizer import HyperparameterOptimiser
from controller_job.state_machine import (
    CancelTimer,
    ControllerConfig,
    ControllerState,
    Ignored,
    Note,
    OptimiserCache,
    Phase,
    ScheduleTimer,
    Timeout,
    controller_key_of_report,
    parse_command_id,
    step,
)
from protocol.messages import (
    CommandType,
    FactoryReport,
    Hyperparameters,
    InstructionType,
    MetricSet,
    ReportStatus,
    SyncType,
)
from protocol.settings import load_settings

IDLE = ControllerState()
TS = 1_447_884_005


def ignored_reasons(outputs: list) -> list[str]:
    return [o.reason for o in of_type(outputs, Ignored)]


# ------------------------------------------------------------------------------------------ happy paths


def test_optimise_session_of_fifteen_steps_with_the_default_optimiser() -> None:
    factory = FakeFactory()
    state, outputs = drive(IDLE, instruction("i1"), factory, config=ControllerConfig())

    sent = commands(outputs)
    assert [c.type for c in sent] == [CommandType.OPT_INITIALISE] + [CommandType.OPT_STEP] * 15 + [
        CommandType.OPT_FINALISE
    ]
    assert [c.id for c in sent] == [f"default#1.{n}" for n in range(17)]
    assert [c.step for c in sent[1:16]] == list(range(15))
    assert all(c.session_id == "default#1" and c.timestamp == TS for c in sent)
    objectives = [factory.objective(c.params) for c in sent[1:16]]
    best = objectives.index(min(objectives))
    assert sent[16].best_step == best and sent[16].params == sent[1 + best].params

    pause, play = syncs(outputs)
    assert (pause.type, pause.model_id, pause.timestamp, pause.instruction_id) == (
        SyncType.PAUSE,
        None,
        TS,
        "i1",
    )
    assert (play.type, play.model_id, play.model_path) == (
        SyncType.PLAY,
        "wayeb_15",
        "/data/models/wayeb_15.spst",
    )
    assert (play.production_time, play.timestamp, play.instruction_id) == (5103.0, TS, "i1")
    assert len(of_type(outputs, ScheduleTimer)) == len(of_type(outputs, CancelTimer)) == 16

    assert (state.phase, state.session, state.session_counter) == (Phase.IDLE, None, 1)
    assert state.current_best == sent[1 + best].params and state.current_model_id == "wayeb_15"
    optimiser = HyperparameterOptimiser.from_snapshot(state.optimiser_snapshot)
    assert optimiser.sessions_started == 1 and len(optimiser.history[0]) == 15


def test_retrain_sends_train_with_the_current_best_params_wrapped_in_pause_play() -> None:
    state, outputs = drive(IDLE, instruction("r1", InstructionType.RETRAIN), FakeFactory())
    (train,) = commands(outputs)
    assert (train.type, train.id, train.params) == (CommandType.TRAIN, "default#1.0", CHEAP.default_params)
    assert [(s.type, s.model_id) for s in syncs(outputs)] == [
        (SyncType.PAUSE, None),
        (SyncType.PLAY, "wayeb_0"),
    ]
    assert syncs(outputs)[1].production_time == 117.0
    assert state.phase is Phase.IDLE and state.current_model_path == "/data/models/wayeb_0.spst"

    best = Hyperparameters(confidence=0.18, order=5, p_min=0.0001, gamma=0.00076)
    state, outputs = drive(
        state.model_copy(update={"current_best": best}),
        instruction("r2", InstructionType.RETRAIN),
        FakeFactory(),
    )
    (train,) = commands(outputs)
    assert train.params == best and train.id == "default#2.0"


def test_finalised_params_become_the_current_best_for_later_retrains() -> None:
    factory = FakeFactory()
    state, _ = drive(IDLE, instruction("o1"), factory)
    finalise = factory.received[-1]
    assert finalise.type is CommandType.OPT_FINALISE
    assert state.current_best == factory.steps[finalise.best_step]
    state, outputs = drive(state, instruction("r1", InstructionType.RETRAIN), factory)
    assert commands(outputs)[0].params == factory.steps[finalise.best_step]


def test_objective_falls_back_to_minus_mcc() -> None:
    state, outputs = step(IDLE, instruction(), 0, config=CHEAP)
    first_step = commands(outputs)[1]
    report = FactoryReport(
        reply_id=first_step.id,
        command_type=CommandType.OPT_STEP,
        status=ReportStatus.SUCCESS,
        metrics=MetricSet(mcc=0.42),
    )
    state, _ = step(state, report, 0, config=CHEAP)
    optimiser = HyperparameterOptimiser.from_snapshot(state.optimiser_snapshot)
    assert optimiser.session is not None and optimiser.session.ys == [-0.42]


# --------------------------------------------------------------------------------------- failure paths


def test_error_report_aborts_the_session_and_plays_the_previous_model() -> None:
    state, outputs = step(IDLE, instruction(), 0, config=CHEAP)
    first_step = commands(outputs)[1]
    state, outputs = step(state, error_reply(first_step, "too few events"), 5, config=CHEAP)
    (play,) = syncs(outputs)
    assert (play.type, play.model_id, play.model_path) == (SyncType.PLAY, None, None)
    assert of_type(outputs, CancelTimer) == [CancelTimer(1_000)]
    assert any("too few events" in n.message for n in of_type(outputs, Note))
    assert (state.phase, state.session) == (Phase.IDLE, None)
    optimiser = HyperparameterOptimiser.from_snapshot(state.optimiser_snapshot)
    assert optimiser.session is None  # the next session starts cleanly


def test_failed_opt_initialise_aborts() -> None:
    state, outputs = step(IDLE, instruction(), 0, config=CHEAP)
    init = commands(outputs)[0]
    state, outputs = step(state, error_reply(init), 0, config=CHEAP)
    assert [s.model_id for s in syncs(outputs)] == [None] and state.phase is Phase.IDLE


def test_missing_report_is_retried_then_the_session_aborted() -> None:
    state, outputs = step(IDLE, instruction(), 100, config=CHEAP)
    init, first_step = commands(outputs)
    assert of_type(outputs, ScheduleTimer) == [ScheduleTimer(1_100)]

    state, outputs = step(state, Timeout(deadline_ms=1_100), 500, config=CHEAP)
    assert ignored_reasons(outputs) == ["stale_timer"]  # fired early: nothing happens
    state, outputs = step(state, Timeout(deadline_ms=999), 1_200, config=CHEAP)
    assert ignored_reasons(outputs) == ["stale_timer"]  # not the current deadline

    state, outputs = step(state, Timeout(deadline_ms=1_100), 1_100, config=CHEAP)
    assert commands(outputs) == [init, first_step]  # same ids: the factory de-duplicates
    assert of_type(outputs, ScheduleTimer) == [ScheduleTimer(2_100)]
    assert state.session is not None and state.session.pending.attempts == 2

    state, outputs = step(state, Timeout(deadline_ms=2_100), 2_100, config=CHEAP)
    assert [(s.type, s.model_id) for s in syncs(outputs)] == [(SyncType.PLAY, None)]
    assert commands(outputs) == [] and state.phase is Phase.IDLE

    late = FakeFactory().reply(first_step)
    state, outputs = step(state, late, 3_000, config=CHEAP)
    assert ignored_reasons(outputs) == ["stale_report"] and state.phase is Phase.IDLE


def test_retry_recovers_when_the_late_report_arrives() -> None:
    state, outputs = step(IDLE, instruction("r1", InstructionType.RETRAIN), 0, config=CHEAP)
    (train,) = commands(outputs)
    state, outputs = step(state, Timeout(deadline_ms=1_000), 1_000, config=CHEAP)
    assert commands(outputs) == [train]
    state, outputs = drive(state, FakeFactory().reply(train), None)
    assert [s.model_id for s in syncs(outputs)] == ["wayeb_0"] and state.phase is Phase.IDLE


# ------------------------------------------------------------------------------ report correlation


def test_stale_duplicate_and_unknown_reports_are_ignored() -> None:
    factory = FakeFactory()
    state, outputs = step(IDLE, instruction(), 0, config=CHEAP)
    init, first_step = commands(outputs)
    answer = factory.reply(first_step)
    state, _ = step(state, factory.reply(init), 0, config=CHEAP)
    state, outputs = step(state, answer, 0, config=CHEAP)
    (second_step,) = commands(outputs)
    before = state

    for report, reason in [
        (answer, "duplicate_report"),
        (answer.model_copy(update={"reply_id": "cmd-7"}), "unknown_report"),
        (answer.model_copy(update={"reply_id": "default#0.3"}), "stale_report"),
    ]:
        state, outputs = step(state, report, 0, config=CHEAP)
        assert ignored_reasons(outputs) == [reason]
        assert commands(outputs) == [] and syncs(outputs) == []
        assert state == before  # nothing changed

    state, outputs = drive(state, factory.reply(second_step), factory)
    assert syncs(outputs)[-1].type is SyncType.PLAY and state.phase is Phase.IDLE
    state, outputs = step(
        state, answer.model_copy(update={"reply_id": "default#1.1", "step": 9}), 0, config=CHEAP
    )
    assert ignored_reasons(outputs) == ["duplicate_report"]


def test_report_far_beyond_the_counters_is_impossible_and_takes_no_buffer_slot() -> None:
    factory = FakeFactory()
    state, outputs = step(IDLE, instruction(), 0, config=CHEAP)
    init, first_step = commands(outputs)
    genuine = factory.reply(first_step)
    limit = CHEAP.max_counter_step
    for reply_id in (f"default#{2 + limit}.0", f"default#{2**53 - 1}.0", f"default#1.{3 + limit}"):
        forged = genuine.model_copy(update={"reply_id": reply_id})
        after, outputs = step(state, forged, 0, config=CHEAP)
        assert ignored_reasons(outputs) == ["impossible_report"] and after == state
    ahead = genuine.model_copy(update={"reply_id": f"default#{1 + limit}.0"})  # just within the bound
    after, outputs = step(state, ahead, 0, config=CHEAP)
    assert after.early_reports == (ahead,) and ignored_reasons(outputs) == []
    state, outputs = step(state, genuine, 0, config=CHEAP)  # the session goes on as before
    assert ignored_reasons(outputs) == [] and commands(outputs)


def test_report_before_its_command_is_buffered_and_used() -> None:
    early = FakeFactory().reply(
        commands(step(IDLE, instruction("r1", InstructionType.RETRAIN), 0, config=CHEAP)[1])[0]
    )
    state, outputs = step(IDLE, early, 0, config=CHEAP)
    assert state.early_reports == (early,) and commands(outputs) == []
    state, outputs = step(state, instruction("r1", InstructionType.RETRAIN), 0, config=CHEAP)
    assert [c.type for c in commands(outputs)] == [CommandType.TRAIN]
    assert [(s.type, s.model_id) for s in syncs(outputs)] == [
        (SyncType.PAUSE, None),
        (SyncType.PLAY, "wayeb_0"),
    ]
    assert state.early_reports == () and state.phase is Phase.IDLE


def test_early_opt_initialise_answers_are_used() -> None:
    init = commands(step(IDLE, instruction("o1"), 0, config=CHEAP)[1])[0]
    buffered, _ = step(IDLE, FakeFactory().reply(init), 0, config=CHEAP)
    state, outputs = step(buffered, instruction("o1"), 0, config=CHEAP)
    assert [c.type for c in commands(outputs)] == [CommandType.OPT_INITIALISE, CommandType.OPT_STEP]
    assert any("acknowledged" in n.message for n in of_type(outputs, Note)) and state.early_reports == ()

    buffered, _ = step(IDLE, error_reply(init), 0, config=CHEAP)
    state, outputs = step(buffered, instruction("o1"), 0, config=CHEAP)
    assert [c.type for c in commands(outputs)] == [CommandType.OPT_INITIALISE]  # no step after the error
    assert [(s.type, s.model_id) for s in syncs(outputs)] == [(SyncType.PAUSE, None), (SyncType.PLAY, None)]
    assert state.phase is Phase.IDLE and state.session is None


def test_report_keys_and_command_ids() -> None:
    assert parse_command_id("port#a#12.3") == ("port#a", 12, 3)
    assert parse_command_id("cmd-1") is None
    report = FactoryReport(reply_id="x", command_type=CommandType.TRAIN, status=ReportStatus.ERROR)
    assert controller_key_of_report(report.model_copy(update={"session_id": "fish#4"})) == "fish"
    assert controller_key_of_report(report.model_copy(update={"reply_id": "fish#4.0"})) == "fish"
    assert controller_key_of_report(report) == ""


# --------------------------------------------------------------------------------------- instructions


def test_instructions_arriving_while_busy_are_queued_and_run_afterwards() -> None:
    factory = FakeFactory()
    state, outputs = step(IDLE, instruction("o1"), 0, config=CHEAP)
    pending = deque(factory.reply(c) for c in commands(outputs))
    state, outputs = step(state, instruction("r1", InstructionType.RETRAIN), 0, config=CHEAP)
    assert [q.id for q in state.queue] == ["r1"] and commands(outputs) == []

    all_outputs = []
    while pending:
        state, outputs = step(state, pending.popleft(), 0, config=CHEAP)
        all_outputs.extend(outputs)
        pending.extend(factory.reply(c) for c in commands(outputs))
    kinds = [c.type for c in commands(all_outputs)]
    assert kinds[-2:] == [CommandType.OPT_FINALISE, CommandType.TRAIN]
    assert [(s.type, s.instruction_id) for s in syncs(all_outputs)] == [
        (SyncType.PLAY, "o1"),
        (SyncType.PAUSE, "r1"),
        (SyncType.PLAY, "r1"),
    ]
    assert commands(all_outputs)[-1].id == "default#2.0" and state.queue == () and state.phase is Phase.IDLE


def test_duplicate_instruction_is_idempotent() -> None:
    state, outputs = step(IDLE, instruction("o1"), 0, config=CHEAP)
    for _ in range(2):
        after, outputs = step(state, instruction("o1"), 0, config=CHEAP)
        assert ignored_reasons(outputs) == ["duplicate_instruction"] and after == state
    state, _ = step(state, instruction("r1", InstructionType.RETRAIN), 0, config=CHEAP)
    after, outputs = step(state, instruction("r1", InstructionType.RETRAIN), 0, config=CHEAP)
    assert ignored_reasons(outputs) == ["duplicate_instruction"] and len(after.queue) == 1

    done, _ = drive(IDLE, instruction("r9", InstructionType.RETRAIN), FakeFactory())
    again, outputs = step(done, instruction("r9", InstructionType.RETRAIN), 0, config=CHEAP)
    assert ignored_reasons(outputs) == ["duplicate_instruction"] and again == done


# ------------------------------------------------------------------------------------------- restarts


def test_restart_mid_session_from_serialised_state_continues_identically() -> None:
    config = replace(CHEAP, optimiser=replace(CHEAP.optimiser, n_initial_points=2))  # GP fits from step 2

    def run(restart_after: int | None) -> list:
        factory = FakeFactory()
        cache = OptimiserCache()
        state, outputs = step(IDLE, instruction(), 0, config=config, optimisers=cache)
        sent = commands(outputs)
        inbox = deque(factory.reply(c) for c in sent)
        handled = 0
        while inbox:
            if handled == restart_after:  # a new process: state from its JSON, no live optimiser
                state, cache = ControllerState.from_json(state.to_json()), OptimiserCache()
            state, outputs = step(state, inbox.popleft(), 0, config=config, optimisers=cache)
            handled += 1
            sent.extend(commands(outputs))
            inbox.extend(factory.reply(c) for c in commands(outputs))
        assert state.phase is Phase.IDLE
        return sent

    uninterrupted = run(None)
    restarted = run(2)  # after the init ack and the first step report: step 2 comes from a restored GP
    assert [c.type for c in uninterrupted][-1] is CommandType.OPT_FINALISE
    assert restarted == uninterrupted


def test_state_round_trips_through_json() -> None:
    state, _ = step(IDLE, instruction("o1"), 0, config=CHEAP)
    state, _ = step(state, instruction("r1", InstructionType.RETRAIN), 0, config=CHEAP)
    assert ControllerState.from_json(state.to_json()) == state
    with pytest.raises(TypeError):
        step(state, "not a message", 0, config=CHEAP)  # type: ignore[arg-type]


def test_config_from_settings_reads_timeouts_defaults_and_prior_samples(tmp_path) -> None:
    prior = tmp_path / "prior.json"
    row = {"params": {"confidence": 0.2, "order": 3, "p_min": 0.001, "gamma": 0.002}, "objective": -0.5}
    prior.write_text(json.dumps([row]))
    settings = load_settings(
        report_timeout_s=2.5, report_retries=3, threshold=0.4, order=3, optimiser_prior_path=prior,
        max_counter_step=7,
    )  # fmt: skip
    config = ControllerConfig.from_settings(settings)
    assert (config.report_timeout_ms, config.report_retries, config.max_counter_step) == (2_500, 3, 7)
    assert config.default_params == Hyperparameters(confidence=0.4, order=3, p_min=0.001, gamma=0.001)
    assert config.prior_samples == (((0.2, 3, 0.001, 0.002), -0.5),)


def test_retrain_defaults_to_the_registered_current_model_params(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from controller_job.state import ControllerConfig
    from protocol import CreationMethod, Hyperparameters, load_settings
    from shared_volume.registry import RegistryEntry, publish

    settings = load_settings(data_dir=tmp_path)
    assert ControllerConfig.from_settings(settings).default_params.order == settings.order
    tuned = Hyperparameters(confidence=0.27, order=4, p_min=0.0002, gamma=0.0026)
    entry = RegistryEntry(
        model_id="initial", path=str(tmp_path / "m.spst"), params=tuned,
        creation_method=CreationMethod.INITIAL, production_time=1.0, created_at=0.0,
    )  # fmt: skip
    publish(settings.registry_path, entry, make_current=True)
    assert ControllerConfig.from_settings(settings).default_params == tuned
