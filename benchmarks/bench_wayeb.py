"""Benchmark of the pure-Python SPST back end on the real single-vessel AIS stream (not a test).

Prints each measured figure next to its target and writes everything, with the machine it ran on, to
``benchmarks/results/bench_wayeb.json``. Per PST order m = 1..6 (port-entry pattern, RTCEF factory defaults):

* learn: symbolise + count (CST) + PST + waiting times/forecast table from scratch, target < 2 s;
* re-learn: the same from already counted contexts (shared `CountCache`, new pMin/gamma), target < 0.3 s;
* batch scoring: `score_stream` on the DataFrame (symbolisation included), target >= 2e5 events/s;
* streaming: `SPSTModel.step` on event dicts (per-event symbolisation included), target >= 5e4 events/s;
* run-state size: bytes of ``json.dumps(state.to_dict())`` per key (max and mean over the stream).

Plus the peak RSS of a fresh process that learns every order (``resource.getrusage``, measured in a child
process so the benchmark's own allocations do not count) and a 16-trial optimisation session sharing one
`CountCache`. The step-by-step scoring path (one `RunState` per event through `iter_steps`, what
`score_stream` did before `wayeb_py.batch`) is timed per order as a reference and must give the same counts.
Throughputs and times are the best of ``--repeat`` runs, because the machine's cores are shared.

Run: ``.venv/bin/python benchmarks/bench_wayeb.py [--events N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wayeb_py.counting import CountCache, fit_counts  # noqa: E402
from wayeb_py.estimator import SPSTForecaster  # noqa: E402
from wayeb_py.evaluation import Metrics  # noqa: E402
from wayeb_py.io import read_events  # noqa: E402
from wayeb_py.patterns import load_pattern  # noqa: E402
from wayeb_py.scoring import iter_steps, score_stream  # noqa: E402

DATA = ROOT / "data"
STREAM = DATA / "maritime" / "227592820.csv"
PATTERN = (DATA / "patterns" / "port" / "pattern.sre", DATA / "patterns" / "port" / "declarations.sre")
RESULTS = ROOT / "benchmarks" / "results" / "bench_wayeb.json"
ORDERS = range(1, 7)
TARGETS = {"learn_s": 2.0, "relearn_s": 0.3, "batch_eps": 2e5, "step_eps": 5e4}


def _row(name: str, value: str, target: str, ok: bool | None = None) -> None:
    flag = "" if ok is None else ("  ok" if ok else "  BELOW TARGET")
    print(f"{name:<46} {value:>16}   target {target}{flag}")


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Shortest wall time of ``repeat`` calls and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "platform": platform.platform(),
    }


def rss_probe(nrows: int | None) -> dict[str, float]:
    """Child-process body: peak RSS before and after learning every order (MiB)."""
    pattern = load_pattern(*PATTERN)
    frame = read_events(STREAM, "maritime", nrows=nrows)
    loaded = _current_rss_mib()
    peak_loading = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for order in ORDERS:
        SPSTForecaster(pattern, order=order).fit(frame)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "rss_after_data_load_mib": loaded,
        "peak_rss_during_data_load_mib": peak_loading,
        "peak_rss_mib": peak,
        "learning_above_loaded_mib": peak - loaded,
        "learning_raised_peak_mib": peak - peak_loading,
    }


def _current_rss_mib() -> float:
    """Resident set size now (VmRSS), or NaN where /proc is unavailable."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _measure_rss(nrows: int | None) -> dict[str, float]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--rss-probe"]
    if nrows is not None:
        argv += ["--events", str(nrows)]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=600).stdout
    return json.loads(out.strip().splitlines()[-1])


def _stepwise_metrics(model: Any, frame: pd.DataFrame) -> Metrics:
    """Scoring through `iter_steps` (one `RunState` per event): the path batch scoring replaced."""
    tp = tn = fp = fn = 0
    for _, _, res in iter_steps(model, frame):
        r = res.resolved
        tp, tn, fp, fn = tp + r.tp, tn + r.tn, fp + r.fp, fn + r.fn
    return Metrics(tp, tn, fp, fn)


def bench_order(
    pattern: Any,
    frame: pd.DataFrame,
    events: list[dict[str, Any]],
    order: int,
    repeat: int,
    cache: CountCache,
) -> dict[str, Any]:
    """Every per-order figure (see module docstring)."""
    n = len(frame)
    t_learn, est = _best(lambda: SPSTForecaster(pattern, order=order).fit(frame), repeat)
    gammas = itertools.cycle([0.002, 0.003, 0.004])

    def relearn() -> SPSTForecaster:
        trial = SPSTForecaster(pattern, order=order, p_min=0.002, gamma=next(gammas), count_cache=cache)
        return trial.fit(frame, dataset_id="bench")

    t_relearn, _ = _best(relearn, repeat)
    model = est.model_
    t_batch, metrics = _best(lambda: score_stream(model, frame), repeat)
    t_ref, ref = _best(lambda: _stepwise_metrics(model, frame), repeat)
    if ref != metrics:
        raise AssertionError(f"batch scoring {metrics} differs from the step-by-step path {ref}")
    state = model.new_run()
    t0 = time.perf_counter()
    for e in events:
        state, _ = model.step(state, e)
    t_step = time.perf_counter() - t0
    sizes = []
    state = model.new_run()
    for s in pattern.symbolizer.symbols(frame).tolist():
        state, _ = model.step_symbol(state, s)
        sizes.append(len(json.dumps(state.to_dict())))
    return {
        "order": order,
        "pst_nodes": est.pst_.n_nodes,
        "mcc": metrics.mcc,
        "learn_s": t_learn,
        "relearn_s": t_relearn,
        "batch_eps": n / t_batch,
        "stepwise_scoring_eps": n / t_ref,
        "step_eps": n / t_step,
        "state_bytes_max": max(sizes),
        "state_bytes_mean": float(np.mean(sizes)),
    }


