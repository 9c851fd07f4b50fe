"""The controller's Flink function: load state, call :func:`~controller_job.state_machine.step`, store, emit.

Keyed by the controller key (an instruction's ``model_id``; a report's key comes from its session id, see
:func:`~controller_job.state.controller_key_of_report`). Input 1 carries validated instruction JSON, input
2 validated report JSON (both from :class:`~controller_job.parse_messages.ParseMessages`).

* State: one ``ValueState`` holding the :class:`~controller_job.state.ControllerState` JSON (which embeds
  the optimiser snapshot). The live skopt object is kept in an :class:`~controller_job.state.OptimiserCache`
  and rebuilt from the snapshot on first use after a restore.
* Timers: a processing-time timer per awaited report; when it fires the state machine gets a
  :class:`~controller_job.state.Timeout` (stale timers are recognised there, so a failed delete is harmless).
* Outputs: encoded commands on ``commands_tag``, encoded engine syncs on ``syncs_tag``, dead letters on
  ``dead_tag``; ignored messages and transitions go to the log. Nothing is emitted on the main output.
* Metrics: what each step did and each key's state (:class:`~controller_job.metrics.ControllerMetrics`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError
from pyflink.common import Types
from pyflink.datastream import OutputTag
from pyflink.datastream.functions import KeyedCoProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from controller_job.metrics import ControllerMetrics
from controller_job.optimizer import preload
from controller_job.parse_messages import JOB_NAME
from controller_job.state import (
    CancelTimer,
    ControllerConfig,
    ControllerState,
    Ignored,
    Note,
    OptimiserCache,
    ScheduleTimer,
    SendCommand,
    SendSync,
    Timeout,
    controller_key_of_report,
)
from controller_job.state_machine import step
from flink_common.dead_letters import DeadLetterCounter
from protocol.codec import DecodeError, dead_letter, decode, encode
from protocol.messages import FactoryReport, Instruction

__all__ = ["ControllerProcess", "instruction_key", "report_key"]

LOG = logging.getLogger(__name__)


def instruction_key(raw: str) -> str:
    """Key selector of input 1: the instruction's ``model_id``."""
    return decode(Instruction, raw).model_id


def report_key(raw: str) -> str:
    """Key selector of input 2: the controller key encoded in the report's session / reply id."""
    return controller_key_of_report(decode(FactoryReport, raw))


class ControllerProcess(KeyedCoProcessFunction):
    """Input 1: instruction JSON; input 2: factory report JSON; outputs on the three side-output tags."""

    def __init__(
        self,
        config: ControllerConfig,
        commands_tag: OutputTag,
        syncs_tag: OutputTag,
        dead_tag: OutputTag,
        topics: tuple[str, str] = ("instructions", "factory_reports"),
    ) -> None:
        self._config = config
        self._commands_tag = commands_tag
        self._syncs_tag = syncs_tag
        self._dead_tag = dead_tag
        self._topics = topics
        self._state: Any = None
        self._cache = OptimiserCache()
        self._dead_letters = DeadLetterCounter()
        self._metrics = ControllerMetrics(config.optimiser.steps)

    def open(self, runtime_context: RuntimeContext) -> None:
        self._dead_letters.bind(runtime_context)
        self._metrics.bind(runtime_context)
        self._state = runtime_context.get_state(ValueStateDescriptor("controller-state", Types.STRING()))
        self._cache = OptimiserCache()
        preload()  # the skopt import, paid at start-up instead of by the first OPTIMIZE

    def process_element1(self, value: str, ctx: KeyedCoProcessFunction.Context) -> Iterator[Any]:
        yield from self._decoded(value, Instruction, self._topics[0], ctx)

    def process_element2(self, value: str, ctx: KeyedCoProcessFunction.Context) -> Iterator[Any]:
        yield from self._decoded(value, FactoryReport, self._topics[1], ctx)

    def on_timer(self, timestamp: int, ctx: KeyedCoProcessFunction.OnTimerContext) -> Iterator[Any]:
        yield from self._run(
            Timeout(deadline_ms=timestamp), timestamp, ctx.timer_service(), ctx.get_current_key()
        )

    # ------------------------------------------------------------------------------------------------

    def _decoded(
        self, raw: str, model: type[Instruction] | type[FactoryReport], topic: str, ctx: Any
    ) -> Iterator[Any]:
        try:
            message = decode(model, raw)
        except DecodeError as exc:  # the parse operator lets only valid JSON through; be safe anyway
            letter = dead_letter(source_topic=topic, job=JOB_NAME, reason=str(exc), payload=raw)
            self._dead_letters.inc()
            yield self._dead_tag, encode(letter)
            return
        timers = ctx.timer_service()
        yield from self._run(message, int(timers.current_processing_time()), timers, ctx.get_current_key())

    def _run(
        self, message: Instruction | FactoryReport | Timeout, now: int, timers: Any, key: Any
    ) -> Iterator[Any]:
        before = self._load()
        state, outputs = step(before, message, now, config=self._config, optimisers=self._cache)
        self._state.update(state.to_json())
        self._metrics.on_step(str(key), before, message, state, outputs)
        for output in outputs:
            if isinstance(output, SendCommand):
                yield self._commands_tag, encode(output.command)
            elif isinstance(output, SendSync):
                yield self._syncs_tag, encode(output.sync)
            elif isinstance(output, ScheduleTimer):
                timers.register_processing_time_timer(output.at_ms)
            elif isinstance(output, CancelTimer):
                timers.delete_processing_time_timer(output.at_ms)
            elif isinstance(output, Ignored):
                LOG.info("ignored (%s): %s", output.reason, output.detail)
            elif isinstance(output, Note):
                LOG.info("%s", output.message)

    def _load(self) -> ControllerState:
        raw = self._state.value()
        if not raw:
            return ControllerState()
        try:
            return ControllerState.from_json(raw)
        except ValidationError:  # an unreadable state must not crash-loop the job
            LOG.exception("controller state could not be read; starting from an empty state")
            return ControllerState()
