"""Bayesian hyperparameter optimisation for the controller, on scikit-optimize's ask/tell ``Optimizer``.

Two presets:

* ``"rtcef"`` (default) follows the original RTCEF optimiser: four dimensions
  ``[confidence, order, p_min, gamma]``, a Matern(nu=1.5) Gaussian process with per-dimension length
  scales, ``gp_hedge`` acquisition, LHS initial points, seed 1234, 15 steps per session, and a warm start
  that keeps 5 samples between sessions. The optimiser object lives across sessions.
* ``"flink"`` reproduces Flink-RTCEF: ``[p_min, gamma]`` only, skopt's default GP with EI, 5 random
  initial points, seed 42, 10 steps, and a fresh optimiser (same seed) for every session.

Reproducing the original depends on the order of calls, so it is kept exactly:

1. the global NumPy generator is seeded once, before the skopt ``Optimizer`` is built (the GP's restarts
   and the random retention draw from it);
2. prior samples are told one ``tell(x, y)`` per sample, in order (every tell refits the GP and moves the
   random state), then the oldest are removed from ``Xi``/``yi`` by assignment, without a refit, so the
   first ask of the session comes from the model fitted before the trim;
3. later sessions keep ``keep_samples`` random samples of the previous ``Xi``: the samples to *remove*
   are drawn with ``numpy.random.choice(N, N - keep, replace=False)`` from the global generator;
4. each step is ``x = ask()`` then ``tell(x, objective)``; the best step is the first minimum (strict <).

The "global" generator is private to each optimiser: its state is swapped into ``numpy.random`` around
every skopt call and saved afterwards, so two optimisers in one process do not disturb each other and the
generator is part of the snapshot (a restored optimiser asks exactly what the original would have).
"""

from __future__ import annotations

import base64
import json
import math
import pickle
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

Point = list[float | int]
"""One point of the search space, in the order of the configured dimensions."""

SNAPSHOT_FORMAT = 1


@dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter. ``name`` is a :class:`protocol.Hyperparameters` field name."""

    name: str
    kind: str  # "real" | "integer"
    low: float
    high: float

    def cast(self, value: Any) -> float | int:
        """A plain Python number of this dimension's kind (skopt returns numpy scalars)."""
        return int(value) if self.kind == "integer" else float(value)


RTCEF_DIMENSIONS = (
    Dimension("confidence", "real", 0.0, 1.0),
    Dimension("order", "integer", 1, 5),
    Dimension("p_min", "real", 1e-4, 1e-2),
    Dimension("gamma", "real", 1e-4, 1e-2),
)
FLINK_DIMENSIONS = (
    Dimension("p_min", "real", 0.001, 0.1),
    Dimension("gamma", "real", 0.0, 0.005),
)


@dataclass(frozen=True)
class OptimiserConfig:
    """Everything that defines an optimiser's behaviour (stored in its snapshot)."""

    preset: str = "rtcef"
    dimensions: tuple[Dimension, ...] = RTCEF_DIMENSIONS
    estimator: str = "rtcef_gp"  # "rtcef_gp": the original's Matern GP; "GP": skopt's default GP
    acq_func: str = "gp_hedge"
    initial_point_generator: str = "lhs"
    n_initial_points: int = 5
    seed: int = 1234
    steps: int = 15
    keep_samples: int = 5
    reuse: bool = True  # one optimiser across sessions (warm start) or a fresh one per session

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OptimiserConfig:
        values = dict(data)
        values["dimensions"] = tuple(Dimension(**d) for d in values["dimensions"])
        return cls(**values)


def preset_config(preset: str) -> OptimiserConfig:
    """The configuration of a named preset: ``"rtcef"`` (original RTCEF) or ``"flink"`` (Flink-RTCEF)."""
    if preset == "rtcef":
        return OptimiserConfig()
    if preset == "flink":
        return OptimiserConfig(
            preset="flink",
            dimensions=FLINK_DIMENSIONS,
            estimator="GP",
            acq_func="EI",
            initial_point_generator="random",
            n_initial_points=5,
            seed=42,
            steps=10,
            keep_samples=0,
            reuse=False,
        )
    raise ValueError(f"unknown optimiser preset {preset!r} (expected 'rtcef' or 'flink')")


