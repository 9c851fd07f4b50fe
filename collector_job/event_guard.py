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

**Per Kafka partition.** All of the above is judged per input partition (:class:`PartitionGuard`): each
partition is an ordered stream, but the source reads several partitions in alternating chunks, so the
merged stream is out of order by up to a chunk of each (hours or days of event time when a backlog is
read). Judged over the merged stream, a partition read behind the others would look like a run of late
events, and one read ahead like outliers outvoted by the other partition's events.

Because the guard is the one place that sees every trusted event in order, it also stamps each released
event with what must be the same for every part of the collector (:mod:`collector_job.parts`):

* **origin**: the timestamp of the first event it ever released, the anchor of ``first_event`` bucket
  alignment, so that every part uses the same bucket grid;
* **watermark**: the exclusive stream-time bound below which a bucket is complete: the smallest, over the
  partitions, of the newest timestamp released from each, minus ``WATERMARK_DELAY_S`` (what Flink's
  per-partition watermarks would give), never going back. A partition that delivered nothing for
  ``PARTITION_IDLE_MS`` of processing time does not hold it back (Flink's idleness); after a restore every
  known partition counts again until it has been quiet that long. A bucket writer judges lateness by it,
  so an event is late or not whatever part writes it, however far Flink's periodic watermarks lag. The
  record timestamp given to Flink is capped at this watermark plus the delay
  (:mod:`collector_job.timestamps`), so Flink's own watermark follows it and never runs ahead.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from collector_job.buckets import MAX_EVENT_TIME_MS, ms_per_unit
from protocol.settings import Settings

__all__ = [
    "Arrive",
    "EndOfInput",
    "GuardConfig",
    "GuardState",
    "HeldEvent",
    "PartitionGuard",
    "Reject",
    "Release",
    "NOTHING_COMPLETE",
    "resumed",
    "step",
]


class HeldEvent(BaseModel):
    """An event not trusted yet, with the number of trusted events that passed while it waited."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ts: int
    record: dict[str, Any]
    payload: str
    outvoted: int = 0


class PartitionGuard(BaseModel):
    """One input partition: its newest trusted timestamp, the events held back, and the newest timestamp
    released from it (the watermark follows it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    progress: int | None = None
    held: tuple[HeldEvent, ...] = ()
    newest: int | None = None


class GuardState(BaseModel):
    """The guard of each input partition (keyed by the partition number as text), when each last delivered
    (processing time, ms), the bucket-grid origin and the last watermark stamped. Stored as JSON in one
    ValueState; a state of the earlier single-stream layout reads as partition 0."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    partitions: dict[str, PartitionGuard] = {}
    seen_ms: dict[str, int] = {}
    origin: int | None = None  # first released timestamp: the anchor of first_event alignment
    watermark: int | None = None  # the newest watermark stamped on a release: never goes back

    @model_validator(mode="before")
    @classmethod
    def _single_stream_layout(cls, data: Any) -> Any:
        if isinstance(data, dict) and {"progress", "held", "newest"} & data.keys():
            single = {k: data[k] for k in ("progress", "held", "newest") if k in data}
            return {"partitions": {"0": single}, "origin": data.get("origin")}
        return data

    @property
    def held(self) -> tuple[HeldEvent, ...]:
        """Every event held back, all partitions."""
        return tuple(h for guard in self.partitions.values() for h in guard.held)


NOTHING_COMPLETE = -(2**62)
"""The watermark while a partition of the input has not been heard from yet: no bucket is complete."""


@dataclass(frozen=True)
class GuardConfig:
    """Bounds in stream units: ``ahead`` after the progress, ``quorum`` agreeing events, ``cap`` held;
    ``delay`` is the watermark delay."""

    ahead: int
    quorum: int
    max_ts: int
    cap: int
    delay: int = 0
    idle_ms: int = 10_000
    partitions: int = 1  # the input topic's partition count: each must deliver (or go idle) first

    @classmethod
    def from_settings(cls, settings: Settings, *, partitions: int = 1) -> GuardConfig:
        unit_ms = ms_per_unit(settings.domain)
        quorum = settings.anchor_quorum
        return cls(
            ahead=settings.max_event_ahead_s * 1000 // unit_ms,
            quorum=quorum,
            max_ts=MAX_EVENT_TIME_MS // unit_ms,
            cap=4 * quorum,
            delay=settings.watermark_delay_s * 1000 // unit_ms,
            idle_ms=settings.partition_idle_ms,
            partitions=partitions,
        )


@dataclass(frozen=True)
class Arrive:
    """A parsed input event, the partition it was read from, and the processing time (ms) it arrived at."""

    ts: int
    record: dict[str, Any]
    payload: str
    partition: int = 0
    now_ms: int = 0


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
    if isinstance(message, EndOfInput):
        outputs: list[Output] = []
        for name in sorted(state.partitions, key=int):
            guard, decided = _end(state.partitions[name], config)
            state, stamped = _stamp(_with(state, name, guard), name, decided, config, now_ms=None)
            outputs += stamped
        return state, outputs
    name = str(message.partition)
    guard, decided = _decide(state.partitions.get(name, PartitionGuard()), message, config)
    # Every expected partition is known from the first event on, so one not heard from yet holds the
    # watermark back until it delivers or has been idle for idle_ms.
    expected = {str(p): PartitionGuard() for p in range(config.partitions)}
    seen = {**dict.fromkeys(expected, message.now_ms), **state.seen_ms, name: message.now_ms}
    state = state.model_copy(update={"partitions": {**expected, **state.partitions, name: guard},
                                     "seen_ms": seen})  # fmt: skip
    state, outputs = _stamp(state, name, decided, config, now_ms=message.now_ms)
    return _anchor_across(state, outputs, config, message.now_ms)


def _anchor_across(
    state: GuardState, outputs: list[Output], config: GuardConfig, now_ms: int
) -> tuple[GuardState, list[Output]]:
    """Anchor on events held in *different* partitions that agree with each other.

    After a gap in the data, the first events may be spread over the partitions so that none holds a
    quorum of them on its own: an event held in one partition is released once another partition's
    trusted progress is within ``ahead`` of it, and events held in several partitions that agree with
    each other (a quorum in all) anchor together.
    """
    progress = [g.progress for g in state.partitions.values() if g.progress is not None]
    if progress and any(g.held for g in state.partitions.values()):  # another partition has moved on
        state, outputs = _release_up_to(state, outputs, max(progress), config, now_ms)
    held = [h for guard in state.partitions.values() for h in guard.held]
    if len(held) < config.quorum or len({n for n, g in state.partitions.items() if g.held}) < 2:
        return state, outputs
    anchor = _agreeing_newest(tuple(held), config)
    if anchor is None:
        return state, outputs
    return _release_up_to(state, outputs, anchor, config, now_ms)


def _release_up_to(
    state: GuardState, outputs: list[Output], anchor: int, config: GuardConfig, now_ms: int
) -> tuple[GuardState, list[Output]]:
    """Every partition holding events within ``ahead`` of ``anchor`` (a time the stream is known to have
    reached) takes it as its progress and releases them."""
    for name in sorted(state.partitions, key=int):
        guard = state.partitions[name]
        if not any(h.ts <= anchor + config.ahead for h in guard.held):
            continue
        progress = anchor if guard.progress is None else max(guard.progress, anchor)
        guard, released = _release_within(guard.model_copy(update={"progress": progress}), config)
        state, stamped = _stamp(_with(state, name, guard), name, released, config, now_ms=now_ms)
        outputs = [*outputs, *stamped]
    return state, outputs


def resumed(state: GuardState, now_ms: int) -> GuardState:
    """After a restore: every known partition counts as delivering now, so none is taken for idle while
    the sources replay from the checkpoint."""
    return state.model_copy(update={"seen_ms": dict.fromkeys(state.partitions, now_ms)})


def _with(state: GuardState, name: str, guard: PartitionGuard) -> GuardState:
    return state.model_copy(update={"partitions": {**state.partitions, name: guard}})


def _stamp(
    state: GuardState, name: str, outputs: list[Output], config: GuardConfig, *, now_ms: int | None
) -> tuple[GuardState, list[Output]]:
    """Give each release of partition ``name``, in order, the stream's origin and the watermark right after
    it (``now_ms`` decides which partitions are idle; ``None``: none is, the input has ended)."""
    if not any(isinstance(o, Release) for o in outputs):
        return state, outputs
    origin, watermark = state.origin, state.watermark
    guard = state.partitions[name]
    newest = guard.newest
    stamped: list[Output] = []
    for output in outputs:
        if isinstance(output, Release):
            origin = output.ts if origin is None else origin
            newest = output.ts if newest is None else max(newest, output.ts)
            state = _with(state, name, guard.model_copy(update={"newest": newest}))
            state = state.model_copy(update={"origin": origin})
            frontier = _frontier(state, name, config, now_ms)
            candidate = NOTHING_COMPLETE if frontier is None else frontier - config.delay
            watermark = candidate if watermark is None else max(watermark, candidate)
            output = replace(output, origin=origin, watermark=watermark)
        stamped.append(output)
    return state.model_copy(update={"origin": origin, "watermark": watermark}), stamped


def _frontier(state: GuardState, name: str, config: GuardConfig, now_ms: int | None) -> int | None:
    """The smallest newest-released timestamp over the partitions that are not idle (``name`` never is);
    ``None`` while an active partition has released nothing: nothing is complete before it is heard."""
    frontier: int | None = None
    for other, guard in state.partitions.items():
        quiet = now_ms - state.seen_ms.get(other, now_ms) if now_ms is not None else 0
        if other != name and quiet >= config.idle_ms:
            continue
        if guard.newest is None:
            if now_ms is None:  # the input has ended: a partition that never released holds nothing back
                continue
            return None
        frontier = guard.newest if frontier is None else min(frontier, guard.newest)
    return frontier


def _decide(
    state: PartitionGuard, message: Arrive, config: GuardConfig
) -> tuple[PartitionGuard, list[Output]]:
    """Which events of one partition pass, are held, are released or rejected (before stamping)."""
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


def _release_within(state: PartitionGuard, config: GuardConfig) -> tuple[PartitionGuard, list[Output]]:
    """Release, oldest timestamp first, the held events no longer too far ahead of the progress."""
    assert state.progress is not None
    limit = state.progress + config.ahead
    due = sorted((h for h in state.held if h.ts <= limit), key=lambda h: h.ts)
    if not due:
        return state, []
    kept = tuple(h for h in state.held if h.ts > limit)
    outputs: list[Output] = [Release(h.ts, h.record, h.payload) for h in due]
    return state.model_copy(update={"held": kept}), outputs


def _outvote(state: PartitionGuard, config: GuardConfig) -> tuple[PartitionGuard, list[Output]]:
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


def _end(state: PartitionGuard, config: GuardConfig) -> tuple[PartitionGuard, list[Output]]:
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
