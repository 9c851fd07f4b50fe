"""Types of the controller state machine: its persisted state, inputs, outputs, config and id scheme.

The state is a frozen pydantic model stored as one JSON string in Flink ValueState (safe across restarts
and upgrades); outputs are small frozen dataclasses that the Flink wrapper turns into side outputs, log
lines and timers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from controller_job.optimizer import (
    HyperparameterOptimiser,
    OptimiserConfig,
    config_from_settings,
    load_prior_samples,
)
from protocol.messages import (
    EngineSync,
    FactoryCommand,
    FactoryReport,
    Hyperparameters,
    Instruction,
)

_COMMAND_ID = re.compile(r"^(?P<key>.+)#(?P<session>\d+)\.(?P<n>\d+)$")
_SESSION_ID = re.compile(r"^(?P<key>.+)#(?P<session>\d+)$")


class Phase(StrEnum):
    IDLE = "idle"
    INITIALIZING = "initializing"
    WAITING_FOR_REPORT = "waiting_for_report"
    OPTIMIZING = "optimizing"
    FINALIZING = "finalizing"
    RETRAINING = "retraining"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Timeout(_Frozen):
    """The report deadline ``deadline_ms`` scheduled by a :class:`ScheduleTimer` output has passed."""

    deadline_ms: int


class PendingCommand(_Frozen):
    command: FactoryCommand
    attempts: int = 1
    deadline_ms: int


class Session(_Frozen):
    session_id: str
    number: int
    instruction: Instruction
    next_command: int = 0
    init_command: FactoryCommand | None = None
    pending: PendingCommand | None = None


class ControllerState(_Frozen):
    """Everything the controller keeps per key; stored as JSON in Flink ValueState."""

    phase: Phase = Phase.IDLE
    session_counter: int = 0
    session: Session | None = None
    queue: tuple[Instruction, ...] = ()
    seen_instructions: tuple[str, ...] = ()
    answered: tuple[str, ...] = ()
    early_reports: tuple[FactoryReport, ...] = ()
    current_best: Hyperparameters | None = None
    current_model_id: str | None = None
    current_model_path: str | None = None
    optimiser_snapshot: str = ""

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> ControllerState:
        return cls.model_validate_json(text)


# ------------------------------------------------------------------------------------------ outputs


@dataclass(frozen=True)
class SendCommand:
    command: FactoryCommand


@dataclass(frozen=True)
class SendSync:
    sync: EngineSync


@dataclass(frozen=True)
class Ignored:
    """A message that changed nothing (duplicate, stale or unknown), with the reason; for the log."""

    reason: str
    detail: str


@dataclass(frozen=True)
class Note:
    """A noteworthy transition (queued, retried, aborted, ...), for the log."""

    message: str


@dataclass(frozen=True)
class ScheduleTimer:
    at_ms: int


@dataclass(frozen=True)
class CancelTimer:
    at_ms: int


Output = SendCommand | SendSync | Ignored | Note | ScheduleTimer | CancelTimer


@dataclass(frozen=True)
class ControllerConfig:
    """Tunables of the state machine (built from :class:`protocol.Settings`)."""

    optimiser: OptimiserConfig = field(default_factory=OptimiserConfig)
    report_timeout_ms: int = 600_000
    report_retries: int = 1
    default_params: Hyperparameters = Hyperparameters(confidence=0.5, order=2, p_min=0.001, gamma=0.001)
    prior_samples: tuple[tuple[tuple[float | int, ...], float], ...] = ()
    history_limit: int = 64
    max_queue: int = 32
    max_counter_step: int = 100
    """How far beyond the controller's own counters a report's session and command numbers may be."""

    @classmethod
    def from_settings(cls, settings: Any) -> ControllerConfig:
        """The config of ``settings``; prior samples are read from ``optimiser_prior_path`` if set."""
        optimiser = config_from_settings(settings)
        prior_samples: Any = ()
        if settings.optimiser_prior_path is not None:
            prior_samples = load_prior_samples(settings.optimiser_prior_path, optimiser)
        return cls(
            optimiser=optimiser,
            report_timeout_ms=int(settings.report_timeout_s * 1000),
            report_retries=settings.report_retries,
            default_params=deployed_params(settings),
            prior_samples=tuple((tuple(x), float(y)) for x, y in prior_samples),
            max_counter_step=settings.max_counter_step,
        )


def deployed_params(settings: Any) -> Hyperparameters:
    """Hyperparameters a RETRAIN uses before any optimisation: the current model's, else the settings'.

    The bootstrap model may have been optimised offline; retraining it with the settings' defaults instead
    would throw that tuning away at the first RETRAIN.
    """
    from shared_volume.registry import load_registry

    fallback = Hyperparameters(
        confidence=settings.threshold, order=settings.order, p_min=settings.p_min, gamma=settings.gamma
    )
    try:
        entry = load_registry(settings.registry_path).current_entry()
    except (OSError, ValueError):
        return fallback
    return entry.params if entry is not None and entry.params is not None else fallback


class OptimiserCache:
    """Keeps the live optimiser that matches the latest snapshot, so steps need not unpickle it.

    Purely a memo: a miss (e.g. first use after a restore) rebuilds the optimiser from the snapshot.
    """

    def __init__(self) -> None:
        self._snapshot: str | None = None
        self._optimiser: HyperparameterOptimiser | None = None

    def checkout(self, snapshot: str, config: OptimiserConfig) -> HyperparameterOptimiser:
        if snapshot and snapshot == self._snapshot and self._optimiser is not None:
            optimiser = self._optimiser
        elif snapshot:
            optimiser = HyperparameterOptimiser.from_snapshot(snapshot)
            if optimiser.config != config:  # the configured search changed: start a fresh optimiser
                optimiser = HyperparameterOptimiser(config)
        else:
            optimiser = HyperparameterOptimiser(config)
        self._snapshot, self._optimiser = None, None  # the caller is about to change it
        return optimiser

    def checkin(self, optimiser: HyperparameterOptimiser) -> str:
        snapshot = optimiser.get_state_snapshot()
        self._snapshot, self._optimiser = snapshot, optimiser
        return snapshot


# ------------------------------------------------------------------------------------------ keys


def parse_command_id(command_id: str) -> tuple[str, int, int] | None:
    """``"<key>#<session>.<n>"`` -> (key, session, n), or None for a foreign id."""
    match = _COMMAND_ID.match(command_id)
    return None if match is None else (match["key"], int(match["session"]), int(match["n"]))


def controller_key_of_report(report: FactoryReport) -> str:
    """The controller key a report belongs to (from its session id, else its reply id); "" if unknown."""
    match = _SESSION_ID.match(report.session_id)
    if match is not None:
        return match["key"]
    parsed = parse_command_id(report.reply_id)
    return "" if parsed is None else parsed[0]
