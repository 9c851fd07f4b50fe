"""The controller's state machine: ``step(state, message, now) -> (state, outputs)``.

One state per controller key (an instruction's ``model_id``). Phases::

    IDLE --OPTIMIZE--> INITIALIZING --> WAITING_FOR_REPORT <--> OPTIMIZING --> FINALIZING --> IDLE
    IDLE --RETRAIN--> RETRAINING --> IDLE

(INITIALIZING and OPTIMIZING are passed through within one step; the others wait for a report.)

* Every instruction is wrapped in PAUSE ... PLAY on the engine-sync topic. PLAY names the new model and its
  production time, or ``model_id=None`` (keep the current model) when the session is aborted.
* Commands carry unique, restart-safe ids ``"<key>#<session>.<n>"`` (the session counter is in the state);
  a report is matched to the command it answers by ``reply_id``. Duplicate and stale reports are ignored
  and reported as :class:`Ignored`. A report for a command not sent *yet* (the two inputs race, or a
  replay after a restore) is buffered and used when that command is sent; one whose session or command
  number lies more than ``max_counter_step`` beyond the counters is impossible and ignored.
* An ERROR report aborts the session. A missing report times out (the Flink wrapper turns the scheduled
  deadline into a :class:`Timeout` message); the command is re-sent ``report_retries`` times, then the
  session is aborted. The controller is never stuck.
* Instructions arriving while a session runs are queued, not dropped; a repeated instruction id is a no-op.
* The optimiser (and its skopt object) is part of the state as a snapshot string, so it survives restarts.

``now`` is processing time in epoch milliseconds; it only sets report deadlines.
"""

from __future__ import annotations

from typing import Any

from controller_job.optimizer import HyperparameterOptimiser
from controller_job.state import (
    CancelTimer,
    ControllerConfig,
    ControllerState,
    Ignored,
    Note,
    OptimiserCache,
    Output,
    PendingCommand,
    Phase,
    ScheduleTimer,
    SendCommand,
    SendSync,
    Session,
    Timeout,
    controller_key_of_report,
    parse_command_id,
)
from protocol.messages import (
    CommandType,
    EngineSync,
    FactoryCommand,
    FactoryReport,
    Hyperparameters,
    Instruction,
    InstructionType,
    ReportStatus,
    SyncType,
)

__all__ = [
    "CancelTimer",
    "ControllerConfig",
    "ControllerState",
    "Ignored",
    "Note",
    "OptimiserCache",
    "Output",
    "Phase",
    "ScheduleTimer",
    "SendCommand",
    "SendSync",
    "Timeout",
    "controller_key_of_report",
    "parse_command_id",
    "step",
]


# ------------------------------------------------------------------------------------------ step


def step(
    state: ControllerState,
    message: Instruction | FactoryReport | Timeout,
    now: int,
    *,
    config: ControllerConfig | None = None,
    optimisers: OptimiserCache | None = None,
) -> tuple[ControllerState, tuple[Output, ...]]:
    """Apply one message to the state; return the new state and what to emit/log/schedule."""
    run = _Run(state, config or ControllerConfig(), now, optimisers or OptimiserCache())
    if isinstance(message, Instruction):
        run.on_instruction(message)
    elif isinstance(message, FactoryReport):
        run.on_report(message)
    elif isinstance(message, Timeout):
        run.on_timeout(message)
    else:
        raise TypeError(f"unsupported message {type(message).__name__}")
    return run.state, tuple(run.outputs)


def _bounded(items: tuple[Any, ...], item: Any, limit: int) -> tuple[Any, ...]:
    return (*items, item)[-limit:]


