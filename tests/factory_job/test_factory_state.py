"""The factory state machine, with the side effects faked: queueing, idempotence, locks, sessions, errors."""

from __future__ import annotations

from factory_fakes import FakeTools, command, dataset, params

from factory_job.factory_state import initial_state, load_state, next_deadline, step, store_state
from factory_job.state import Channel, Emit, FactoryState, Tick
from protocol.codec import encode
from protocol.messages import (
    AssemblyAck,
    CommandType,
    CreationMethod,
    DatasetVersion,
    DeadLetter,
    FactoryReport,
    ReportStatus,
)
from protocol.settings import Settings

T = CommandType


def run(
    state: FactoryState, messages: list, settings: Settings, tools: FakeTools
) -> tuple[FactoryState, list[Emit]]:
    """Feed messages one by one, round-tripping the state through JSON as the Flink wrapper does."""
    outputs: list[Emit] = []
    for message in messages:
        state, emitted = step(state, message, settings, tools)
        state = load_state(store_state(state))
        outputs.extend(emitted)
    return state, outputs


def reports(outputs: list[Emit]) -> list[FactoryReport]:
    return [e.message for e in outputs if e.channel is Channel.REPORT]


def acks(outputs: list[Emit]) -> list[AssemblyAck]:
    return [e.message for e in outputs if e.channel is Channel.ASSEMBLY]


def letters(outputs: list[Emit]) -> list[DeadLetter]:
    return [e.message for e in outputs if e.channel is Channel.DEAD_LETTER]


def optimisation(session: str = "s1", p_mins: tuple[float, ...] = (0.01, 0.05, 0.03), best: int = 1) -> list:
    msgs = [command(f"{session}-init", T.OPT_INITIALISE, session=session)]
    msgs += [
        command(f"{session}-step{i}", T.OPT_STEP, session=session, step=i, p=params(p))
        for i, p in enumerate(p_mins)
    ]
    msgs.append(command(f"{session}-final", T.OPT_FINALISE, session=session, best=best))
    return msgs


# ------------------------------------------------------------------------------------------ datasets


def test_dataset_is_assembled_acknowledged_and_becomes_current(settings, tools):
    state, out = run(initial_state(), [dataset(0)], settings, tools)
    assert state.current is not None and state.current.version == 0
    assert [a.version for a in acks(out)] == [0]
    assert acks(out)[0].dataset_path == state.current.path
    assert tools.kept[-1] == [state.current.path]


def test_newer_dataset_replaces_current_and_older_is_deleted(settings, tools):
    state, out = run(initial_state(), [dataset(0), dataset(1)], settings, tools)
    assert state.current.version == 1
    assert tools.kept[-1] == ["/vol/datasets/dataset_v1.csv"]


def test_redelivered_current_dataset_is_reacknowledged_without_reassembly(settings, tools):
    state, out = run(initial_state(), [dataset(3), dataset(3)], settings, tools)
    assert tools.assembled == [3]
    assert [a.version for a in acks(out)] == [3, 3]


def test_older_dataset_is_ignored(settings, tools):
    state, out = run(initial_state(), [dataset(3), dataset(2)], settings, tools)
    assert state.current.version == 3
    assert tools.assembled == [3] and len(acks(out)) == 1


def test_missing_bucket_goes_to_dead_letters_and_dataset_is_still_assembled(settings, tools):
    tools.missing = {"/vol/b/2"}
    state, out = run(initial_state(), [dataset(0, "/vol/b/1", "/vol/b/2")], settings, tools)
    assert state.current.version == 0
    [letter] = letters(out)
    assert letter.source_topic == settings.datasets_topic and letter.job == "factory_job"
    assert "/vol/b/2" in letter.reason and '"version":0' in letter.payload
    assert len(acks(out)) == 1


def test_dataset_with_no_readable_bucket_is_not_acknowledged(settings, tools):
    tools.missing = {"/vol/b/1"}
    state, out = run(initial_state(), [dataset(0, "/vol/b/1")], settings, tools)
    assert state.current is None
    assert acks(out) == [] and len(letters(out)) == 1


# ------------------------------------------------------------------------- impossible version numbers

HUGE = 2**53 - 1  # the largest version the wire contract admits


def forged(version: int = HUGE) -> DatasetVersion:
    """A dataset version with a plausible payload and an impossible number."""
    return DatasetVersion(
        version=version,
        timestamp=1443677401,
        bucket_starts=(1443600000,),
        bucket_paths=("/vol/buckets/dt_bucket_0",),
    )


