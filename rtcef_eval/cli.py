"""Command line: ``python -m rtcef_eval --stream FILE ...`` replays a stream offline and compares strategies.

Steps: read and sort the stream, cut it into weeks (``--week-seconds`` of event time each, converted to the
domain's timestamp unit: seconds for maritime, milliseconds for card transactions), build the
initial model on the first ``--train-weeks`` weeks (by default a Bayesian optimisation of ``--steps`` steps
there, the paper's offline-optimised offCEF model; ``--initial settings`` uses the configured
hyperparameters instead), then replay the remaining weeks once per mode with the same initial model.

Prints the weekly table and the per-mode summary on stdout, writes ``weekly.csv``, ``summary.json`` and
``weekly_mcc.png`` in ``--out``; progress goes to stderr. Bad input ends with exit status 2 and one
``error: ...`` line.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

from controller_job.optimizer import preset_config
from inference_job.observer import ObserverConfig
from protocol.messages import Hyperparameters
from protocol.settings import Domain, Settings, SettingsError, load_settings

from .report import format_table, mode_summary, plot_weekly, write_summary, write_weekly_csv
from .simulation import Mode, ModeResult, WeekRecord, simulate
from .weeks import Week, split_weeks

__all__ = ["build_parser", "main", "parse_modes"]

DEFAULT_STEPS = 15


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see --help)\n")


def parse_modes(text: str) -> list[Mode]:
    """Comma-separated mode names, in the given order, without duplicates."""
    modes: list[Mode] = []
    for name in (part.strip() for part in text.split(",")):
        if not name:
            continue
        try:
            mode = Mode(name)
        except ValueError:
            raise ValueError(f"unknown mode {name!r}; choose from {[m.value for m in Mode]}") from None
        if mode not in modes:
            modes.append(mode)
    if not modes:
        raise ValueError("no mode given")
    return modes


def build_parser() -> argparse.ArgumentParser:
    """The ``rtcef-eval`` parser (also ``python -m rtcef_eval``); every option is kebab-case."""
    p = _Parser(prog="rtcef-eval", description=__doc__.splitlines()[0])
    p.add_argument("--stream", required=True, type=Path, help="event file (CSV or JSON lines)")
    p.add_argument("--domain", default=None, choices=[d.value for d in Domain],
                   help="stream domain (default: the DOMAIN setting, maritime)")  # fmt: skip
    p.add_argument(
        "--format", dest="fmt", choices=["csv", "jsonl"], help="file format (default: by extension)"
    )
    p.add_argument("--rows", type=int, default=None, help="read only the first N rows of the file")
    p.add_argument("--pattern", type=Path, default=None, help="pattern .sre (default: patterns/<domain>/)")
    p.add_argument("--declarations", type=Path, default=None, help="declarations .sre")
    p.add_argument("--train-weeks", type=int, default=2, help="weeks used for the initial model")
    p.add_argument("--week-seconds", type=int, default=None,
                   help="event-time length of a week in seconds, whatever the domain's timestamp unit "
                   "(default: REPORTING_INTERVAL_S, 604800)")  # fmt: skip
    p.add_argument("--modes", default="static,retrain,rtcef", help="comma list of static, retrain, rtcef")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="Bayesian optimisation steps per session")
    p.add_argument(
        "--history-k", type=int, default=None, help="weeks per retrain dataset (default: HISTORY_K)"
    )
    p.add_argument("--initial", choices=["optimise", "settings"], default="optimise",
                   help="initial model: optimised on the training weeks, or the set parameters")  # fmt: skip
    p.add_argument("--seed", type=int, default=None, help="optimiser seed (default: OPTIMISER_SEED)")
    p.add_argument("--out", type=Path, default=Path("out/eval"), help="output folder")
    p.add_argument("--no-plot", action="store_true", help="skip weekly_mcc.png")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return p


def load_stream(path: Path, domain: str, fmt: str | None, rows: int | None) -> pd.DataFrame:
    """Read the stream and sort it by time (stable) unless it carries reset markers (their place matters)."""
    from wayeb_py.io import read_events

    frame = read_events(path, domain, fmt=fmt, nrows=rows)
    if "timestamp" not in frame.columns or frame.empty:
        raise ValueError(f"{path}: no timestamped events")
    ts = frame["timestamp"]
    if not ts.is_monotonic_increasing and not (ts == -1).any():
        frame = frame.sort_values("timestamp", kind="stable", ignore_index=True)
    return frame


class _Progress:
    """tqdm bars on stderr: one per mode over weeks, with the optimisation step as postfix."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None

    def start(self, label: str, total: int) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=f"{label:8}", unit="wk", file=sys.stderr, leave=True)

    def on_step(self, step: int, value: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"opt step {step}: mcc {-value:.3f}")

    def on_week(self, record: WeekRecord) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"week {record.week.index} mcc {record.mcc:.3f} {record.instruction}")
            self.bar.update(1)

    def on_week_done(self) -> None:
        if self.bar is not None:
            self.bar.update(1)
        self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _initial_params(settings: Settings) -> Hyperparameters:
    return Hyperparameters(
        confidence=settings.threshold, order=settings.order, p_min=settings.p_min, gamma=settings.gamma
    )


