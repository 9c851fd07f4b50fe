"""A fake model factory and helpers to drive the controller state machine in tests."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import replace

from controller_job.optimizer import OptimiserConfig
from controller_job.state_machine import (
    ControllerConfig,
    ControllerState,
    OptimiserCache,
    Output,
    SendCommand,
    SendSync,
    Timeout,
    step,
)
from protocol.messages import (
    CommandType,
    CreationMethod,
    EngineSync,
    FactoryCommand,
    FactoryReport,
    Hyperparameters,
    Instruction,
    InstructionType,
    MetricSet,
    ReportStatus,
)

# Steps stay in skopt's initial-point phase (no GP fit): fast tests of the protocol logic.
CHEAP = ControllerConfig(
    optimiser=replace(OptimiserConfig(), steps=3, n_initial_points=20),
    report_timeout_ms=1_000,
    report_retries=1,
)

Message = Instruction | FactoryReport | Timeout


def instruction(
    id_: str = "i1", kind: InstructionType = InstructionType.OPTIMIZE, ts: int = 1_447_884_005
) -> Instruction:
    return Instruction(id=id_, type=kind, timestamp=ts)


def commands(outputs: Iterable[Output]) -> list[FactoryCommand]:
    return [o.command for o in outputs if isinstance(o, SendCommand)]


def syncs(outputs: Iterable[Output]) -> list[EngineSync]:
    return [o.sync for o in outputs if isinstance(o, SendSync)]


def of_type(outputs: Iterable[Output], kind: type) -> list:
    return [o for o in outputs if isinstance(o, kind)]


def error_reply(command: FactoryCommand, reason: str = "no dataset available") -> FactoryReport:
    return FactoryReport(
        reply_id=command.id,
        command_type=command.type,
        status=ReportStatus.ERROR,
        session_id=command.session_id,
        error=reason,
    )


class FakeFactory:
    """Answers every command with a success report; OPT_STEP's objective comes from ``objective``."""

    def __init__(self, objective: Callable[[Hyperparameters], float] | None = None) -> None:
        self.objective = objective or (lambda p: -(1.0 - abs(p.confidence - 0.3)))
        self.models = 0
        self.steps: dict[int, Hyperparameters] = {}
        self.received: list[FactoryCommand] = []

    def reply(self, command: FactoryCommand) -> FactoryReport:
        self.received.append(command)
        base = {"reply_id": command.id, "command_type": command.type, "session_id": command.session_id}
        if command.type is CommandType.OPT_INITIALISE:
            return FactoryReport(status=ReportStatus.SUCCESS, **base)
        model_id = f"wayeb_{self.models}"
        self.models += 1
        if command.type is CommandType.OPT_STEP:
            assert command.params is not None
            self.steps[command.step] = command.params
            value = self.objective(command.params)
            return FactoryReport(
                status=ReportStatus.SUCCESS,
                step=command.step,
                model_id=model_id,
                params=command.params,
                metrics=MetricSet(mcc=-value),
                objective=value,
                **base,
            )
        if command.type is CommandType.OPT_FINALISE:
            params = self.steps[command.best_step]
            method, pt = CreationMethod.OPTIMISATION, 5103.0
        else:
            params, method, pt = command.params, CreationMethod.RETRAIN, 117.0
        return FactoryReport(
            status=ReportStatus.SUCCESS,
            model_id=model_id,
            model_path=f"/data/models/{model_id}.spst",
            creation_method=method,
            params=params,
            production_time=pt,
            **base,
        )


def drive(
    state: ControllerState,
    message: Message,
    factory: FakeFactory | None,
    *,
    config: ControllerConfig = CHEAP,
    cache: OptimiserCache | None = None,
    now: int = 0,
    max_messages: int = 200,
) -> tuple[ControllerState, list[Output]]:
    """Feed ``message``, then every factory reply to the commands it causes, until the controller is quiet."""
    cache = cache or OptimiserCache()
    inbox: deque[Message] = deque([message])
    produced: list[Output] = []
    while inbox:
        max_messages -= 1
        assert max_messages >= 0, "the controller did not settle"
        state, outputs = step(state, inbox.popleft(), now, config=config, optimisers=cache)
        produced.extend(outputs)
        if factory is not None:
            inbox.extend(factory.reply(c) for c in commands(outputs))
    return state, produced
