"""The factory's metrics (operator ``factory``; names and units in docs/metrics.md).

Commands are counted by type as they arrive, error reports as they leave, and the current dataset and the
buffered commands are shown after every step. Training is measured where it happens: :class:`MeteredTools`
wraps the factory's :class:`~factory_job.state.FactoryTools` and times each ``train`` (a TRAIN or the
finalised model of an optimisation) and ``train_and_score`` (one optimisation step: fit, save and score),
so the state machine itself knows nothing about metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from factory_job.state import AssemblyOutcome, Channel, DatasetInfo, Emit, FactoryState, FactoryTools
from flink_common.metrics import OperatorMetrics
from protocol.messages import (
    CommandType,
    DatasetVersion,
    FactoryCommand,
    FactoryReport,
    Hyperparameters,
    MetricSet,
    ReportStatus,
)

__all__ = ["FactoryMetrics", "MeteredTools"]


class FactoryMetrics(OperatorMetrics):
    """Commands by type, errors, training and scoring durations, models, the current dataset."""

    def __init__(self) -> None:
        super().__init__()
        self.commands = {kind: self.counter(f"commands_{kind.value}") for kind in CommandType}
        self.errors = self.counter("errors")
        self.models_produced = self.counter("models_produced")
        self.models_published = self.counter("models_published")
        self.last_train_ms = self.gauge("last_train_ms", initial=None)
        self.last_score_ms = self.gauge("last_score_ms", initial=None)
        self.dataset_rows = self.gauge("dataset_rows")
        self.dataset_version = self.gauge("dataset_version", initial=None)
        self.pending_commands = self.gauge("pending_commands")

    def on_message(self, message: FactoryCommand | DatasetVersion | object) -> None:
        """A decoded input arrived: a command is counted by its type."""
        if isinstance(message, FactoryCommand):
            self.commands[message.type].inc()

    def on_step(self, state: FactoryState, outputs: Iterable[Emit]) -> None:
        """After a step: error reports counted, the current dataset and the command queue shown."""
        self.errors.inc(
            sum(
                1
                for emit in outputs
                if emit.channel is Channel.REPORT
                and isinstance(emit.message, FactoryReport)
                and emit.message.status is ReportStatus.ERROR
            )
        )
        if state.current is not None:
            self.dataset_rows.set(state.current.rows)
            self.dataset_version.set(state.current.version)
        self.pending_commands.set(len(state.pending))


class MeteredTools:
    """:class:`FactoryTools` that time training and scoring and count the models they write and publish."""

    def __init__(
        self, tools: FactoryTools, metrics: FactoryMetrics, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self._tools = tools
        self._metrics = metrics
        self._timer = timer

    def clock(self) -> float:
        return self._tools.clock()

    def assemble(self, message: DatasetVersion) -> AssemblyOutcome:
        return self._tools.assemble(message)

    def delete_unused_datasets(self, keep: list[str]) -> list[str]:
        return self._tools.delete_unused_datasets(keep)

    def model_path(self, model_id: str) -> str:
        return self._tools.model_path(model_id)

    def first_free_model_number(self) -> int:
        return self._tools.first_free_model_number()

    def prepare(self, dataset: DatasetInfo) -> None:
        self._tools.prepare(dataset)

    def train(self, dataset: DatasetInfo, params: Hyperparameters, model_path: str) -> None:
        started = self._timer()
        self._tools.train(dataset, params, model_path)
        self._metrics.last_train_ms.set(round((self._timer() - started) * 1000))
        self._metrics.models_produced.inc()

    def train_and_score(self, dataset: DatasetInfo, params: Hyperparameters, model_path: str) -> MetricSet:
        started = self._timer()
        metrics = self._tools.train_and_score(dataset, params, model_path)
        self._metrics.last_score_ms.set(round((self._timer() - started) * 1000))
        self._metrics.models_produced.inc()
        return metrics

    def delete_model(self, model_path: str) -> None:
        self._tools.delete_model(model_path)

    def publish(self, report: FactoryReport) -> None:
        self._tools.publish(report)
        self._metrics.models_published.inc()