def test_huge_version_among_genuine_ones_is_refused_and_the_genuine_ones_go_on(settings, tools):
    state, out = run(initial_state(), [dataset(0), dataset(1), forged(), dataset(2), dataset(3)],
                     settings, tools)  # fmt: skip
    assert tools.assembled == [0, 1, 2, 3] and [a.version for a in acks(out)] == [0, 1, 2, 3]
    assert state.current.version == 3 and state.challengers == ()
    [letter] = letters(out)
    assert letter.source_topic == settings.datasets_topic and letter.payload == encode(forged())
    assert f"version {HUGE} is more than 100 away from the current version 1: refused" in letter.reason


def test_huge_first_version_is_outvoted_by_the_genuine_ones(settings, tools):
    genuine = [dataset(v) for v in range(5)]
    state, out = run(initial_state(), [forged(), *genuine], settings, tools)
    assert tools.assembled == [HUGE, 0, 1, 2, 3, 4]  # the first had nothing to compare with
    assert [a.version for a in acks(out)] == [HUGE, 0, 1, 2, 3, 4]  # every genuine one assembled, ACKed
    assert state.current.version == 4
    # versions 0 and 1 were refused on arrival, then assembled after all once 2 confirmed their lineage
    assert [d.payload for d in letters(out)] == [encode(dataset(0)), encode(dataset(1))]


def test_training_uses_the_genuine_lineage_once_it_has_taken_over(settings, tools):
    tools.rows_by_version = {HUGE: 0}
    state, out = run(initial_state(), [forged(), command("c1", T.TRAIN)], settings, tools)
    assert [r.status for r in reports(out)] == [ReportStatus.ERROR]  # the forged one holds no data
    state, out = run(state, [dataset(0), dataset(1), dataset(2), command("c2", T.TRAIN)], settings, tools)
    assert [r.dataset_version for r in reports(out)] == [2] and state.current.version == 2


def test_a_genuine_jump_of_the_numbering_is_followed_after_a_quorum(settings, tools):
    jumped = [dataset(v) for v in (500, 501, 502, 503)]  # e.g. older records expired from the topic
    state, out = run(initial_state(), [dataset(0), *jumped], settings, tools)
    assert tools.assembled == [0, 500, 501, 502, 503] and len(letters(out)) == 2  # 500, 501 on arrival
    assert [a.version for a in acks(out)][-1] == 503 and state.current.version == 503


def test_far_behind_and_far_ahead_challengers_that_do_not_agree_are_refused(settings, tools):
    near = settings.model_copy(update={"max_counter_step": 10})
    messages = [dataset(200), dataset(1000), dataset(5), dataset(6), dataset(201)]
    state, out = run(initial_state(), messages, near, tools)
    assert tools.assembled == [200, 201] and state.current.version == 201 and state.challengers == ()
    assert [d.payload for d in letters(out)] == [encode(dataset(v)) for v in (1000, 5, 6)]


def test_held_challengers_survive_the_state_round_trip(settings, tools):
    state, _ = run(initial_state(), [dataset(0), forged()], settings, tools)
    assert [c.version for c in state.challengers] == [HUGE]
    assert load_state(store_state(state)) == state
    assert load_state('{"current": null}').challengers == ()  # a state stored before the field existed


# -------------------------------------------------------------------------------- queue and timeout


def test_commands_before_any_dataset_are_buffered_then_run_in_order(settings, tools):
    msgs = [
        command("c1", T.TRAIN),
        command("c2", T.OPT_INITIALISE),
        command("c3", T.OPT_STEP, step=0, p=params()),
    ]
    state, out = run(initial_state(), msgs, settings, tools)
    assert out == [] and [p.command.id for p in state.pending] == ["c1", "c2", "c3"]
    assert next_deadline(state, settings) == state.pending[0].received_at + 60.0

    state, out = run(state, [dataset(0)], settings, tools)
    assert [e.channel for e in out] == [Channel.ASSEMBLY, Channel.REPORT, Channel.REPORT, Channel.REPORT]
    assert [(r.reply_id, r.status) for r in reports(out)] == [
        ("c1", ReportStatus.SUCCESS),
        ("c2", ReportStatus.SUCCESS),
        ("c3", ReportStatus.SUCCESS),
    ]
    assert state.pending == () and next_deadline(state, settings) is None


