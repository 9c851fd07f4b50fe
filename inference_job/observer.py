"""The observer: decides from the stream of global score reports when the model must be adapted.

Two policies are available (``Settings.observer_policy``):

``trend`` (default, the original RTCEF rule)
    Per report, in this exact order (the order matters: it is what reproduces every decision recorded
    in the original system's runs):

    1. if a retrain happened recently, count the guard down; at zero the retrain is no longer recent;
    2. append the report's batch MCC to the history and keep the last ``k`` values;
    3. if the MCC is below ``low_score`` -> OPTIMIZE (the guard is left untouched);
    4. otherwise, from the second report on, fit a least-squares line over the history (x = 0..n-1);
       a slope below ``slope_threshold`` -> RETRAIN, or OPTIMIZE when a retrain is still recent; both
       (re)start the guard of ``guard`` reports.

    With ``guard = 4`` the countdown happens before the check, so an optimise can replace a retrain for
    the three reports that follow it, as in the recorded data.

``difference`` (the Flink fork's rule)
    Reports whose batch has no TP, FP or FN are ignored (they only count the grace down). The batch MCC
    is appended to a history of ``max(k, 2)`` values; while a grace period is active nothing is decided.
    MCC below ``low_score`` -> OPTIMIZE; otherwise a drop from the previous report above
    ``optimize_diff`` -> OPTIMIZE, above ``train_diff`` -> RETRAIN. Any instruction starts a grace of
    ``guard`` reports.

Instruction ids are ``instr-<n>`` with a counter kept in the state, so a replay of the same reports
gives the same ids; the timestamp is the report's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from protocol.messages import Instruction, InstructionType, ScoreReport
from protocol.settings import ObserverPolicy, Settings

__all__ = ["DEFAULT_CONFIG", "ObserverConfig", "ObserverState", "least_squares_slope", "step"]


@dataclass(frozen=True, slots=True)
class ObserverConfig:
    """Parameters of the decision rule (defaults: the original RTCEF configuration)."""

    policy: ObserverPolicy = ObserverPolicy.TREND
    k: int = 3
    slope_threshold: float = -0.025
    guard: int = 4
    low_score: float = 0.2
    train_diff: float = 0.05
    optimize_diff: float = 0.10

    @classmethod
    def from_settings(cls, settings: Settings) -> ObserverConfig:
        """The observer part of the job settings."""
        return cls(
            policy=settings.observer_policy,
            k=settings.observer_k,
            slope_threshold=settings.observer_slope_threshold,
            guard=settings.observer_guard,
            low_score=settings.observer_low_score,
            train_diff=settings.observer_train_diff,
            optimize_diff=settings.observer_optimize_diff,
        )


@dataclass(frozen=True, slots=True)
class ObserverState:
    """Everything the observer remembers between reports (JSON-able through :meth:`to_dict`)."""

    scores: tuple[float, ...] = ()
    recent_train: bool = False
    guard: int = 0
    next_id: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping for Flink ValueState."""
        return {
            "scores": list(self.scores),
            "recent_train": self.recent_train,
            "guard": self.guard,
            "next_id": self.next_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObserverState:
        """Inverse of :meth:`to_dict`."""
        return cls(
            scores=tuple(float(s) for s in data.get("scores", ())),
            recent_train=bool(data.get("recent_train", False)),
            guard=int(data.get("guard", 0)),
            next_id=int(data.get("next_id", 0)),
        )


def least_squares_slope(values: Sequence[float]) -> float:
    """Slope of the least-squares line through ``(i, values[i])`` (what a degree-1 polyfit returns)."""
    n = len(values)
    if n < 2:
        return 0.0
    x_mean = (n - 1) / 2.0
    y_mean = sum(values) / n
    num = sum((i - x_mean) * (v - y_mean) for i, v in enumerate(values))
    den = sum((i - x_mean) ** 2 for i in range(n))
    return num / den


DEFAULT_CONFIG = ObserverConfig()
"""The original RTCEF configuration."""


def step(
    state: ObserverState, report: ScoreReport, config: ObserverConfig = DEFAULT_CONFIG
) -> tuple[ObserverState, list[Instruction]]:
    """Consume one global score report; return the new state and zero or one instruction."""
    if config.policy is ObserverPolicy.DIFFERENCE:
        state, decision = _difference(state, report, config)
    else:
        state, decision = _trend(state, report, config)
    if decision is None:
        return state, []
    instruction = Instruction(
        id=f"instr-{state.next_id}",
        type=decision,
        timestamp=report.timestamp,
        model_id=report.model_id,
        metrics=report.batch,
    )
    return replace(state, next_id=state.next_id + 1), [instruction]


def _trend(
    state: ObserverState, report: ScoreReport, config: ObserverConfig
) -> tuple[ObserverState, InstructionType | None]:
    recent_train, guard = state.recent_train, state.guard
    if recent_train:
        guard -= 1
        if guard <= 0:
            recent_train, guard = False, 0
    scores = (*state.scores, report.batch.mcc)[-config.k :]
    decision: InstructionType | None = None
    if scores[-1] < config.low_score:
        decision = InstructionType.OPTIMIZE
    elif len(scores) > 1 and least_squares_slope(scores) < config.slope_threshold:
        decision = InstructionType.OPTIMIZE if recent_train else InstructionType.RETRAIN
        recent_train, guard = True, config.guard
    return replace(state, scores=scores, recent_train=recent_train, guard=guard), decision


def _difference(
    state: ObserverState, report: ScoreReport, config: ObserverConfig
) -> tuple[ObserverState, InstructionType | None]:
    batch = report.batch
    if batch.tp + batch.fp + batch.fn == 0:
        return replace(state, guard=max(state.guard - 1, 0)), None
    scores = (*state.scores, batch.mcc)[-max(config.k, 2) :]
    if state.guard > 0:
        return replace(state, scores=scores, guard=state.guard - 1), None
    decision: InstructionType | None = None
    if scores[-1] < config.low_score:
        decision = InstructionType.OPTIMIZE
    elif len(scores) >= 2:
        drop = scores[-2] - scores[-1]
        if drop > config.optimize_diff:
            decision = InstructionType.OPTIMIZE
        elif drop > config.train_diff:
            decision = InstructionType.RETRAIN
    guard = config.guard if decision is not None else 0
    return replace(state, scores=scores, guard=guard), decision
