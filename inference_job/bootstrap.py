"""Train the initial model on the first weeks of a stream and register it as the current model.

``python -m inference_job.bootstrap --stream data/stream.jsonl --weeks 4 --out models/initial.spst``

This is the offline step of the original protocol (the offCEF model is learned on the first four weeks,
which the engine then skips as "training period"). Learning and forecasting settings (order, p_min,
gamma, alpha, r, threshold, horizon, max_spread) come from :class:`Settings`, the same values the factory
uses for retrains, so the bootstrap model and run-time models are comparable. The model is written with
``wayeb_py`` (atomic file write) and published in the factory's registry (``shared_volume.registry``,
``models/registry.json``) with creation method ``initial``, which makes it the model the inference job
starts with.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from protocol.messages import CreationMethod, Hyperparameters
from protocol.settings import WEEK_SECONDS, Settings, load_settings

__all__ = ["bootstrap", "first_weeks", "main"]

_LOG = logging.getLogger(__name__)


def first_weeks(frame: Any, weeks: float, ticks_per_second: int) -> Any:
    """Rows of ``frame`` (a DataFrame with ``timestamp``) in the first ``weeks`` after its first event."""
    if frame.empty:
        return frame
    start = int(frame["timestamp"].min())
    end = start + int(weeks * WEEK_SECONDS * ticks_per_second)
    return frame[frame["timestamp"] < end]


def optimise_initial_params(
    settings: Settings, pattern: Any, frame: Any, steps: int, *, dataset_id: str
) -> Hyperparameters:
    """Offline Bayesian optimisation of the initial hyperparameters on the bootstrap weeks.

    This is how the original RTCEF made its initial ("offCEF") models: the same optimiser as the controller,
    the same objective as the factory (-MCC of in-sample, per-partition scoring), counts computed once.
    """
    from dataclasses import replace

    from controller_job.optimizer import config_from_settings, run_optimization
    from wayeb_py.counting import CountCache
    from wayeb_py.estimator import SPSTForecaster

    cache = CountCache()

    def objective(point: dict[str, float | int]) -> float:
        params = Hyperparameters.model_validate(point)
        forecaster = SPSTForecaster(
            pattern, order=params.order, p_min=params.p_min, alpha=settings.alpha, gamma=params.gamma,
            r=settings.r, threshold=params.confidence, horizon=settings.horizon,
            max_spread=settings.max_spread, partitioned=True, count_cache=cache,
        ).fit(frame, dataset_id=dataset_id)  # fmt: skip
        mcc = forecaster.score(frame).mcc
        _LOG.info("bootstrap optimisation: %s -> MCC %.4f", params.model_dump(), mcc)
        return -mcc if mcc != 0 else -0.0

    config = replace(config_from_settings(settings), steps=steps)
    result = run_optimization(objective, config=config)
    return Hyperparameters.model_validate(result.best_params)


def bootstrap(
    settings: Settings, stream: Path, weeks: float, out: Path, *, model_id: str = "initial",
    registry_path: Path | None = None, optimise_steps: int = 0,
) -> Path:  # fmt: skip
    """Fit on the first ``weeks`` of ``stream``, save to ``out``, register as current; return the path.

    With ``optimise_steps`` > 0 the hyperparameters come from an offline optimisation on those weeks
    (the original RTCEF's initial model); otherwise from the settings.
    """
    from shared_volume.registry import RegistryEntry, publish
    from wayeb_py.estimator import SPSTForecaster
    from wayeb_py.io import read_events
    from wayeb_py.patterns import load_pattern

    ticks = settings.domain.ticks_per_second
    started = time.monotonic()
    frame = first_weeks(read_events(stream, settings.domain.value), weeks, ticks)
    if frame.empty:
        raise ValueError(f"{stream}: no events to train on")
    pattern_path, declarations_path = settings.resolved_pattern()
    pattern = load_pattern(pattern_path, declarations_path if declarations_path.exists() else None)
    params = Hyperparameters(
        confidence=settings.threshold, order=settings.order, p_min=settings.p_min, gamma=settings.gamma
    )
    if optimise_steps > 0:
        params = optimise_initial_params(
            settings, pattern, frame, optimise_steps, dataset_id=f"bootstrap:{stream}"
        )
    forecaster = SPSTForecaster(
        pattern,
        order=params.order,
        p_min=params.p_min,
        alpha=settings.alpha,
        gamma=params.gamma,
        r=settings.r,
        threshold=params.confidence,
        horizon=settings.horizon,
        max_spread=settings.max_spread,
        partitioned=True,
    ).fit(frame, dataset_id=f"bootstrap:{stream}")
    out.parent.mkdir(parents=True, exist_ok=True)
    path = Path(forecaster.save(out))
    entry = RegistryEntry(
        model_id=model_id,
        path=str(path.resolve()),
        params=params,
        creation_method=CreationMethod.INITIAL,
        production_time=time.monotonic() - started,
        created_at=time.time(),
    )
    publish(registry_path or settings.registry_path, entry, make_current=True)
    _LOG.info("bootstrap model %s trained on %d events -> %s", model_id, len(frame), path)
    return path


def build_parser() -> argparse.ArgumentParser:
    """The ``rtcef-bootstrap`` parser (also ``python -m inference_job.bootstrap``); kebab-case options."""
    parser = argparse.ArgumentParser(prog="rtcef-bootstrap", description=__doc__.split("\n")[0])
    parser.add_argument("--stream", type=Path, required=True, help="input stream file (JSON lines or CSV)")
    parser.add_argument("--weeks", type=float, default=4.0, help="weeks from the first event to train on")
    parser.add_argument(
        "--out", type=Path, default=None, help="model file (default: DATA_DIR/models/initial.spst)"
    )
    parser.add_argument("--model-id", default="initial", help="id registered for the model")
    parser.add_argument("--registry", type=Path, default=None, help="registry file (default: from settings)")
    parser.add_argument(
        "--optimise-steps", type=int, default=0,
        help="optimise the hyperparameters offline on these weeks with N Bayesian steps (0: use settings)",
    )  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    settings = load_settings()
    out = args.out or settings.models_dir / "initial.spst"
    path = bootstrap(
        settings, args.stream, args.weeks, out, model_id=args.model_id, registry_path=args.registry,
        optimise_steps=args.optimise_steps,
    )  # fmt: skip
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