def test_buffered_command_expires_with_an_error_report(settings, tools):
    state, _ = run(initial_state(), [command("c1", T.TRAIN)], settings, tools)
    received = state.pending[0].received_at
    state, out = run(state, [Tick(now=received + 59.0)], settings, tools)
    assert out == [] and len(state.pending) == 1
    state, out = run(state, [Tick(now=received + 60.0)], settings, tools)
    [report] = reports(out)
    assert report.reply_id == "c1" and report.status is ReportStatus.ERROR
    assert "no dataset available" in report.error
    assert state.pending == ()
    # A late dataset does not run the expired command, and a re-delivery gets the same error again.
    state, out = run(state, [dataset(0), command("c1", T.TRAIN)], settings, tools)
    assert tools.trained == [] and reports(out) == [report]


def test_train_waits_for_a_dataset_that_reaches_the_instruction_time(settings, tools):
    late = command("c1", T.TRAIN).model_copy(update={"timestamp": 1443677401 + 5 * 86400})
    # The current dataset ends days before the instruction: training now would learn from stale data.
    state, out = run(initial_state(), [dataset(0), late], settings, tools)
    assert reports(out) == [] and [p.command.id for p in state.pending] == ["c1"]
    slack = settings.dataset_coverage_slack_s
    behind = dataset(1).model_copy(update={"timestamp": late.timestamp - 2 * slack})
    state, out = run(state, [behind], settings, tools)
    assert reports(out) == [] and len(state.pending) == 1
    within_slack = dataset(2).model_copy(update={"timestamp": late.timestamp - slack})
    state, out = run(state, [within_slack], settings, tools)
    [report] = reports(out)
    assert report.status is ReportStatus.SUCCESS and report.dataset_version == 2
    assert state.pending == ()


def test_lagging_dataset_is_used_when_the_wait_expires(settings, tools):
    late = command("c1", T.TRAIN).model_copy(update={"timestamp": 1443677401 + 5 * 86400})
    state, _ = run(initial_state(), [dataset(0), late], settings, tools)
    received = state.pending[0].received_at
    state, out = run(state, [Tick(now=received + 60.0)], settings, tools)
    [report] = reports(out)
    assert report.status is ReportStatus.SUCCESS and report.dataset_version == 0


def test_steps_of_a_session_do_not_wait_for_newer_data(settings, tools):
    init = command("s1-init", T.OPT_INITIALISE)
    step0 = command("s1-step0", T.OPT_STEP, step=0, p=params()).model_copy(
        update={"timestamp": 1443677401 + 5 * 86400}
    )
    state, out = run(initial_state(), [dataset(0), init, step0], settings, tools)
    assert [(r.reply_id, r.status) for r in reports(out)] == [
        ("s1-init", ReportStatus.SUCCESS),
        ("s1-step0", ReportStatus.SUCCESS),
    ]


def test_redelivered_buffered_command_is_not_queued_twice(settings, tools):
    state, _ = run(initial_state(), [command("c1", T.TRAIN), command("c1", T.TRAIN)], settings, tools)
    assert len(state.pending) == 1


# ------------------------------------------------------------------------------------------- TRAIN


def test_train_publishes_a_retrained_model(settings, tools):
    state, out = run(initial_state(), [dataset(0), command("c1", T.TRAIN, p=params(0.02))], settings, tools)
    [report] = reports(out)
    assert report.status is ReportStatus.SUCCESS and report.reply_id == "c1"
    assert report.command_type is T.TRAIN and report.creation_method is CreationMethod.RETRAIN
    assert report.model_id == "wayeb_0" and report.model_path == "/vol/models/wayeb_0.spst"
    assert report.params == params(0.02) and report.dataset_version == 0
    assert report.production_time == tools.tick  # one clock tick around the training
    assert tools.published == [report] and state.model_counter == 1


def test_train_without_params_uses_settings_then_best_params(settings, tools):
    state, out = run(initial_state(), [dataset(0), command("c1", T.TRAIN)], settings, tools)
    first = reports(out)[0].params
    assert (first.order, first.p_min, first.gamma, first.confidence) == (
        settings.order,
        settings.p_min,
        settings.gamma,
        settings.threshold,
    )
    state, out = run(state, optimisation(best=1) + [command("c9", T.TRAIN)], settings, tools)
    assert reports(out)[-1].params == params(0.05)


