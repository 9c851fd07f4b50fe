"""Flink wrapper of the observer (constant key): ScoreReport JSON -> Instruction JSON.

The decision rule is :mod:`inference_job.observer`; its state (score history, guard, instruction
counter) lives in keyed ``ValueState`` so instruction ids keep increasing across restarts. Reports observed
and instructions sent are counted (:class:`~inference_job.metrics.ObserverMetrics`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pyflink.common import Types
from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from inference_job.metrics import ObserverMetrics
from inference_job.observer import ObserverConfig, ObserverState, step
from protocol.codec import decode, encode
from protocol.messages import InstructionType, ScoreReport

__all__ = ["ObserverProcess"]


class ObserverProcess(KeyedProcessFunction):
    """Runs the observer on every global score report."""

    def __init__(self, config: ObserverConfig) -> None:
        self.config = config
        self.state: Any = None
        self.metrics = ObserverMetrics()

    def open(self, runtime_context: RuntimeContext) -> None:
        self.metrics.bind(runtime_context)
        self.state = runtime_context.get_state(ValueStateDescriptor("observer_state", Types.STRING()))

    def process_element(self, value: str, ctx: KeyedProcessFunction.Context) -> Iterator[str]:
        raw = self.state.value()
        state = ObserverState.from_dict(json.loads(raw)) if raw else ObserverState()
        state, instructions = step(state, decode(ScoreReport, value), self.config)
        self.state.update(json.dumps(state.to_dict()))
        self.metrics.reports.inc()
        for instruction in instructions:
            optimize = instruction.type is InstructionType.OPTIMIZE
            (self.metrics.optimize if optimize else self.metrics.retrain).inc()
            yield encode(instruction)
