"""Global score aggregator (constant key): batches of score deltas -> one ScoreReport per reporting interval.

The pure logic is :mod:`inference_job.scoring`; this function keeps its state in keyed ``ValueState``
(restored after a restart, unlike the Flink fork's plain field; a pickled object, so that PyFlink's state
cache spares a decode per batch) and closes intervals with event-time timers at their ends, so a report
is emitted once the watermark of the delta stream passes the end of the interval (at the end of a bounded
input, all remaining intervals close). Input records are :func:`~inference_job.scoring.encode_batch`
batches from the engine's shards.

Flink timestamps are milliseconds; event timestamps are in ticks (seconds for maritime, milliseconds
for cards), hence ``ms_per_tick``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pyflink.common import Types
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from inference_job.scoring import AggregatorState, batch_timestamp, decode_batch, on_deltas, on_watermark
from protocol.codec import encode

__all__ = ["DeltaTimestamp", "ScoreAggregator", "global_key"]

GLOBAL_KEY = "GLOBAL"


def global_key(value: Any) -> str:
    """Key selector sending every record to the single global instance."""
    return GLOBAL_KEY


class DeltaTimestamp(TimestampAssigner):
    """Event time of a delta batch (its newest delta timestamp), in Flink milliseconds."""

    def __init__(self, ms_per_tick: int) -> None:
        self.ms_per_tick = ms_per_tick

    def extract_timestamp(self, value: str, record_timestamp: int) -> int:
        return batch_timestamp(value) * self.ms_per_tick


class ScoreAggregator(KeyedProcessFunction):
    """Folds batches of score deltas into interval reports; emits ScoreReport JSON."""

    def __init__(self, interval_ticks: int, ms_per_tick: int) -> None:
        self.interval_ticks = interval_ticks
        self.ms_per_tick = ms_per_tick
        self.state: Any = None

    def open(self, runtime_context: RuntimeContext) -> None:
        descriptor = ValueStateDescriptor("aggregator_state_v2", Types.PICKLED_BYTE_ARRAY())
        self.state = runtime_context.get_state(descriptor)

    def process_element(self, value: str, ctx: KeyedProcessFunction.Context) -> Iterator[str]:
        state, ends = on_deltas(self._load(), decode_batch(value), self.interval_ticks)
        self._store(state)
        for end in set(ends):
            ctx.timer_service().register_event_time_timer(end * self.ms_per_tick)
        yield from ()

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[str]:
        state, reports = on_watermark(self._load(), timestamp // self.ms_per_tick, self.interval_ticks)
        self._store(state)
        for report in reports:
            yield encode(report)

    def _load(self) -> AggregatorState:
        state = self.state.value()
        return state if state is not None else AggregatorState()

    def _store(self, state: AggregatorState) -> None:
        self.state.update(state)