def _print_order(r: dict[str, Any]) -> None:
    m = r["order"]
    print(f"-- order m={m}: {r['pst_nodes']} PST nodes, in-sample MCC {r['mcc']:.3f}")
    _row("  learn (count + PST + WT)", f"{r['learn_s']:.3f} s", "< 2.0 s", r["learn_s"] < TARGETS["learn_s"])
    _row(
        "  re-learn from counts", f"{r['relearn_s']:.3f} s", "< 0.3 s", r["relearn_s"] < TARGETS["relearn_s"]
    )
    _row(
        "  batch scoring (score_stream)",
        f"{r['batch_eps']:,.0f} ev/s",
        ">= 200,000 ev/s",
        r["batch_eps"] >= TARGETS["batch_eps"],
    )
    _row(
        "  streaming SPSTModel.step",
        f"{r['step_eps']:,.0f} ev/s",
        ">= 50,000 ev/s",
        r["step_eps"] >= TARGETS["step_eps"],
    )
    _row(
        "  scoring step by step (pre-optimisation)", f"{r['stepwise_scoring_eps']:,.0f} ev/s", "- (reference)"
    )
    _row(
        "  run state per key (json, max / mean)",
        f"{r['state_bytes_max']} / {r['state_bytes_mean']:.0f} B",
        "- (no target)",
    )


def build_parser() -> argparse.ArgumentParser:
    """Options of the wayeb_py benchmark (``--rss-probe`` is the hidden child-process mode)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=None, help="use only the first N events")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timed figure (best is kept)")
    parser.add_argument("--rss-probe", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit status."""
    args = build_parser().parse_args(argv)
    if not STREAM.exists():
        print(f"missing shared data: {STREAM}", file=sys.stderr)
        return 1
    if args.rss_probe:
        print(json.dumps(rss_probe(args.events)))
        return 0
    pattern = load_pattern(*PATTERN)
    frame = read_events(STREAM, "maritime", nrows=args.events)
    n = len(frame)
    info = machine()
    print(
        f"machine: {info['nproc']} CPUs ({info['cpu_model']}), Python {info['python']}, numpy {info['numpy']}"
    )
    print(
        f"stream: {n} events, {pattern.symbolizer.n_symbols} symbols, {pattern.sdfa.n_states} SDFA states\n"
    )

    events = frame.to_dict("records")
    cache = CountCache()
    fit_counts(pattern, frame, max_order=max(ORDERS), cache=cache, dataset_id="bench")
    per_order = []
    for order in ORDERS:
        per_order.append(bench_order(pattern, frame, events, order, args.repeat, cache))
        _print_order(per_order[-1])

    print("-- whole process / reference figures")
    rss = _measure_rss(args.events)
    _row("peak RSS, fresh process: load + learn m=1..6", f"{rss['peak_rss_mib']:.0f} MiB", "- (no target)")
    _row("  RSS after loading the stream", f"{rss['rss_after_data_load_mib']:.0f} MiB", "- (no target)")
    _row("  peak increase caused by learning", f"{rss['learning_raised_peak_mib']:.0f} MiB", "- (no target)")
    rng = np.random.default_rng(0)
    session = CountCache()
    t0 = time.perf_counter()
    fit_counts(pattern, frame, max_order=2, cache=session, dataset_id="session")
    mccs = []
    for _ in range(16):
        trial = SPSTForecaster(
            pattern,
            order=2,
            p_min=float(rng.uniform(0.001, 0.1)),
            gamma=float(rng.uniform(0.0, 0.005)),
            alpha=0.001,
            count_cache=session,
        )
        mccs.append(trial.fit(frame, dataset_id="session").score(frame, dataset_id="session").mcc)
    t_session = time.perf_counter() - t0
    _row("16-trial session (count once, learn+score each)", f"{t_session:.2f} s", "- (no target)")

    summary = {
        "learn_s_max": max(r["learn_s"] for r in per_order),
        "relearn_s_max": max(r["relearn_s"] for r in per_order),
        "batch_eps_min": min(r["batch_eps"] for r in per_order),
        "step_eps_min": min(r["step_eps"] for r in per_order),
        "state_bytes_max": max(r["state_bytes_max"] for r in per_order),
    }
    met = {
        "learn": summary["learn_s_max"] < TARGETS["learn_s"],
        "relearn": summary["relearn_s_max"] < TARGETS["relearn_s"],
        "batch": summary["batch_eps_min"] >= TARGETS["batch_eps"],
        "step": summary["step_eps_min"] >= TARGETS["step_eps"],
    }
    missed = [k for k, ok in met.items() if not ok]
    print(
        f"\nworst over m=1..6: learn {summary['learn_s_max']:.3f} s, "
        f"re-learn {summary['relearn_s_max']:.3f} s, batch {summary['batch_eps_min']:,.0f} ev/s, "
        f"step {summary['step_eps_min']:,.0f} ev/s; "
        + (f"MISSED: {', '.join(missed)}" if missed else "all targets met")
    )
    result = {
        "benchmark": "bench_wayeb",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "stream": {"path": str(STREAM.relative_to(DATA)), "events": n, "pattern": "port"},
        "repeat": args.repeat,
        "targets": TARGETS,
        "per_order": per_order,
        "summary": summary,
        "targets_met": met,
        "peak_rss": rss,
        "reference": {"session_16_trials_s": t_session, "session_best_mcc": max(mccs)},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
