"""The controller's metrics move as it works: the real Flink function driven through fake state, timers and
metric group, answered by the fake factory; and the pure ``observe`` on single steps."""

from __future__ import annotations

from typing import Any

from controller_fakes import CHEAP, FakeFactory, instruction
from metric_fakes import FakeMetricGroup, FakeMetricsRuntime

from controller_job.controller_process import ControllerProcess
from controller_job.metrics import PHASE_CODES, observe, optimisation_step
from controller_job.state import ControllerState, Phase, Timeout
from controller_job.state_machine import step
from flink_common.io import string_tag
from protocol.codec import decode, encode
from protocol.messages import FactoryCommand, FactoryReport, InstructionType

COMMANDS, SYNCS, DEAD = string_tag("factory_commands"), string_tag("enginesync"), string_tag("dead_letters")
KEY = "default"  # an instruction's model_id when none is given: the controller's key


class Controller:
    """The controller function with one key's state, a settable clock and the timers it registered."""

    def __init__(self) -> None:
        self.stored: str | None = None
        self.now = 1_000
        self.timers: list[int] = []
        self.runtime = FakeMetricsRuntime()
        self.runtime.get_state = lambda descriptor: self  # type: ignore[attr-defined]
        self.fn = ControllerProcess(CHEAP, COMMANDS, SYNCS, DEAD)
        self.fn.open(self.runtime)  # type: ignore[arg-type]

    # ValueState, context and timer service in one
    def value(self) -> str | None:
        return self.stored

    def update(self, value: str) -> None:
        self.stored = value

    def timer_service(self) -> Controller:
        return self

    def current_processing_time(self) -> int:
        return self.now

    def register_processing_time_timer(self, at: int) -> None:
        self.timers.append(at)

    def delete_processing_time_timer(self, at: int) -> None:
        if at in self.timers:  # deleting a timer that already fired is harmless in Flink
            self.timers.remove(at)

    def get_current_key(self) -> str:
        return KEY

    @property
    def metrics(self) -> FakeMetricGroup:
        return self.runtime.metrics

    def gauge(self, name: str) -> int | None:
        return self.metrics.sub("model_key", KEY).gauge_value(name)

    def commands(self, out: list[Any]) -> list[FactoryCommand]:
        return [decode(FactoryCommand, v) for tag, v in out if tag is COMMANDS]

    def instruct(self, id_: str, kind: InstructionType = InstructionType.OPTIMIZE) -> list[FactoryCommand]:
        return self.commands(list(self.fn.process_element1(encode(instruction(id_, kind)), self)))

    def report(self, report: FactoryReport) -> list[FactoryCommand]:
        return self.commands(list(self.fn.process_element2(encode(report), self)))

    def fire(self) -> list[FactoryCommand]:
        at = min(self.timers)
        self.timers.remove(at)
        self.now = at
        return self.commands(list(self.fn.on_timer(at, self)))


def test_an_optimisation_shows_its_state_step_n_of_n_and_best_objective() -> None:
    c, factory = Controller(), FakeFactory(objective=lambda p: -p.confidence)
    steps = CHEAP.optimiser.steps
    init, first = c.instruct("o1")
    assert c.metrics.count("instructions_received") == 1
    assert c.gauge("state") == PHASE_CODES[Phase.WAITING_FOR_REPORT] == 2
    assert (c.gauge("opt_step"), c.gauge("opt_steps")) == (1, steps)
    c.report(factory.reply(init))
    pending, objectives = first, []
    for n in range(1, steps + 1):
        assert c.gauge("opt_step") == n
        answer = factory.reply(pending)
        objectives.append(answer.objective)
        (pending,) = c.report(answer)
        assert c.gauge("best_objective_milli") == round(min(objectives) * 1000)
    assert c.gauge("state") == PHASE_CODES[Phase.FINALIZING] and c.gauge("opt_step") == steps
    c.report(factory.reply(pending))
    assert (c.gauge("state"), c.gauge("opt_step")) == (PHASE_CODES[Phase.IDLE], 0)
    assert c.metrics.count("sessions_completed") == 1 and c.metrics.count("reports_received") == steps + 2


def test_queued_and_ignored_instructions_timeouts_retries_and_aborts_are_counted() -> None:
    c, factory = Controller(), FakeFactory()
    (train,) = c.instruct("r1", InstructionType.RETRAIN)
    assert c.gauge("state") == PHASE_CODES[Phase.RETRAINING]
    c.instruct("r2", InstructionType.RETRAIN)  # behind r1
    c.instruct("r1", InstructionType.RETRAIN)  # again: a duplicate
    assert (c.metrics.count("instructions_queued"), c.metrics.count("instructions_ignored")) == (1, 1)
    assert c.gauge("queued") == 1
    c.now = 1_500
    assert c.fire() == [train]  # no report in time: re-sent once ...
    assert (c.metrics.count("timeouts"), c.metrics.count("retries")) == (1, 1)
    (next_train,) = c.fire()  # ... then the session is aborted and the queued r2 starts
    assert (c.metrics.count("timeouts"), c.metrics.count("retries")) == (2, 1)
    assert c.metrics.count("sessions_aborted") == 1 and c.gauge("queued") == 0
    c.report(factory.reply(train))  # r1's answer, too late: ignored
    assert c.metrics.count("reports_ignored") == 1
    c.report(factory.reply(next_train))
    assert c.metrics.count("sessions_completed") == 1 and c.gauge("state") == PHASE_CODES[Phase.IDLE]


def test_observe_a_stale_timer_is_no_timeout() -> None:
    state, outputs = step(ControllerState(), Timeout(deadline_ms=5), 10, config=CHEAP)
    counts = observe(ControllerState(), Timeout(deadline_ms=5), state, outputs)
    assert (counts.timeouts, counts.retries) == (0, 0)


def test_optimisation_step_is_zero_outside_an_optimisation() -> None:
    state, _ = step(ControllerState(), instruction("r", InstructionType.RETRAIN), 0, config=CHEAP)
    assert optimisation_step(state, 15) == 0 and optimisation_step(ControllerState(), 15) == 0
