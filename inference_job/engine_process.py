"""The forecasting engine: per-shard batches of raw events + broadcast engine-sync control.

Wiring: ``key_by_shard(batches).connect(control.broadcast(CONTROL_STATE))`` (see
:mod:`~inference_job.event_batches`). Flink's key is the *shard* of the partition key; each partition key
(vessel, card) keeps its own engine state in an entry of the shard's ``MapState``, so runs stay isolated
per partition key and are restored after a restart, and rescaling moves whole shards. An input record is a
JSON array of the shard's raw events in arrival order: each is decoded here (undecodable ones become dead
letters) and run through its key's engine. The forecasts of one call leave as one record of JSON lines
(split into one Kafka record each in the JVM). The score deltas of all keys of a shard are collected in
the shard's state and sent to the single aggregator as one record
(:func:`~inference_job.scoring.encode_batch`) when ``batch_size`` deltas are pending or ``flush_ms`` of
processing time after the first one.

PyFlink cannot apply a broadcast element to every key's state (``applyToKeyedState`` is not supported),
so the control stream only updates the broadcast :class:`~inference_job.lifecycle.ControlState`; each
partition key applies it lazily on its next event, or on its shard's timer while it has buffered events.
Keys seen for the first time after a control message therefore get it too.

State (all keyed by shard):

* ``engine_runs`` ``MapState``: partition key -> :class:`~inference_job.lifecycle.KeyState` (pickled
  through its dict form);
* ``engine_shard`` ``ValueState``: :class:`ShardState` (pending delta rows, keys holding buffered events,
  armed timers);
* broadcast ``engine_control``: the control state as JSON (one entry, ``"control"``).

Timers, per shard: one processing-time timer while deltas are pending or keys hold buffered events
(flushes the deltas; replays buffers once a PLAY has arrived, polling every ``poll_ms`` meanwhile), and an
event-time timer at :data:`END_OF_INPUT`, reached only by the final watermark of a bounded input, which
flushes everything (a bounded run never loses events or deltas, even if it ends paused).

Models are loaded once per operator through :class:`ModelCache` (keyed by path). Outputs: main = delta
batches; side outputs ``forecasts`` (``ForecastRecord`` JSON lines, one record per call) and
``dead_letters``.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyflink.common import Types
from pyflink.datastream import TimeDomain
from pyflink.datastream.functions import KeyedBroadcastProcessFunction, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from flink_common.dead_letters import DeadLetterCounter
from flink_common.io import string_tag
from flink_common.timers import END_OF_INPUT, needs_timer
from inference_job.event_batches import events_of
from inference_job.lifecycle import ControlState, ModelRef, Processed, on_event, on_sync, resume
from inference_job.parse_messages import DEAD_LETTERS, JOB_NAME
from inference_job.scoring import ScoreDelta, encode_batch
from protocol.codec import DecodeError, dead_letter, decode, encode
from protocol.messages import (
    CardTransaction,
    CreationMethod,
    EngineSync,
    ForecastRecord,
    MaritimeEvent,
    SyncType,
)
from protocol.settings import Domain, Settings

__all__ = [
    "CONTROL_STATE",
    "END_OF_INPUT",
    "FORECASTS",
    "EngineProcess",
    "ModelCache",
    "ShardState",
    "event_model",
    "partition_attribute",
    "resolve_initial_model",
    "ticks_per_second",
]

_LOG = logging.getLogger(__name__)

CONTROL_STATE = MapStateDescriptor("engine_control", Types.STRING(), Types.STRING())
FORECASTS = string_tag("forecasts")

_PARTITION_BY = {Domain.MARITIME: "mmsi", Domain.FINANCE: "pan"}


def partition_attribute(settings: Settings) -> str:
    """The attribute events are keyed by: the patterns' ``partitionBy`` of the configured domain."""
    return _PARTITION_BY[settings.domain]


def event_model(settings: Settings) -> type[MaritimeEvent] | type[CardTransaction]:
    """The input event message of the configured domain."""
    return CardTransaction if settings.domain is Domain.FINANCE else MaritimeEvent


def ticks_per_second(settings: Settings) -> int:
    """Event timestamps per second: maritime events are in seconds, card transactions in milliseconds."""
    return 1000 if settings.domain is Domain.FINANCE else 1


