"""The forecasting engine: per-shard batches of raw events + broadcast engine-sync control.

Wiring: ``key_by_shard(batches).connect(control.broadcast(CONTROL_STATE))`` (see
:mod:`~inference_job.event_batches`). Flink's key is the *shard* of the partition key; each partition key
(vessel, card) keeps its own engine state in an entry of the shard's ``MapState``, so runs stay isolated
per partition key and are restored after a restart, and rescaling moves whole shards. An input record is a
JSON array of the shard's raw events in arrival order: each is decoded here (undecodable ones become dead
letters), and the events that run go through their keys' engines, each key's together
(:func:`~inference_job.key_runs.run_batch`), their outputs in arrival order. The forecasts of one call
leave as one record of JSON lines (split into one Kafka record each in the JVM). The score deltas of all
keys of a shard are collected in the shard's state and sent to the single aggregator as records of at most
``batch_size`` rows (:func:`~inference_job.scoring.encode_batch`) when ``batch_size`` deltas are pending
or ``flush_ms`` of processing time after the first one.

PyFlink cannot apply a broadcast element to every key's state (``applyToKeyedState`` is not supported),
so the control stream only updates the broadcast :class:`~inference_job.lifecycle.ControlState`; each
partition key applies it lazily when it next runs an event. Keys seen for the first time after a control
message therefore get it too. While paused, a shard holds its events in arrival order in an append-only
``ListState`` (one append per event, whatever the number already held) and replays them when a PLAY
arrives, ``pause_timeout_ms`` after it held the first one, or when ``max_pause_buffer`` are held
(:mod:`~inference_job.shard`); the last two resume on the current models without a PLAY,
which is logged and marked on the keys' first replayed score deltas (``ScoreReport.resumed_without_play``).

State (all keyed by shard):

* ``engine_runs`` ``MapState``: partition key -> :class:`~inference_job.lifecycle.KeyState` (pickled
  through its dict form);
* ``engine_held`` ``ListState``: ``(partition key, event)`` pairs held while paused, oldest first;
* ``engine_shard`` ``ValueState``: :class:`ShardState` (pending delta rows, pause bookkeeping with the
  time the first event was held, armed timers);
* broadcast ``engine_control``: the control state as JSON (one entry, ``"control"``).

Timers, per shard: one processing-time timer while deltas are pending or events are held (flushes the
deltas; replays the held events once a PLAY has arrived or the pause timed out, polling every ``poll_ms``
meanwhile), and an event-time timer at :data:`END_OF_INPUT`, reached only by the final watermark of a
bounded input, which flushes everything (a bounded run never loses events or deltas, even if it ends
paused).

Models are loaded once per operator through :class:`~inference_job.models.ModelCache` (keyed by path).
Outputs: main = delta batches; side outputs ``forecasts`` (``ForecastRecord`` JSON lines, one record per
call) and ``dead_letters``.

Metrics (:class:`~inference_job.metrics.EngineMetrics`, docs/metrics.md): events in, forecasts out, events
dead-lettered, key swaps, paused, events held, the model in use, and the forecast latency: per call that
emits forecasts, the processing time from the arrival at the engine of the oldest event it ran (the call's
start, or for a replay the time the shard held its first event) to the emission.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from pyflink.common import Types
from pyflink.datastream import TimeDomain
from pyflink.datastream.functions import KeyedBroadcastProcessFunction, RuntimeContext
from pyflink.datastream.state import ListStateDescriptor, MapStateDescriptor, ValueStateDescriptor

from flink_common.dead_letters import DeadLetterCounter
from flink_common.io import string_tag
from flink_common.timers import END_OF_INPUT, needs_timer
from inference_job.event_batches import events_of
from inference_job.key_runs import Ready, run_batch
from inference_job.lifecycle import ControlState, ModelRef, Processed, on_sync
from inference_job.metrics import EngineMetrics
from inference_job.models import ModelCache, confined_model_path, creation_method_of, default_loader
from inference_job.parse_messages import DEAD_LETTERS, JOB_NAME
from inference_job.scoring import delta_row, encode_batch
from inference_job.shard import (
    WITHOUT_PLAY,
    Release,
    Route,
    ShardState,
    after_release,
    on_arrival,
    release_due,
)
from protocol.codec import DecodeError, dead_letter, decode, encode
from protocol.forecast_lines import forecast_line
from protocol.messages import (
    CardTransaction,
    CreationMethod,
    EngineSync,
    MaritimeEvent,
    SyncType,
)
from protocol.settings import Settings

__all__ = [
    "CONTROL_STATE",
    "END_OF_INPUT",
    "FORECASTS",
    "EngineProcess",
    "ShardState",
]

_LOG = logging.getLogger(__name__)

CONTROL_STATE = MapStateDescriptor("engine_control", Types.STRING(), Types.STRING())
FORECASTS = string_tag("forecasts")

class EngineProcess(KeyedBroadcastProcessFunction):
    """Per-key forecasting with pause buffering, stream-time model swaps and batched score deltas."""

    def __init__(
        self,
        initial: ModelRef,
        *,
        event_model: type[MaritimeEvent] | type[CardTransaction] = MaritimeEvent,
        partition_attribute: str = "mmsi",
        ticks_per_second: int = 1,
        registry_path: str | None = None,
        loader: Callable[[str], Any] | None = None,
        models_dir: str | None = None,
        max_model_bytes: int = Settings.model_fields["max_model_bytes"].default,
        poll_ms: int = 1000,
        pause_timeout_ms: int = Settings.model_fields["pause_timeout_ms"].default,
        max_pause_buffer: int = Settings.model_fields["max_pause_buffer"].default,
        batch_size: int = Settings.model_fields["score_batch_size"].default,
        flush_ms: int = Settings.model_fields["score_flush_ms"].default,
        input_topic: str = Settings.model_fields["input_topic"].default,
        sync_topic: str = Settings.model_fields["sync_topic"].default,
    ) -> None:
        self.initial = initial
        self.event_model = event_model
        self.partition_attribute = partition_attribute
        self.ticks_per_second = ticks_per_second
        self.registry_path = registry_path
        self.loader = loader or functools.partial(default_loader, max_bytes=max_model_bytes)
        self.models_dir = models_dir
        self.max_model_bytes = max_model_bytes
        self.poll_ms = poll_ms
        self.pause_timeout_ms = pause_timeout_ms
        self.max_pause_buffer = max_pause_buffer
        self.batch_size = batch_size
        self.flush_ms = flush_ms
        self.input_topic = input_topic
        self.sync_topic = sync_topic
        self.models: ModelCache | None = None
        self.runs: Any = None
        self.shard_state: Any = None
        self.held: Any = None
        self.dead_letters = DeadLetterCounter()
        self.metrics = EngineMetrics()
        self._control_raw: str | None = None
        self._control = ControlState()
        self._oldest_arrival: int | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.dead_letters.bind(runtime_context)
        self.metrics.bind(runtime_context)
        self.models = ModelCache(self.loader)
        self.runs = runtime_context.get_map_state(
            MapStateDescriptor("engine_runs", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
        )
        self.shard_state = runtime_context.get_state(
            ValueStateDescriptor("engine_shard", Types.PICKLED_BYTE_ARRAY())
        )
        self.held = runtime_context.get_list_state(
            ListStateDescriptor("engine_held", Types.PICKLED_BYTE_ARRAY())
        )

    # ----------------------------------------------------------------------------- control input
    def process_broadcast_element(self, value: EngineSync, ctx: Any) -> Iterator[Any]:
        assert self.models is not None
        broadcast = ctx.get_broadcast_state(CONTROL_STATE)
        control = self._read_control(broadcast)
        sync = value
        if sync.type is SyncType.PLAY and sync.model_id and sync.model_path:
            try:
                model_path = confined_model_path(sync.model_path, self.models_dir, self.max_model_bytes)
                self.models(model_path)  # validate (and warm the cache) before any key swaps
                sync = sync.model_copy(update={"model_path": model_path})
            except (OSError, ValueError) as exc:  # ClaimError and ModelLoadError included
                reason = f"PLAY model {sync.model_id} at {sync.model_path} cannot be loaded: {exc}"
                yield self._dead_letter(self.sync_topic, reason, encode(sync))
                sync = sync.model_copy(update={"model_id": None, "model_path": None})
        method = (
            creation_method_of(self.registry_path, sync.model_id) if sync.model_id else CreationMethod.RETRAIN
        )
        control = on_sync(control, sync, creation_method=method, ticks_per_second=self.ticks_per_second)
        raw = json.dumps(control.to_dict())
        broadcast.put("control", raw)
        self._control_raw, self._control = raw, control
        self.metrics.on_control(control, self.initial)

    # ------------------------------------------------------------------------------- event input
    def process_element(self, value: Any, ctx: Any) -> Iterator[Any]:
        """One batch of this shard: a JSON array of raw JSON events, in arrival order."""
        assert self.models is not None
        control = self._read_control(ctx.get_broadcast_state(CONTROL_STATE))
        shard = self._shard()
        now = ctx.timer_service().current_processing_time()
        if shard.carried:
            self._adopt_carried(shard, now)
        lines: list[str] = []
        self._oldest_arrival = None
        events = events_of(value)
        self.metrics.events_in.inc(len(events))
        ready: list[Ready] = []
        for raw in events:
            yield from self._on_event(raw, control, shard, now, ready, lines)
        yield from self._run_ready(ready, control, shard, lines)
        if lines:
            yield self._forecasts(lines, ctx)
        self._arm_timers(shard, ctx)
        self.shard_state.update(shard)
        self.metrics.on_shard(ctx.get_current_key(), shard.pause.held)

    def _on_event(
        self, raw: str, control: ControlState, shard: ShardState, now: int, ready: list[Ready],
        lines: list[str],
    ) -> Iterator[Any]:  # fmt: skip
        """Decode one event, then hold it (paused) or queue it in ``ready`` to run with the batch's other
        events; a release first runs what is ready, then the held events. Bad events become dead letters."""
        try:
            event = decode(self.event_model, raw).as_record()
        except DecodeError as exc:
            yield self._dead_letter(self.input_topic, str(exc), raw)
            return
        key = str(event[self.partition_attribute])
        held_since = shard.pause.since
        shard.pause, actions = on_arrival(
            shard.pause, control, now, self.pause_timeout_ms, self.max_pause_buffer
        )
        for action in actions:
            if action is Route.HOLD:
                self.held.add((key, event))
            elif action is Route.RUN:
                self._arrived(now)
                ready.append((key, event, raw))
            else:
                self._arrived(held_since if held_since is not None else now)
                yield from self._run_ready(ready, control, shard, lines)
                yield from self._replay(action, control, shard, lines)

    def _run_ready(
        self, ready: list[Ready], control: ControlState, shard: ShardState, lines: list[str],
        unmarked: frozenset[str] = frozenset(),
    ) -> Iterator[Any]:  # fmt: skip
        """Run the queued events, each key's together (:func:`~inference_job.key_runs.run_batch`), and
        emit their forecasts and score deltas in arrival order; empties ``ready``.

        A key in ``unmarked`` resumes without a PLAY: its first event that runs is marked ``resumed``.
        """
        assert self.models is not None
        if not ready:
            return
        items = list(ready)
        ready.clear()
        batch = run_batch(items, self.runs.get, control, self.models, self.initial)
        for failure in batch.failures:
            key, event, raw = items[failure.index]
            error = failure.error
            _LOG.error("key %s: event failed: %s: %s", key, type(error).__name__, error, exc_info=error)
            yield self._dead_letter(
                self.input_topic, f"engine failed on key {key}: {type(error).__name__}: {error}",
                raw if raw is not None else json.dumps(event),
            )  # fmt: skip
        for key, prior, state in batch.states:
            self.runs.put(key, state)
            if prior is not None and state.swaps != prior.swaps:
                self.metrics.swaps.inc(state.swaps - prior.swaps)
            self.metrics.on_model(state.model.model_id)
        marked: set[str] = set()
        for ran in batch.outcomes:
            resumed = ran.key in unmarked and ran.key not in marked
            if resumed:
                marked.add(ran.key)
            self._emit(ran, shard, lines, resumed=resumed)
        while len(shard.deltas) >= self.batch_size:
            yield self._flush(shard)

    def _replay(
        self, reason: Release, control: ControlState, shard: ShardState, lines: list[str]
    ) -> Iterator[Any]:
        """Run the shard's held events, in arrival order, through their keys' engines.

        Released without a PLAY (``reason`` in ``WITHOUT_PLAY``), the first replayed delta of each key is
        marked ``resumed`` and the release is logged. ``shard.pause`` is already the released state.
        """
        held: list[tuple[str, dict[str, Any]]] = list(self.held.get() or ())
        self.held.clear()
        unmarked = {key for key, _ in held} if reason in WITHOUT_PLAY else set()
        if unmarked:
            why = (f"no PLAY within {self.pause_timeout_ms} ms" if reason is Release.TIMEOUT
                   else f"{self.max_pause_buffer} events held")  # fmt: skip
            _LOG.warning("pause given up (%s): %d keys resume on their current models with %d held events",
                         why, len(unmarked), len(held))  # fmt: skip
        ready: list[Ready] = [(key, event, None) for key, event in held]
        yield from self._run_ready(ready, control, shard, lines, frozenset(unmarked))

    def _adopt_carried(self, shard: ShardState, now: int) -> None:
        """Move the per-key pause buffers of a checkpoint of the earlier layout to the shard's held list."""
        for key in sorted(shard.carried):
            state = self.runs.get(key)
            if state is not None and state.carried:
                for event in state.carried:
                    self.held.add((key, dict(event)))
                self.runs.put(key, replace(state, carried=()))
                since = shard.pause.since if shard.pause.since is not None else now
                shard.pause = replace(shard.pause, held=shard.pause.held + len(state.carried), since=since)
        shard.carried = set()

    def _dead_letter(self, topic: str, reason: str, payload: str) -> tuple[Any, str]:
        self.dead_letters.inc()
        if topic == self.input_topic:
            self.metrics.events_dead_lettered.inc()
        letter = dead_letter(source_topic=topic, job=JOB_NAME, reason=reason, payload=payload)
        return DEAD_LETTERS, encode(letter)

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Any]:
        assert self.models is not None
        shard = self._shard()
        end_of_input = ctx.time_domain() == TimeDomain.EVENT_TIME and timestamp >= END_OF_INPUT
        if end_of_input:
            shard.end_armed = False
        else:
            shard.timer_at = None
        now = ctx.timer_service().current_processing_time()
        if shard.carried:
            self._adopt_carried(shard, now)
        lines: list[str] = []
        self._oldest_arrival = None
        if shard.pause.held:
            control = self._read_control(ctx.get_broadcast_state(CONTROL_STATE))
            reason = release_due(shard.pause, control, now, self.pause_timeout_ms, end_of_input=end_of_input)
            if reason is not None:
                self._arrived(shard.pause.since if shard.pause.since is not None else now)
                shard.pause = after_release(shard.pause, control, reason)
                yield from self._replay(reason, control, shard, lines)
        if lines:
            yield self._forecasts(lines, ctx)
        while shard.deltas:
            yield self._flush(shard)
        if not end_of_input:
            self._arm_timers(shard, ctx)
        self.shard_state.update(shard)
        self.metrics.on_shard(ctx.get_current_key(), shard.pause.held)

    # ------------------------------------------------------------------------------------ helpers
    def _shard(self) -> ShardState:
        shard = self.shard_state.value()
        return shard if shard is not None else ShardState()

    def _arm_timers(self, shard: ShardState, ctx: Any) -> None:
        """One processing-time timer while anything is pending, plus the end-of-input timer."""
        if not shard.deltas and not shard.pause.held:
            return
        timers = ctx.timer_service()
        if not shard.end_armed:
            timers.register_event_time_timer(END_OF_INPUT)
            shard.end_armed = True
        now = timers.current_processing_time()
        if needs_timer(shard.timer_at, now):
            delay = self.flush_ms if shard.deltas else self.poll_ms
            shard.timer_at = now + delay
            timers.register_processing_time_timer(shard.timer_at)

    def _arrived(self, at_ms: int) -> None:
        """An event that reached the engine at ``at_ms`` runs in this call (for the latency metric)."""
        if self._oldest_arrival is None or at_ms < self._oldest_arrival:
            self._oldest_arrival = at_ms

    def _forecasts(self, lines: list[str], ctx: Any) -> tuple[Any, str]:
        """The call's forecasts as one side-output record; counted, and the call's latency sampled."""
        now = ctx.timer_service().current_processing_time()
        self.metrics.on_forecasts(len(lines), self._oldest_arrival, now)
        return FORECASTS, "\n".join(lines)

    def _flush(self, shard: ShardState) -> str:
        """The pending deltas, at most ``batch_size`` of the oldest, as one record."""
        batch = encode_batch(shard.deltas[: self.batch_size])
        shard.deltas = shard.deltas[self.batch_size :]
        return batch

    def _read_control(self, broadcast: Any) -> ControlState:
        """The broadcast control state, decoded only when its JSON changed."""
        raw = broadcast.get("control")
        if raw != self._control_raw:
            self._control = ControlState.from_dict(json.loads(raw)) if raw else ControlState()
            self._control_raw = raw
            self.metrics.on_control(self._control, self.initial)
        return self._control

    def _emit(self, outcome: Processed, shard: ShardState, lines: list[str], *, resumed: bool) -> None:
        """A forecast record (JSON line) into ``lines`` if the event gave a forecast, and its score-delta
        row into the shard (marked ``resumed`` on a key's first event after a pause ended without PLAY)."""
        f = outcome.forecast
        ref = outcome.model
        if f is not None:
            lines.append(forecast_line(outcome.key, outcome.timestamp, ref.model_id, f.probability, f.start,
                                       f.end, f.positive))  # fmt: skip
        shard.deltas.append(delta_row(
            outcome.key, outcome.timestamp, ref.model_id, ref.creation_method.value, outcome.resolved,
            int(f is not None), int(outcome.detected), 1, int(resumed),
        ))  # fmt: skip
