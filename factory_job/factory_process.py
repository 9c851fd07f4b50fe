"""The factory's Flink function: decode, load state, call :func:`factory_state.step`, store state, emit.

Both inputs (commands, dataset versions) are keyed by one constant (:func:`factory_key`), so a single logical
factory owns the shared volume and keyed state and timers are available. The whole state is one JSON
``ValueState``; Flink checkpoints it together with the source offsets, so after a restart the replayed
commands find their reports in the state and are answered without retraining.

Training runs inside ``process_element1`` and blocks the operator while it runs: that is the factory's
job, and nothing else flows through this operator. Raw payloads are decoded here (this is the first
operator of both inputs): an undecodable payload becomes a dead letter and the job carries on.

Outputs: encoded :class:`~protocol.messages.FactoryReport` on the main output, encoded
:class:`~protocol.messages.AssemblyAck` on ``assembly_tag``, encoded dead letters on ``dead_tag``.

Metrics (:mod:`factory_job.metrics`): commands by type, errors, training and scoring durations (measured by
wrapping the tools), models produced and published, the current dataset, buffered commands.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from pyflink.common import Types
from pyflink.datastream import OutputTag
from pyflink.datastream.functions import KeyedCoProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from factory_job.factory_state import JOB_NAME, load_state, next_deadline, step, store_state
from factory_job.metrics import FactoryMetrics, MeteredTools
from factory_job.state import Channel, Emit, FactoryState, FactoryTools, Tick
from flink_common.dead_letters import DeadLetterCounter
from protocol.codec import DecodeError, dead_letter, decode, encode
from protocol.messages import DatasetVersion, FactoryCommand
from protocol.settings import Settings

__all__ = ["FACTORY_KEY", "FactoryProcess", "factory_key", "volume_tools"]

LOG = logging.getLogger(__name__)

FACTORY_KEY = "factory"

ToolsFactory = Callable[[Settings], FactoryTools]


def factory_key(_: Any) -> str:
    """Key selector for both inputs: every record goes to the one logical factory."""
    return FACTORY_KEY


def volume_tools(settings: Settings) -> FactoryTools:
    from factory_job.tools import VolumeTools

    return VolumeTools(settings)


class FactoryProcess(KeyedCoProcessFunction):
    """Input 1: raw command JSON; input 2: raw dataset-version JSON; main output: report JSON."""

    def __init__(
        self,
        settings: Settings,
        assembly_tag: OutputTag,
        dead_tag: OutputTag,
        tools_factory: ToolsFactory = volume_tools,
    ) -> None:
        self._settings = settings
        self._assembly_tag = assembly_tag
        self._dead_tag = dead_tag
        self._tools_factory = tools_factory
        self._state: Any = None
        self._tools: FactoryTools | None = None
        self._dead_letters = DeadLetterCounter()
        self._metrics = FactoryMetrics()

    def open(self, runtime_context: RuntimeContext) -> None:
        self._dead_letters.bind(runtime_context)
        self._metrics.bind(runtime_context)
        self._state = runtime_context.get_state(ValueStateDescriptor("factory-state", Types.STRING()))
        self._tools = MeteredTools(self._tools_factory(self._settings), self._metrics)

    def process_element1(self, value: str, ctx: KeyedCoProcessFunction.Context) -> Iterator[Any]:
        yield from self._handle(value, FactoryCommand, self._settings.command_topic, ctx.timer_service())

    def process_element2(self, value: str, ctx: KeyedCoProcessFunction.Context) -> Iterator[Any]:
        yield from self._handle(value, DatasetVersion, self._settings.datasets_topic, ctx.timer_service())

    def on_timer(self, timestamp: int, ctx: KeyedCoProcessFunction.OnTimerContext) -> Iterator[Any]:
        yield from self._run(Tick(now=timestamp / 1000.0), ctx.timer_service())

    # ------------------------------------------------------------------------------------------------

    def _handle(
        self, raw: str, model: type[FactoryCommand] | type[DatasetVersion], topic: str, timers: Any
    ) -> Iterator[Any]:
        try:
            message = decode(model, raw)
        except DecodeError as exc:
            LOG.warning("undecodable payload on %s: %s", topic, exc)
            letter = dead_letter(source_topic=topic, job=JOB_NAME, reason=str(exc), payload=raw)
            self._dead_letters.inc()
            yield self._dead_tag, encode(letter)
            return
        yield from self._run(message, timers)

    def _run(self, message: FactoryCommand | DatasetVersion | Tick, timers: Any) -> Iterator[Any]:
        assert self._tools is not None, "open() was not called"
        self._metrics.on_message(message)
        state = load_state(self._state.value(), self._tools)
        state, outputs = step(state, message, self._settings, self._tools)
        self._state.update(store_state(state))
        self._metrics.on_step(state, outputs)
        self._schedule_expiry(state, timers)
        for emit in outputs:
            yield self._route(emit)

    def _schedule_expiry(self, state: FactoryState, timers: Any) -> None:
        """Wake up when the oldest buffered command expires (re-registering the same time is idempotent)."""
        deadline = next_deadline(state, self._settings)
        if deadline is not None:
            timers.register_processing_time_timer(int(max(deadline, time.time()) * 1000))

    def _route(self, emit: Emit) -> Any:
        text = encode(emit.message)
        if emit.channel is Channel.ASSEMBLY:
            return self._assembly_tag, text
        if emit.channel is Channel.DEAD_LETTER:
            self._dead_letters.inc()
            return self._dead_tag, text
        return text
