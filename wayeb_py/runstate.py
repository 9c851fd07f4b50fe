"""Per-run (per-key) state and per-event results of the streaming engine.

Everything here is small, immutable and JSON-serialisable, so a Flink keyed-state backend can store it as a
plain dict. Forecast intervals inside `RunState.pending` are **absolute** event counters of the run, so they
keep their meaning when the run moves to another model (`SPSTModel.adopt`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from .evaluation import ZERO, Metrics

__all__ = ["Forecast", "Pending", "RunState", "StepResult", "STATE_FORMAT"]

STATE_FORMAT = 1

#: A forecast awaiting resolution: (absolute start counter, absolute end counter, positive).
Pending = tuple[int, int, bool]


@dataclass(frozen=True, slots=True)
class RunState:
    """State of one run of an SPST model over one key's events.

    Attributes:
        model_key: fingerprint of the model this state belongs to (a state is only valid for that model).
        sdfa_key: fingerprint of the pattern's SDFA and symbol numbering (what `SPSTModel.adopt` must match).
        started: False during warm-up (until the context buffer reaches a PST leaf).
        sdfa_state: current SDFA state (meaningful once started).
        node: id of the current PST node in the owning model (recomputed by `SPSTModel.adopt`).
        buffer: the last up to ``order + 1`` symbols, most recent first.
        counter: events processed since the run started (warm-up and reset events are not counted).
        pending: forecasts whose interval has not been resolved yet.
        detections: number of detections (complex events) so far.
    """

    model_key: str
    sdfa_key: str = ""
    started: bool = False
    sdfa_state: int = 0
    node: int = 0
    buffer: tuple[int, ...] = ()
    counter: int = 0
    pending: tuple[Pending, ...] = ()
    detections: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (tuples become lists)."""
        return {
            "format": STATE_FORMAT,
            "model_key": self.model_key,
            "sdfa_key": self.sdfa_key,
            "started": self.started,
            "sdfa_state": self.sdfa_state,
            "node": self.node,
            "buffer": list(self.buffer),
            "counter": self.counter,
            "pending": [list(p) for p in self.pending],
            "detections": self.detections,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunState:
        """Inverse of `to_dict`; raises ValueError on an unknown state format."""
        fmt = int(d.get("format", STATE_FORMAT))
        if fmt != STATE_FORMAT:
            raise ValueError(f"unsupported RunState format {fmt} (this version reads {STATE_FORMAT})")
        return cls(
            model_key=str(d["model_key"]),
            sdfa_key=str(d.get("sdfa_key", "")),
            started=bool(d["started"]),
            sdfa_state=int(d["sdfa_state"]),
            node=int(d["node"]),
            buffer=tuple(int(x) for x in d["buffer"]),
            counter=int(d["counter"]),
            pending=tuple((int(s), int(e), bool(p)) for s, e, p in d["pending"]),
            detections=int(d["detections"]),
        )


class Forecast(NamedTuple):
    """A forecast emitted after an event (a named tuple: one is built per forecast on the hot path).

    Attributes:
        timestamp: timestamp of the event after which the forecast was made.
        probability: probability mass of the interval.
        start: first future event covered, relative to now (1 = next event).
        end: last future event covered, relative to now.
        positive: whether the forecast predicts a detection (always False for interval forecasts).
        counter: the run's event counter at emission (absolute interval = counter + start .. counter + end).
        vstate: the virtual state id the forecast was read from (model specific).
    """

    timestamp: int
    probability: float
    start: int
    end: int
    positive: bool
    counter: int = 0
    vstate: int = -1

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "timestamp": self.timestamp,
            "probability": self.probability,
            "start": self.start,
            "end": self.end,
            "positive": self.positive,
            "counter": self.counter,
            "vstate": self.vstate,
        }


class StepResult(NamedTuple):
    """Outcome of one event (a named tuple: one is built per event on the hot path).

    Attributes:
        forecast: the forecast emitted after the event, if any.
        detected: whether the event completed a match.
        resolved: TP/TN/FP/FN counts of earlier forecasts resolved by this event.
    """

    forecast: Forecast | None = None
    detected: bool = False
    resolved: Metrics = ZERO


IDLE = StepResult()