def test_duplicate_command_gets_the_same_report_and_trains_once(settings, tools):
    msgs = [dataset(0), command("c1", T.TRAIN), command("c1", T.TRAIN)]
    state, out = run(initial_state(), msgs, settings, tools)
    first, second = reports(out)
    assert first == second and len(tools.trained) == 1 and state.model_counter == 1


def test_train_on_too_small_dataset_reports_insufficient_data(settings, tools):
    tools.rows_by_version = {0: 49}
    state, out = run(initial_state(), [dataset(0), command("c1", T.TRAIN)], settings, tools)
    [report] = reports(out)
    assert report.status is ReportStatus.ERROR and report.error.startswith("insufficient data")
    assert tools.trained == [] and state.model_counter == 0


def test_training_failure_is_an_error_report_not_a_crash(settings, tools):
    tools.fail_training = True
    state, out = run(initial_state(), [dataset(0), command("c1", T.TRAIN)], settings, tools)
    [report] = reports(out)
    assert report.status is ReportStatus.ERROR and "disk full" in report.error
    assert tools.published == []


# ----------------------------------------------------------------------------------- optimisation


def test_full_optimisation_session(settings, tools):
    state, out = run(initial_state(), [dataset(0)] + optimisation(best=1), settings, tools)
    init, *steps, final = reports(out)
    assert init.status is ReportStatus.SUCCESS and init.dataset_version == 0
    assert tools.prepared == [0]

    assert [s.step for s in steps] == [0, 1, 2]
    assert [s.model_id for s in steps] == ["wayeb_0", "wayeb_1", "wayeb_2"]
    assert all(s.model_path is None for s in steps)  # candidates never reach the engines
    assert [s.objective for s in steps] == [-0.1, -0.5, -0.3]
    assert steps[1].metrics.mcc == 0.5 and steps[1].params == params(0.05)

    assert final.status is ReportStatus.SUCCESS and final.creation_method is CreationMethod.OPTIMISATION
    assert final.model_id == "wayeb_3" and final.model_path == "/vol/models/wayeb_3.spst"
    assert final.params == params(0.05) and final.objective == -0.5 and final.step == 1
    assert tools.trained[-1] == (0, params(0.05), "/vol/models/wayeb_3.spst")  # retrained, not copied
    # production time counts from OPT_INITIALISE: init + 3 steps x 2 clock reads + the finalise read
    assert final.production_time == 7 * tools.tick
    assert tools.published == [final]

    assert sorted(tools.deleted_models) == [f"/vol/models/wayeb_{i}.spst" for i in range(3)]
    assert state.session is None and state.locks == {} and state.model_counter == 4
    assert state.best_params == params(0.05)


def test_zero_mcc_gives_negative_zero_objective(settings, tools):
    tools.mcc_of = lambda p: 0.0
    _, out = run(initial_state(), [dataset(0)] + optimisation(p_mins=(0.01,), best=0)[:2], settings, tools)
    objective = reports(out)[-1].objective
    assert objective == 0.0 and str(objective) == "-0.0"
    assert '"objective":-0.0' in encode(reports(out)[-1])


def test_locked_dataset_survives_new_versions_until_finalise(settings, tools):
    msgs = [dataset(0)] + optimisation()[:2] + [dataset(1)]
    state, out = run(initial_state(), msgs, settings, tools)
    assert state.current.version == 1 and state.locks == {0: ("s1",)}
    assert tools.kept[-1] == ["/vol/datasets/dataset_v0.csv", "/vol/datasets/dataset_v1.csv"]

    state, out = run(state, optimisation()[2:], settings, tools)
    assert {s[0] for s in tools.scored} == {0} and tools.trained[-1][0] == 0  # all on the locked v0
    assert reports(out)[-1].dataset_version == 0
    assert state.locks == {} and tools.kept[-1] == ["/vol/datasets/dataset_v1.csv"]


def test_finalise_with_invalid_best_step_keeps_the_session(settings, tools):
    msgs = [dataset(0)] + optimisation(p_mins=(0.01, 0.02))[:3]
    state, _ = run(initial_state(), msgs, settings, tools)
    for bad in (-1, 2, 7):
        state, out = run(state, [command(f"f{bad}", T.OPT_FINALISE, best=bad)], settings, tools)
        [report] = reports(out)
        assert report.status is ReportStatus.ERROR and f"invalid best_step {bad}" in report.error
    assert state.session is not None and tools.trained == []
    state, out = run(state, [command("ok", T.OPT_FINALISE, best=0)], settings, tools)
    assert reports(out)[0].status is ReportStatus.SUCCESS and reports(out)[0].params == params(0.01)


