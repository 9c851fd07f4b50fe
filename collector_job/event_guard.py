"""Event-time sanity of the collector's input, before any watermark: ``step(state, message, config)``.

The collector's watermark is computed in the JVM from the timestamps of the events that reach it, so one
event stamped far in the future would close every open bucket and make every genuine event after it late,
and under ``first_event`` alignment a bad *first* event would even anchor the bucket grid. This guard runs
before the watermarks and decides which events are trusted (all in stream units; ``ahead`` is
``MAX_EVENT_AHEAD_S`` in the domain's unit, ``quorum`` is ``ANCHOR_QUORUM``):

* **Progress** is the newest timestamp trusted so far. An event at most ``ahead`` after it passes at once.
* **Held**: an event further ahead, and every event while there is no progress yet, is held back.
* **Anchoring**: once ``quorum`` held events lie within ``ahead`` of each other they are trusted: progress
  becomes the newest of them and every held event not beyond ``progress + ahead`` is released, oldest
  timestamp first. The stream thus starts on its first ``quorum`` agreeing events (a bad first event is
  outvoted, not believed), and a genuine jump of the stream (a gap in the data longer than ``ahead``) is
  followed after ``quorum`` events.
* **Outvoting**: each event that passes at once counts against every event held at that moment; an event
  held through ``quorum`` trusted events that did not follow it is dead-lettered with the reason.
* **Bounded**: past ``cap`` held events the guard anchors on their median (so many events all ahead of
  the progress move it, while one or two never do). At the end of a bounded input it does the same, and
  what is still too far ahead is dead-lettered.
* Timestamps whose event time exceeds :data:`MAX_EVENT_TIME_MS` are dead-lettered at once, so event-time
  arithmetic after the guard (milliseconds, bucket ends, timers) can never overflow a Java ``long``.

Events that pass keep their arrival order; events released from the hold come out by timestamp.

Because the guard is the one place that sees every trusted event in order, it also stamps each released
event with what must be the same for every part of the collector (:mod:`collector_job.parts`):

* **origin**: the timestamp of the first event it ever released, the anchor of ``first_event`` bucket
  alignment, so that every part uses the same bucket grid;
* **watermark**: the exclusive stream-time bound below which a bucket is complete, as the bounded
  out-of-orderness watermark would be right after this event (newest released timestamp minus
  ``WATERMARK_DELAY_S``). A bucket writer judges lateness by it, so an event is late or not whatever part
  writes it, however far Flink's periodic watermarks lag, and again the same way when it is replayed
  after a restore. It is never behind the watermark any operator after the guard sees.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ConfigDict

from collector_job.buckets import MAX_EVENT_TIME_MS, ms_per_unit
from protocol.settings import Settings

__all__ = ["Arrive", "EndOfInput", "GuardConfig", "GuardState", "HeldEvent", "Reject", "Release", "step"]


class HeldEvent(BaseModel):
    """An event not trusted yet, with the number of trusted events that passed while it waited."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ts: int
    record: dict[str, Any]
    payload: str
    outvoted: int = 0


class GuardState(BaseModel):
    """The newest trusted timestamp and the events held back (stored as JSON in one ValueState), and the
    origin and newest timestamp of the released events."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    progress: int | None = None
    held: tuple[HeldEvent, ...] = ()
    origin: int | None = None  # first released timestamp: the anchor of first_event alignment
    newest: int | None = None  # newest released timestamp: the watermark follows it


@dataclass(frozen=True)
class GuardConfig:
    """Bounds in stream units: ``ahead`` after the progress, ``quorum`` agreeing events, ``cap`` held;
    ``delay`` is the watermark delay."""

    ahead: int
    quorum: int
    max_ts: int
    cap: int
    delay: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> GuardConfig:
        unit_ms = ms_per_unit(settings.domain)
        quorum = settings.anchor_quorum
        return cls(
            ahead=settings.max_event_ahead_s * 1000 // unit_ms,
            quorum=quorum,
            max_ts=MAX_EVENT_TIME_MS // unit_ms,
            cap=4 * quorum,
            delay=settings.watermark_delay_s * 1000 // unit_ms,
        )


@dataclass(frozen=True)
class Arrive:
    """A parsed input event."""

    ts: int
    record: dict[str, Any]
    payload: str


@dataclass(frozen=True)
class EndOfInput:
    """The input is bounded and has ended: decide on every held event."""


@dataclass(frozen=True)
class Release:
    """Forward this event to the watermarks and the bucket writers, with the stream's bucket-grid origin
    and its watermark right after this event (exclusive bound, stream units; see the module docstring)."""

    ts: int
    record: dict[str, Any]
    payload: str
    origin: int | None = None
    watermark: int | None = None


@dataclass(frozen=True)
class Reject:
    """Dead-letter this payload with ``reason``."""

    reason: str
    payload: str


Output = Release | Reject


def step(
    state: GuardState, message: Arrive | EndOfInput, config: GuardConfig
) -> tuple[GuardState, list[Output]]:
    """Apply one message; returns the new state and the releases and rejections, in order."""
    state, outputs = _decide(state, message, config)
    return _stamp(state, outputs, config)


def _stamp(state: GuardState, outputs: list[Output], config: GuardConfig) -> tuple[GuardState, list[Output]]:
    """Give each release, in order, the stream's origin and the watermark right after it."""
    if not any(isinstance(o, Release) for o in outputs):
        return state, outputs
    origin, newest = state.origin, state.newest
    stamped: list[Output] = []
    for output in outputs:
        if isinstance(output, Release):
            origin = output.ts if origin is None else origin
            newest = output.ts if newest is None else max(newest, output.ts)
            output = replace(output, origin=origin, watermark=newest - config.delay)
        stamped.append(output)
    return state.model_copy(update={"origin": origin, "newest": newest}), stamped