@dataclass(slots=True)
class ShardState:
    """Per-shard bookkeeping kept in keyed state (mutable: it lives in PyFlink's state cache).

    ``deltas`` are pending score-delta rows (:meth:`ScoreDelta.row` layout); ``buffered`` the partition
    keys holding events received while paused; ``timer_at`` the armed processing-time timer (or None);
    ``end_armed`` whether the end-of-input timer is registered.
    """

    deltas: list[list[Any]] = field(default_factory=list)
    buffered: set[str] = field(default_factory=set)
    timer_at: int | None = None
    end_armed: bool = False


class ModelCache:
    """Models by path, loaded once per operator instance (least recently used evicted past ``size``)."""

    def __init__(self, loader: Callable[[str], Any], size: int = 4) -> None:
        self._loader = loader
        self._size = size
        self._models: OrderedDict[str, Any] = OrderedDict()

    def __call__(self, path: str) -> Any:
        model = self._models.get(path)
        if model is None:
            model = self._loader(path)
            self._models[path] = model
            if len(self._models) > self._size:
                self._models.popitem(last=False)
        self._models.move_to_end(path)
        return model


def resolve_initial_model(settings: Settings) -> ModelRef:
    """The model keys start with: the registry's current model, else ``bootstrap_model_path``."""
    from shared_volume.registry import load_registry

    entry = load_registry(settings.registry_path).current_entry()
    if entry is not None:
        return ModelRef(entry.model_id, entry.path, entry.creation_method)
    if settings.bootstrap_model_path is not None:
        return ModelRef("initial", str(settings.bootstrap_model_path), CreationMethod.INITIAL)
    raise FileNotFoundError(
        f"no current model in {settings.registry_path} and BOOTSTRAP_MODEL_PATH is not set: "
        "run `python -m inference_job.bootstrap` first"
    )


def _creation_method(registry_path: str | None, model_id: str) -> CreationMethod:
    """How a model announced by PLAY was made, from the registry (retrain when unknown)."""
    if registry_path:
        try:
            from shared_volume.registry import load_registry

            entry = load_registry(Path(registry_path)).get(model_id)
            if entry is not None:
                return entry.creation_method
        except (OSError, ValueError) as exc:
            _LOG.warning("cannot read the model registry %s: %s", registry_path, exc)
    return CreationMethod.RETRAIN


