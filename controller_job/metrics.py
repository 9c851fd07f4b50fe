"""The controller's metrics (operator ``controller``; names, units and codes in docs/metrics.md).

:func:`observe` is pure: from the state before and after one step of the state machine, the message and the
outputs, it says what the step did (an instruction queued or ignored, a timeout, a retry, a session that
ended ...). :class:`ControllerMetrics` turns that into counters, and the state after the step into gauges
per model key (the controller's Flink key, an instruction's ``model_id``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from controller_job.state import ControllerState, Ignored, Output, Phase, SendSync, Timeout
from flink_common.metrics import OperatorMetrics, milli
from protocol.messages import (
    CommandType,
    FactoryReport,
    Instruction,
    InstructionType,
    ReportStatus,
    SyncType,
)

__all__ = ["PHASE_CODES", "ControllerMetrics", "StepCounts", "observe", "optimisation_step"]

PHASE_CODES: dict[Phase, int] = {
    Phase.IDLE: 0,
    Phase.INITIALIZING: 1,
    Phase.WAITING_FOR_REPORT: 2,
    Phase.OPTIMIZING: 3,
    Phase.FINALIZING: 4,
    Phase.RETRAINING: 5,
}
"""The ``state`` gauge's value per phase (documented in docs/metrics.md; never renumber)."""

_IGNORED_INSTRUCTIONS = frozenset({"duplicate_instruction", "queue_full"})
_IGNORED_REPORTS = frozenset(
    {"duplicate_report", "unknown_report", "impossible_report", "stale_report", "early_buffer_full"}
)


@dataclass(frozen=True)
class StepCounts:
    """What one step of the state machine did, as metric increments (and an optimisation step's objective)."""

    instructions_received: int = 0
    instructions_queued: int = 0
    instructions_ignored: int = 0
    reports_received: int = 0
    reports_ignored: int = 0
    timeouts: int = 0
    retries: int = 0
    sessions_completed: int = 0
    sessions_aborted: int = 0
    objective: float | None = None
    """The objective of an optimisation step answered by this step's report (None otherwise)."""


def _answered_objective(before: ControllerState, report: FactoryReport) -> float | None:
    """The objective an awaited, successful OPT_STEP report brings (as the state machine reads it)."""
    session = before.session
    pending = session.pending if session is not None else None
    if pending is None or report.reply_id != pending.command.id or report.status is not ReportStatus.SUCCESS:
        return None
    if pending.command.type is not CommandType.OPT_STEP:
        return None
    if report.objective is not None:
        return report.objective
    return -report.metrics.mcc if report.metrics is not None else None


def observe(
    before: ControllerState,
    message: Instruction | FactoryReport | Timeout,
    after: ControllerState,
    outputs: Iterable[Output],
) -> StepCounts:
    """What the step from ``before`` to ``after`` on ``message`` did (``outputs``: what it emitted)."""
    outs = list(outputs)
    ignored = [o.reason for o in outs if isinstance(o, Ignored)]
    plays = [o.sync for o in outs if isinstance(o, SendSync) and o.sync.type is SyncType.PLAY]
    sessions = {
        "sessions_completed": sum(1 for p in plays if p.model_id),
        "sessions_aborted": sum(1 for p in plays if not p.model_id),
    }
    if isinstance(message, Instruction):
        was_queued = any(q.id == message.id for q in before.queue)
        queued = not was_queued and any(q.id == message.id for q in after.queue)
        return StepCounts(
            instructions_received=1,
            instructions_queued=int(queued),
            instructions_ignored=sum(1 for r in ignored if r in _IGNORED_INSTRUCTIONS),
            **sessions,
        )
    if isinstance(message, FactoryReport):
        return StepCounts(
            reports_received=1,
            reports_ignored=sum(1 for r in ignored if r in _IGNORED_REPORTS),
            objective=_answered_objective(before, message),
            **sessions,
        )
    if "stale_timer" in ignored:
        return StepCounts(**sessions)
    old = before.session.pending if before.session is not None else None
    new = after.session.pending if after.session is not None else None
    retried = (
        old is not None
        and new is not None
        and after.session is not None
        and before.session is not None
        and after.session.session_id == before.session.session_id
        and new.attempts > old.attempts
    )
    return StepCounts(timeouts=1, retries=int(retried), **sessions)


def optimisation_step(state: ControllerState, steps: int) -> int:
    """Step n (1-based) of the optimisation in progress: the step being trained and scored, ``steps`` while
    the best is finalised, 0 when no optimisation runs."""
    session = state.session
    if session is None or session.instruction.type is not InstructionType.OPTIMIZE:
        return 0
    if state.phase is Phase.FINALIZING:
        return steps
    pending = session.pending
    if pending is not None and pending.command.type is CommandType.OPT_STEP:
        return max(pending.command.step, 0) + 1
    return 0


class ControllerMetrics(OperatorMetrics):
    """Counters of what the controller did; gauges of each model key's state and optimisation progress."""

    GAUGES = ("state", "queued", "opt_step", "opt_steps", "best_objective_milli")

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps
        self.instructions_received = self.counter("instructions_received")
        self.instructions_queued = self.counter("instructions_queued")
        self.instructions_ignored = self.counter("instructions_ignored")
        self.reports_received = self.counter("reports_received")
        self.reports_ignored = self.counter("reports_ignored")
        self.timeouts = self.counter("timeouts")
        self.retries = self.counter("retries")
        self.sessions_completed = self.counter("sessions_completed")
        self.sessions_aborted = self.counter("sessions_aborted")
        self.per_key = self.keyed("model_key", self.GAUGES)
        self._best: dict[str, tuple[int, float]] = {}

    def on_step(
        self,
        key: str,
        before: ControllerState,
        message: Instruction | FactoryReport | Timeout,
        after: ControllerState,
        outputs: Iterable[Output],
    ) -> None:
        """Count what one step did and show the key's state after it."""
        counts = observe(before, message, after, outputs)
        for name in ("instructions_received", "instructions_queued", "instructions_ignored",
                     "reports_received", "reports_ignored", "timeouts", "retries", "sessions_completed",
                     "sessions_aborted"):  # fmt: skip
            getattr(self, name).inc(getattr(counts, name))
        self.per_key.set(key, "state", PHASE_CODES[after.phase])
        self.per_key.set(key, "queued", len(after.queue))
        self.per_key.set(key, "opt_step", optimisation_step(after, self.steps))
        self.per_key.set(key, "opt_steps", self.steps)
        if counts.objective is not None and before.session is not None:
            number = before.session.number
            best = self._best.get(key)
            if best is None or best[0] != number or counts.objective < best[1]:
                self._best[key] = (number, counts.objective)
                self.per_key.set(key, "best_objective_milli", milli(counts.objective))
