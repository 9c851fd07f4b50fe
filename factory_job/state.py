"""The factory's state, its outputs and the port through which it touches the shared volume.

Everything here is a frozen value that serialises to JSON (the Flink wrapper keeps the whole state as one JSON
string in a ``ValueState``, which survives restarts and Python upgrades better than pickles). The step
functions never do I/O themselves: assembly, training, scoring, deletion and publication go through a
:class:`FactoryTools` object, so the protocol logic is tested in milliseconds with a fake and the real
implementation is tested separately on a temporary directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from protocol.messages import (
    AssemblyAck,
    DatasetVersion,
    DeadLetter,
    FactoryCommand,
    FactoryReport,
    Hyperparameters,
    MetricSet,
)

__all__ = [
    "AssemblyOutcome",
    "Channel",
    "DatasetInfo",
    "Emit",
    "FactoryState",
    "FactoryTools",
    "PendingCommand",
    "Session",
    "StepRecord",
    "Tick",
]

MAX_REMEMBERED_REPLIES = 256
"""Reports kept for idempotence. The controller re-sends at most its last command, so a few hundred ids
cover any realistic replay (a whole optimisation session is ~17 commands) while keeping the state small."""

MAX_PENDING_COMMANDS = 64
"""Commands buffered while no dataset exists. More than a full session's worth; beyond it something upstream
is wrong and the command is answered with an error instead of growing the state without bound."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DatasetInfo(_Frozen):
    """An assembled dataset on the shared volume."""

    version: int
    path: str
    rows: int = Field(ge=0)
    first_ts: int | None = None
    last_ts: int | None = None
    bucket_starts: tuple[int, ...] = ()


class StepRecord(_Frozen):
    """One scored candidate of an optimisation session."""

    step: int
    params: Hyperparameters
    metrics: MetricSet
    objective: float
    model_id: str
    model_path: str


class Session(_Frozen):
    """The optimisation session in progress: its locked dataset and the candidates scored so far."""

    session_id: str
    dataset: DatasetInfo
    started_at: float
    """Wall-clock epoch seconds of OPT_INITIALISE; the finalise report's production time counts from it."""
    steps: tuple[StepRecord, ...] = ()
    intermediate_paths: tuple[str, ...] = ()
    """Every candidate model file of this session (replaced steps' too); all deleted at finalise."""

    def find_step(self, step: int) -> StepRecord | None:
        return next((s for s in self.steps if s.step == step), None)


class PendingCommand(_Frozen):
    """A command waiting for the first dataset."""

    command: FactoryCommand
    received_at: float


class FactoryState(_Frozen):
    """The whole factory state (one instance: the factory is keyed by a constant)."""

    current: DatasetInfo | None = None
    """The latest assembled dataset: what TRAIN and OPT_INITIALISE use."""
    locks: dict[int, tuple[str, ...]] = Field(default_factory=dict)
    """Dataset version -> ids of the sessions holding it; a locked dataset file is never deleted."""
    session: Session | None = None
    model_counter: int = Field(default=0, ge=0)
    """Next model number. Global: optimisation candidates consume numbers too, as in the original factory."""
    best_params: Hyperparameters | None = None
    """Parameters of the last optimisation result; a TRAIN command without params uses them."""
    pending: tuple[PendingCommand, ...] = ()
    replies: dict[str, str] = Field(default_factory=dict)
    """Command id -> encoded report, oldest first, so a re-delivered command gets the same answer."""
    challengers: tuple[DatasetVersion, ...] = ()
    """Dataset versions out of line with ``current`` (further from it than ``max_counter_step``), each a
    small step after the previous one. Each was refused with a dead letter on arrival; they are kept until
    ``anchor_quorum`` of them confirm a new lineage (then they are assembled after all) or the current
    lineage goes on (see :mod:`factory_job.factory_state`)."""

    def locked_datasets(self) -> list[DatasetInfo]:
        """Datasets held by a session (currently at most the active session's)."""
        if self.session and self.session.dataset.version in self.locks:
            return [self.session.dataset]
        return []

    def paths_to_keep(self) -> list[str]:
        """Assembled dataset files that must stay on disk."""
        keep = [d.path for d in self.locked_datasets()]
        if self.current:
            keep.append(self.current.path)
        return keep


@dataclass(frozen=True)
class Tick:
    """Processing time has advanced (a timer fired): expire commands that waited too long for a dataset."""

    now: float


class Channel(StrEnum):
    REPORT = "report"
    ASSEMBLY = "assembly"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True)
class Emit:
    """One output of a step and the stream it goes to."""

    channel: Channel
    message: FactoryReport | AssemblyAck | DeadLetter


@dataclass(frozen=True)
class AssemblyOutcome:
    """What :meth:`FactoryTools.assemble` produced: the dataset (if any) and the buckets it had to skip."""

    dataset: DatasetInfo | None
    problems: tuple[str, ...] = ()


class FactoryTools(Protocol):
    """The side effects the factory needs. All paths are strings on the shared volume."""

    def clock(self) -> float:
        """Wall-clock epoch seconds."""
        ...

    def assemble(self, message: DatasetVersion) -> AssemblyOutcome:
        """Concatenate the buckets of ``message`` into an assembled dataset file."""
        ...

    def delete_unused_datasets(self, keep: list[str]) -> list[str]:
        """Delete assembled datasets other than ``keep``; returns the deleted paths."""
        ...

    def model_path(self, model_id: str) -> str:
        """Where model ``model_id`` is saved."""
        ...

    def first_free_model_number(self) -> int:
        """A model number no file on the volume uses yet (seeds the counter when starting without state)."""
        ...

    def prepare(self, dataset: DatasetInfo) -> None:
        """Count ``dataset`` once for the optimisation session that just locked it (a cache)."""
        ...

    def train(self, dataset: DatasetInfo, params: Hyperparameters, model_path: str) -> None:
        """Fit a model on ``dataset`` and save it atomically at ``model_path``."""
        ...

    def train_and_score(self, dataset: DatasetInfo, params: Hyperparameters, model_path: str) -> MetricSet:
        """Fit, save, and score the model on the same dataset (in-sample, per partition)."""
        ...

    def delete_model(self, model_path: str) -> None:
        """Delete a model file (missing files are fine)."""
        ...

    def publish(self, report: FactoryReport) -> None:
        """Record a published model (a successful TRAIN or OPT_FINALISE report) in the registry."""
        ...
