"""Benchmark of the pure-Python SPST back end on the real single-vessel AIS stream (not a test).

Prints each measured figure next to its target:

* learning (symbolise + count + PST + forecast table) per order, vs the paper's maritime training times
  (T1 ~1 s ... T5 ~6 s on the JVM);
* batch scoring throughput, and the streaming ``SPSTModel.step`` throughput with per-event symbolisation, vs
  the 5e4-1e5 events/s target of the spec;
* a 16-trial optimisation session sharing one `CountCache` (learn + in-sample score per trial).

Run: ``.venv/bin/python benchmarks/bench_wayeb.py [--events N]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wayeb_py.counting import CountCache, fit_counts  # noqa: E402
from wayeb_py.estimator import SPSTForecaster  # noqa: E402
from wayeb_py.io import read_events  # noqa: E402
from wayeb_py.patterns import load_pattern  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
PAPER_TRAIN_S = {1: 1.0, 2: 2.0, 3: 2.8, 4: 4.2, 5: 6.0}
TARGET_STEP_EPS = 5e4


def _row(name: str, value: str, target: str) -> None:
    print(f"{name:<48} {value:>16}   target {target}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=None, help="use only the first N events")
    args = parser.parse_args()
    stream = DATA / "maritime" / "227592820.csv"
    if not stream.exists():
        print(f"missing shared data: {stream}", file=sys.stderr)
        return 1
    pattern = load_pattern(
        DATA / "patterns" / "port" / "pattern.sre", DATA / "patterns" / "port" / "declarations.sre"
    )
    frame = read_events(stream, "maritime", nrows=args.events)
    n = len(frame)
    print(
        f"stream: {n} events, {pattern.symbolizer.n_symbols} symbols, {pattern.sdfa.n_states} SDFA states\n"
    )

    t0 = time.perf_counter()
    pattern.symbolizer.symbols(frame)
    _row("symbolise (vectorised)", f"{time.perf_counter() - t0:.3f} s", "-")

    for order in range(1, 6):
        t0 = time.perf_counter()
        est = SPSTForecaster(pattern, order=order, p_min=0.001, gamma=0.001).fit(frame)
        t_fit = time.perf_counter() - t0
        t0 = time.perf_counter()
        m = est.score(frame)
        t_score = time.perf_counter() - t0
        _row(
            f"learn m={order} ({est.pst_.n_nodes} nodes)",
            f"{t_fit:.3f} s",
            f"< {PAPER_TRAIN_S[order]:.1f} s (paper)",
        )
        _row(
            f"  score m={order} (MCC {m.mcc:.3f})",
            f"{n / t_score:,.0f} ev/s",
            f">= {TARGET_STEP_EPS:,.0f} ev/s",
        )

    est = SPSTForecaster(pattern, order=2, p_min=0.001, gamma=0.001).fit(frame)
    model = est.model_
    events = frame.to_dict("records")
    state = model.new_run()
    t0 = time.perf_counter()
    for e in events:
        state, _ = model.step(state, e)
    t_step = time.perf_counter() - t0
    _row(
        "SPSTModel.step (incl. per-event symbolise)",
        f"{n / t_step:,.0f} ev/s",
        f">= {TARGET_STEP_EPS:,.0f} ev/s",
    )
    symbols = pattern.symbolizer.symbols(frame).tolist()
    stamps = frame["timestamp"].tolist()
    state = model.new_run()
    t0 = time.perf_counter()
    for s, ts in zip(symbols, stamps, strict=True):
        state, _ = model.step_symbol(state, s, ts)
    t_sym = time.perf_counter() - t0
    _row(
        "SPSTModel.step_symbol (pre-symbolised)", f"{n / t_sym:,.0f} ev/s", f">= {TARGET_STEP_EPS:,.0f} ev/s"
    )
    t0 = time.perf_counter()
    for e in events[:5000]:
        pattern.symbolizer.symbol(e)
    per = (time.perf_counter() - t0) / min(5000, n)
    _row("  of which Symbolizer.symbol per event", f"{per * 1e6:.1f} us", "-")

    rng = np.random.default_rng(0)
    cache = CountCache()
    t0 = time.perf_counter()
    fit_counts(pattern, frame, max_order=2, cache=cache, dataset_id="bench")
    mccs = []
    for _ in range(16):
        trial = SPSTForecaster(
            pattern,
            order=2,
            p_min=float(rng.uniform(0.001, 0.1)),
            gamma=float(rng.uniform(0.0, 0.005)),
            alpha=0.001,
            count_cache=cache,
        )
        mccs.append(trial.fit(frame, dataset_id="bench").score(frame, dataset_id="bench").mcc)
    t_session = time.perf_counter() - t0
    _row(
        "16-trial session (count once, learn+score each)",
        f"{t_session:.2f} s",
        f"< 16 x {PAPER_TRAIN_S[2]:.0f} s (paper train only)",
    )
    print(f"\nbest session MCC {max(mccs):.4f}; cache hits {cache.hits}, misses {cache.misses}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