def test_step_without_session_or_for_another_session_is_an_error(settings, tools):
    state, out = run(
        initial_state(), [dataset(0), command("x", T.OPT_STEP, step=0, p=params())], settings, tools
    )
    assert "no active optimisation session" in reports(out)[0].error
    state, out = run(
        state,
        [command("i", T.OPT_INITIALISE, session="a"), command("y", T.OPT_STEP, session="b", p=params())],
        settings,
        tools,
    )
    assert "active session is 'a'" in reports(out)[-1].error
    assert tools.scored == []


def test_step_without_params_is_an_error(settings, tools):
    _, out = run(
        initial_state(),
        [dataset(0), command("i", T.OPT_INITIALISE), command("s", T.OPT_STEP)],
        settings,
        tools,
    )
    assert reports(out)[-1].error == "opt_step without params"


def test_initialise_on_too_small_dataset_reports_insufficient_data(settings, tools):
    tools.rows_by_version = {0: 10}
    state, out = run(initial_state(), [dataset(0), command("i", T.OPT_INITIALISE)], settings, tools)
    assert reports(out)[0].error.startswith("insufficient data") and state.session is None
    assert tools.prepared == []


def test_repeated_step_number_replaces_the_record_and_cleans_both_files(settings, tools):
    msgs = [
        dataset(0),
        command("i", T.OPT_INITIALISE),
        command("a", T.OPT_STEP, step=0, p=params(0.01)),
        command("b", T.OPT_STEP, step=0, p=params(0.02)),
    ]
    state, _ = run(initial_state(), msgs, settings, tools)
    assert [s.params.p_min for s in state.session.steps] == [0.02]
    state, out = run(state, [command("f", T.OPT_FINALISE, best=0)], settings, tools)
    assert reports(out)[0].params == params(0.02)
    assert sorted(tools.deleted_models) == ["/vol/models/wayeb_0.spst", "/vol/models/wayeb_1.spst"]


def test_failed_step_keeps_its_file_for_cleanup(settings, tools):
    state, _ = run(initial_state(), [dataset(0), command("i", T.OPT_INITIALISE)], settings, tools)
    tools.fail_training = True
    state, out = run(state, [command("s", T.OPT_STEP, step=0, p=params())], settings, tools)
    assert reports(out)[0].status is ReportStatus.ERROR
    assert state.session.intermediate_paths == ("/vol/models/wayeb_0.spst",) and state.model_counter == 1


def test_new_session_abandons_the_old_one(settings, tools):
    msgs = (
        [dataset(0)]
        + optimisation("old")[:3]
        + [dataset(1), command("new-init", T.OPT_INITIALISE, session="new")]
    )
    state, out = run(initial_state(), msgs, settings, tools)
    assert state.session.session_id == "new" and state.session.dataset.version == 1
    assert state.locks == {1: ("new",)}
    assert sorted(tools.deleted_models) == ["/vol/models/wayeb_0.spst", "/vol/models/wayeb_1.spst"]
    assert tools.prepared == [0, 1]


def test_initialise_retry_for_the_same_session_keeps_its_steps(settings, tools):
    msgs = [dataset(0)] + optimisation()[:3] + [command("again", T.OPT_INITIALISE, session="s1")]
    state, out = run(initial_state(), msgs, settings, tools)
    assert reports(out)[-1].status is ReportStatus.SUCCESS
    assert len(state.session.steps) == 2 and tools.prepared == [0]


def test_replies_are_bounded(settings, tools):
    from factory_job.state import MAX_REMEMBERED_REPLIES

    msgs = [dataset(0)] + [
        command(f"c{i}", T.OPT_STEP, p=params()) for i in range(MAX_REMEMBERED_REPLIES + 5)
    ]
    state, _ = run(initial_state(), msgs, settings, tools)
    assert len(state.replies) == MAX_REMEMBERED_REPLIES
    assert "c0" not in state.replies and f"c{MAX_REMEMBERED_REPLIES + 4}" in state.replies


def test_start_without_state_continues_after_models_on_the_volume(settings, tools):
    tools.free_number = 17
    state = load_state(None, tools)
    state, out = run(state, [dataset(0), command("c1", T.TRAIN)], settings, tools)
    assert reports(out)[0].model_id == "wayeb_17" and state.model_counter == 18
    assert load_state(store_state(state), tools).model_counter == 18  # a stored state wins
