"""The keyed forecasting engine: events keyed by partition attribute + broadcast engine-sync control.

Wiring: ``events.key_by(PartitionKey(attr)).connect(control.broadcast(CONTROL_STATE))``. PyFlink cannot
apply a broadcast element to every key's state (``applyToKeyedState`` is not supported), so the control
stream only updates the broadcast :class:`~inference_job.lifecycle.ControlState`; each key applies it
lazily on its next event, or on a timer while it has buffered events. Keys seen for the first time
after a control message therefore get it too.

State:

* keyed ``ValueState`` ``engine_key_state``: the key's :class:`~inference_job.lifecycle.KeyState` as
  JSON (run state via ``RunState.to_dict``), so runs are isolated per key and restored after a restart;
* broadcast ``engine_control``: the control state as JSON (one entry, ``"control"``).

Timers: while a key holds buffered events it keeps a processing-time timer (polling every
``poll_ms``) so that a PLAY replays its buffer even if the key sends nothing more, and an event-time
timer at :data:`END_OF_INPUT`, reached only by the final watermark of a bounded input, which flushes
the buffer (a bounded run never loses events, even if it ends paused).

Models are loaded once per operator through :class:`ModelCache` (keyed by path). Outputs: main =
:class:`~inference_job.scoring.ScoreDelta` JSON per processed event; side outputs ``forecasts``
(``ForecastRecord`` JSON) and ``dead_letters``.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pyflink.common import Types
from pyflink.datastream import TimeDomain
from pyflink.datastream.functions import KeyedBroadcastProcessFunction, KeySelector, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from flink_common.dead_letters import DeadLetterCounter
from flink_common.io import string_tag
from inference_job.lifecycle import ControlState, KeyState, ModelRef, Processed, on_event, on_sync, resume
from inference_job.parse_messages import DEAD_LETTERS, JOB_NAME
from inference_job.scoring import ScoreDelta
from protocol.codec import dead_letter, encode
from protocol.messages import CreationMethod, EngineSync, ForecastRecord, SyncType
from protocol.settings import Domain, Settings

__all__ = [
    "CONTROL_STATE",
    "END_OF_INPUT",
    "FORECASTS",
    "EngineProcess",
    "ModelCache",
    "PartitionKey",
    "partition_attribute",
    "resolve_initial_model",
    "ticks_per_second",
]

_LOG = logging.getLogger(__name__)

CONTROL_STATE = MapStateDescriptor("engine_control", Types.STRING(), Types.STRING())
FORECASTS = string_tag("forecasts")
END_OF_INPUT = 2**62
"""Event-time timer reached only by the final (``Long.MAX``) watermark of a bounded input."""

_PARTITION_BY = {Domain.MARITIME: "mmsi", Domain.FINANCE: "pan"}


def partition_attribute(settings: Settings) -> str:
    """The attribute events are keyed by: the patterns' ``partitionBy`` of the configured domain."""
    return _PARTITION_BY[settings.domain]


def ticks_per_second(settings: Settings) -> int:
    """Event timestamps per second: maritime events are in seconds, card transactions in milliseconds."""
    return 1000 if settings.domain is Domain.FINANCE else 1


class PartitionKey(KeySelector):
    """Key selector: the partition attribute of a parsed event (a dict)."""

    def __init__(self, attribute: str) -> None:
        self.attribute = attribute

    def get_key(self, value: dict[str, Any]) -> str:
        return str(value[self.attribute])


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


def _default_run_from_dict(data: Any) -> Any:
    from wayeb_py.engine import RunState

    return RunState.from_dict(data)


