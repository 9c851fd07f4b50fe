"""Frozen, versioned message models: one per Kafka topic.

Design rules:

* Every model is immutable (``frozen=True``) and rejects unknown fields, except input events, which
  carry extra attributes through to the bucket files untouched.
* Every control message has ``schema_version``; a consumer refuses a newer major version with a clear
  reason instead of guessing.
* Nested data (metrics, hyperparameters) is typed, not a JSON string inside a string as in the systems
  this port follows.
* Ids are strings so that they survive restarts and can carry their origin (``"cmd-<session>-<n>"``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = 1
"""Current wire schema version. Bumped on any incompatible change."""

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class _Message(BaseModel):
    """Base of every control message: frozen, strict about unknown fields, versioned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value < 1 or value > SCHEMA_VERSION:
            raise ValueError(f"unsupported schema_version {value} (this build reads 1..{SCHEMA_VERSION})")
        return value


# --------------------------------------------------------------------------------------------- input


class MaritimeEvent(BaseModel):
    """One AIS position report. ``timestamp`` is epoch seconds; ``mmsi`` is the partition key.

    Extra attributes (area flags, annotations) are kept and carried to the bucket files.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    timestamp: int = Field(ge=0)
    mmsi: str = Field(min_length=1)
    lon: FiniteFloat = Field(ge=-180.0, le=180.0)
    lat: FiniteFloat = Field(ge=-90.0, le=90.0)
    speed: FiniteFloat = Field(default=0.0, ge=0.0)
    heading: FiniteFloat = 0.0
    cog: FiniteFloat = 0.0

    @field_validator("mmsi", mode="before")
    @classmethod
    def _mmsi_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    def key(self) -> str:
        """Partition key of the event (the vessel)."""
        return self.mmsi


class CardTransaction(BaseModel):
    """One card transaction. ``timestamp`` is epoch milliseconds (as in the card datasets); key: ``pan``."""

    model_config = ConfigDict(frozen=True, extra="allow")

    trx_no: int = 0
    timestamp: int = Field(ge=0)
    pan: str = Field(min_length=1)
    amount: FiniteFloat
    amount_diff: FiniteFloat = 0.0
    time_diff: int = 0
    is_fraud: int = Field(default=0, ge=0, le=1)
    fraud_type: int = 0

    @field_validator("pan", mode="before")
    @classmethod
    def _pan_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    def key(self) -> str:
        """Partition key of the event (the card)."""
        return self.pan


# ------------------------------------------------------------------------------------------- metrics


class MetricSet(BaseModel):
    """Confusion counts and the scores derived from them. Undefined ratios are reported as 0.0."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tp: int = Field(default=0, ge=0)
    tn: int = Field(default=0, ge=0)
    fp: int = Field(default=0, ge=0)
    fn: int = Field(default=0, ge=0)
    precision: FiniteFloat = 0.0
    recall: FiniteFloat = 0.0
    f1: FiniteFloat = 0.0
    mcc: FiniteFloat = 0.0


class Hyperparameters(BaseModel):
    """The model hyperparameters the optimiser searches (the original RTCEF's four dimensions)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

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

    id: str = Field(min_length=1)
    type: InstructionType
    timestamp: int
    model_id: str = "default"
    metrics: MetricSet | None = None


# ----------------------------------------------------------------------------------- factory protocol


class CommandType(StrEnum):
    TRAIN = "train"
    OPT_INITIALISE = "opt_initialise"
    OPT_STEP = "opt_step"
    OPT_FINALISE = "opt_finalise"


class FactoryCommand(_Message):
    """Controller -> factory. ``id`` is unique per command; the report answering it carries it as reply_id."""

    id: str = Field(min_length=1)
    type: CommandType
    timestamp: int
    session_id: str = Field(min_length=1)
    step: int = -1
    params: Hyperparameters | None = None
    best_step: int = -1


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

    reply_id: str = Field(min_length=1)
    command_type: CommandType
    status: ReportStatus
    session_id: str = ""
    step: int = -1
    model_id: str | None = None
    model_path: str | None = None
    creation_method: CreationMethod | None = None
    params: Hyperparameters | None = None
    metrics: MetricSet | None = None
    objective: FiniteFloat | None = None
    production_time: FiniteFloat = Field(default=0.0, ge=0.0)
    dataset_version: int | None = None
    error: str | None = None


class SyncType(StrEnum):
    PAUSE = "pause"
    PLAY = "play"


class EngineSync(_Message):
    """Controller -> inference engine: pause before adapting, play with the model to swap to (or none)."""

    type: SyncType
    timestamp: int
    instruction_id: str = ""
    model_id: str | None = None
    model_path: str | None = None
    production_time: FiniteFloat = Field(default=0.0, ge=0.0)


# -------------------------------------------------------------------------------------------- datasets


class DatasetVersion(_Message):
    """Collector -> factory: a claim check listing the closed buckets (oldest first) of a dataset version."""

    version: int = Field(ge=0)
    timestamp: int
    bucket_starts: tuple[int, ...]
    bucket_paths: tuple[str, ...]

    @field_validator("bucket_paths")
    @classmethod
    def _non_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("a dataset version lists at least one bucket")
        return value


class AssemblyAck(_Message):
    """Factory -> collector: dataset ``version`` has been assembled; its buckets may be released."""

    version: int = Field(ge=0)
    bucket_starts: tuple[int, ...]
    dataset_path: str = ""


# ---------------------------------------------------------------------------------- engine outputs


class ForecastRecord(_Message):
    """One forecast of the engine: the complex event is expected within [start, end] events from now."""

    key: str
    timestamp: int
    model_id: str
    probability: FiniteFloat = Field(ge=0.0, le=1.0)
    start: int
    end: int
    positive: bool


class ScoreReport(_Message):
    """Global score report emitted every reporting interval of event time.

    ``batch`` covers this interval; ``runtime`` everything since the current model was swapped in.
    """

    timestamp: int
    interval_start: int
    model_id: str
    creation_method: CreationMethod = CreationMethod.INITIAL
    batch: MetricSet
    runtime: MetricSet
    events: int = Field(default=0, ge=0)


class DeadLetter(_Message):
    """A payload a job could not use, with the reason; nothing is silently dropped."""

    source_topic: str
    job: str
    reason: str
    payload: str
    timestamp_ms: int


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
