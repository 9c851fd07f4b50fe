"""The real :class:`~factory_job.state.FactoryTools`: the shared volume, ``wayeb_py`` and the model registry.

Layout under ``settings.data_dir``: ``datasets/dataset_v<version>.csv`` (assembled datasets),
``models/<model_id>.spst`` (models), ``models/registry.json`` (published models, current pointer) and
``models/history.jsonl`` (append-only publication history).
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from factory_job import assembly
from factory_job.state import AssemblyOutcome, DatasetInfo
from factory_job.training import WayebTrainer
from protocol.messages import DatasetVersion, FactoryReport, Hyperparameters, MetricSet
from protocol.settings import Settings
from shared_volume import registry
from shared_volume.files import remove_quietly

__all__ = ["VolumeTools"]

LOG = logging.getLogger(__name__)

_MODEL_FILE = re.compile(r"wayeb_(\d+)\.spst")


class VolumeTools:
    """Side effects of the factory on the shared volume."""

    def __init__(self, settings: Settings, trainer: WayebTrainer | None = None) -> None:
        self._settings = settings
        self.trainer = trainer or WayebTrainer(settings)

    def clock(self) -> float:
        return time.time()

    def assemble(self, message: DatasetVersion) -> AssemblyOutcome:
        s = self._settings
        result = assembly.assemble_dataset(
            message, s.datasets_dir, s.buckets_dir, s.max_bucket_bytes, key_column=s.domain.partition_key
        )
        if result.dataset is not None:
            LOG.info("dataset v%d assembled: %d events", result.dataset.version, result.dataset.rows)
        return AssemblyOutcome(dataset=result.dataset, problems=result.problems)

    def delete_unused_datasets(self, keep: list[str]) -> list[str]:
        deleted = assembly.delete_unused_datasets(self._settings.datasets_dir, keep)
        for path in deleted:
            LOG.info("assembled dataset deleted: %s", path)
        return deleted

    def model_path(self, model_id: str) -> str:
        return str(self._settings.models_dir / f"{model_id}.spst")

    def first_free_model_number(self) -> int:
        numbers = [-1]
        if self._settings.models_dir.is_dir():
            for path in self._settings.models_dir.iterdir():
                match = _MODEL_FILE.fullmatch(path.name)
                if match:
                    numbers.append(int(match.group(1)))
        for entry in registry.load_registry(self._settings.registry_path).models:
            match = _MODEL_FILE.fullmatch(f"{entry.model_id}.spst")
            if match:
                numbers.append(int(match.group(1)))
        return max(numbers) + 1

    def prepare(self, dataset: DatasetInfo) -> None:
        self.trainer.prepare(dataset)

    def train(self, dataset: DatasetInfo, params: Hyperparameters, model_path: str) -> None:
        self.trainer.train(dataset, params, model_path)

    def train_and_score(self, dataset: DatasetInfo, params: Hyperparameters, model_path: str) -> MetricSet:
        return self.trainer.train_and_score(dataset, params, model_path)

    def delete_model(self, model_path: str) -> None:
        remove_quietly(Path(model_path), log=LOG.warning)

    def publish(self, report: FactoryReport) -> None:
        if report.model_id is None or report.model_path is None or report.creation_method is None:
            raise ValueError(f"report {report.reply_id} names no model to publish")
        entry = registry.RegistryEntry(
            model_id=report.model_id,
            path=report.model_path,
            params=report.params,
            creation_method=report.creation_method,
            production_time=report.production_time,
            dataset_version=report.dataset_version,
            metrics=report.metrics,
            created_at=self.clock(),
        )
        registry.publish(self._settings.registry_path, entry)
