"""Fakes and message builders shared by the factory tests (imported by conftest and the test modules)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from factory_job.state import AssemblyOutcome, DatasetInfo
from protocol.messages import (
    CommandType,
    DatasetVersion,
    FactoryCommand,
    FactoryReport,
    Hyperparameters,
    MetricSet,
)


@dataclass
class FakeTools:
    """Records every side effect; datasets have ``rows_by_version`` rows; MCC per p_min from ``mcc_of``."""

    now: float = 1000.0
    tick: float = 1.5
    rows_by_version: dict[int, int] = field(default_factory=dict)
    default_rows: int = 500
    missing: set[str] = field(default_factory=set)
    mcc_of: Callable[[Hyperparameters], float] = lambda p: round(p.p_min * 10, 6)
    fail_training: bool = False
    free_number: int = 0
    assembled: list[int] = field(default_factory=list)
    prepared: list[int] = field(default_factory=list)
    trained: list[tuple[int, Hyperparameters, str]] = field(default_factory=list)
    scored: list[tuple[int, Hyperparameters, str]] = field(default_factory=list)
    deleted_models: list[str] = field(default_factory=list)
    published: list[FactoryReport] = field(default_factory=list)
    kept: list[list[str]] = field(default_factory=list)

    def clock(self) -> float:
        self.now += self.tick
        return self.now

    def assemble(self, message: DatasetVersion) -> AssemblyOutcome:
        problems = tuple(f"bucket file missing: {p}" for p in message.bucket_paths if p in self.missing)
        if len(problems) == len(message.bucket_paths):
            return AssemblyOutcome(dataset=None, problems=problems)
        self.assembled.append(message.version)
        info = DatasetInfo(
            version=message.version,
            path=f"/vol/datasets/dataset_v{message.version}.csv",
            rows=self.rows_by_version.get(message.version, self.default_rows),
            first_ts=min(message.bucket_starts, default=None),
            last_ts=message.timestamp,
            bucket_starts=message.bucket_starts,
        )
        return AssemblyOutcome(dataset=info, problems=problems)

    def delete_unused_datasets(self, keep: list[str]) -> list[str]:
        self.kept.append(sorted(keep))
        return []

    def model_path(self, model_id: str) -> str:
        return f"/vol/models/{model_id}.spst"

    def first_free_model_number(self) -> int:
        return self.free_number

    def prepare(self, dataset: DatasetInfo) -> None:
        self.prepared.append(dataset.version)

    def train(self, dataset: DatasetInfo, params: Hyperparameters, model_path: str) -> None:
        if self.fail_training:
            raise RuntimeError("disk full")
        self.trained.append((dataset.version, params, model_path))

    def train_and_score(self, dataset: DatasetInfo, params: Hyperparameters, model_path: str) -> MetricSet:
        if self.fail_training:
            raise RuntimeError("disk full")
        self.scored.append((dataset.version, params, model_path))
        return MetricSet(tp=1, tn=1, fp=1, fn=1, mcc=self.mcc_of(params))

    def delete_model(self, model_path: str) -> None:
        self.deleted_models.append(model_path)

    def publish(self, report: FactoryReport) -> None:
        self.published.append(report)


def params(
    p_min: float = 0.01, *, order: int = 2, gamma: float = 0.001, confidence: float = 0.5
) -> Hyperparameters:
    return Hyperparameters(confidence=confidence, order=order, p_min=p_min, gamma=gamma)


def command(
    cid: str,
    kind: CommandType,
    *,
    session: str = "s1",
    step: int = -1,
    p: Hyperparameters | None = None,
    best: int = -1,
) -> FactoryCommand:
    return FactoryCommand(
        id=cid, type=kind, timestamp=1443677401, session_id=session, step=step, params=p, best_step=best
    )


def dataset(version: int, *paths: str) -> DatasetVersion:
    paths = paths or (f"/vol/buckets/dt_bucket_{version}",)
    return DatasetVersion(
        version=version,
        timestamp=1443677401 + version,
        bucket_starts=tuple(1443600000 + 604800 * i for i in range(len(paths))),
        bucket_paths=paths,
    )




def write_buckets(folder, frame, n_buckets: int, *, shuffle_columns: bool = False) -> list[str]:
    """Split ``frame`` into ``n_buckets`` CSV bucket files with headers, as the collector writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    size = -(-len(frame) // n_buckets)
    for i in range(n_buckets):
        part = frame.iloc[i * size : (i + 1) * size]
        cols = list(part.columns)
        if shuffle_columns and i % 2:
            cols = cols[::-1]
        path = folder / f"dt_bucket_{i}"
        part[cols].to_csv(path, index=False)
        paths.append(str(path))
    return paths
