"""A shard's engine state (pure): pending score deltas, armed timers, and the pause that holds its events.

The engine is keyed by shard (:mod:`~inference_job.engine_process`). While the engine is paused, every
event of a shard is held, in arrival order, in an append-only list beside this state (one append per
event, whatever the number already held); :class:`PauseState` counts them and remembers when the first
was held. The held events are replayed, in arrival order, through their keys' engines
(:func:`release_due`, :func:`on_arrival`):

* when a PLAY arrives (``Release.PLAY``);
* when ``timeout_ms`` of processing time have passed since the shard held its first event, without a
  PLAY (``Release.TIMEOUT``);
* at once when the shard holds ``max_held`` events (``Release.FULL``), so that a pause cannot grow the
  state without limit;
* at the end of a bounded input, even while paused (``Release.END``).

After a timeout or a full buffer the shard gives up that pause (``released_seq``): its later events run at
once on the keys' current models, and a PLAY arriving later swaps as usual. Only a new PAUSE holds again.
Nothing here imports PyFlink.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import Enum, StrEnum
from typing import Any

from inference_job.lifecycle import ControlState

__all__ = [
    "WITHOUT_PLAY",
    "PauseState",
    "Release",
    "Route",
    "ShardState",
    "after_release",
    "holding",
    "on_arrival",
    "release_due",
]


class Release(StrEnum):
    """Why a shard replays the events it holds."""

    PLAY = "play"  # the engine plays again
    TIMEOUT = "timeout"  # no PLAY within pause_timeout_ms of the shard's first held event
    FULL = "full"  # the shard holds max_held events
    END = "end_of_input"  # a bounded input ended (replayed even while paused)


WITHOUT_PLAY = frozenset({Release.TIMEOUT, Release.FULL})
"""Releases that resume the engine on its current models although no PLAY came: reported and logged."""


class Route(Enum):
    """What to do with an arriving event."""

    HOLD = "hold"  # append it to the shard's buffer
    RUN = "run"  # run it through its key's engine now


@dataclass(frozen=True, slots=True)
class PauseState:
    """A shard's pause bookkeeping (its held events themselves are in an append-only list beside it).

    ``held``: events in the shard's buffer; ``since``: processing time (ms) at which the first of them was
    held, from which the timeout counts; ``released_seq``: the control ``seq`` of a pause this shard has
    given up on (timeout or full buffer), whose later events run at once.
    """

    held: int = 0
    since: int | None = None
    released_seq: int = -1

    def to_dict(self) -> dict[str, Any]:
        return {"held": self.held, "since": self.since, "released_seq": self.released_seq}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PauseState:
        since = data.get("since")
        return cls(int(data["held"]), int(since) if since is not None else None, int(data["released_seq"]))


def holding(pause: PauseState, control: ControlState) -> bool:
    """Whether the shard holds arriving events: paused, and this pause not given up."""
    return control.paused and pause.released_seq != control.seq


def release_due(
    pause: PauseState, control: ControlState, now_ms: int, timeout_ms: int, *, end_of_input: bool = False
) -> Release | None:
    """Whether (and why) the shard must replay its held events now; None while it keeps holding them."""
    if pause.held == 0:
        return None
    if end_of_input:
        return Release.END
    if not holding(pause, control):
        return Release.PLAY
    if pause.since is not None and now_ms - pause.since >= timeout_ms:
        return Release.TIMEOUT
    return None


def after_release(pause: PauseState, control: ControlState, reason: Release) -> PauseState:
    """The shard's pause state once its held events are replayed; a timeout or full buffer gives up the
    current pause, so that the shard does not start holding again until the next PAUSE."""
    released = control.seq if reason in WITHOUT_PLAY else pause.released_seq
    return PauseState(held=0, since=None, released_seq=released)


def on_arrival(
    pause: PauseState, control: ControlState, now_ms: int, timeout_ms: int, max_held: int
) -> tuple[PauseState, list[Route | Release]]:
    """One event arrives at the shard: what to do, in order.

    The actions are at most three: a due :class:`Release` of what is held (then the shard's state is
    already the released one), then :attr:`Route.HOLD` or :attr:`Route.RUN` for the event itself, then
    ``Release.FULL`` if holding it filled the buffer (the event is part of that replay).
    """
    actions: list[Route | Release] = []
    due = release_due(pause, control, now_ms, timeout_ms)
    if due is not None:
        pause = after_release(pause, control, due)
        actions.append(due)
    if not holding(pause, control):
        actions.append(Route.RUN)
        return pause, actions
    since = pause.since if pause.since is not None else now_ms
    pause = PauseState(held=pause.held + 1, since=since, released_seq=pause.released_seq)
    actions.append(Route.HOLD)
    if pause.held >= max_held:
        pause = after_release(pause, control, Release.FULL)
        actions.append(Release.FULL)
    return pause, actions


@dataclass(slots=True)
class ShardState:
    """Per-shard bookkeeping kept in keyed state (mutable: it lives in PyFlink's state cache).

    ``deltas`` are pending score-delta rows (:meth:`~inference_job.scoring.ScoreDelta.row` layout);
    ``pause`` the shard's :class:`PauseState` (the held events are in ``engine_held``); ``timer_at`` the
    armed processing-time timer (or None); ``end_armed`` whether the end-of-input timer is
    registered; ``carried`` keys whose state still holds a per-key pause buffer from a checkpoint of the
    earlier layout, moved to ``engine_held`` when the shard is next touched.
    """

    deltas: list[list[Any]] = field(default_factory=list)
    pause: PauseState = field(default_factory=PauseState)
    timer_at: int | None = None
    end_armed: bool = False
    carried: set[str] = field(default_factory=set)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as a plain dict, so that a field added later reads old checkpoints with its default."""
        data = {"deltas": self.deltas, "pause": self.pause.to_dict(), "timer_at": self.timer_at,
                "end_armed": self.end_armed, "carried": sorted(self.carried)}  # fmt: skip
        return (_restore_shard_state, (data,))

    def __setstate__(self, state: Any) -> None:
        """Unpickle the earlier layout, pickled by slot (``(None, {slot: value})``, ``buffered`` keys)."""
        restored = _restore_shard_state(state[1])
        for f in fields(self):
            setattr(self, f.name, getattr(restored, f.name))


def _restore_shard_state(data: Mapping[str, Any]) -> ShardState:
    """A shard state from its pickled dict, or from the slots of the earlier layout (``buffered`` keys)."""
    pause = data.get("pause")
    return ShardState(
        deltas=list(data.get("deltas", ())),
        pause=PauseState.from_dict(pause) if pause else PauseState(),
        timer_at=data.get("timer_at"),
        end_armed=bool(data.get("end_armed", False)),
        carried=set(data.get("carried", ())) | set(data.get("buffered", ())),
    )
