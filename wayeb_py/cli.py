"""Command line: ``python -m wayeb_py {learn,evaluate,forecast}``.

* ``learn``: compile a pattern, learn an SPST from a stream and write a ``.spst`` model file.
* ``evaluate``: score a model on a stream; prints a short report, or the metrics as JSON with ``--json``.
* ``forecast``: run a model over a stream and print one JSON object per emitted forecast/detection.

Progress goes to stderr (tqdm when installed). Any bad input ends the process with exit status 2 and a single
``error: ...`` line on stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from .engine import SPSTModel
from .estimator import SPSTForecaster
from .evaluation import Metrics
from .io import DOMAINS, read_events
from .scoring import iter_steps, score_stream

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see --help)\n")


def _progress(total: int, label: str, quiet: bool) -> tuple[Callable[[int], None], Callable[[], None]]:
    """An ``update(n)`` callback and a ``close()`` for long loops, on stderr."""
    if quiet:
        return (lambda n: None), (lambda: None)
    try:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=label, unit="ev", file=sys.stderr, leave=False, mininterval=0.5)
        return bar.update, bar.close
    except ImportError:
        done = [0]

        def update(n: int) -> None:
            done[0] += n
            print(f"\r{label}: {done[0]}/{total} events", end="", file=sys.stderr, flush=True)

        return update, (lambda: print(file=sys.stderr))


def _add_stream_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stream", required=True, metavar="FILE", help="event file (CSV or JSON lines)")
    p.add_argument("--domain", required=True, choices=sorted(DOMAINS), help="stream domain")
    p.add_argument(
        "--format", dest="fmt", choices=["csv", "jsonl"], help="file format (default: by extension)"
    )
    p.add_argument("--columns", help="comma-separated column names for a header-less CSV")
    p.add_argument(
        "--partitioned",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="one run per partitionBy value (default: learn=yes if the pattern has one; "
        "evaluate/forecast: as learned)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")


def build_parser() -> argparse.ArgumentParser:
    """The ``wayeb-py`` parser: kebab-case options; Wayeb's camelCase spellings are accepted as aliases."""
    parser = _Parser(
        prog="wayeb-py",
        description="SPST complex event forecasting (Wayeb SPST path); also run as `python -m wayeb_py`",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    learn = sub.add_parser("learn", help="learn an SPST model and write it to a .spst file")
    learn.add_argument("--patterns", required=True, metavar="FILE", help="pattern .sre file")
    learn.add_argument("--declarations", metavar="FILE", help="declarations .sre file")
    _add_stream_args(learn)
    learn.add_argument(
        "--out", "--outputSpst", dest="outputSpst", required=True, metavar="FILE", help="model file to write"
    )
    learn.add_argument("--order", type=int, help="max PST order (default: the pattern's {order:m})")
    learn.add_argument(
        "--p-min", "--pMin", "--pmin", dest="pMin", type=float, default=0.001, metavar="P_MIN",
        help="minimum empirical probability of a context the PST explores (default: %(default)s)",
    )  # fmt: skip
    learn.add_argument(
        "--alpha", type=float, default=0.0,
        help="multiplier of the expansion threshold (1 + alpha) * gamma (default: %(default)s)",
    )  # fmt: skip
    learn.add_argument(
        "--gamma", "--gammaMin", dest="gamma", type=float, default=0.001,
        help="smoothing floor: least probability of every symbol (default: %(default)s)",
    )  # fmt: skip
    learn.add_argument(
        "--r", type=float, default=1.05,
        help="likelihood ratio needed to expand a context (default: %(default)s)",
    )  # fmt: skip
    learn.add_argument(
        "--threshold", type=float, default=0.3, help="forecast confidence threshold in [0, 1] (default: 0.3)"
    )
    learn.add_argument(
        "--horizon", type=int, default=600, help="waiting-time distribution length (default: 600 events)"
    )
    learn.add_argument(
        "--max-spread", "--maxSpread", dest="maxSpread", type=int, default=5, metavar="MAX_SPREAD",
        help="nextk window, or the widest smart_scan interval, at most --horizon (default: %(default)s)",
    )  # fmt: skip
    learn.add_argument(
        "--method", choices=["nextk", "smart_scan"], default="nextk", help="forecast method (default: nextk)"
    )
    learn.add_argument(
        "--wt-mode", "--wtMode", dest="wtMode", choices=["exact_wayeb", "merged"], default="exact_wayeb",
        help="waiting times with per-path pruning (exact_wayeb) or merged exactly (default: %(default)s)",
    )  # fmt: skip
    learn.add_argument(
        "--cutoff", type=float, default=0.001, help="exact_wayeb per-path pruning threshold (default: 0.001)"
    )
    learn.add_argument(
        "--distance", default="0.0,1.0",
        help="min,max remaining percentage of the states that forecast (-1,-1 = all; default: 0.0,1.0)",
    )  # fmt: skip
    learn.add_argument(
        "--finals-enabled", "--finalsEnabled", dest="finalsEnabled", action=argparse.BooleanOptionalAction,
        default=True, help="also forecast right after a detection (default: yes)",
    )  # fmt: skip
    learn.add_argument(
        "--dataset-id", "--datasetId", dest="datasetId", metavar="ID",
        help="dataset id recorded in the model provenance",
    )  # fmt: skip
    learn.add_argument("--json", action="store_true", help="print a JSON summary")

    ev = sub.add_parser("evaluate", help="score a model on a stream")
    ev.add_argument("--spst", "--model", dest="spst", required=True, metavar="FILE", help="model file")
    _add_stream_args(ev)
    ev.add_argument("--threshold", type=float, help="forecast threshold (default: the model's)")
    ev.add_argument(
        "--max-spread", "--maxSpread", dest="max_spread", type=int, help="nextk window (default: the model's)"
    )
    ev.add_argument("--horizon", type=int, help="waiting-time horizon (default: the model's)")
    ev.add_argument("--json", action="store_true", help="print metrics as JSON")

    fc = sub.add_parser("forecast", help="print forecasts as JSON lines")
    fc.add_argument("--spst", "--model", dest="spst", required=True, metavar="FILE", help="model file")
    _add_stream_args(fc)
    fc.add_argument("--detections", action="store_true", help="also print detections")
    return parser


def _read(args: argparse.Namespace) -> Any:
    columns = [c.strip() for c in args.columns.split(",")] if args.columns else None
    return read_events(args.stream, args.domain, fmt=args.fmt, columns=columns)


def _distance(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--distance must be 'min,max', got {text!r}") from None
    return lo, hi


def _cmd_learn(args: argparse.Namespace) -> int:
    from .patterns import load_pattern

    pattern = load_pattern(args.patterns, args.declarations)
    frame = _read(args)
    partitioned = True if args.partitioned is None else args.partitioned
    est = SPSTForecaster(
        pattern,
        order=args.order,
        p_min=args.pMin,
        alpha=args.alpha,
        gamma=args.gamma,
        r=args.r,
        threshold=args.threshold,
        horizon=args.horizon,
        max_spread=args.maxSpread,
        method=args.method,
        wt_mode=args.wtMode,
        cutoff=args.cutoff,
        distance=_distance(args.distance),
        finals_enabled=args.finalsEnabled,
        partitioned=partitioned,
    )
    t0 = time.perf_counter()
    est.fit(frame, dataset_id=args.datasetId)
    path = est.save(args.outputSpst)
    summary = {
        "output": str(path),
        "events": est.n_events_,
        "pst_nodes": est.pst_.n_nodes,
        "sdfa_states": est.model_.va.n_states,
        "symbols": est.model_.va.n_symbols,
        "model_key": est.model_.key,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"wrote {path}: {summary['pst_nodes']} PST nodes, {summary['events']} events, "
            f"{summary['seconds']} s"
        )
    return 0


def _model_partitioning(model: SPSTModel, flag: bool | None) -> bool:
    if flag is not None:
        return flag
    return model.provenance.get("partition_by") is not None


def _cmd_evaluate(args: argparse.Namespace) -> int:
    model = SPSTModel.load(args.spst)
    overrides = {
        name: value
        for name, value in (
            ("threshold", args.threshold), ("max_spread", args.max_spread), ("horizon", args.horizon)
        )
        if value is not None
    }
    if overrides:
        model = model.with_forecast_params(dataclasses.replace(model.forecast_params, **overrides))
    frame = _read(args)
    update, close = _progress(len(frame), "evaluate", args.quiet)
    t0 = time.perf_counter()
    try:
        metrics = score_stream(
            model, frame, partitioned=_model_partitioning(model, args.partitioned), progress=update
        )
    finally:
        close()
    elapsed = time.perf_counter() - t0
    if args.json:
        print(json.dumps({**metrics.to_dict(), "events": len(frame), "seconds": round(elapsed, 3)}))
    else:
        _print_report(metrics, len(frame), elapsed)
    return 0


def _print_report(m: Metrics, n: int, elapsed: float) -> None:
    print(f"events {n}  forecasts {m.total}  ({elapsed:.2f} s)")
    print(f"tp {m.tp}  tn {m.tn}  fp {m.fp}  fn {m.fn}")
    print(
        f"precision {m.precision:.4f}  recall {m.recall:.4f}  f1 {m.f1:.4f}  "
        f"specificity {m.specificity:.4f}  npv {m.npv:.4f}  mcc {m.mcc:.4f}"
    )


def _cmd_forecast(args: argparse.Namespace) -> int:
    model = SPSTModel.load(args.spst)
    frame = _read(args)
    update, close = _progress(len(frame), "forecast", args.quiet)
    out = sys.stdout
    try:
        for key, index, res in iter_steps(
            model, frame, partitioned=_model_partitioning(model, args.partitioned), progress=update
        ):
            if index < 0:
                continue
            base = {"index": index} if key is None else {"index": index, "key": key}
            if res.forecast is not None:
                out.write(json.dumps({**base, **res.forecast.to_dict()}, default=str) + "\n")
            if args.detections and res.detected:
                out.write(json.dumps({**base, "detection": True}, default=str) + "\n")
    finally:
        close()
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "learn": _cmd_learn,
    "evaluate": _cmd_evaluate,
    "forecast": _cmd_forecast,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except BrokenPipeError:  # e.g. `... forecast | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (
        ValueError,
        OSError,
        KeyError,
    ) as exc:  # ModelFileError, StreamFormatError, syntax errors included
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"error: {text}", file=sys.stderr)
        return 2
