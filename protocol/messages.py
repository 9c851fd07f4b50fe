"""Frozen, versioned message models: one per Kafka topic.

Design rules:

* Every model is immutable (``frozen=True``) and rejects unknown fields, except input events, which
  carry extra attributes through to the bucket files untouched.
* Every control message has ``schema_version``; a consumer refuses a newer major version with a clear
  reason instead of guessing.
* Nested data (metrics, hyperparameters) is typed, not a JSON string inside a string as in the systems
  this port follows.
* Ids are strings so that they survive restarts and can carry their origin (``"cmd-<session>-<n>"``).
* Every number, string, list and message is bounded (:mod:`protocol.bounds`): a value that passes can
  never overflow a later operator. The wire is strict (no ``"1"`` or ``true`` for an integer); that is
  enforced where bytes become messages, :func:`protocol.codec.decode`, so that Python producers may still
  build messages from numpy scalars or lists.
* Each model names the largest JSON text it may arrive as (``max_message_bytes``).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from protocol.bounds import (
    MAX_BUCKETS,
    MAX_CLAIM_CHECK_BYTES,
    MAX_CONTROL_BYTES,
    MAX_DEAD_LETTER_BYTES,
    MAX_EVENT_BYTES,
    MAX_SAFE_INT,
    Count,
    DurationMillis,
    EpochMillis,
    EpochSeconds,
    FiniteFloat,
    Id,
    Index,
    Name,
    PathText,
    Payload,
    ProductionSeconds,
    Reason,
    RequiredId,
    RequiredPath,
    SafeInt,
    StreamTime,
)

SCHEMA_VERSION = 1
"""Current wire schema version. Bumped on any incompatible change."""


class _Message(BaseModel):
    """Base of every control message: frozen, strict about unknown fields, versioned."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    max_message_bytes: ClassVar[int] = MAX_CONTROL_BYTES

    schema_version: Count = SCHEMA_VERSION

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value < 1 or value > SCHEMA_VERSION:
            raise ValueError(f"unsupported schema_version {value} (this build reads 1..{SCHEMA_VERSION})")
        return value


# --------------------------------------------------------------------------------------------- input


