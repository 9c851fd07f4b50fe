"""The offline replay loop that compares adaptation strategies week by week, independent of the model library.

One call of :func:`simulate` replays the evaluation weeks of a stream for one :class:`Mode`:

``static``
    the initial model scores every week (the paper's offCEF, the original's ``noop`` runs);
``retrain``
    the observer runs on every weekly report and each of its instructions, RETRAIN or OPTIMIZE, becomes a
    retrain on the last K weeks with the current (initial) hyperparameters;
``rtcef``
    the full loop: RETRAIN retrains with the current hyperparameters, OPTIMIZE runs a Bayesian optimisation
    on the last K weeks whose best hyperparameters become the current ones for later retrains.

Timing: a model produced after week *w*'s report scores from week *w + 1* on. The original engine keeps the
old model for the production time of stream time and then swaps; at weekly granularity, with production
times far below a week, that is "from the next week". An instruction issued after the last week produces
no model (nothing would use it); it is recorded with a production time of 0.

Runs (per-key automaton states and pending forecasts) carry over from week to week and across model
swaps (the backend's ``swap`` adopts them), so forecasts open at a week boundary are scored in the week
they resolve, as in the streaming engine.

All model work goes through an injected :class:`Backend` and the wall clock is injected too, so the loop is
tested with tiny fakes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from inference_job.observer import ObserverConfig, ObserverState
from inference_job.observer import step as observer_step
from inference_job.scoring import metric_set
from protocol.messages import CreationMethod, Hyperparameters, Instruction, InstructionType, ScoreReport
from wayeb_py.evaluation import ZERO, Metrics

from .weeks import Week, history_window

__all__ = ["Backend", "Mode", "ModeResult", "WeekRecord", "simulate"]

M = TypeVar("M")
R = TypeVar("R")

Observe = Callable[[ObserverState, ScoreReport, ObserverConfig], tuple[ObserverState, list[Instruction]]]


class Mode(StrEnum):
    STATIC = "static"
    RETRAIN = "retrain"
    RTCEF = "rtcef"


class Backend(Protocol[M, R]):
    """What the loop needs from a forecasting library. Week arguments are positions in the weeks list."""

    def train(self, weeks: Sequence[int], params: Hyperparameters) -> M:
        """A model learned on those weeks with these hyperparameters."""
        ...

    def optimise(self, weeks: Sequence[int], params: Hyperparameters) -> tuple[M, Hyperparameters]:
        """Search hyperparameters on those weeks; return the final model and its hyperparameters."""
        ...

    def new_runs(self) -> R:
        """Run state for a stream that has not started."""
        ...

    def score(self, model: M, runs: R, week: int) -> tuple[R, Metrics]:
        """Feed one week's events to the runs; return the new runs and the forecasts resolved in that week."""
        ...

    def swap(self, old: M, new: M, runs: R) -> R:
        """Move the runs from ``old`` to ``new`` (the model swap)."""
        ...


@dataclass(frozen=True, slots=True)
class WeekRecord:
    """What happened in one evaluated week of one mode.

    ``model_version`` is the version that scored the week (0: the initial model). ``instruction`` is what the
    observer issued after the week's report as this mode acted on it ("" when none); ``production_s`` is the
    measured wall time of producing the resulting model.
    """

    mode: Mode
    position: int
    week: Week
    metrics: Metrics
    model_version: int
    creation_method: CreationMethod
    params: Hyperparameters
    instruction: str = ""
    production_s: float = 0.0

    @property
    def mcc(self) -> float:
        return self.metrics.mcc


@dataclass(frozen=True)
class ModeResult:
    """All weeks of one mode, in order."""

    mode: Mode
    weeks: tuple[WeekRecord, ...] = field(default_factory=tuple)

    @property
    def mccs(self) -> list[float]:
        return [w.mcc for w in self.weeks]

    @property
    def production_s(self) -> float:
        return sum(w.production_s for w in self.weeks)

    def count(self, instruction: InstructionType) -> int:
        """How many instructions of this type the mode acted on (including one after the last week)."""
        return sum(1 for w in self.weeks if w.instruction == instruction.value)


@dataclass(frozen=True)
class _Produced(Generic[M]):
    model: M
    params: Hyperparameters
    method: CreationMethod


def simulate(
    mode: Mode,
    backend: Backend[Any, Any],
    weeks: Sequence[Week],
    *,
    initial_model: Any,
    initial_params: Hyperparameters,
    train_weeks: int,
    history_k: int,
    observer_config: ObserverConfig | None = None,
    observe: Observe = observer_step,
    clock: Callable[[], float] = time.perf_counter,
    on_week: Callable[[WeekRecord], None] | None = None,
) -> ModeResult:
    """Replay weeks ``train_weeks .. len(weeks)-1`` for ``mode`` (see the module docstring)."""
    if not 1 <= train_weeks < len(weeks):
        raise ValueError(f"need 1 <= train_weeks < number of weeks ({len(weeks)}), got {train_weeks}")
    config = observer_config if observer_config is not None else ObserverConfig()
    model, params = initial_model, initial_params
    version, method = 0, CreationMethod.INITIAL
    runs = backend.new_runs()
    runtime = ZERO
    observer = ObserverState()
    produced: _Produced[Any] | None = None
    records: list[WeekRecord] = []
    last = len(weeks) - 1
    for pos in range(train_weeks, len(weeks)):
        if produced is not None:
            runs = backend.swap(model, produced.model, runs)
            model, params, method = produced.model, produced.params, produced.method
            version, runtime, produced = version + 1, ZERO, None
        week = weeks[pos]
        runs, batch = backend.score(model, runs, pos)
        runtime = runtime + batch
        action = ""
        production = 0.0
        if mode is not Mode.STATIC:
            report = ScoreReport(
                timestamp=week.end - 1, interval_start=week.start, model_id=f"v{version}",
                creation_method=method, batch=metric_set(batch), runtime=metric_set(runtime),
                events=week.rows,
            )  # fmt: skip
            observer, instructions = observe(observer, report, config)
            if instructions:
                kind = InstructionType.RETRAIN if mode is Mode.RETRAIN else instructions[0].type
                action = kind.value
                if pos < last:
                    history = list(history_window(pos, history_k))
                    started = clock()
                    if kind is InstructionType.RETRAIN:
                        produced = _Produced(backend.train(history, params), params, CreationMethod.RETRAIN)
                    else:
                        new_model, new_params = backend.optimise(history, params)
                        produced = _Produced(new_model, new_params, CreationMethod.OPTIMISATION)
                    production = clock() - started
        record = WeekRecord(
            mode=mode, position=pos, week=week, metrics=batch, model_version=version, creation_method=method,
            params=params, instruction=action, production_s=production,
        )  # fmt: skip
        records.append(record)
        if on_week is not None:
            on_week(record)
    return ModeResult(mode=mode, weeks=tuple(records))