class _Run:
    """The work of one step: the evolving (frozen) state plus the outputs produced so far."""

    def __init__(self, state: ControllerState, config: ControllerConfig, now: int, cache: OptimiserCache):
        self.state, self.config, self.now, self.cache = state, config, now, cache
        self.outputs: list[Output] = []

    def update(self, **changes: Any) -> None:
        self.state = self.state.model_copy(update=changes)

    def update_session(self, **changes: Any) -> None:
        assert self.state.session is not None
        self.update(session=self.state.session.model_copy(update=changes))

    # ---------------------------------------------------------------- instructions

    def on_instruction(self, instruction: Instruction) -> None:
        s = self.state
        active = s.session.instruction.id if s.session else None
        if (
            instruction.id in s.seen_instructions
            or instruction.id == active
            or any(q.id == instruction.id for q in s.queue)
        ):
            self.outputs.append(Ignored("duplicate_instruction", instruction.id))
        elif s.phase is not Phase.IDLE:
            queue = s.queue
            if len(queue) >= self.config.max_queue:
                self.outputs.append(Ignored("queue_full", f"dropped oldest queued {queue[0].id}"))
                queue = queue[1:]
            self.update(queue=(*queue, instruction))
            self.outputs.append(Note(f"instruction {instruction.id} queued behind {active}"))
        else:
            self.start(instruction)

    def start(self, instruction: Instruction) -> None:
        number = self.state.session_counter + 1
        session_id = f"{instruction.model_id}#{number}"
        seen = _bounded(self.state.seen_instructions, instruction.id, self.config.history_limit)
        self.update(
            session_counter=number,
            session=Session(session_id=session_id, number=number, instruction=instruction),
            seen_instructions=seen,
        )
        self.sync(SyncType.PAUSE)
        if instruction.type is InstructionType.RETRAIN:
            self.update(phase=Phase.RETRAINING)
            self.send(self.command(CommandType.TRAIN, params=self.base_params()))
            return
        self.update(phase=Phase.INITIALIZING)
        try:
            optimiser = self.cache.checkout(self.state.optimiser_snapshot, self.config.optimiser)
            optimiser.init_session(self.config.prior_samples)
            x = optimiser.ask()
            self.update(optimiser_snapshot=self.cache.checkin(optimiser))
        except Exception as exc:  # a broken optimiser must not wedge the controller
            self.abort(f"optimiser failed to start: {exc!r}")
            return
        init = self.command(CommandType.OPT_INITIALISE)
        self.update_session(init_command=init)
        self.outputs.append(SendCommand(init))  # acknowledged, but not awaited: step 0 follows at once
        self.update(phase=Phase.WAITING_FOR_REPORT)
        self.drain(init.id)
        current = self.state.session
        if current is None or current.session_id != session_id:
            return  # an early error answer to opt_initialise aborted the session
        self.send(self.command(CommandType.OPT_STEP, step=0, params=self.params_of(optimiser, x)))

    # ---------------------------------------------------------------- reports

    def on_report(self, report: FactoryReport) -> None:
        s = self.state
        session = s.session
        parsed = parse_command_id(report.reply_id)
        if session and session.pending and report.reply_id == session.pending.command.id:
            self.answer(report)
        elif session and session.init_command and report.reply_id == session.init_command.id:
            self.update(answered=_bounded(s.answered, report.reply_id, self.config.history_limit))
            if report.status is ReportStatus.ERROR:
                self.abort(f"opt_initialise failed: {report.error}")
            else:
                self.outputs.append(Note(f"{report.reply_id} (opt_initialise) acknowledged"))
        elif report.reply_id in s.answered:
            self.outputs.append(Ignored("duplicate_report", report.reply_id))
        elif parsed is None:
            self.outputs.append(Ignored("unknown_report", report.reply_id))
        elif self.impossible(parsed[1], parsed[2]):
            self.outputs.append(Ignored("impossible_report", report.reply_id))
        elif parsed[1] > s.session_counter or (
            session is not None and parsed[1] == session.number and parsed[2] >= session.next_command
        ):
            early = s.early_reports
            if len(early) >= self.config.history_limit:
                self.outputs.append(Ignored("early_buffer_full", early[0].reply_id))
                early = early[1:]
            self.update(early_reports=(*early, report))
            self.outputs.append(Note(f"report {report.reply_id} arrived before its command; buffered"))
        elif parsed[1] < s.session_counter or session is None:
            self.outputs.append(Ignored("stale_report", report.reply_id))
        else:
            self.outputs.append(Ignored("unknown_report", report.reply_id))

    def impossible(self, number: int, n: int) -> bool:
        """A report of a session or command further beyond the counters than ``max_counter_step``: no
        command of this controller can have had that id, so it must not take a place among the early
        reports (nor be kept there, session after session)."""
        s, limit = self.state, self.config.max_counter_step
        if number > s.session_counter:
            return number - s.session_counter > limit
        session = s.session
        return session is not None and number == session.number and n - session.next_command > limit

    def answer(self, report: FactoryReport) -> None:
        session = self.state.session
        assert session is not None and session.pending is not None
        pending = session.pending
        self.outputs.append(CancelTimer(pending.deadline_ms))
        self.update(answered=_bounded(self.state.answered, report.reply_id, self.config.history_limit))
        self.update_session(pending=None)
        if report.status is ReportStatus.ERROR:
            self.abort(f"{pending.command.type.value} {pending.command.id} failed: {report.error}")
        elif self.state.phase in (Phase.RETRAINING, Phase.FINALIZING):
            # a published model's params become the current best (used by later retrains)
            self.update(current_best=report.params or pending.command.params)
            self.complete(report)
        else:
            self.next_step(report)

    def next_step(self, report: FactoryReport) -> None:
        objective = report.objective
        if objective is None and report.metrics is not None:
            objective = -report.metrics.mcc
        if objective is None:
            self.outputs.append(Note(f"report {report.reply_id} has no objective; counted as 0.0"))
            objective = 0.0
        try:
            optimiser = self.cache.checkout(self.state.optimiser_snapshot, self.config.optimiser)
            more = optimiser.tell(optimiser.ask(), objective)
            if more:
                self.update(phase=Phase.OPTIMIZING)
                x = optimiser.ask()
                command = self.command(
                    CommandType.OPT_STEP, step=optimiser.steps_done, params=self.params_of(optimiser, x)
                )
                self.update(phase=Phase.WAITING_FOR_REPORT)
            else:
                best = optimiser.finalize()
                best_params = self.params_of(optimiser, optimiser.best_point())
                command = self.command(CommandType.OPT_FINALISE, best_step=best, params=best_params)
                self.update(phase=Phase.FINALIZING)
            self.update(optimiser_snapshot=self.cache.checkin(optimiser))
        except Exception as exc:
            self.abort(f"optimiser failed: {exc!r}")
            return
        self.send(command)

    def complete(self, report: FactoryReport) -> None:
        session = self.state.session
        assert session is not None
        self.sync(SyncType.PLAY, report.model_id, report.model_path, report.production_time)
        self.update(current_model_id=report.model_id, current_model_path=report.model_path)
        self.outputs.append(Note(f"session {session.session_id} published {report.model_id}"))
        self.end_session()

    def abort(self, reason: str) -> None:
        session = self.state.session
        assert session is not None
        if session.pending is not None:
            self.outputs.append(CancelTimer(session.pending.deadline_ms))
        if session.instruction.type is InstructionType.OPTIMIZE and self.state.optimiser_snapshot:
            try:
                optimiser = self.cache.checkout(self.state.optimiser_snapshot, self.config.optimiser)
                optimiser.abort_session()
                self.update(optimiser_snapshot=self.cache.checkin(optimiser))
            except Exception as exc:  # an unreadable snapshot: start the next session afresh
                self.outputs.append(Note(f"optimiser state dropped: {exc!r}"))
                self.update(optimiser_snapshot="")
        self.sync(SyncType.PLAY)
        self.outputs.append(Note(f"session {session.session_id} aborted: {reason}"))
        self.end_session()

    def end_session(self) -> None:
        counter = self.state.session_counter
        keep: list[FactoryReport] = []
        for report in self.state.early_reports:
            parsed = parse_command_id(report.reply_id)
            if parsed is not None and parsed[1] > counter:
                keep.append(report)
            else:
                self.outputs.append(Ignored("stale_report", report.reply_id))
        self.update(session=None, phase=Phase.IDLE, early_reports=tuple(keep))
        if self.state.queue:
            head, *rest = self.state.queue
            self.update(queue=tuple(rest))
            self.start(head)

    # ---------------------------------------------------------------- timeouts

    def on_timeout(self, timeout: Timeout) -> None:
        session = self.state.session
        pending = session.pending if session else None
        if pending is None or pending.deadline_ms != timeout.deadline_ms or self.now < pending.deadline_ms:
            self.outputs.append(Ignored("stale_timer", str(timeout.deadline_ms)))
            return
        assert session is not None
        if pending.attempts > self.config.report_retries:
            self.abort(f"no report for {pending.command.id} after {pending.attempts} attempt(s)")
            return
        command = pending.command
        if command.type is CommandType.OPT_STEP and command.step == 0 and session.init_command is not None:
            self.outputs.append(SendCommand(session.init_command))  # the factory may have missed it too
        self.outputs.append(Note(f"no report for {command.id}; re-sending (attempt {pending.attempts + 1})"))
        self.send(command, attempts=pending.attempts + 1)

    # ---------------------------------------------------------------- helpers

    def command(
        self, kind: CommandType, *, step: int = -1, best_step: int = -1, **fields: Any
    ) -> FactoryCommand:
        session = self.state.session
        assert session is not None
        self.update_session(next_command=session.next_command + 1)
        return FactoryCommand(
            id=f"{session.session_id}.{session.next_command}",
            type=kind,
            timestamp=session.instruction.timestamp,
            session_id=session.session_id,
            step=step,
            best_step=best_step,
            **fields,
        )

    def send(self, command: FactoryCommand, attempts: int = 1) -> None:
        """Emit ``command``, make it the one awaited, schedule its deadline, use a buffered answer."""
        deadline = self.now + self.config.report_timeout_ms
        self.outputs.append(SendCommand(command))
        self.outputs.append(ScheduleTimer(deadline))
        self.update_session(pending=PendingCommand(command=command, attempts=attempts, deadline_ms=deadline))
        self.drain(command.id)

    def drain(self, command_id: str) -> None:
        """Handle a buffered report that answers ``command_id`` (it arrived before the command was sent)."""
        for report in self.state.early_reports:
            if report.reply_id == command_id:
                self.update(early_reports=tuple(r for r in self.state.early_reports if r is not report))
                self.on_report(report)
                return

    def sync(
        self, kind: SyncType, model_id: str | None = None, model_path: str | None = None, pt: float = 0.0
    ) -> None:
        session = self.state.session
        assert session is not None
        sync = EngineSync(
            type=kind,
            timestamp=session.instruction.timestamp,
            instruction_id=session.instruction.id,
            model_id=model_id,
            model_path=model_path,
            production_time=pt,
        )
        self.outputs.append(SendSync(sync))

    def base_params(self) -> Hyperparameters:
        return self.state.current_best or self.config.default_params

    def params_of(self, optimiser: HyperparameterOptimiser, x: list[float | int]) -> Hyperparameters:
        return Hyperparameters(**{**self.base_params().model_dump(), **optimiser.point_to_params(x)})
