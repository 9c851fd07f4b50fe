"""Executing one factory command against the state: TRAIN, OPT_INITIALISE, OPT_STEP, OPT_FINALISE.

Each handler returns the new state and exactly one report (``reply_id`` = the command id). Expected failures
(no dataset, too few events, no such session, bad ``best_step``) and unexpected ones (a training error, a full
disk) both become error reports: the controller reads the reason and the job keeps running.

A candidate's forecast threshold is its ``confidence`` hyperparameter (the original optimiser searches it);
horizon and max spread come from the shared Settings. The threshold is stored in the model file and the
inference job forecasts with the model's own threshold, so the optimiser maximises the MCC of exactly the
classifier that gets deployed. ``THRESHOLD`` is the threshold of the bootstrap model and of a TRAIN without
parameters.
"""

from __future__ import annotations

import logging

from factory_job.state import DatasetInfo, FactoryState, FactoryTools, Session, StepRecord
from protocol.bounds import MAX_REASON_CHARS
from protocol.messages import (
    CommandType,
    CreationMethod,
    FactoryCommand,
    FactoryReport,
    Hyperparameters,
    ReportStatus,
)
from protocol.settings import Settings

__all__ = ["default_params", "error_report", "execute", "model_id_for", "objective_of"]

LOG = logging.getLogger(__name__)

Result = tuple[FactoryState, FactoryReport]


class CommandRejected(Exception):
    """An expected precondition failed; the message is the report's ``error``."""


def default_params(settings: Settings) -> Hyperparameters:
    """The configured hyperparameters, used by TRAIN before any optimisation has produced better ones."""
    return Hyperparameters(
        confidence=settings.threshold, order=settings.order, p_min=settings.p_min, gamma=settings.gamma
    )


def model_id_for(counter: int) -> str:
    """Model id of model number ``counter`` (the file is ``<model_id>.spst``)."""
    return f"wayeb_{counter}"


def objective_of(mcc: float) -> float:
    """What the optimiser minimises: ``-MCC`` (an MCC of 0 gives ``-0.0``, as in the original factory)."""
    return -float(mcc)


def error_report(command: FactoryCommand, reason: str) -> FactoryReport:
    """The error answer to ``command`` (a reason longer than the contract allows is cut)."""
    return FactoryReport(
        reply_id=command.id,
        command_type=command.type,
        status=ReportStatus.ERROR,
        session_id=command.session_id,
        step=command.step,
        error=reason[:MAX_REASON_CHARS],
    )


def _require_rows(dataset: DatasetInfo, settings: Settings) -> None:
    if dataset.rows < settings.min_dataset_events:
        raise CommandRejected(
            f"insufficient data: dataset v{dataset.version} has {dataset.rows} events, "
            f"at least {settings.min_dataset_events} needed"
        )


def _require_session(state: FactoryState, command: FactoryCommand) -> Session:
    session = state.session
    if session is None:
        raise CommandRejected(f"no active optimisation session (command for session {command.session_id!r})")
    if session.session_id != command.session_id:
        raise CommandRejected(
            f"command for session {command.session_id!r} but the active session is {session.session_id!r}"
        )
    return session


def _release_session(state: FactoryState, tools: FactoryTools) -> FactoryState:
    """Drop the active session: delete its candidate models, release its lock, delete unused datasets."""
    session = state.session
    if session is None:
        return state
    for path in session.intermediate_paths:
        tools.delete_model(path)
    locks = dict(state.locks)
    holders = tuple(h for h in locks.get(session.dataset.version, ()) if h != session.session_id)
    if holders:
        locks[session.dataset.version] = holders
    else:
        locks.pop(session.dataset.version, None)
    released = state.model_copy(update={"session": None, "locks": locks})
    tools.delete_unused_datasets(released.paths_to_keep())
    return released


def _train(state: FactoryState, command: FactoryCommand, settings: Settings, tools: FactoryTools) -> Result:
    dataset = state.current
    if dataset is None:
        raise CommandRejected("no dataset available")
    _require_rows(dataset, settings)
    params = command.params or state.best_params or default_params(settings)
    model_id = model_id_for(state.model_counter)
    path = tools.model_path(model_id)
    started = tools.clock()
    tools.train(dataset, params, path)
    report = FactoryReport(
        reply_id=command.id,
        command_type=command.type,
        status=ReportStatus.SUCCESS,
        session_id=command.session_id,
        step=command.step,
        model_id=model_id,
        model_path=path,
        creation_method=CreationMethod.RETRAIN,
        params=params,
        production_time=max(0.0, tools.clock() - started),
        dataset_version=dataset.version,
    )
    tools.publish(report)
    return state.model_copy(update={"model_counter": state.model_counter + 1}), report


