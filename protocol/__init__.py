"""The wire contract shared by every job: message models, their codec, topic names and settings.

Every Kafka payload in the system is one of the frozen, versioned pydantic models in
:mod:`protocol.messages`. Jobs parse a payload at their first operator with :func:`decode` (a malformed
payload becomes a :class:`DeadLetter`, never an exception that kills the job) and dump at their last
operator with :func:`encode`. Topic names and every tunable live in :class:`protocol.settings.Settings`.
"""

from protocol.codec import DecodeError, dead_letter, decode, encode
from protocol.messages import (
    SCHEMA_VERSION,
    AssemblyAck,
    CardTransaction,
    CommandType,
    CreationMethod,
    DatasetVersion,
    DeadLetter,
    EngineSync,
    FactoryCommand,
    FactoryReport,
    ForecastRecord,
    Hyperparameters,
    Instruction,
    InstructionType,
    MaritimeEvent,
    MetricSet,
    ReportStatus,
    ScoreReport,
    SyncType,
)
from protocol.settings import Domain, Settings, SettingsError, load_settings

__all__ = [
    "SCHEMA_VERSION",
    "AssemblyAck",
    "CardTransaction",
    "CommandType",
    "CreationMethod",
    "DatasetVersion",
    "DeadLetter",
    "DecodeError",
    "Domain",
    "EngineSync",
    "FactoryCommand",
    "FactoryReport",
    "ForecastRecord",
    "Hyperparameters",
    "Instruction",
    "InstructionType",
    "MaritimeEvent",
    "MetricSet",
    "ReportStatus",
    "ScoreReport",
    "Settings",
    "SettingsError",
    "SyncType",
    "dead_letter",
    "decode",
    "encode",
    "load_settings",
]
