"""The evaluation backend on ``wayeb_py``: SPST training, Bayesian optimisation, streaming weekly scoring.

* The stream is symbolised once (every model of a run compiles the same pattern, so symbols are shared).
* Training: ``SPSTForecaster`` on the rows of the chosen weeks, with the hyperparameters' confidence as the
  forecasting threshold (the original's θ_fc), order, pMin and gamma; alpha, r, horizon and max spread come
  from the shared :class:`~protocol.settings.Settings`. A `CountCache` keyed by week range lets the trials of
  one optimisation count the dataset once.
* Optimisation: one :class:`~controller_job.optimizer.HyperparameterOptimiser` that lives across sessions (the
  original's warm start keeping 5 samples); objective = -MCC of the trial model scored in sample on the same
  weeks, per partition; then a final retrain with the best step's hyperparameters.
* Weekly scoring: the engine's per-event ``step`` with one run per partition key (the pattern's
  ``partitionBy``), states kept between weeks; a swap moves every run to the new model with ``adopt``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from controller_job.optimizer import HyperparameterOptimiser, OptimiserConfig, run_optimization
from protocol.messages import Hyperparameters
from protocol.settings import Settings
from wayeb_py.counting import CountCache
from wayeb_py.engine import RunState, SPSTModel
from wayeb_py.estimator import SPSTForecaster
from wayeb_py.evaluation import Metrics
from wayeb_py.scoring import reset_mask, symbolize_frame

from .weeks import Week

__all__ = ["Runs", "WayebBackend"]

Runs = dict[Any, RunState]
StepCallback = Callable[[int, float], None]


class WayebBackend:
    """Trains, optimises and scores SPST models over the weeks of one in-memory stream.

    Args:
        pattern: the compiled pattern (``wayeb_py.patterns.load_pattern``).
        frame: the whole stream, sorted by time (the rows the ``weeks`` point into).
        weeks: the stream's weeks (`rtcef_eval.weeks.split_weeks`).
        settings: alpha, r, horizon and max spread for every model.
        optimiser_config: the Bayesian optimiser (steps per session, seed, warm start...).
        on_step: called after each optimisation step with (step number, objective).
    """

    def __init__(
        self,
        pattern: Any,
        frame: pd.DataFrame,
        weeks: Sequence[Week],
        *,
        settings: Settings,
        optimiser_config: OptimiserConfig,
        on_step: StepCallback | None = None,
    ) -> None:
        self.pattern = pattern
        self.frame = frame
        self.weeks = list(weeks)
        self.settings = settings
        self.optimiser = HyperparameterOptimiser(optimiser_config)
        self.on_step = on_step
        self.cache = CountCache(max_entries=4)
        resets = reset_mask(frame)
        self._resets: list[bool] = resets.tolist()
        self._symbols: list[int] = symbolize_frame(pattern.symbolizer, frame, resets).tolist()
        attr = getattr(pattern, "partition_by", None)
        if attr is not None and attr not in frame.columns:
            raise ValueError(f"the pattern partitions by {attr!r}, which is not a column of the stream")
        self._keys: list[Any] = frame[attr].tolist() if attr is not None else [None] * len(frame)
        if "timestamp" in frame.columns:
            self._stamps: list[int] = (
                pd.to_numeric(frame["timestamp"], errors="coerce").fillna(0).astype(np.int64).tolist()
            )
        else:
            self._stamps = [0] * len(frame)

    # ------------------------------------------------------------------ datasets
    def _dataset(self, weeks: Sequence[int]) -> tuple[pd.DataFrame, str]:
        """Rows of a contiguous range of weeks and a cache id for them."""
        if not weeks:
            raise ValueError("a training dataset needs at least one week")
        first, last = min(weeks), max(weeks)
        rows = self.frame.iloc[self.weeks[first].lo : self.weeks[last].hi]
        return rows, f"weeks:{first}-{last}"

    def forecaster(self, params: Hyperparameters) -> SPSTForecaster:
        """An unfitted forecaster with ``params`` and the shared constants."""
        s = self.settings
        return SPSTForecaster(
            self.pattern, order=params.order, p_min=params.p_min, alpha=s.alpha, gamma=params.gamma, r=s.r,
            threshold=params.confidence, horizon=s.horizon, max_spread=s.max_spread, partitioned=True,
            count_cache=self.cache,
        )  # fmt: skip

    # ------------------------------------------------------------------ Backend
    def train(self, weeks: Sequence[int], params: Hyperparameters) -> SPSTModel:
        """Learn a model on the given weeks."""
        rows, dataset_id = self._dataset(weeks)
        return self.forecaster(params).fit(rows, dataset_id=dataset_id).model_

    def in_sample_mcc(self, weeks: Sequence[int], params: Hyperparameters) -> float:
        """MCC of a model trained and scored on the same weeks (the optimisation objective, negated)."""
        rows, dataset_id = self._dataset(weeks)
        est = self.forecaster(params).fit(rows, dataset_id=dataset_id)
        return est.score(rows, dataset_id=dataset_id).mcc

    def optimise(self, weeks: Sequence[int], params: Hyperparameters) -> tuple[SPSTModel, Hyperparameters]:
        """One optimisation session on the given weeks, then a final retrain with the best step's params.

        ``params`` (the current ones) are not a search input: the original optimiser starts from its own
        retained samples, not from the deployed model.
        """
        del params
        counter = [0]

        def objective(point: dict[str, float | int]) -> float:
            value = -self.in_sample_mcc(weeks, Hyperparameters.model_validate(point))
            counter[0] += 1
            if self.on_step is not None:
                self.on_step(counter[0], value)
            return value

        result = run_optimization(objective, optimiser=self.optimiser)
        best = Hyperparameters.model_validate(result.best_params)
        return self.train(weeks, best), best

    def new_runs(self) -> Runs:
        return {}

    def score(self, model: SPSTModel, runs: Runs, week: int) -> tuple[Runs, Metrics]:
        """Step every event of the week through its key's run; sum the forecasts resolved meanwhile.

        Each key's events of the week run together (``step_many``, a reset as symbol -1), as the
        inference engine runs a shard batch; the sums do not depend on how keys interleave.
        """
        w = self.weeks[week]
        runs = dict(runs)
        by_key: dict[Any, list[int]] = {}
        keys = self._keys
        for i in range(w.lo, w.hi):
            by_key.setdefault(keys[i], []).append(i)
        symbols, stamps, resets = self._symbols, self._stamps, self._resets
        tp = tn = fp = fn = 0
        for key, rows in by_key.items():
            state = runs.get(key)
            if state is None:
                state = model.new_run()
            run_symbols = [-1 if resets[i] else symbols[i] for i in rows]
            state, results = model.step_many(state, run_symbols, [stamps[i] for i in rows])
            runs[key] = state
            for result in results:
                r = result.resolved
                if r:
                    tp += r.tp
                    tn += r.tn
                    fp += r.fp
                    fn += r.fn
        return runs, Metrics(tp, tn, fp, fn)

    def swap(self, old: SPSTModel, new: SPSTModel, runs: Runs) -> Runs:
        """Every run continues under the new model (same SDFA state, pending forecasts kept)."""
        return {key: new.adopt_from(old, state) for key, state in runs.items()}