class EngineProcess(KeyedBroadcastProcessFunction):
    """Per-key forecasting with pause buffering and stream-time model swaps (see module docstring)."""

    def __init__(
        self,
        initial: ModelRef,
        *,
        ticks_per_second: int = 1,
        registry_path: str | None = None,
        loader: Callable[[str], Any] | None = None,
        run_from_dict: Callable[[Any], Any] | None = None,
        poll_ms: int = 1000,
        input_topic: str = Settings.model_fields["input_topic"].default,
        sync_topic: str = Settings.model_fields["sync_topic"].default,
    ) -> None:
        self.initial = initial
        self.ticks_per_second = ticks_per_second
        self.registry_path = registry_path
        self.loader = loader or _default_loader
        self.run_from_dict = run_from_dict or _default_run_from_dict
        self.poll_ms = poll_ms
        self.models: ModelCache | None = None
        self.key_state: Any = None
        self.input_topic = input_topic
        self.sync_topic = sync_topic
        self.dead_letters = DeadLetterCounter()

    def open(self, runtime_context: RuntimeContext) -> None:
        self.dead_letters.bind(runtime_context)
        self.models = ModelCache(self.loader)
        self.key_state = runtime_context.get_state(ValueStateDescriptor("engine_key_state", Types.STRING()))

    # ----------------------------------------------------------------------------- control input
    def process_broadcast_element(self, value: EngineSync, ctx: Any) -> Iterator[Any]:
        assert self.models is not None
        broadcast = ctx.get_broadcast_state(CONTROL_STATE)
        control = _read_control(broadcast)
        sync = value
        if sync.type is SyncType.PLAY and sync.model_id and sync.model_path:
            try:
                self.models(sync.model_path)  # validate (and warm the cache) before any key swaps
            except (OSError, ValueError) as exc:
                reason = f"PLAY model {sync.model_id} at {sync.model_path} cannot be loaded: {exc}"
                self.dead_letters.inc()
                yield (
                    DEAD_LETTERS,
                    encode(
                        dead_letter(
                            source_topic=self.sync_topic, job=JOB_NAME, reason=reason, payload=encode(sync)
                        )
                    ),
                )
                sync = sync.model_copy(update={"model_id": None, "model_path": None})
        method = (
            _creation_method(self.registry_path, sync.model_id) if sync.model_id else CreationMethod.RETRAIN
        )
        control = on_sync(control, sync, creation_method=method, ticks_per_second=self.ticks_per_second)
        broadcast.put("control", json.dumps(control.to_dict()))

    # ------------------------------------------------------------------------------- event input
    def process_element(self, value: dict[str, Any], ctx: Any) -> Iterator[Any]:
        assert self.models is not None
        key = str(ctx.get_current_key())
        control = _read_control(ctx.get_broadcast_state(CONTROL_STATE))
        previous = self._load()
        try:
            state, processed = on_event(previous, control, key, value, self.models, self.initial)
        except Exception as exc:  # a model bug must not kill the job: the event is dead-lettered
            _LOG.exception("key %s: event failed", key)
            reason = f"engine failed on key {key}: {type(exc).__name__}: {exc}"
            self.dead_letters.inc()
            letter = dead_letter(
                source_topic=self.input_topic, job=JOB_NAME, reason=reason, payload=json.dumps(value)
            )
            yield DEAD_LETTERS, encode(letter)
            return
        self._store(state)
        if state.buffer:
            self._arm_timers(ctx)
        yield from _emit(key, processed)

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Any]:
        assert self.models is not None
        state = self._load()
        if state is None or not state.buffer:
            return
        key = str(ctx.get_current_key())
        control = _read_control(ctx.get_broadcast_state(CONTROL_STATE))
        force = ctx.time_domain() == TimeDomain.EVENT_TIME and timestamp >= END_OF_INPUT
        state, processed = resume(state, control, key, self.models, force=force)
        self._store(state)
        if state.buffer and not force:
            ctx.timer_service().register_processing_time_timer(
                ctx.timer_service().current_processing_time() + self.poll_ms
            )
        yield from _emit(key, processed)

    # ------------------------------------------------------------------------------------ helpers
    def _arm_timers(self, ctx: Any) -> None:
        timers = ctx.timer_service()
        timers.register_event_time_timer(END_OF_INPUT)
        timers.register_processing_time_timer(timers.current_processing_time() + self.poll_ms)

    def _load(self) -> KeyState | None:
        raw = self.key_state.value()
        return KeyState.from_dict(json.loads(raw), self.run_from_dict) if raw else None

    def _store(self, state: KeyState) -> None:
        self.key_state.update(json.dumps(state.to_dict(), separators=(",", ":")))


def _read_control(broadcast: Any) -> ControlState:
    raw = broadcast.get("control")
    return ControlState.from_dict(json.loads(raw)) if raw else ControlState()


def _emit(key: str, processed: list[Processed]) -> Iterator[Any]:
    """Forecast records on the side output, one score delta per processed event on the main output."""
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
            yield FORECASTS, encode(record)
        delta = ScoreDelta(
            key=key,
            timestamp=p.timestamp,
            model_id=p.model.model_id,
            creation_method=p.model.creation_method,
            resolved=p.resolved,
            forecasts=int(f is not None),
            detections=int(p.detected),
        )
        yield delta.to_json()
