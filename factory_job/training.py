"""Training and scoring SPST models for the factory, through ``wayeb_py``.

One :class:`WayebTrainer` lives in the factory operator. It compiles the configured pattern once, reads
assembled datasets, fits models with the factory's hyperparameters and saves them (``wayeb_py`` writes model
files atomically). Fixed learning constants (``alpha``, ``r``) and the forecasting settings (threshold,
horizon, max spread) all come from the shared :class:`~protocol.settings.Settings`, so the factory scores
candidates with exactly the classifier the inference job deploys, and retrains learn like the bootstrap
model.

Scoring is in-sample (train = test, like RTCEF's factory) and per partition when the pattern has a
``partitionBy``: one run per vessel, counts summed. Without ``partitionBy`` a single run spans the dataset.

An optimisation session scores many candidates on one locked dataset; the dataset is read and counted once
(:meth:`WayebTrainer.prepare`) and each trial only learns a PST from the cached counts. The cache lives in the
operator instance, keyed by dataset version: after a restart it is rebuilt on first use.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pandas as pd

from factory_job.state import DatasetInfo
from protocol.messages import Hyperparameters, MetricSet
from protocol.settings import Settings

__all__ = ["WayebTrainer", "load_events", "metric_set"]

LOG = logging.getLogger(__name__)

TEXT_COLUMNS = ("mmsi", "pan", "type", "id")
"""Columns read as text whatever they look like (keys such as ``mmsi`` must not become integers)."""

CACHED_DATASETS = 2
"""Datasets whose events and counts are kept in memory: the locked one and the current one."""

PREPARED_MAX_ORDER = 5
"""Depth an optimisation session counts to up front: the original optimiser searches orders 1..5. A deeper
trial still works (the cache recounts once at the deeper depth)."""


def load_events(path: str | Path, partition_by: str | None = None, domain: str | None = None) -> pd.DataFrame:
    """An assembled dataset as a DataFrame in file order, with the attribute names the predicates expect.

    Key columns are text; the rest is typed by pandas. Raw field names of the domain's input format (e.g.
    maritime ``trh``) are renamed as ``wayeb_py``'s readers do.
    """
    from wayeb_py.io import DOMAIN_RENAME

    header = pd.read_csv(path, nrows=0).columns
    text = {c: str for c in (*TEXT_COLUMNS, partition_by) if c and c in header}
    frame = pd.read_csv(path, dtype=text, keep_default_na=False, na_values=[""])
    rename = {k: v for k, v in DOMAIN_RENAME.get(domain or "", {}).items() if k in frame.columns}
    return frame.rename(columns=rename) if rename else frame


def _undefined_as_zero(value: float) -> float:
    """wayeb_py marks undefined ratios with -1; the wire format reports them as 0.0."""
    return 0.0 if value < 0.0 else float(value)


def metric_set(metrics: Any) -> MetricSet:
    """Convert ``wayeb_py.evaluation.Metrics`` to the wire :class:`MetricSet`."""
    return MetricSet(
        tp=int(metrics.tp),
        tn=int(metrics.tn),
        fp=int(metrics.fp),
        fn=int(metrics.fn),
        precision=_undefined_as_zero(metrics.precision),
        recall=_undefined_as_zero(metrics.recall),
        f1=_undefined_as_zero(metrics.f1),
        mcc=float(metrics.mcc),
    )


class WayebTrainer:
    """Fits, saves and scores SPST models on assembled datasets."""

    def __init__(self, settings: Settings, *, pattern: Any = None) -> None:
        from wayeb_py.counting import CountCache

        self._settings = settings
        self._pattern = pattern
        self._events: OrderedDict[tuple[int, str], pd.DataFrame] = OrderedDict()
        self.count_cache = CountCache(max_entries=2 * CACHED_DATASETS)

    # ----------------------------------------------------------------------------------- pattern
    @property
    def pattern(self) -> Any:
        """The compiled pattern (compiled on first use, from ``settings.resolved_pattern()``)."""
        if self._pattern is None:
            from wayeb_py.patterns import load_pattern

            pattern_path, declarations_path = self._settings.resolved_pattern()
            declarations = declarations_path if declarations_path.exists() else None
            self._pattern = load_pattern(pattern_path, declarations)
        return self._pattern

    @property
    def partition_by(self) -> str | None:
        """The pattern's partition attribute: scoring runs one automaton per value of it."""
        return getattr(self.pattern, "partition_by", None)

    # ------------------------------------------------------------------------------------- data
    def events(self, dataset: DatasetInfo) -> pd.DataFrame:
        """The dataset's events (kept in memory for the last :data:`CACHED_DATASETS` datasets)."""
        key = (dataset.version, dataset.path)
        frame = self._events.get(key)
        if frame is None:
            frame = load_events(dataset.path, self.partition_by, self._settings.domain.value)
            self._events[key] = frame
            while len(self._events) > CACHED_DATASETS:
                self._events.popitem(last=False)
        self._events.move_to_end(key)
        return frame

    def prepare(self, dataset: DatasetInfo) -> None:
        """Read, symbolise and count ``dataset`` once, for the optimisation session that locks it."""
        from wayeb_py.counting import fit_counts

        events = self.events(dataset)
        fit_counts(
            self.pattern,
            events,
            max_order=max(self._settings.order, PREPARED_MAX_ORDER),
            cache=self.count_cache,
            dataset_id=_dataset_id(dataset),
        )
        LOG.info("dataset v%d counted for optimisation (%d events)", dataset.version, len(events))

    # -------------------------------------------------------------------------------- modelling
    def forecaster(self, params: Hyperparameters) -> Any:
        """An unfitted ``SPSTForecaster`` with ``params`` and the shared learning/forecasting settings."""
        from wayeb_py.estimator import SPSTForecaster

        s = self._settings
        return SPSTForecaster(
            self.pattern,
            order=params.order,
            p_min=params.p_min,
            alpha=s.alpha,
            gamma=params.gamma,
            r=s.r,
            threshold=params.confidence,  # the model carries its threshold; inference uses it as is
            horizon=s.horizon,
            max_spread=s.max_spread,
            partitioned=True,
            count_cache=self.count_cache,
        )

    def fit(self, dataset: DatasetInfo, params: Hyperparameters) -> Any:
        """A forecaster fitted on the whole dataset."""
        return self.forecaster(params).fit(self.events(dataset), dataset_id=_dataset_id(dataset))

    def train(self, dataset: DatasetInfo, params: Hyperparameters, model_path: str) -> None:
        """Fit on the whole dataset and save the model at ``model_path`` (``wayeb_py`` writes atomically)."""
        self.fit(dataset, params).save(model_path)

    def train_and_score(self, dataset: DatasetInfo, params: Hyperparameters, model_path: str) -> MetricSet:
        """Fit, save, and score in sample on the same dataset (per partition when the pattern has one)."""
        forecaster = self.fit(dataset, params)
        forecaster.save(model_path)
        return metric_set(forecaster.score(self.events(dataset), dataset_id=_dataset_id(dataset)))


def _dataset_id(dataset: DatasetInfo) -> str:
    return f"dataset_v{dataset.version}:{dataset.path}"