def preload() -> None:
    """Import scikit-optimize now. The import takes 1-2 s on a loaded machine; the Flink wrapper calls this
    in ``open()`` so that the first OPTIMIZE instruction does not pay it before its first command."""
    import skopt  # noqa: F401
    import skopt.learning.gaussian_process.kernels  # noqa: F401


def config_from_settings(settings: Any) -> OptimiserConfig:
    """The preset named by ``settings.optimiser_preset``, with the optimiser settings set explicitly.

    Settings left at their defaults do not override the preset (the flink preset keeps seed 42 and 10
    steps). ``optimiser_initial_points`` is the original's "initial bench" count: skopt's initial points
    are ``keep_samples`` when samples are kept between sessions, otherwise ``optimiser_initial_points``.
    """
    config = preset_config(settings.optimiser_preset)
    explicit = settings.model_fields_set
    updates: dict[str, Any] = {}
    if "optimiser_steps" in explicit:
        updates["steps"] = settings.optimiser_steps
    if "optimiser_seed" in explicit:
        updates["seed"] = settings.optimiser_seed
    if "optimiser_keep_samples" in explicit:
        updates["keep_samples"] = settings.optimiser_keep_samples
    config = replace(config, **updates)
    if config.keep_samples > 0 and config.reuse:
        config = replace(config, n_initial_points=config.keep_samples)
    elif "optimiser_initial_points" in explicit:
        config = replace(config, n_initial_points=settings.optimiser_initial_points)
    return config


@dataclass
class SessionState:
    """Bookkeeping of one optimisation session (plain data, JSON-able)."""

    steps: int
    xs: list[Point] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    pending_x: Point | None = None
    best_index: int = -1
    best_value: float = math.inf
    finished: bool = False