def _decide(
    state: GuardState, message: Arrive | EndOfInput, config: GuardConfig
) -> tuple[GuardState, list[Output]]:
    """Which events pass, are held, are released or rejected (before stamping)."""
    if isinstance(message, EndOfInput):
        return _end(state, config)
    if message.ts > config.max_ts:
        reason = f"timestamp {message.ts} is beyond the largest event time this job can represent"
        return state, [Reject(reason, message.payload)]
    progress = state.progress
    if progress is not None and message.ts <= progress + config.ahead:
        state = state.model_copy(update={"progress": max(progress, message.ts)})
        outputs: list[Output] = [Release(message.ts, message.record, message.payload)]
        if state.held:
            state, released = _release_within(state, config)
            state, rejected = _outvote(state, config)
            outputs += released + rejected
        return state, outputs
    held = HeldEvent(ts=message.ts, record=message.record, payload=message.payload)
    state = state.model_copy(update={"held": (*state.held, held)})
    anchor = _agreeing_newest(state.held, config)
    if anchor is None and len(state.held) > config.cap:
        anchor = _median(state.held)
    if anchor is None:
        return state, []
    state = state.model_copy(update={"progress": anchor if progress is None else max(progress, anchor)})
    return _release_within(state, config)


def _agreeing_newest(held: tuple[HeldEvent, ...], config: GuardConfig) -> int | None:
    """Newest timestamp of the largest group of held events within ``ahead`` of each other, if that
    group has ``quorum`` members (ties: the earliest group)."""
    times = sorted(h.ts for h in held)
    best_size, best_newest, low = 0, None, 0
    for high, newest in enumerate(times):
        while newest - times[low] > config.ahead:
            low += 1
        if high - low + 1 > best_size:
            best_size, best_newest = high - low + 1, newest
    return best_newest if best_size >= config.quorum else None


def _median(held: tuple[HeldEvent, ...]) -> int:
    times = sorted(h.ts for h in held)
    return times[(len(times) - 1) // 2]


def _release_within(state: GuardState, config: GuardConfig) -> tuple[GuardState, list[Output]]:
    """Release, oldest timestamp first, the held events no longer too far ahead of the progress."""
    assert state.progress is not None
    limit = state.progress + config.ahead
    due = sorted((h for h in state.held if h.ts <= limit), key=lambda h: h.ts)
    if not due:
        return state, []
    kept = tuple(h for h in state.held if h.ts > limit)
    outputs: list[Output] = [Release(h.ts, h.record, h.payload) for h in due]
    return state.model_copy(update={"held": kept}), outputs


def _outvote(state: GuardState, config: GuardConfig) -> tuple[GuardState, list[Output]]:
    """Count one trusted event against every held one; dead-letter those outvoted ``quorum`` times."""
    kept: list[HeldEvent] = []
    outputs: list[Output] = []
    for h in state.held:
        h = h.model_copy(update={"outvoted": h.outvoted + 1})
        if h.outvoted >= config.quorum:
            reason = (
                f"event time {h.ts} is more than {config.ahead} ahead of the stream (progress "
                f"{state.progress}) and the {h.outvoted} events trusted since did not follow it"
            )
            outputs.append(Reject(reason, h.payload))
        else:
            kept.append(h)
    return state.model_copy(update={"held": tuple(kept)}), outputs


def _end(state: GuardState, config: GuardConfig) -> tuple[GuardState, list[Output]]:
    """End of a bounded input: anchor if never anchored, release what fits, dead-letter the rest."""
    if not state.held:
        return state, []
    if state.progress is None:
        state = state.model_copy(update={"progress": _median(state.held)})
    state, outputs = _release_within(state, config)
    for h in state.held:
        reason = (
            f"event time {h.ts} is more than {config.ahead} ahead of the stream (progress "
            f"{state.progress}) and the input ended before other events followed it"
        )
        outputs.append(Reject(reason, h.payload))
    return state.model_copy(update={"held": ()}), outputs