def run(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """The whole evaluation; returns the summary (also written to ``<out>/summary.json``)."""
    from wayeb_py.patterns import load_pattern

    from .wayeb_backend import WayebBackend

    began = time.perf_counter()
    modes = parse_modes(args.modes)
    domain = Domain(args.domain or settings.domain.value)
    week_seconds = args.week_seconds or settings.reporting_interval_s
    ticks = domain.ticks_per_second
    history_k = args.history_k or settings.history_k
    if args.steps < 1 or args.train_weeks < 1 or history_k < 1:
        raise ValueError("--steps, --train-weeks and --history-k must be at least 1")
    default_pattern, default_decl = settings.model_copy(update={"domain": domain}).resolved_pattern()
    pattern_path = args.pattern or default_pattern
    decl_path = (
        args.declarations if args.declarations is not None else (None if args.pattern else default_decl)
    )

    frame = load_stream(args.stream, domain.value, args.fmt, args.rows)
    weeks: list[Week] = split_weeks(frame["timestamp"].to_numpy(), domain.seconds_to_ticks(week_seconds))
    if len(weeks) <= args.train_weeks:
        raise ValueError(
            f"the stream has {len(weeks)} non-empty week(s) of {week_seconds} s: need more than "
            f"--train-weeks {args.train_weeks} (use a smaller --week-seconds?)"
        )
    pattern = load_pattern(pattern_path, decl_path)
    progress = _Progress(args.quiet)
    seed = args.seed if args.seed is not None else settings.optimiser_seed
    optimiser_config = replace(preset_config(settings.optimiser_preset), steps=args.steps, seed=seed)
    backend = WayebBackend(pattern, frame, weeks, settings=settings, optimiser_config=optimiser_config,
                           on_step=progress.on_step)  # fmt: skip

    progress.start("initial", 1)
    started = time.perf_counter()
    train_range = list(range(args.train_weeks))
    params = _initial_params(settings)
    if args.initial == "optimise":
        model, params = backend.optimise(train_range, params)
    else:
        model = backend.train(train_range, params)
    initial_s = time.perf_counter() - started
    initial_mcc = backend.in_sample_mcc(train_range, params)
    progress.on_week_done()

    observer_config = ObserverConfig.from_settings(settings)
    results: list[ModeResult] = []
    for mode in modes:
        progress.start(mode.value, len(weeks) - args.train_weeks)
        try:
            results.append(simulate(
                mode, backend, weeks, initial_model=model, initial_params=params,
                train_weeks=args.train_weeks, history_k=history_k, observer_config=observer_config,
                on_week=progress.on_week,
            ))  # fmt: skip
        finally:
            progress.close()

    summaries = {r.mode.value: mode_summary(r, ticks) for r in results}
    summary: dict[str, Any] = {
        "stream": str(args.stream),
        "domain": domain.value,
        "ticks_per_second": ticks,
        "pattern": str(pattern_path),
        "declarations": str(decl_path) if decl_path else None,
        "rows": len(frame),
        "weeks": len(weeks),
        "week_seconds": week_seconds,
        "train_weeks": args.train_weeks,
        "history_k": history_k,
        "steps": args.steps,
        "constants": {
            "horizon": settings.horizon,
            "max_spread": settings.max_spread,
            "alpha": settings.alpha,
            "r": settings.r,
        },  # fmt: skip
        "initial": {
            "method": args.initial,
            "params": params.model_dump(),
            "production_s": initial_s,
            "in_sample_mcc": initial_mcc,
        },  # fmt: skip
        "modes": summaries,
        "runtime_s": time.perf_counter() - began,
    }
    out: Path = args.out
    write_weekly_csv(results, out / "weekly.csv")
    write_summary(summary, out / "summary.json")
    if not args.no_plot:
        plot_weekly(results, out / "weekly_mcc.png", title=f"{args.stream.name}: weekly MCC per mode")
    print(format_table(results, summaries))
    print(f"\ninitial model ({args.initial}): {params.model_dump()} in-sample MCC {initial_mcc:.4f}, "
          f"{initial_s:.1f} s; total {summary['runtime_s']:.1f} s; outputs in {out}/")  # fmt: skip
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        run(args, load_settings())
    except (ValueError, OSError, KeyError, SettingsError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"error: {text}", file=sys.stderr)
        return 2
    return 0