class HyperparameterOptimiser:
    """Event-driven ask/tell optimiser: ``init_session``, then ``ask``/``tell`` per step, ``finalize``."""

    def __init__(self, config: OptimiserConfig | None = None) -> None:
        self.config = config or OptimiserConfig()
        self._opt: Any = None  # skopt.Optimizer, built lazily
        self._np_state: Any = None  # the private "global" numpy generator state
        self.sessions_started = 0
        self.session: SessionState | None = None

    # ------------------------------------------------------------------ session API

    def init_session(self, prior_samples: Sequence[tuple[Sequence[float], float]] | None = None) -> None:
        """Start a session of ``config.steps`` steps (warm-started as described in the module doc).

        ``prior_samples`` ((point, objective) pairs in dimension order) are used by the first session only.
        """
        cfg = self.config
        first = self.sessions_started == 0
        if self._opt is None or not cfg.reuse:
            self._build()
        with self._global_rng():
            if first and prior_samples:
                for x, y in prior_samples:
                    self._opt.tell(self._cast(x), float(y))
                if cfg.keep_samples > 0:
                    self._remove_oldest(len(self._opt.Xi) - cfg.keep_samples)
            elif not first and cfg.reuse and cfg.keep_samples > 0:
                self._remove_random(len(self._opt.Xi) - cfg.keep_samples)
        self.sessions_started += 1
        self.session = SessionState(steps=cfg.steps)

    def ask(self) -> Point:
        """The point to evaluate next. Asking again before ``tell`` returns the same point."""
        session = self._active()
        if session.pending_x is None:
            with self._global_rng():
                session.pending_x = self._cast(self._opt.ask())
        return list(session.pending_x)

    def tell(self, x: Sequence[float], y: float) -> bool:
        """Record the objective ``y`` (minimised) of point ``x``; return whether steps remain."""
        session = self._active()
        value = float(y)
        if not math.isfinite(value):
            raise ValueError(f"objective must be finite, got {y!r}")
        point = self._cast(x)
        with self._global_rng():
            self._opt.tell(point, value)
        if value < session.best_value:  # strict: the first minimum wins ties
            session.best_index = len(session.ys)
            session.best_value = value
        session.xs.append(point)
        session.ys.append(value)
        session.pending_x = None
        return self.steps_remaining > 0

    def finalize(self) -> int:
        """Close the session; return the 0-based index of its best step (first minimum)."""
        session = self._active()
        if not session.ys:
            raise RuntimeError("cannot finalize a session without any told step")
        session.finished = True
        session.pending_x = None
        return session.best_index

    def abort_session(self) -> None:
        """Drop the current session; samples already told stay in the optimiser's history."""
        self.session = None

    @property
    def steps_done(self) -> int:
        return len(self.session.ys) if self.session else 0

    @property
    def steps_remaining(self) -> int:
        return self.session.steps - len(self.session.ys) if self.session else 0

    def best_point(self) -> Point:
        """The best point of the current (or just finalised) session."""
        if self.session is None or self.session.best_index < 0:
            raise RuntimeError("no best point: no step has been told in this session")
        return list(self.session.xs[self.session.best_index])

    def point_to_params(self, x: Sequence[float]) -> dict[str, float | int]:
        """Name the coordinates of ``x`` by dimension."""
        return {d.name: d.cast(v) for d, v in zip(self.config.dimensions, x, strict=True)}

    @property
    def history(self) -> tuple[list[Point], list[float]]:
        """Samples the skopt optimiser currently holds (``Xi``, ``yi``), as plain Python values."""
        if self._opt is None:
            return [], []
        return [self._cast(x) for x in self._opt.Xi], [float(y) for y in self._opt.yi]

    # ------------------------------------------------------------------ snapshots

    def get_state_snapshot(self) -> str:
        """JSON text of the whole optimiser: config, counters, session and the pickled skopt object."""
        blob = None
        if self._opt is not None:
            raw = pickle.dumps({"optimizer": self._opt, "np_state": self._np_state}, protocol=4)
            blob = base64.b64encode(raw).decode("ascii")
        session = None if self.session is None else asdict(self.session)
        if session is not None and math.isinf(session["best_value"]):
            session["best_value"] = None  # keep the JSON standard (no Infinity token)
        return json.dumps(
            {
                "format": SNAPSHOT_FORMAT,
                "config": self.config.to_dict(),
                "sessions_started": self.sessions_started,
                "session": session,
                "skopt": blob,
            }
        )

    def load_state_snapshot(self, snapshot: str) -> None:
        """Restore from :meth:`get_state_snapshot` text (its config replaces this object's)."""
        data = json.loads(snapshot)
        if data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unsupported optimiser snapshot format {data.get('format')!r}")
        self.config = OptimiserConfig.from_dict(data["config"])
        self.sessions_started = int(data["sessions_started"])
        session = data["session"]
        if session is not None:
            if session["best_value"] is None:
                session["best_value"] = math.inf
            self.session = SessionState(**session)
        else:
            self.session = None
        if data["skopt"] is None:
            self._opt, self._np_state = None, None
        else:
            restored = pickle.loads(base64.b64decode(data["skopt"]))
            self._opt, self._np_state = restored["optimizer"], restored["np_state"]

    @classmethod
    def from_snapshot(cls, snapshot: str) -> HyperparameterOptimiser:
        optimiser = cls()
        optimiser.load_state_snapshot(snapshot)
        return optimiser

    # ------------------------------------------------------------------ internals

    def _active(self) -> SessionState:
        if self.session is None or self.session.finished:
            raise RuntimeError("no open optimisation session: call init_session() first")
        return self.session

    def _cast(self, x: Sequence[Any]) -> Point:
        return [d.cast(v) for d, v in zip(self.config.dimensions, x, strict=True)]

    def _build(self) -> None:
        from skopt import Optimizer
        from skopt.learning import GaussianProcessRegressor
        from skopt.learning.gaussian_process.kernels import Matern
        from skopt.space import Integer, Real

        cfg = self.config
        self._np_state = np.random.RandomState(cfg.seed).get_state()  # == numpy.random.seed(seed)
        space = [
            Integer(int(d.low), int(d.high), name=d.name, dtype=int)
            if d.kind == "integer"
            else Real(d.low, d.high, name=d.name)
            for d in cfg.dimensions
        ]
        estimator: Any = cfg.estimator
        if cfg.estimator == "rtcef_gp":
            scales = [1.0 if d.kind == "integer" else _initial_length_scale(d) for d in cfg.dimensions]
            kernel = 1.0 * Matern(length_scale=scales, nu=1.5, length_scale_bounds=(1e-5, 1.0))
            estimator = GaussianProcessRegressor(
                kernel=kernel, n_restarts_optimizer=2, normalize_y=True, noise=0.0
            )
        with self._global_rng():
            self._opt = Optimizer(
                dimensions=space,
                base_estimator=estimator,
                n_initial_points=cfg.n_initial_points,
                initial_point_generator=cfg.initial_point_generator,
                acq_func=cfg.acq_func,
                acq_optimizer="auto",
                random_state=cfg.seed,
                model_queue_size=1,  # only the latest model is ever used; keeps snapshots small
            )

    def _remove_oldest(self, count: int) -> None:
        if count > 0:
            self._opt.Xi = list(self._opt.Xi[count:])
            self._opt.yi = list(self._opt.yi[count:])

    def _remove_random(self, count: int) -> None:
        n = len(self._opt.Xi)
        if count > 0:
            dropped = set(np.random.choice(list(range(n)), count, replace=False).tolist())
            self._opt.Xi = [x for i, x in enumerate(self._opt.Xi) if i not in dropped]
            self._opt.yi = [y for i, y in enumerate(self._opt.yi) if i not in dropped]

    @contextmanager
    def _global_rng(self) -> Iterator[None]:
        """Run with this optimiser's generator installed as ``numpy.random``'s global one."""
        outer = np.random.get_state()
        np.random.set_state(self._np_state)
        try:
            yield
        finally:
            self._np_state = np.random.get_state()
            np.random.set_state(outer)


