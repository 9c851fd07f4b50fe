"""Global score aggregator (constant key): batches of score deltas -> one ScoreReport per reporting interval.

The pure logic is :mod:`inference_job.scoring` (folding deltas into intervals, closing them) and
:mod:`inference_job.closing` (when an interval may close: the newest delta timestamp seen, trusted only
after ``hold_ms`` of processing time, because the engine's shards deliver their deltas out of event-time
order). This function keeps that state in keyed ``ValueState`` (restored after a restart; a pickled
object, so that PyFlink's state cache spares a decode per batch), polls with a processing-time timer
while intervals are open, and closes everything at the end of a bounded input (an event-time timer only
the final watermark reaches). Input records are :func:`~inference_job.scoring.encode_batch` batches from
the engine's shards. With ``ahead_ticks`` set, a delta stamped too far ahead of the scores' progress waits
until others agree with it (a gap in the data) or is counted at the progress (an outlier) instead of
moving it (:mod:`inference_job.closing`).

Event timestamps are in ticks (seconds for maritime, milliseconds for cards). Every report is counted and
its MCC shown in gauges (:class:`~inference_job.metrics.AggregatorMetrics`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from pyflink.common import Types
from pyflink.datastream import TimeDomain
from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from flink_common.timers import END_OF_INPUT, needs_timer
from inference_job.closing import ClosingState, on_batch, on_end, on_poll
from inference_job.metrics import AggregatorMetrics
from inference_job.scoring import decode_rows
from protocol.codec import encode
from protocol.settings import Settings

__all__ = ["END_OF_INPUT", "ScoreAggregator", "global_key"]

GLOBAL_KEY = "GLOBAL"


def global_key(value: Any) -> str:
    """Key selector sending every record to the single global instance."""
    return GLOBAL_KEY


class ScoreAggregator(KeyedProcessFunction):
    """Folds batches of score deltas into interval reports; emits ScoreReport JSON."""

    def __init__(
        self,
        interval_ticks: int,
        delay_ticks: int,
        hold_ms: int,
        poll_ms: int = 200,
        *,
        ahead_ticks: int | None = None,
        quorum: int = Settings.model_fields["anchor_quorum"].default,
    ) -> None:
        self.interval_ticks = interval_ticks
        self.delay_ticks = delay_ticks
        self.hold_ms = hold_ms
        self.poll_ms = poll_ms
        self.ahead_ticks = ahead_ticks
        self.quorum = quorum
        self.state: Any = None
        self.metrics = AggregatorMetrics()

    def open(self, runtime_context: RuntimeContext) -> None:
        self.metrics.bind(runtime_context)
        descriptor = ValueStateDescriptor("aggregator_state_v3", Types.PICKLED_BYTE_ARRAY())
        self.state = runtime_context.get_state(descriptor)

    def process_element(self, value: str, ctx: KeyedProcessFunction.Context) -> Iterator[str]:
        timers = ctx.timer_service()
        loaded = self.state.value()
        if loaded is None:  # first batch ever: arm the end-of-input timer once
            timers.register_event_time_timer(END_OF_INPUT)
        state = on_batch(loaded or ClosingState(), decode_rows(value), timers.current_processing_time(),
                         self.interval_ticks, ahead=self.ahead_ticks, quorum=self.quorum)  # fmt: skip
        self._store(self._arm(state, ctx))
        yield from ()

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[str]:
        state = self.state.value() or ClosingState()
        if ctx.time_domain() == TimeDomain.EVENT_TIME:
            state, reports = on_end(state, self.interval_ticks, ahead=self.ahead_ticks, quorum=self.quorum)
        else:
            state = replace(state, poll_at=None)
            now = ctx.timer_service().current_processing_time()
            state, reports = on_poll(state, now, self.interval_ticks, self.hold_ms, self.delay_ticks)
            state = self._arm(state, ctx)
        self._store(state)
        for report in reports:
            self.metrics.on_report(report)
            yield encode(report)

    def _arm(self, state: ClosingState, ctx: Any) -> ClosingState:
        """One processing-time poll timer while anything is held or open.

        A recorded timer is replaced only when lost (:func:`flink_common.timers.needs_timer`).
        """
        if not state.pending:
            return state
        timers = ctx.timer_service()
        now = timers.current_processing_time()
        if not needs_timer(state.poll_at, now):
            return state
        at = now + self.poll_ms
        timers.register_processing_time_timer(at)
        return replace(state, poll_at=at)

    def _store(self, state: ClosingState) -> None:
        self.state.update(state)
