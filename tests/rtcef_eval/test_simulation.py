"""The replay loop, driven by a tiny fake backend and the real (pure) observer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from protocol.messages import CreationMethod, Hyperparameters, InstructionType
from rtcef_eval.simulation import Mode, WeekRecord, simulate
from rtcef_eval.weeks import Week
from wayeb_py.evaluation import Metrics

INITIAL = Hyperparameters(confidence=0.3, order=2, p_min=0.001, gamma=0.001)
TUNED = Hyperparameters(confidence=0.6, order=4, p_min=0.002, gamma=0.003)
GOOD = Metrics(tp=90, tn=900, fp=10, fn=10)  # MCC ~0.89
BAD = Metrics(tp=1, tn=900, fp=50, fn=90)  # MCC < 0.2: the observer asks for an optimisation
MEDIUM = Metrics(tp=60, tn=900, fp=40, fn=40)  # MCC ~0.56


@dataclass(frozen=True)
class FakeModel:
    name: str
    params: Hyperparameters
    trained_on: tuple[int, ...] = ()


@dataclass
class FakeBackend:
    """Scores come from a table (model name, week position) -> Metrics; runs count the events fed to them."""

    table: dict[tuple[str, int], Metrics]
    calls: list[tuple[str, tuple[int, ...], Hyperparameters]] = field(default_factory=list)
    swaps: list[tuple[str, str, int]] = field(default_factory=list)
    scored: list[tuple[str, int]] = field(default_factory=list)

    def train(self, weeks: Sequence[int], params: Hyperparameters) -> FakeModel:
        self.calls.append(("train", tuple(weeks), params))
        return FakeModel(f"m{len(self.calls)}", params, tuple(weeks))

    def optimise(self, weeks: Sequence[int], params: Hyperparameters) -> tuple[FakeModel, Hyperparameters]:
        self.calls.append(("optimise", tuple(weeks), params))
        return FakeModel(f"m{len(self.calls)}", TUNED, tuple(weeks)), TUNED

    def new_runs(self) -> int:
        return 0

    def score(self, model: FakeModel, runs: int, week: int) -> tuple[int, Metrics]:
        self.scored.append((model.name, week))
        return runs + 1, self.table.get((model.name, week), GOOD)

    def swap(self, old: FakeModel, new: FakeModel, runs: int) -> int:
        self.swaps.append((old.name, new.name, runs))
        return runs


def _weeks(n: int) -> list[Week]:
    return [Week(index=i, start=i * 100, end=(i + 1) * 100, lo=i * 10, hi=(i + 1) * 10) for i in range(n)]


class FakeClock:
    """Each call advances 1.5 s, so every production measures exactly 1.5 s."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.5
        return self.now


def _run(mode: Mode, backend: FakeBackend, n_weeks: int = 8, **kwargs: object) -> list[WeekRecord]:
    result = simulate(
        mode, backend, _weeks(n_weeks), initial_model=FakeModel("m0", INITIAL), initial_params=INITIAL,
        train_weeks=2, history_k=3, clock=FakeClock(), **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip
    assert result.mode is mode
    return list(result.weeks)


def test_static_scores_every_week_after_training_with_the_initial_model() -> None:
    backend = FakeBackend({("m0", 3): BAD, ("m0", 4): BAD})
    weeks = _run(Mode.STATIC, backend)
    assert [w.position for w in weeks] == [2, 3, 4, 5, 6, 7]
    assert [w.week.index for w in weeks] == [2, 3, 4, 5, 6, 7]
    assert {w.model_version for w in weeks} == {0}
    assert all(w.instruction == "" and w.production_s == 0.0 for w in weeks)
    assert backend.calls == [] and backend.swaps == []
    assert backend.scored == [("m0", p) for p in range(2, 8)]
    assert weeks[1].metrics == BAD and weeks[1].mcc == pytest.approx(BAD.mcc)


def test_retrain_mode_turns_every_instruction_into_a_retrain_used_from_the_next_week() -> None:
    backend = FakeBackend({("m0", 3): BAD})  # the low score makes the observer ask for an optimisation
    weeks = _run(Mode.RETRAIN, backend)
    assert weeks[1].instruction == InstructionType.RETRAIN.value
    assert weeks[1].production_s == pytest.approx(1.5)
    assert backend.calls == [("train", (1, 2, 3), INITIAL)]  # last K=3 weeks, the initial hyperparameters
    assert [w.model_version for w in weeks] == [0, 0, 1, 1, 1, 1]
    assert weeks[2].creation_method is CreationMethod.RETRAIN
    assert backend.scored[2] == ("m1", 4)
    assert backend.swaps == [("m0", "m1", 2)]  # the runs fed with two weeks move to the new model


def test_rtcef_optimises_on_low_score_and_later_retrains_with_the_tuned_parameters() -> None:
    # week 3 is bad -> optimise; then a falling trend on the new model -> retrain with the tuned params
    backend = FakeBackend({("m0", 3): BAD, ("m1", 6): MEDIUM})
    weeks = _run(Mode.RTCEF, backend, n_weeks=9)
    marks = [(w.position, w.instruction) for w in weeks if w.instruction]
    assert marks == [(3, InstructionType.OPTIMIZE.value), (6, InstructionType.RETRAIN.value)]
    assert backend.calls[0] == ("optimise", (1, 2, 3), INITIAL)
    assert weeks[2].params == TUNED and weeks[2].creation_method is CreationMethod.OPTIMISATION
    assert backend.calls[1] == ("train", (4, 5, 6), TUNED)
    assert [w.model_version for w in weeks] == [0, 0, 1, 1, 1, 2, 2]


def test_rtcef_and_retrain_see_the_same_decisions_until_the_models_differ() -> None:
    table = {("m0", 3): BAD}
    retrain = _run(Mode.RETRAIN, FakeBackend(dict(table)))
    rtcef = _run(Mode.RTCEF, FakeBackend(dict(table)))
    assert retrain[1].instruction == "retrain" and rtcef[1].instruction == "optimize"
    assert [w.mcc for w in retrain[:2]] == [w.mcc for w in rtcef[:2]]


def test_an_instruction_after_the_last_week_is_recorded_but_produces_nothing() -> None:
    backend = FakeBackend({("m0", 5): BAD})
    weeks = _run(Mode.RTCEF, backend, n_weeks=6)
    assert weeks[-1].instruction == InstructionType.OPTIMIZE.value
    assert weeks[-1].production_s == 0.0
    assert backend.calls == []


def test_on_week_sees_every_record_in_order() -> None:
    seen: list[int] = []
    _run(Mode.STATIC, FakeBackend({}), on_week=lambda r: seen.append(r.position))
    assert seen == [2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize("train_weeks", [0, 4])
def test_train_weeks_must_leave_something_to_evaluate(train_weeks: int) -> None:
    with pytest.raises(ValueError, match="train_weeks"):
        simulate(Mode.STATIC, FakeBackend({}), _weeks(4), initial_model=FakeModel("m0", INITIAL),
                 initial_params=INITIAL, train_weeks=train_weeks, history_k=2)  # fmt: skip