def _initialise(
    state: FactoryState, command: FactoryCommand, settings: Settings, tools: FactoryTools
) -> Result:
    if state.session is not None and state.session.session_id == command.session_id:
        # The same session initialised again (a retried command with a new id): keep what it has.
        dataset = state.session.dataset
    else:
        if state.current is None:
            raise CommandRejected("no dataset available to lock")
        dataset = state.current
        _require_rows(dataset, settings)
        if state.session is not None:
            LOG.warning("session %s abandoned: %s starts", state.session.session_id, command.session_id)
            state = _release_session(state, tools)
        tools.prepare(dataset)
        locks = dict(state.locks)
        locks[dataset.version] = locks.get(dataset.version, ()) + (command.session_id,)
        session = Session(session_id=command.session_id, dataset=dataset, started_at=tools.clock())
        state = state.model_copy(update={"session": session, "locks": locks})
    report = FactoryReport(
        reply_id=command.id,
        command_type=command.type,
        status=ReportStatus.SUCCESS,
        session_id=command.session_id,
        dataset_version=dataset.version,
    )
    return state, report


def _step(state: FactoryState, command: FactoryCommand, settings: Settings, tools: FactoryTools) -> Result:
    session = _require_session(state, command)
    if command.params is None:
        raise CommandRejected("opt_step without params")
    _require_rows(session.dataset, settings)
    step_no = command.step if command.step >= 0 else len(session.steps)
    model_id = model_id_for(state.model_counter)
    path = tools.model_path(model_id)
    # Count the id and the file before training: a failed attempt's partial output is still cleaned up.
    session = session.model_copy(update={"intermediate_paths": session.intermediate_paths + (path,)})
    state = state.model_copy(update={"session": session, "model_counter": state.model_counter + 1})
    started = tools.clock()
    try:
        metrics = tools.train_and_score(session.dataset, command.params, path)
    except Exception as exc:  # noqa: BLE001 - reported to the controller, the state keeps the cleanup info
        LOG.exception("opt_step %s failed", command.id)
        return state, error_report(command, f"training failed: {type(exc).__name__}: {exc}")
    record = StepRecord(
        step=step_no,
        params=command.params,
        metrics=metrics,
        objective=objective_of(metrics.mcc),
        model_id=model_id,
        model_path=path,
    )
    steps = tuple(s for s in session.steps if s.step != step_no) + (record,)
    state = state.model_copy(update={"session": session.model_copy(update={"steps": steps})})
    report = FactoryReport(
        reply_id=command.id,
        command_type=command.type,
        status=ReportStatus.SUCCESS,
        session_id=command.session_id,
        step=step_no,
        model_id=model_id,  # no model_path: candidates are deleted at finalise and must not reach the engines
        params=command.params,
        metrics=metrics,
        objective=record.objective,
        production_time=max(0.0, tools.clock() - started),
        dataset_version=session.dataset.version,
    )
    return state, report


def _finalise(
    state: FactoryState, command: FactoryCommand, settings: Settings, tools: FactoryTools
) -> Result:
    session = _require_session(state, command)
    best = session.find_step(command.best_step)
    if best is None:
        known = sorted(s.step for s in session.steps)
        raise CommandRejected(f"invalid best_step {command.best_step}: scored steps are {known}")
    model_id = model_id_for(state.model_counter)
    path = tools.model_path(model_id)
    tools.train(session.dataset, best.params, path)
    report = FactoryReport(
        reply_id=command.id,
        command_type=command.type,
        status=ReportStatus.SUCCESS,
        session_id=command.session_id,
        step=best.step,
        model_id=model_id,
        model_path=path,
        creation_method=CreationMethod.OPTIMISATION,
        params=best.params,
        metrics=best.metrics,
        objective=best.objective,
        production_time=max(0.0, tools.clock() - session.started_at),
        dataset_version=session.dataset.version,
    )
    tools.publish(report)
    state = state.model_copy(update={"model_counter": state.model_counter + 1, "best_params": best.params})
    return _release_session(state, tools), report


_HANDLERS = {
    CommandType.TRAIN: _train,
    CommandType.OPT_INITIALISE: _initialise,
    CommandType.OPT_STEP: _step,
    CommandType.OPT_FINALISE: _finalise,
}


def execute(state: FactoryState, command: FactoryCommand, settings: Settings, tools: FactoryTools) -> Result:
    """Run ``command`` and return the new state with its report; never raises."""
    try:
        return _HANDLERS[command.type](state, command, settings, tools)
    except CommandRejected as exc:
        LOG.warning("command %s (%s) rejected: %s", command.id, command.type.value, exc)
        return state, error_report(command, str(exc))
    except Exception as exc:  # noqa: BLE001 - one bad command must not stop the factory
        LOG.exception("command %s (%s) failed", command.id, command.type.value)
        return state, error_report(command, f"{command.type.value} failed: {type(exc).__name__}: {exc}")