def _bounded_json(value: Any) -> str | None:
    """Why ``value`` (an extra attribute) is not a bounded JSON value, or None if it is one.

    Extra attributes are free-form JSON, but the same bounds hold inside them as in declared fields:
    integers within +-(2**53-1), floats finite.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if item is None or isinstance(item, bool | str):
            continue
        if isinstance(item, int):
            if -MAX_SAFE_INT <= item <= MAX_SAFE_INT:
                continue
            return "integer beyond +-(2**53-1)"
        if isinstance(item, float):
            if math.isfinite(item):
                continue
            return "number is not finite"
        if isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.values())
        else:
            return f"not a JSON value ({type(item).__name__})"
    return None


class _InputEvent(BaseModel):
    """Base of the input events: frozen; extra attributes kept, but bounded like declared fields."""

    model_config = ConfigDict(frozen=True, extra="allow")
    max_message_bytes: ClassVar[int] = MAX_EVENT_BYTES

    @model_validator(mode="after")
    def _bounded_extras(self) -> _InputEvent:
        extra = self.__pydantic_extra__
        if extra:
            for name, value in extra.items():
                kind = type(value)  # fast path for the usual flags and labels; every event passes here
                if kind is int:
                    if -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
                        continue
                elif kind is str or kind is bool or value is None:
                    continue
                problem = _bounded_json(value)
                if problem is not None:
                    raise ValueError(f"extra attribute {name[:64]!r}: {problem}")
        return self

    def as_record(self) -> dict[str, Any]:
        """The event as a plain dict, equal to ``model_dump(mode="json")`` (declared fields, then extras).

        Every declared field of an input event holds a JSON scalar and every extra attribute the JSON value
        it was parsed from, so the dict is read off the instance instead of running the serialiser, which
        cost more than the validation itself on the engine's per-event path.
        """
        extra = self.__pydantic_extra__
        return {**self.__dict__, **extra} if extra else dict(self.__dict__)


class MaritimeEvent(_InputEvent):
    """One AIS position report. ``timestamp`` is epoch seconds; ``mmsi`` is the partition key.

    Extra attributes (area flags, annotations) are kept and carried to the bucket files. ``mmsi`` is the one
    id that may arrive as a JSON number (real AIS feeds send it so); it is kept as its decimal text.
    """

    timestamp: EpochSeconds
    mmsi: RequiredId
    lon: FiniteFloat = Field(ge=-180.0, le=180.0)
    lat: FiniteFloat = Field(ge=-90.0, le=90.0)
    speed: FiniteFloat = Field(default=0.0, ge=0.0)
    heading: FiniteFloat = 0.0
    cog: FiniteFloat = 0.0

    @field_validator("mmsi", mode="before")
    @classmethod
    def _mmsi_as_text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            if 0 <= value <= MAX_SAFE_INT:
                return str(value)
            raise ValueError("an mmsi sent as a number must be a whole number in 0..2**53-1")
        return value

    def key(self) -> str:
        """Partition key of the event (the vessel)."""
        return self.mmsi


class CardTransaction(_InputEvent):
    """One card transaction. ``timestamp`` is epoch milliseconds (as in the card datasets); key: ``pan``.

    ``pan`` must be a JSON string: card numbers have up to 19 digits, more than a JSON number holds exactly
    (2**53), so a number may already have lost digits. ``trx_no`` -1 is the card datasets' reset marker.
    """

    trx_no: Annotated[int, Field(ge=-1, le=MAX_SAFE_INT)] = 0
    timestamp: EpochMillis
    pan: RequiredId
    amount: FiniteFloat
    amount_diff: FiniteFloat = 0.0
    time_diff: DurationMillis = 0
    is_fraud: int = Field(default=0, ge=0, le=1)
    fraud_type: SafeInt = 0

    def key(self) -> str:
        """Partition key of the event (the card)."""
        return self.pan


# ------------------------------------------------------------------------------------------- metrics


class MetricSet(BaseModel):
    """Confusion counts and the scores derived from them. Undefined ratios are reported as 0.0."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    max_message_bytes: ClassVar[int] = MAX_CONTROL_BYTES

    tp: Count = 0
    tn: Count = 0
    fp: Count = 0
    fn: Count = 0
    precision: FiniteFloat = 0.0
    recall: FiniteFloat = 0.0
    f1: FiniteFloat = 0.0
    mcc: FiniteFloat = 0.0


