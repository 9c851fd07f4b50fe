"""The engine's batch path: all events of one key in a shard batch run through its model together.

:func:`run_events` gives what folding :func:`~inference_job.lifecycle.on_event` over the events one at a
time gives (the key's final state, one :class:`~inference_job.lifecycle.Processed` per event, the same
events failing), which a property test checks on random streams with swaps, resets and bad events. It is
faster because the model steps each run of events between swaps with ``step_many`` (the run state is built
once, not per event) and the key's counters are summed once per run.

An event fails, as on the one-at-a-time path, when its key's model cannot be loaded or the pattern cannot
map it (a missing attribute, no minterm): it is reported in ``failures`` and leaves the key's state as it
was, so a swap it would have triggered is tried again by the next event. Any other error (a model bug)
propagates: the caller then runs the key's events one at a time, which isolates the failing one.
:func:`run_batch` does this for every key of a shard batch and puts the outcomes back in arrival order.
Nothing here imports PyFlink.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from inference_job.lifecycle import (
    ControlState,
    KeyState,
    ModelRef,
    ModelSource,
    Processed,
    apply_control,
    new_key_state,
    on_event,
    swap_or_stay,
)
from wayeb_py.evaluation import ZERO, Metrics

__all__ = ["BatchRun", "Failure", "KeyRun", "Ready", "run_batch", "run_events", "run_one_by_one"]

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Failure:
    """An event of the key that could not run: its position among the key's events and why."""

    index: int
    error: Exception


KeyRun = tuple[KeyState | None, list[tuple[int, Processed]], list[Failure]]
"""What running a key's events gives: its new state, ``(index, outcome)`` per event that ran, failures."""

Ready = tuple[str, dict[str, Any], str | None]
"""An event queued to run: its partition key, the decoded event, and its raw JSON (None once held)."""


@dataclass(slots=True)
class BatchRun:
    """What running a batch of ready events gives.

    ``states``: ``(key, state before, state after)`` of each key with a new state; ``outcomes``: one per
    event that ran, in arrival order; ``failures``: the position in the batch of each event that failed,
    with its error (see :func:`run_events`).
    """

    states: list[tuple[str, KeyState | None, KeyState]] = field(default_factory=list)
    outcomes: list[Processed] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


def run_batch(
    items: Sequence[Ready],
    state_of: Callable[[str], KeyState | None],
    control: ControlState,
    models: ModelSource,
    initial: ModelRef,
) -> BatchRun:
    """Run a batch's events, each key's together through :func:`run_events` (one at a time through
    :func:`run_one_by_one` if that raises: a model bug then fails only its event)."""
    by_key: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        by_key.setdefault(item[0], []).append(index)
    batch = BatchRun()
    outcomes: list[Processed | None] = [None] * len(items)
    for key, indices in by_key.items():
        events = [items[i][1] for i in indices]
        prior = state_of(key)
        try:
            state, processed, failures = run_events(prior, control, key, events, models, initial)
        except Exception as exc:
            _LOG.warning("key %s: batch run failed (%s), running its events one at a time", key, exc)
            state, processed, failures = run_one_by_one(prior, control, key, events, models, initial)
        batch.failures.extend(Failure(indices[f.index], f.error) for f in failures)
        if state is None:
            continue
        batch.states.append((key, prior, state))
        for index, outcome in processed:
            outcomes[indices[index]] = outcome
    batch.outcomes = [outcome for outcome in outcomes if outcome is not None]
    return batch


@dataclass(slots=True)
class _Segment:
    """Consecutive events of the key on one model with no swap among them, not yet stepped."""

    model: Any
    symbols: list[int]
    timestamps: list[int]
    indices: list[int]


def run_events(
    state: KeyState | None,
    control: ControlState,
    key: str,
    events: Sequence[Mapping[str, Any]],
    models: ModelSource,
    initial: ModelRef,
) -> KeyRun:
    """Run ``events`` (one key's, in arrival order) through the key's engine.

    Returns the key's new state (None only if it had none and every event failed), ``(index, Processed)``
    for each event that ran, in order, and the failures.
    """
    current = apply_control(state, control) if state is not None else None
    processed: list[tuple[int, Processed]] = []
    failures: list[Failure] = []
    segment: _Segment | None = None
    for index, event in enumerate(events):
        timestamp = int(event["timestamp"])
        base = current if current is not None else new_key_state(initial, control, timestamp)
        swapping = base.pending is not None and timestamp >= base.pending.swap_at
        if swapping and segment is not None:
            assert current is not None  # a segment exists only once the key has a state
            base = current = _step(current, segment, key, processed)
            segment = None
        try:
            candidate = swap_or_stay(base, models, key) if swapping else base
            model = segment.model if segment is not None else models(candidate.model.path)
            symbol = model.symbol_of(event)
        except Exception as exc:  # the one-at-a-time path dead-letters exactly these events
            failures.append(Failure(index, exc))
            continue
        current = candidate
        if segment is None:
            segment = _Segment(model, [], [], [])
        segment.symbols.append(symbol)
        segment.timestamps.append(timestamp)
        segment.indices.append(index)
    if segment is not None:
        assert current is not None
        current = _step(current, segment, key, processed)
    if not processed:  # nothing ran: the key's state is left exactly as it was (control not applied)
        return state, processed, failures
    return current, processed, failures


def _step(state: KeyState, segment: _Segment, key: str, processed: list[tuple[int, Processed]]) -> KeyState:
    """Step the segment's events on its model; append their outcomes; the key's state after them."""
    model = segment.model
    run = state.run if state.run is not None else model.new_run()
    run, results = model.step_many(run, segment.symbols, segment.timestamps)
    ref = state.model
    tp = tn = fp = fn = detections = 0
    for index, timestamp, result in zip(segment.indices, segment.timestamps, results, strict=True):
        resolved = result.resolved
        if resolved is not ZERO:
            tp, tn, fp, fn = tp + resolved.tp, tn + resolved.tn, fp + resolved.fp, fn + resolved.fn
        detected = bool(result.detected)
        detections += detected
        processed.append((index, Processed(key, timestamp, ref, result.forecast, detected, resolved)))
    runtime = state.runtime + Metrics(tp, tn, fp, fn) if tp or tn or fp or fn else state.runtime
    return KeyState(
        model=ref,
        run=run,
        pending=state.pending,
        control_seq=state.control_seq,
        runtime=runtime,
        events=state.events + len(results),
        detections=state.detections + detections,
        swaps=state.swaps,
        carried=state.carried,
    )


def run_one_by_one(
    state: KeyState | None,
    control: ControlState,
    key: str,
    events: Sequence[Mapping[str, Any]],
    models: ModelSource,
    initial: ModelRef,
) -> KeyRun:
    """:func:`run_events` one event at a time through :func:`~inference_job.lifecycle.on_event`: an event
    that raises anything is a failure and leaves the state as it was (the reference, and the fallback)."""
    processed: list[tuple[int, Processed]] = []
    failures: list[Failure] = []
    for index, event in enumerate(events):
        try:
            new, outcomes = on_event(state, control, key, event, models, initial)
        except Exception as exc:  # a model bug must not kill the job: the event alone fails
            failures.append(Failure(index, exc))
            continue
        state = new
        processed.extend((index, outcome) for outcome in outcomes)
    return state, processed, failures
