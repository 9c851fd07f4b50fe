"""Benchmark of the learning loop (not a test): factory OPT_STEP throughput and controller reaction time.

Prints each figure next to its target and writes everything, with the machine it ran on, to
``benchmarks/results/bench_learning.json``.

* **OPT_STEP throughput** (target >= 1e5 dataset events/s): weekly bucket files -> ``DatasetVersion`` ->
  ``OPT_INITIALISE`` -> N ``OPT_STEP`` commands through the factory's real ``step`` function with
  ``VolumeTools`` (assembly, ``WayebTrainer`` fit + atomic save + in-sample per-vessel scoring, state
  updates), on a temporary volume. Throughput = dataset rows / wall time of one step. Parameters are drawn
  from the default (``rtcef``) search space with a fixed seed. Datasets: 4 weeks of the default
  ``mocks.synthetic`` stream (30 vessels, ~116k events, the system's own pattern) and the real single-vessel
  stream of the shared data (``port-original`` pattern). Where the time goes is measured by wrapping the
  ``wayeb_py`` stages (PST learning, model build, forecast table, save, scoring).
* **Instruction -> first factory command** (target < 1 s) through the controller's pure ``step``, with the
  state (de)serialisation the Flink wrapper does around it: the first OPTIMIZE (fresh optimiser), an OPTIMIZE
  after a finished 15-step session (warm start: the first ask fits a GP), the same after a restore (the
  optimiser is rebuilt from its snapshot), and a RETRAIN.
* ``--kafka``: the same latency end to end through Kafka with the real ``controller_job`` on the session
  cluster (own topics; this script answers the commands as a fake factory). It takes the shared cluster lock
  ``/tmp/rtcef-cluster.lock`` itself and cancels the job it submitted.

Run: ``.venv/bin/python benchmarks/bench_learning.py [--steps N] [--repeat R] [--kafka]``.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from learning_kafka import fake_factory_report  # noqa: E402

import wayeb_py.engine as wengine  # noqa: E402
import wayeb_py.estimator as westimator  # noqa: E402
from controller_job.state import ControllerConfig, ControllerState, OptimiserCache, SendCommand  # noqa: E402
from controller_job.state_machine import step as controller_step  # noqa: E402
from factory_job.factory_state import initial_state  # noqa: E402
from factory_job.factory_state import step as factory_step  # noqa: E402
from factory_job.tools import VolumeTools  # noqa: E402
from mocks.synthetic import COLUMNS, SyntheticConfig, generate  # noqa: E402
from protocol.messages import (  # noqa: E402
    CommandType,
    DatasetVersion,
    FactoryCommand,
    Hyperparameters,
    Instruction,
    InstructionType,
    ReportStatus,
)
from protocol.settings import Settings, load_settings  # noqa: E402
from wayeb_py.io import read_events  # noqa: E402

DATA = ROOT / "data"
VESSEL = DATA / "maritime" / "227592820.csv"
PORT_ORIGINAL = DATA / "patterns" / "port-original"
RESULTS = ROOT / "benchmarks" / "results" / "bench_learning.json"
TARGETS = {"opt_step_eps": 1e5, "first_command_s": 1.0}
WEEK = 7 * 24 * 3600


def _row(name: str, value: str, target: str, ok: bool | None = None) -> None:
    flag = "" if ok is None else ("  ok" if ok else "  BELOW TARGET")
    print(f"{name:<52} {value:>14}   target {target}{flag}")


# ------------------------------------------------------------------------------- stage timers
class StageTimer:
    """Accumulated wall time of wrapped functions, by stage name (wrapping costs ~1 us per call)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, owner: Any, attr: str, stage: str) -> Callable[[], None]:
        original = getattr(owner, attr)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0

        setattr(owner, attr, timed)
        return lambda: setattr(owner, attr, original)

    @contextmanager
    def wayeb_stages(self) -> Iterator[None]:
        undo = [
            self.wrap(westimator, "learn_pst", "learn PST from cached counts"),
            self.wrap(wengine.SPSTModel, "__init__", "model build (VA + forecast table + digests)"),
            self.wrap(wengine, "build_forecast_table", "  of which forecast table"),
            self.wrap(wengine.SPSTModel, "save", "save model file (atomic)"),
            self.wrap(westimator, "score_stream", "in-sample scoring (per vessel)"),
        ]
        try:
            yield
        finally:
            for u in reversed(undo):
                u()