class Hyperparameters(BaseModel):
    """The model hyperparameters the optimiser searches (the original RTCEF's four dimensions)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    max_message_bytes: ClassVar[int] = MAX_CONTROL_BYTES

    confidence: FiniteFloat = Field(ge=0.0, le=1.0)
    order: int = Field(ge=1, le=10)
    p_min: FiniteFloat = Field(ge=0.0, le=1.0)
    gamma: FiniteFloat = Field(ge=0.0, le=1.0)


# -------------------------------------------------------------------------------------- instructions


class InstructionType(StrEnum):
    OPTIMIZE = "optimize"
    RETRAIN = "retrain"


class Instruction(_Message):
    """Observer -> controller: adapt the model. ``timestamp`` is the event time of the triggering report."""

    id: RequiredId
    type: InstructionType
    timestamp: StreamTime
    model_id: Id = "default"
    metrics: MetricSet | None = None


# ----------------------------------------------------------------------------------- factory protocol


class CommandType(StrEnum):
    TRAIN = "train"
    OPT_INITIALISE = "opt_initialise"
    OPT_STEP = "opt_step"
    OPT_FINALISE = "opt_finalise"


class FactoryCommand(_Message):
    """Controller -> factory. ``id`` is unique per command; the report answering it carries it as reply_id."""

    id: RequiredId
    type: CommandType
    timestamp: StreamTime
    session_id: RequiredId
    step: Index = -1
    params: Hyperparameters | None = None
    best_step: Index = -1


class ReportStatus(StrEnum):
    SUCCESS = "success"
    ERROR = "error"


class CreationMethod(StrEnum):
    INITIAL = "initial"
    RETRAIN = "retrain"
    OPTIMISATION = "optimisation"


class FactoryReport(_Message):
    """Factory -> controller (and the model registry). ``reply_id`` is the id of the command answered.

    ``production_time`` is the wall-clock seconds spent producing the model (training, or the whole
    optimisation session for a finalise); the engine swaps once stream time has advanced by it.
    """

    reply_id: RequiredId
    command_type: CommandType
    status: ReportStatus
    session_id: Id = ""
    step: Index = -1
    model_id: Id | None = None
    model_path: PathText | None = None
    creation_method: CreationMethod | None = None
    params: Hyperparameters | None = None
    metrics: MetricSet | None = None
    objective: FiniteFloat | None = None
    production_time: ProductionSeconds = 0.0
    dataset_version: Count | None = None
    error: Reason | None = None


class SyncType(StrEnum):
    PAUSE = "pause"
    PLAY = "play"


class EngineSync(_Message):
    """Controller -> inference engine: pause before adapting, play with the model to swap to (or none)."""

    type: SyncType
    timestamp: StreamTime
    instruction_id: Id = ""
    model_id: Id | None = None
    model_path: PathText | None = None
    production_time: ProductionSeconds = 0.0


# -------------------------------------------------------------------------------------------- datasets


class DatasetVersion(_Message):
    """Collector -> factory: a claim check listing the closed buckets (oldest first) of a dataset version."""

    max_message_bytes: ClassVar[int] = MAX_CLAIM_CHECK_BYTES

    version: Count
    timestamp: StreamTime
    bucket_starts: Annotated[tuple[StreamTime, ...], Field(max_length=MAX_BUCKETS)]
    bucket_paths: Annotated[tuple[RequiredPath, ...], Field(max_length=MAX_BUCKETS)]

    @field_validator("bucket_paths")
    @classmethod
    def _non_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("a dataset version lists at least one bucket")
        return value


class AssemblyAck(_Message):
    """Factory -> collector: dataset ``version`` has been assembled; its buckets may be released."""

    max_message_bytes: ClassVar[int] = MAX_CLAIM_CHECK_BYTES

    version: Count
    bucket_starts: Annotated[tuple[StreamTime, ...], Field(max_length=MAX_BUCKETS)]
    dataset_path: PathText = ""


# ---------------------------------------------------------------------------------- engine outputs


class ForecastRecord(_Message):
    """One forecast of the engine: the complex event is expected within [start, end] events from now."""

    key: Id
    timestamp: StreamTime
    model_id: Id
    probability: FiniteFloat = Field(ge=0.0, le=1.0)
    start: Index
    end: Index
    positive: bool


class ScoreReport(_Message):
    """Global score report emitted every reporting interval of event time.

    ``batch`` covers this interval; ``runtime`` everything since the current model was swapped in.
    ``resumed_without_play`` counts the partition keys whose paused events were replayed in this interval
    on their current model because no PLAY came in time (``PAUSE_TIMEOUT_MS``) or the engine's pause
    buffer filled (``MAX_PAUSE_BUFFER``); 0 in reports written before the field existed.
    """

    timestamp: StreamTime
    interval_start: StreamTime
    model_id: Id
    creation_method: CreationMethod = CreationMethod.INITIAL
    batch: MetricSet
    runtime: MetricSet
    events: Count = 0
    resumed_without_play: Count = 0


class DeadLetter(_Message):
    """A payload a job could not use, with the reason; nothing is silently dropped."""

    max_message_bytes: ClassVar[int] = MAX_DEAD_LETTER_BYTES

    source_topic: Name
    job: Name
    reason: Reason
    payload: Payload
    timestamp_ms: EpochMillis


Message = (
    Instruction
    | FactoryCommand
    | FactoryReport
    | EngineSync
    | DatasetVersion
    | AssemblyAck
    | ForecastRecord
    | ScoreReport
    | DeadLetter
)
InputEvent = MaritimeEvent | CardTransaction