def _initial_length_scale(dim: Dimension) -> float:
    """The original kernel's initial length scales: 0.2 for confidence, 1e-4 for p_min and gamma."""
    return {"confidence": 0.2, "p_min": 1e-4, "gamma": 1e-4}.get(dim.name, 1.0)


# ---------------------------------------------------------------------- prior samples and scripts


def load_prior_samples(path: Path, config: OptimiserConfig) -> list[tuple[Point, float]]:
    """Read prior samples from a JSON list of ``{"params": {name: value}, "objective": f}`` objects."""
    rows = json.loads(Path(path).read_text())
    samples: list[tuple[Point, float]] = []
    for row in rows:
        params = row["params"]
        samples.append(([d.cast(params[d.name]) for d in config.dimensions], float(row["objective"])))
    return samples


@dataclass(frozen=True)
class OptimisationResult:
    """Outcome of :func:`run_optimization`."""

    best_index: int
    best_params: dict[str, float | int]
    best_objective: float
    xs: list[Point]
    ys: list[float]


def run_optimization(
    objective: Callable[[dict[str, float | int]], float],
    *,
    config: OptimiserConfig | None = None,
    prior_samples: Sequence[tuple[Sequence[float], float]] | None = None,
    optimiser: HyperparameterOptimiser | None = None,
) -> OptimisationResult:
    """Run one whole session synchronously (for scripts and offline tuning).

    ``objective`` receives the hyperparameters by name and returns the value to minimise (e.g. -MCC).
    Pass the same ``optimiser`` again to run a later, warm-started session.
    """
    opt = optimiser or HyperparameterOptimiser(config)
    opt.init_session(prior_samples)
    while True:
        x = opt.ask()
        if not opt.tell(x, objective(opt.point_to_params(x))):
            break
    best = opt.finalize()
    assert opt.session is not None
    return OptimisationResult(
        best_index=best,
        best_params=opt.point_to_params(opt.best_point()),
        best_objective=opt.session.ys[best],
        xs=[list(x) for x in opt.session.xs],
        ys=list(opt.session.ys),
    )
