"""scikit-learn style estimator around SPST learning and scoring.

`SPSTForecaster` takes a compiled pattern and hyperparameters in ``__init__`` (no logic there), learns in
``fit`` (returning ``self``; a refit replaces the previous fit) and exposes learned attributes with a trailing
underscore: ``counts_`` (counter suffix tree), ``pst_``, ``model_`` (`SPSTModel`), ``n_events_``.

Typical optimisation-session use (count once, learn per trial)::

    cache = CountCache()
    for trial in trials:
        est = SPSTForecaster(pattern, p_min=trial.p_min, gamma=trial.gamma, count_cache=cache)
        mcc = est.fit(frame, dataset_id="v7").score(frame).mcc
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias

import pandas as pd

from .counting import CountCache, as_frame
from .engine import SPSTModel
from .evaluation import Metrics
from .forecasting import ForecastParams
from .pst import CounterSuffixTree, LearnParams, PredictionSuffixTree, learn_pst
from .scoring import iter_steps, score_stream

__all__ = ["SPSTForecaster"]

Events: TypeAlias = pd.DataFrame | Iterable[Mapping[str, Any]]

_PARAM_NAMES = (
    "order",
    "p_min",
    "alpha",
    "gamma",
    "r",
    "threshold",
    "horizon",
    "max_spread",
    "method",
    "wt_mode",
    "cutoff",
    "distance",
    "finals_enabled",
    "partitioned",
    "count_cache",
)


class SPSTForecaster:
    """Learn an SPST forecaster for one pattern and score it on event streams.

    Args:
        pattern: a ``CompiledPattern`` (SDFA + symbolizer + annotations).
        order: maximum PST order m (None: the pattern's ``{order:m}``).
        p_min, alpha, gamma, r: PST learning hyperparameters (see `LearnParams`).
        threshold, horizon, max_spread, method, wt_mode, cutoff, distance, finals_enabled: forecasting
            settings (see `ForecastParams`; defaults are the RTCEF model factory's).
        partitioned: learn and score per value of the pattern's ``partitionBy`` (no effect without one);
            False reproduces RTCEF's single unpartitioned run.
        count_cache: optional `CountCache` shared by trials on the same dataset.
    """

    counts_: CounterSuffixTree | None
    pst_: PredictionSuffixTree
    model_: SPSTModel
    n_events_: int | None

    def __init__(
        self,
        pattern: Any,
        *,
        order: int | None = None,
        p_min: float = 0.001,
        alpha: float = 0.0,
        gamma: float = 0.001,
        r: float = 1.05,
        threshold: float = 0.3,
        horizon: int = 600,
        max_spread: int = 5,
        method: str = "nextk",
        wt_mode: str = "exact_wayeb",
        cutoff: float = 0.001,
        distance: tuple[float, float] = (0.0, 1.0),
        finals_enabled: bool = True,
        partitioned: bool = True,
        count_cache: CountCache | None = None,
    ) -> None:
        self.pattern = pattern
        self.order = order
        self.p_min = p_min
        self.alpha = alpha
        self.gamma = gamma
        self.r = r
        self.threshold = threshold
        self.horizon = horizon
        self.max_spread = max_spread
        self.method = method
        self.wt_mode = wt_mode
        self.cutoff = cutoff
        self.distance = distance
        self.finals_enabled = finals_enabled
        self.partitioned = partitioned
        self.count_cache = count_cache

    # ------------------------------------------------------------------ sklearn plumbing
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Hyperparameters (``pattern`` included), as scikit-learn's ``get_params``."""
        return {"pattern": self.pattern, **{name: getattr(self, name) for name in _PARAM_NAMES}}

    def set_params(self, **params: Any) -> SPSTForecaster:
        """Set hyperparameters; unknown names raise ValueError."""
        valid = {"pattern", *_PARAM_NAMES}
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for SPSTForecaster")
            setattr(self, name, value)
        return self

    def learn_params(self) -> LearnParams:
        """The PST learning settings implied by the hyperparameters."""
        order = self.order if self.order is not None else getattr(self.pattern, "order", None)
        if order is None:
            raise ValueError("no PST order: pass order=... or use a pattern with {order:m}")
        return LearnParams(int(order), float(self.p_min), float(self.alpha), float(self.gamma), float(self.r))

    def forecast_params(self) -> ForecastParams:
        """The forecasting settings implied by the hyperparameters (validated)."""
        lo, hi = self.distance
        params = ForecastParams(
            threshold=float(self.threshold),
            horizon=int(self.horizon),
            max_spread=int(self.max_spread),
            method=self.method,  # type: ignore[arg-type]
            wt_mode=self.wt_mode,  # type: ignore[arg-type]
            cutoff=float(self.cutoff),
            distance=(float(lo), float(hi)),
            finals_enabled=bool(self.finals_enabled),
        )
        params.validate()
        return params

    def _partition_by(self) -> str | None:
        return getattr(self.pattern, "partition_by", None) if self.partitioned else None

    # ------------------------------------------------------------------ learning and scoring
    def fit(self, events: Events, *, dataset_id: str | None = None) -> SPSTForecaster:
        """Learn the PST (counting contexts once per dataset when a `CountCache` is shared) and build the
        model."""
        learn = self.learn_params()
        forecast = self.forecast_params()
        frame = as_frame(events)
        cache = self.count_cache if self.count_cache is not None else CountCache(max_entries=1)
        n_symbols = int(self.pattern.symbolizer.n_symbols)
        learn.validate(n_symbols)
        key, stream = cache.stream(
            self.pattern, frame, partition_by=self._partition_by(), dataset_id=dataset_id
        )
        if stream.n_events == 0:
            raise ValueError("cannot fit on an empty stream")
        cst = cache.counts(key, stream, n_symbols, learn.order + 1)
        pst = learn_pst(cst, learn)
        time_range = stream.time_range()
        provenance = {
            "rows": stream.n_rows,
            "n_events": stream.n_events,
            "time_range": list(time_range) if time_range else None,
            "dataset_id": dataset_id or key[0],
            "partition_by": stream.partition_by,
            "seen_symbols": sorted(cst.seen_symbols),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.counts_ = cst
        self.pst_ = pst
        self.n_events_ = stream.n_events
        self.model_ = SPSTModel(self.pattern, pst, learn, forecast, provenance)
        self._stream_key = key
        self._stream_frame_len = len(frame)
        return self

    def _check_fitted(self) -> SPSTModel:
        model = getattr(self, "model_", None)
        if model is None:
            raise RuntimeError("SPSTForecaster is not fitted yet: call fit() first")
        return model

    def score(self, events: Events, *, dataset_id: str | None = None) -> Metrics:
        """Confusion counts and metrics of the fitted model's forecasts on ``events``.

        With ``partitioned`` and a pattern ``partitionBy``: one run per partition value; otherwise a single
        run.
        """
        model = self._check_fitted()
        frame = as_frame(events)
        attr = self._partition_by()
        symbols = None
        if self.count_cache is not None:
            _, stream = self.count_cache.stream(self.pattern, frame, partition_by=attr, dataset_id=dataset_id)
            symbols = stream.symbols
        return score_stream(model, frame, partitioned=attr is not None, partition_by=attr, symbols=symbols)

    def predict(self, events: Events) -> pd.DataFrame:
        """One row per emitted forecast: event index, key, timestamp, probability, interval, positive."""
        model = self._check_fitted()
        attr = self._partition_by()
        rows = [
            {"index": i, "key": key, **res.forecast.to_dict()}
            for key, i, res in iter_steps(
                model, as_frame(events), partitioned=attr is not None, partition_by=attr
            )
            if res.forecast is not None
        ]
        columns = [
            "index",
            "key",
            "timestamp",
            "probability",
            "start",
            "end",
            "positive",
            "counter",
            "vstate",
        ]
        return pd.DataFrame(rows, columns=columns)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the fitted model to a ``.spst`` file."""
        return self._check_fitted().save(path)

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> SPSTForecaster:
        """An estimator whose hyperparameters and ``model_`` come from a ``.spst`` file (``counts_`` is
        None)."""
        model = SPSTModel.load(path, **kwargs)
        return cls.from_model(model)

    @classmethod
    def from_model(cls, model: SPSTModel) -> SPSTForecaster:
        """Wrap an existing model (hyperparameters taken from it)."""
        lp, fp = model.learn_params, model.forecast_params
        est = cls(
            model.pattern,
            order=lp.order,
            p_min=lp.p_min,
            alpha=lp.alpha,
            gamma=lp.gamma,
            r=lp.r,
            threshold=fp.threshold,
            horizon=fp.horizon,
            max_spread=fp.max_spread,
            method=fp.method,
            wt_mode=fp.wt_mode,
            cutoff=fp.cutoff,
            distance=fp.distance,
            finals_enabled=fp.finals_enabled,
            partitioned=model.provenance.get("partition_by") is not None,
        )
        est.model_ = model
        est.pst_ = model.pst
        est.counts_ = None
        est.n_events_ = model.provenance.get("n_events")
        return est

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in _PARAM_NAMES if n != "count_cache")
        return f"SPSTForecaster({shown})"