# ---------------------------------------------------------------------------- factory OPT_STEP
def _write_buckets(frame: pd.DataFrame, folder: Path, n: int) -> DatasetVersion:
    """Split ``frame`` (event-time order) into ``n`` bucket CSVs as the collector writes them."""
    folder.mkdir(parents=True)
    t0, t1 = int(frame["timestamp"].min()), int(frame["timestamp"].max()) + 1
    edges = np.linspace(t0, t1, n + 1).astype(np.int64)
    starts, paths = [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        part = frame[(frame["timestamp"] >= lo) & (frame["timestamp"] < hi)]
        path = folder / f"dt_bucket_{lo}.csv"
        part.to_csv(path, index=False)
        starts.append(int(lo))
        paths.append(str(path))
    return DatasetVersion(
        version=0, timestamp=int(t1), bucket_starts=tuple(starts), bucket_paths=tuple(paths)
    )


def _candidates(n: int, seed: int = 1234) -> list[Hyperparameters]:
    """Points of the default search space: confidence, order 1..5, p_min and gamma in [1e-4, 1e-2]."""
    rng = np.random.default_rng(seed)
    return [
        Hyperparameters(
            confidence=round(float(rng.uniform(0.0, 1.0)), 4),
            order=int(rng.integers(1, 6)),
            p_min=float(rng.uniform(1e-4, 1e-2)),
            gamma=float(rng.uniform(1e-4, 1e-2)),
        )
        for _ in range(n)
    ]


def bench_opt_steps(name: str, frame: pd.DataFrame, settings: Settings, steps: int) -> dict[str, Any]:
    """One optimisation session of ``steps`` steps through the factory's step function on a temp volume."""
    tools = VolumeTools(settings)
    state = initial_state()
    message = _write_buckets(frame, settings.data_dir / "buckets", 4)
    t0 = time.perf_counter()
    state, _ = factory_step(state, message, settings, tools)
    assembly_s = time.perf_counter() - t0
    rows = state.current.rows if state.current else 0

    def command(n: int, kind: CommandType, **kw: Any) -> FactoryCommand:
        return FactoryCommand(id=f"bench#1.{n}", type=kind, timestamp=0, session_id="bench#1", **kw)

    timer = StageTimer()
    undo = timer.wrap(tools.trainer, "events", "read dataset CSV")
    t0 = time.perf_counter()
    state, out = factory_step(state, command(0, CommandType.OPT_INITIALISE), settings, tools)
    initialise_s = time.perf_counter() - t0
    undo()
    assert out[0].message.status is ReportStatus.SUCCESS, out
    init_stages = dict(timer.seconds)
    timer.seconds.clear()
    per_step, mccs = [], []
    with timer.wayeb_stages():
        for i, params in enumerate(_candidates(steps)):
            t0 = time.perf_counter()
            state, out = factory_step(state, command(i + 1, CommandType.OPT_STEP, step=i, params=params),
                                      settings, tools)
            per_step.append(time.perf_counter() - t0)
            report = out[0].message
            assert report.status is ReportStatus.SUCCESS, report
            mccs.append(report.metrics.mcc)
    total = sum(per_step)
    eps = [rows / s for s in per_step]
    stages = {k: v / total for k, v in timer.seconds.items()}
    stages["factory step overhead (state, report, rest)"] = 1.0 - sum(
        v for k, v in stages.items() if not k.startswith("  ")
    )
    result = {
        "dataset": name,
        "rows": rows,
        "steps": steps,
        "assembly_s": assembly_s,
        "opt_initialise_s": initialise_s,
        "opt_initialise_read_csv_s": init_stages.get("read dataset CSV", 0.0),
        "step_s": per_step,
        "step_eps_median": statistics.median(eps),
        "step_eps_min": min(eps),
        "session_eps": rows * steps / (total + initialise_s),
        "stage_share": stages,
        "mcc": mccs,
    }
    print(f"\n[{name}] {rows} events, assembly {assembly_s:.2f} s, OPT_INITIALISE {initialise_s:.2f} s "
          f"(CSV read {result['opt_initialise_read_csv_s']:.2f} s, rest symbolise + count)")
    print("  per step (s): " + " ".join(f"{s:.2f}" for s in per_step))
    _row(f"[{name}] OPT_STEP throughput, median", f"{result['step_eps_median']:,.0f} ev/s", ">= 100,000",
         result["step_eps_median"] >= TARGETS["opt_step_eps"])
    _row(f"[{name}] OPT_STEP throughput, slowest step", f"{result['step_eps_min']:,.0f} ev/s", ">= 100,000",
         result["step_eps_min"] >= TARGETS["opt_step_eps"])
    _row(f"[{name}] session incl. OPT_INITIALISE", f"{result['session_eps']:,.0f} ev/s", "(info)")
    print("  where an OPT_STEP's time goes:")
    for stage, share in sorted(stages.items(), key=lambda kv: -kv[1] if not kv[0].startswith("  ") else 0):
        print(f"    {stage:<48} {100 * share:5.1f} %")
    return result


def synthetic_dataset(weeks: int) -> pd.DataFrame:
    stream = generate(SyntheticConfig(weeks=weeks))
    return stream.frame.loc[:, list(COLUMNS)]


# ------------------------------------------------------------------------ controller latency
def _instruction(kind: InstructionType, n: int) -> Instruction:
    return Instruction(id=f"bench-{kind.value}-{n}", type=kind, timestamp=1_700_000_000 + n)


def _timed_step(
    raw_state: str, message: Any, config: ControllerConfig, cache: OptimiserCache
) -> tuple[float, ControllerState, tuple[Any, ...]]:
    """What the Flink wrapper does per message: JSON -> state, step, state -> JSON."""
    t0 = time.perf_counter()
    state = ControllerState.from_json(raw_state)
    new, outputs = controller_step(state, message, int(time.time() * 1000), config=config, optimisers=cache)
    new.to_json()
    elapsed = time.perf_counter() - t0
    assert any(isinstance(o, SendCommand) for o in outputs), outputs
    return elapsed, new, outputs


def run_session(state: ControllerState, config: ControllerConfig, cache: OptimiserCache) -> ControllerState:
    """Drive one OPTIMIZE session to its PLAY with the fake factory."""
    state, outputs = controller_step(state, _instruction(InstructionType.OPTIMIZE, 0), 0, config=config,
                                     optimisers=cache)
    pending = [o.command for o in outputs if isinstance(o, SendCommand)]
    while pending:
        command = pending.pop(0)
        state, outputs = controller_step(state, fake_factory_report(command), 0, config=config,
                                         optimisers=cache)
        pending += [o.command for o in outputs if isinstance(o, SendCommand)]
    return state


def _profile_shares(fn: Callable[[], Any], names: dict[str, str]) -> dict[str, float]:
    """Cumulative-time share of selected functions (``funcname`` -> label) in one profiled call."""
    profiler = cProfile.Profile()
    profiler.runcall(fn)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = max(v[3] for v in stats.values())
    shares: dict[str, float] = {}
    for (_, _, func), (_, _, _, cum, _) in stats.items():
        if func in names:
            shares[names[func]] = max(shares.get(names[func], 0.0), cum / total)
    return shares


PROFILE_NAMES = {
    "_build": "build skopt Optimizer (+ GP surrogate)", "init_session": "open session",
    "ask": "optimiser ask (GP fit + acquisition when warm)", "get_state_snapshot": "snapshot (pickle+b64)",
    "from_snapshot": "restore optimiser from snapshot", "to_json": "state -> JSON",
    "from_json": "JSON -> state",
}  # fmt: skip


def bench_controller(settings: Settings, repeat: int) -> dict[str, Any]:
    from controller_job.optimizer import preload

    preload()  # as ControllerProcess.open() does; the fresh-worker probes below measure the import itself
    config = ControllerConfig.from_settings(settings)
    empty = ControllerState().to_json()
    cases: dict[str, list[float]] = {"retrain": [], "first_optimize": [], "warm_optimize_live": [],
                                     "warm_optimize_restored": []}  # fmt: skip
    for n in range(repeat):
        cases["retrain"].append(_timed_step(empty, _instruction(InstructionType.RETRAIN, n + 1), config,
                                            OptimiserCache())[0])
        cases["first_optimize"].append(_timed_step(empty, _instruction(InstructionType.OPTIMIZE, n + 1),
                                                   config, OptimiserCache())[0])
    t0 = time.perf_counter()
    after = run_session(ControllerState(), config, OptimiserCache())
    session_s = time.perf_counter() - t0
    raw_after = after.to_json()
    for n in range(repeat):
        cache = OptimiserCache()  # a restore: the live optimiser is rebuilt from the snapshot
        message = _instruction(InstructionType.OPTIMIZE, 100 + n)
        cases["warm_optimize_restored"].append(_timed_step(raw_after, message, config, cache)[0])
        live = OptimiserCache()
        snapshot = live.checkin(live.checkout(after.optimiser_snapshot, config.optimiser))
        raw_live = after.model_copy(update={"optimiser_snapshot": snapshot}).to_json()
        cases["warm_optimize_live"].append(_timed_step(raw_live, message, config, live)[0])
    shares = {
        "first_optimize": _profile_shares(
            lambda: _timed_step(empty, _instruction(InstructionType.OPTIMIZE, 999), config, OptimiserCache()),
            PROFILE_NAMES),
        "warm_optimize_restored": _profile_shares(
            lambda: _timed_step(raw_after, _instruction(InstructionType.OPTIMIZE, 998), config,
                                OptimiserCache()), PROFILE_NAMES),
    }  # fmt: skip
    opt = config.optimiser
    print(f"\n[controller] pure step incl. state JSON, {repeat} runs each; preset {opt.preset!r}, "
          f"{opt.steps} steps/session (a fake session: {session_s:.1f} s)")
    fresh = {"lazy_import": _fresh_process_probe(preload=False),
             "preloaded": _fresh_process_probe(preload=True)}  # fmt: skip
    lazy, pre = fresh["lazy_import"]["step_s"], fresh["preloaded"]["step_s"]
    _row("first OPTIMIZE, fresh worker, skopt not yet imported", f"{lazy * 1000:.0f} ms", "(reference)")
    _row("first OPTIMIZE, fresh worker, preloaded in open()", f"{pre * 1000:.0f} ms", "< 1000 ms",
         pre < TARGETS["first_command_s"])
    print(f"    (open() pays the skopt import instead: {fresh['preloaded']['preload_s'] * 1000:.0f} ms)")
    for case, values in cases.items():
        _row(f"instruction -> first command, {case} (max)", f"{max(values) * 1000:.1f} ms", "< 1000 ms",
             max(values) < TARGETS["first_command_s"])
        print(f"    median {statistics.median(values) * 1000:.1f} ms")
    for case, share in shares.items():
        print(f"  where {case}'s time goes (cumulative, overlapping):")
        for label, value in sorted(share.items(), key=lambda kv: -kv[1]):
            print(f"    {label:<48} {100 * value:5.1f} %")
    return {"latency_s": cases, "fresh_process": fresh, "profile_share": shares, "fake_session_s": session_s,
            "preset": config.optimiser.preset, "steps_per_session": config.optimiser.steps}  # fmt: skip


def _fresh_process_probe(*, preload: bool) -> dict[str, float]:
    """First OPTIMIZE in a new Python process (as in a just-started worker), optionally after ``preload``."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--fresh-probe"]
    argv += ["--preload"] if preload else []
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=300).stdout
    return json.loads(out.strip().splitlines()[-1])


def fresh_probe(preload: bool) -> None:
    """Child-process body of :func:`_fresh_process_probe`: prints one JSON line."""
    from controller_job.optimizer import preload as do_preload

    config = ControllerConfig.from_settings(load_settings())
    t0 = time.perf_counter()
    if preload:
        do_preload()
    preload_s = time.perf_counter() - t0
    elapsed = _timed_step(ControllerState().to_json(), _instruction(InstructionType.OPTIMIZE, 1), config,
                          OptimiserCache())[0]
    print(json.dumps({"preload_s": preload_s, "step_s": elapsed}))


# ------------------------------------------------------------------------------------ driver
def machine() -> dict[str, Any]:
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def build_parser() -> argparse.ArgumentParser:
    """Options of the learning benchmark (``--fresh-probe``/``--preload``: the hidden child-process mode)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15, help="OPT_STEPs per dataset (a default session)")
    parser.add_argument("--weeks", type=int, default=4, help="weeks of the synthetic stream")
    parser.add_argument("--repeat", type=int, default=5, help="controller latency runs per case")
    parser.add_argument("--no-vessel", action="store_true", help="skip the real single-vessel dataset")
    parser.add_argument("--kafka", action="store_true", help="also measure through Kafka (takes the lock)")
    parser.add_argument(
        "--kafka-instructions", type=int, default=8, help="instructions timed through Kafka (with --kafka)"
    )
    parser.add_argument("--fresh-probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--preload", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit status."""
    args = build_parser().parse_args(argv)
    if args.fresh_probe:
        fresh_probe(args.preload)
        return 0
    results: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
                               "targets": TARGETS, "opt_step": []}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-learning-") as tmp:
        settings = load_settings(data_dir=Path(tmp) / "synthetic")
        frame = synthetic_dataset(args.weeks)
        name = f"synthetic {args.weeks} weeks"
        results["opt_step"].append(bench_opt_steps(name, frame, settings, args.steps))
        if not args.no_vessel:
            vessel = read_events(VESSEL, "maritime")
            vessel_settings = load_settings(
                data_dir=Path(tmp) / "vessel", pattern_path=PORT_ORIGINAL / "pattern.sre",
                declarations_path=PORT_ORIGINAL / "declarations.sre",
            )  # fmt: skip
            results["opt_step"].append(
                bench_opt_steps("vessel 227592820", vessel, vessel_settings, args.steps)
            )
    results["controller"] = bench_controller(load_settings(), args.repeat)
    if args.kafka:
        from learning_kafka import measure_kafka_latency

        kafka = measure_kafka_latency(args.kafka_instructions)
        results["controller_kafka"] = kafka
        print(f"\n[controller_job on the cluster, through Kafka] {args.kafka_instructions} instructions "
              f"(submit -> RUNNING {kafka['submit_to_running_s']:.0f} s)")
        _row("instruction -> first command via Kafka (median)", f"{kafka['total_median_s'] * 1000:.0f} ms",
             "< 1000 ms", kafka["total_median_s"] < TARGETS["first_command_s"])
        _row("instruction -> first command via Kafka (max)", f"{kafka['total_max_s'] * 1000:.0f} ms",
             "< 1000 ms", kafka["total_max_s"] < TARGETS["first_command_s"])
        print(f"    median inside Flink (instruction record -> command record) "
              f"{kafka['in_flink_median_s'] * 1000:.0f} ms, delivery to the consumer "
              f"{kafka['delivery_median_s'] * 1000:.0f} ms")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
