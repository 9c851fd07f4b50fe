"""Model lifecycle of the inference engine: run, pause (holding events), play, swap in stream time.

Two pure state machines live here (the pause that holds a shard's events is :mod:`inference_job.shard`):

* :class:`ControlState` is the operator-wide view of the ``enginesync`` topic, kept in broadcast state:
  paused or not, and the latest model announced by a PLAY with the event time at which it takes over
  (``play.timestamp + production_time``: the original RTCEF keeps forecasting with the old model until
  stream time has advanced by the model's production time). Every change bumps ``seq``.
* :class:`KeyState` is one partition's (vessel's, card's) engine state, kept in keyed state. A key
  applies the control state lazily, on its next event, when ``seq`` has moved on: this is how a
  broadcast message reaches every key, including keys first seen after it.

Swap of one key: a PLAY carrying a model makes the swap pending until an event with timestamp
>= swap_at is run; that event first adopts the run into the new model (``new_model.adopt(run)``),
resets the key's runtime counters, and is then processed by the new model. A PLAY without a model
(an aborted session) only resumes.

Every processed event yields one :class:`Processed` stamped with the model that produced it.
Models are obtained through a ``ModelSource`` (path -> model): the Flink function passes a per-operator
cache, tests pass a fake. Nothing here imports PyFlink.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple, Protocol

from protocol.messages import CreationMethod, EngineSync, SyncType
from wayeb_py.evaluation import ZERO, Metrics

__all__ = [
    "ControlState",
    "KeyState",
    "ModelRef",
    "ModelSource",
    "PendingSwap",
    "Processed",
    "apply_control",
    "new_key_state",
    "on_event",
    "on_sync",
    "swap_or_stay",
]


class EngineModel(Protocol):
    """What the lifecycle needs from a forecasting model (``wayeb_py.engine.SPSTModel``)."""

    def new_run(self) -> Any: ...

    def step(self, state: Any, event: Mapping[str, Any]) -> tuple[Any, Any]: ...

    def adopt(self, state: Any) -> Any: ...

    def symbol_of(self, event: Mapping[str, Any]) -> Any: ...

    def step_many(
        self, state: Any, symbols: Sequence[Any], timestamps: Sequence[int]
    ) -> tuple[Any, list[Any]]: ...


_LOG = logging.getLogger(__name__)

ModelSource = Callable[[str], EngineModel]
"""Returns the (cached) model stored at a path."""


@dataclass(frozen=True, slots=True)
class ModelRef:
    """Identity of a model version: what is stamped on forecasts and scores."""

    model_id: str
    path: str
    creation_method: CreationMethod = CreationMethod.INITIAL

    def to_dict(self) -> dict[str, str]:
        return {"model_id": self.model_id, "path": self.path, "creation_method": self.creation_method.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelRef:
        return cls(str(data["model_id"]), str(data["path"]), CreationMethod(data["creation_method"]))


@dataclass(frozen=True, slots=True)
class PendingSwap:
    """A model announced by PLAY, active for events with ``timestamp >= swap_at``."""

    model: ModelRef
    swap_at: int

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model.to_dict(), "swap_at": self.swap_at}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingSwap:
        return cls(ModelRef.from_dict(data["model"]), int(data["swap_at"]))


# ------------------------------------------------------------------------------------------- control


@dataclass(frozen=True, slots=True)
class ControlState:
    """The latest engine-sync state, shared by all keys of an operator (broadcast state)."""

    seq: int = 0
    paused: bool = False
    latest: PendingSwap | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "paused": self.paused,
            "latest": self.latest.to_dict() if self.latest else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ControlState:
        latest = data.get("latest")
        return cls(int(data["seq"]), bool(data["paused"]), PendingSwap.from_dict(latest) if latest else None)


def on_sync(
    control: ControlState,
    sync: EngineSync,
    *,
    creation_method: CreationMethod = CreationMethod.RETRAIN,
    ticks_per_second: int = 1,
) -> ControlState:
    """Fold one engine-sync message into the control state.

    ``production_time`` is in seconds; ``ticks_per_second`` converts it to the unit of event timestamps
    (1 for maritime seconds, 1000 for card milliseconds).
    """
    if sync.type is SyncType.PAUSE:
        return replace(control, seq=control.seq + 1, paused=True)
    latest = control.latest
    if sync.model_id and sync.model_path:
        delay = math.ceil(sync.production_time * ticks_per_second)
        latest = PendingSwap(
            ModelRef(sync.model_id, sync.model_path, creation_method), sync.timestamp + delay
        )
    return ControlState(seq=control.seq + 1, paused=False, latest=latest)


# ----------------------------------------------------------------------------------------- per key


class Processed(NamedTuple):
    """The outcome of one event for one key (a named tuple: one is built per event)."""

    key: str
    timestamp: int
    model: ModelRef
    forecast: Any  # wayeb_py.engine.Forecast | None
    detected: bool
    resolved: Metrics


@dataclass(frozen=True, slots=True)
class KeyState:
    """The engine state of one partition key.

    ``run`` is the model's run state object (``RunState``). ``runtime``, ``events`` and ``detections``
    count since the key's last swap. ``carried`` holds the events a checkpoint of the earlier layout kept
    in the key's own pause buffer; the Flink function moves them to its shard's buffer on restore, so
    it is empty otherwise (events held while paused live in the shard's buffer, not here).
    """

    model: ModelRef
    run: Any = None
    pending: PendingSwap | None = None
    control_seq: int = 0
    runtime: Metrics = ZERO
    events: int = 0
    detections: int = 0
    swaps: int = 0
    carried: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; the run is serialised with its own ``to_dict`` (``buffer`` only if carried)."""
        data = {
            "model": self.model.to_dict(),
            "run": self.run.to_dict() if self.run is not None else None,
            "pending": self.pending.to_dict() if self.pending else None,
            "control_seq": self.control_seq,
            "runtime": [self.runtime.tp, self.runtime.tn, self.runtime.fp, self.runtime.fn],
            "events": self.events,
            "detections": self.detections,
            "swaps": self.swaps,
        }
        if self.carried:
            data["buffer"] = [dict(e) for e in self.carried]
        return data

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the :meth:`to_dict` form plus the run's class, not as the dataclass layout.

        Flink keeps this object in keyed state (``PICKLED_BYTE_ARRAY``); pickling it through its plain
        dict keeps checkpoints readable when fields are added (``from_dict`` fills defaults).
        """
        return (_restore_key_state, (self.to_dict(), type(self.run) if self.run is not None else None))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], run_from_dict: Callable[[Any], Any]) -> KeyState:
        """Inverse of :meth:`to_dict`; ``run_from_dict`` is ``RunState.from_dict``."""
        pending = data.get("pending")
        return cls(
            model=ModelRef.from_dict(data["model"]),
            run=run_from_dict(data["run"]) if data.get("run") is not None else None,
            pending=PendingSwap.from_dict(pending) if pending else None,
            control_seq=int(data.get("control_seq", 0)),
            runtime=Metrics(*data.get("runtime", (0, 0, 0, 0))),
            events=int(data.get("events", 0)),
            detections=int(data.get("detections", 0)),
            swaps=int(data.get("swaps", 0)),
            carried=tuple(data.get("buffer", ())),
        )


def _restore_key_state(data: Mapping[str, Any], run_type: Any) -> KeyState:
    """Unpickle a :class:`KeyState`: the run is rebuilt by its own class's ``from_dict``."""
    return KeyState.from_dict(data, run_type.from_dict if run_type is not None else _no_run)


def _no_run(data: Any) -> Any:
    raise ValueError("a key state without a run class carries run data")


def new_key_state(initial: ModelRef, control: ControlState, timestamp: int) -> KeyState:
    """State of a key seen for the first time: on the latest model if its swap time has passed."""
    latest = control.latest
    if latest is not None and timestamp >= latest.swap_at:
        return KeyState(model=latest.model, control_seq=control.seq)
    return KeyState(model=initial, pending=latest, control_seq=control.seq)


def apply_control(state: KeyState, control: ControlState) -> KeyState:
    """Bring a key up to date with the control state (idempotent)."""
    if state.control_seq == control.seq:
        return state
    pending = state.pending
    latest = control.latest
    if latest is not None and latest.model.model_id != state.model.model_id:
        pending = latest
    return replace(state, pending=pending, control_seq=control.seq)


def on_event(
    state: KeyState | None,
    control: ControlState,
    key: str,
    event: Mapping[str, Any],
    models: ModelSource,
    initial: ModelRef,
) -> tuple[KeyState, list[Processed]]:
    """Run one event of ``key`` through its model: the key's next state and the one event it processed.

    Whether the event runs now or is held first is the shard's decision
    (:func:`inference_job.shard.on_arrival`); held events come back here, in arrival order, when the
    shard releases them.
    """
    timestamp = int(event["timestamp"])
    state = apply_control(state, control) if state is not None else new_key_state(initial, control, timestamp)
    state, out = _process(state, key, event, models)
    return state, [out]


def _process(
    state: KeyState, key: str, event: Mapping[str, Any], models: ModelSource
) -> tuple[KeyState, Processed]:
    timestamp = int(event["timestamp"])
    if state.pending is not None and timestamp >= state.pending.swap_at:
        state = swap_or_stay(state, models, key)
    model = models(state.model.path)
    run = state.run if state.run is not None else model.new_run()
    run, result = model.step(run, event)
    resolved: Metrics = result.resolved
    # Spelled out rather than dataclasses.replace: this runs once per event and replace's generic
    # field walk was a fifth of the engine's time.
    state = KeyState(
        model=state.model,
        run=run,
        pending=state.pending,
        control_seq=state.control_seq,
        runtime=state.runtime + resolved,
        events=state.events + 1,
        detections=state.detections + int(bool(result.detected)),
        swaps=state.swaps,
        carried=state.carried,
    )
    return state, Processed(key, timestamp, state.model, result.forecast, bool(result.detected), resolved)


def swap_or_stay(state: KeyState, models: ModelSource, key: str) -> KeyState:
    """Adopt the key's run into its pending model and reset the counters kept since the last swap; if the
    model cannot be read or compiles another pattern, stay on the current model (logged)."""
    assert state.pending is not None
    target = state.pending.model
    try:
        new_model = models(target.path)
        run = new_model.adopt(state.run) if state.run is not None else None
    except (OSError, ValueError) as exc:
        _LOG.error("key %s: cannot swap to %s, staying on %s: %s", key, target, state.model, exc)
        return replace(state, pending=None)
    return replace(
        state,
        model=target,
        run=run,
        pending=None,
        runtime=ZERO,
        events=0,
        detections=0,
        swaps=state.swaps + 1,
    )