def _default_loader(path: str) -> Any:
    from wayeb_py.engine import SPSTModel

    return SPSTModel.load(path)


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
        poll_ms: int = 1000,
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
        self.loader = loader or _default_loader
        self.poll_ms = poll_ms
        self.batch_size = batch_size
        self.flush_ms = flush_ms
        self.input_topic = input_topic
        self.sync_topic = sync_topic
        self.models: ModelCache | None = None
        self.runs: Any = None
        self.shard_state: Any = None
        self.dead_letters = DeadLetterCounter()
        self._control_raw: str | None = None
        self._control = ControlState()

    def open(self, runtime_context: RuntimeContext) -> None:
        self.dead_letters.bind(runtime_context)
        self.models = ModelCache(self.loader)
        self.runs = runtime_context.get_map_state(
            MapStateDescriptor("engine_runs", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
        )
        self.shard_state = runtime_context.get_state(
            ValueStateDescriptor("engine_shard", Types.PICKLED_BYTE_ARRAY())
        )

    # ----------------------------------------------------------------------------- control input
    def process_broadcast_element(self, value: EngineSync, ctx: Any) -> Iterator[Any]:
        assert self.models is not None
        broadcast = ctx.get_broadcast_state(CONTROL_STATE)
        control = self._read_control(broadcast)
        sync = value
        if sync.type is SyncType.PLAY and sync.model_id and sync.model_path:
            try:
                self.models(sync.model_path)  # validate (and warm the cache) before any key swaps
            except (OSError, ValueError) as exc:
                reason = f"PLAY model {sync.model_id} at {sync.model_path} cannot be loaded: {exc}"
                yield self._dead_letter(self.sync_topic, reason, encode(sync))
                sync = sync.model_copy(update={"model_id": None, "model_path": None})
        method = (
            _creation_method(self.registry_path, sync.model_id) if sync.model_id else CreationMethod.RETRAIN
        )
        control = on_sync(control, sync, creation_method=method, ticks_per_second=self.ticks_per_second)
        broadcast.put("control", json.dumps(control.to_dict()))

    # ------------------------------------------------------------------------------- event input
    def process_element(self, value: Any, ctx: Any) -> Iterator[Any]:
        """One batch of this shard: a JSON array of raw JSON events, in arrival order."""
        assert self.models is not None
        control = self._read_control(ctx.get_broadcast_state(CONTROL_STATE))
        shard = self._shard()
        lines: list[str] = []
        for raw in events_of(value):
            yield from self._on_event(raw, control, shard, lines)
            if len(shard.deltas) >= self.batch_size:
                yield self._flush(shard)
        if lines:
            yield FORECASTS, "\n".join(lines)
        self._arm_timers(shard, ctx)
        self.shard_state.update(shard)

    def _on_event(
        self, raw: str, control: ControlState, shard: ShardState, lines: list[str]
    ) -> Iterator[Any]:
        """Decode one event and run it through its key's engine; bad events become dead letters."""
        assert self.models is not None
        try:
            event = decode(self.event_model, raw).model_dump(mode="json")
        except DecodeError as exc:
            yield self._dead_letter(self.input_topic, str(exc), raw)
            return
        key = str(event[self.partition_attribute])
        try:
            state, processed = on_event(self.runs.get(key), control, key, event, self.models, self.initial)
        except Exception as exc:  # a model bug must not kill the job: the event is dead-lettered
            _LOG.exception("key %s: event failed", key)
            yield self._dead_letter(
                self.input_topic, f"engine failed on key {key}: {type(exc).__name__}: {exc}", raw
            )
            return
        self.runs.put(key, state)
        if state.buffer:
            shard.buffered.add(key)
        self._emit(key, processed, shard, lines)

    def _dead_letter(self, topic: str, reason: str, payload: str) -> tuple[Any, str]:
        self.dead_letters.inc()
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
        lines: list[str] = []
        if shard.buffered:
            control = self._read_control(ctx.get_broadcast_state(CONTROL_STATE))
            for key in sorted(shard.buffered):
                state = self.runs.get(key)
                if state is None:
                    shard.buffered.discard(key)
                    continue
                state, processed = resume(state, control, key, self.models, force=end_of_input)
                self.runs.put(key, state)
                if not state.buffer:
                    shard.buffered.discard(key)
                self._emit(key, processed, shard, lines)
        if lines:
            yield FORECASTS, "\n".join(lines)
        if shard.deltas:
            yield self._flush(shard)
        if not end_of_input:
            self._arm_timers(shard, ctx)
        self.shard_state.update(shard)

    # ------------------------------------------------------------------------------------ helpers
    def _shard(self) -> ShardState:
        shard = self.shard_state.value()
        return shard if shard is not None else ShardState()

    def _arm_timers(self, shard: ShardState, ctx: Any) -> None:
        """One processing-time timer while anything is pending, plus the end-of-input timer."""
        if not shard.deltas and not shard.buffered:
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

    def _flush(self, shard: ShardState) -> str:
        batch = encode_batch(shard.deltas)
        shard.deltas = []
        return batch

    def _read_control(self, broadcast: Any) -> ControlState:
        """The broadcast control state, decoded only when its JSON changed."""
        raw = broadcast.get("control")
        if raw != self._control_raw:
            self._control = ControlState.from_dict(json.loads(raw)) if raw else ControlState()
            self._control_raw = raw
        return self._control

    def _emit(self, key: str, processed: list[Processed], shard: ShardState, lines: list[str]) -> None:
        """A forecast record (JSON line) per forecast into ``lines``; a score-delta row per event into
        the shard."""
        for p in processed:
            f = p.forecast
            if f is not None:
                record = ForecastRecord(
                    key=key,
                    timestamp=p.timestamp,
                    model_id=p.model.model_id,
                    probability=min(1.0, max(0.0, float(f.probability))),
                    start=int(f.start),
                    end=int(f.end),
                    positive=bool(f.positive),
                )
                lines.append(encode(record))
            delta = ScoreDelta(
                key, p.timestamp, p.model.model_id, p.model.creation_method, p.resolved,
                forecasts=int(f is not None), detections=int(p.detected),
            )  # fmt: skip
            shard.deltas.append(delta.row())
