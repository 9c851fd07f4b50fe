"""Summaries and outputs of an evaluation: statistics, MPPT, the printed table, CSV/JSON files and the plot.

* mean ± sd: mean and sample standard deviation (``statistics.stdev``, as the original's plotted stats) of the
  weekly batch MCCs; the sd is 0.0 with fewer than two weeks.
* MPPT (model production time percentage): total measured production time of a mode divided by the stream
  time it was evaluated on (number of calendar weeks from the first to the last evaluated week times the
  week length), in percent. With the full week length this is the original's MPPT (mean per 4-week period
  of Σpt, over 4 weeks); a compressed week inflates it in proportion, since training does not get faster.
  Production time is wall-clock seconds while weeks are in timestamp ticks (milliseconds for card
  transactions), so the stream time is converted with the domain's ``ticks_per_second`` first.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from protocol.messages import InstructionType

from .simulation import Mode, ModeResult, WeekRecord

__all__ = [
    "format_table",
    "mean_sd",
    "mppt_percent",
    "mode_summary",
    "plot_weekly",
    "stream_seconds",
    "write_summary",
    "write_weekly_csv",
]

MARKS = {InstructionType.RETRAIN.value: "R", InstructionType.OPTIMIZE.value: "O"}
CSV_COLUMNS = (
    "week", "position", "week_start", "mode", "rows", "tp", "tn", "fp", "fn", "mcc", "instruction",
    "model_version", "creation_method", "production_s", "confidence", "order", "p_min", "gamma",
)  # fmt: skip


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0.0 sd for a single value)."""
    if not values:
        raise ValueError("no values")
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else 0.0)


def stream_seconds(result: ModeResult, ticks_per_second: int = 1) -> float:
    """Event time in seconds covered by a mode's evaluated weeks (calendar weeks, gaps included).

    ``ticks_per_second``: timestamp units per second of the stream (``Domain.ticks_per_second``).
    """
    if not result.weeks:
        return 0.0
    first, last = result.weeks[0].week, result.weeks[-1].week
    return (last.end - first.start) / ticks_per_second


def mppt_percent(production_s: float, stream_s: float) -> float:
    """Production time as a percentage of stream time."""
    if stream_s <= 0:
        raise ValueError(f"stream time must be positive, got {stream_s}")
    return 100.0 * production_s / stream_s


def mode_summary(result: ModeResult, ticks_per_second: int = 1) -> dict[str, Any]:
    """JSON-able summary of one mode (``ticks_per_second`` as in :func:`stream_seconds`)."""
    mean, sd = mean_sd(result.mccs)
    span = stream_seconds(result, ticks_per_second)
    versions = {w.model_version for w in result.weeks}
    return {
        "weeks": len(result.weeks),
        "mcc_mean": mean,
        "mcc_sd": sd,
        "retrains": result.count(InstructionType.RETRAIN),
        "optimisations": result.count(InstructionType.OPTIMIZE),
        "models_used": len(versions),
        "production_s": result.production_s,
        "stream_s": span,
        "mppt_percent": mppt_percent(result.production_s, span),
    }


def _cell(record: WeekRecord) -> str:
    return f"{record.mcc:6.3f}{MARKS.get(record.instruction, ' ')}"


def format_table(results: Sequence[ModeResult], summaries: Mapping[str, Mapping[str, Any]]) -> str:
    """The weekly table (MCC per mode, R/O = instruction issued after that week, model versions) + summary."""
    if not results:
        return ""
    adaptive = [r for r in results if r.mode is not Mode.STATIC]
    start_w = max([10, *(len(str(w.week.start)) for w in results[0].weeks)])  # 13 digits in milliseconds
    head = ["week", f"{'start':>{start_w}}", f"{'rows':>6}"] + [f"{r.mode.value:>7}" for r in results]
    head += [f"v:{r.mode.value}" for r in adaptive]
    lines = ["  ".join(head)]
    for i, base in enumerate(results[0].weeks):
        cells = [f"{base.week.index:4d}", f"{base.week.start:>{start_w}d}", f"{base.week.rows:>6d}"]
        cells += [f"{_cell(r.weeks[i]):>7}" for r in results]
        cells += [f"{r.weeks[i].model_version:>{len(r.mode.value) + 2}d}" for r in adaptive]
        lines.append("  ".join(cells))
    lines.append("R = retrain, O = optimise issued after that week's report (new model from the next week)")
    lines.append("")
    lines.append(
        f"{'mode':8} {'mean MCC':>9} {'sd':>7} {'weeks':>5} {'#R':>3} {'#O':>3} {'prod s':>9} {'MPPT %':>10}"
    )
    for r in results:
        s = summaries[r.mode.value]
        lines.append(
            f"{r.mode.value:8} {s['mcc_mean']:9.4f} {s['mcc_sd']:7.4f} {s['weeks']:5d} {s['retrains']:3d} "
            f"{s['optimisations']:3d} {s['production_s']:9.2f} {s['mppt_percent']:10.6f}"
        )
    return "\n".join(lines)


def write_weekly_csv(results: Sequence[ModeResult], path: Path) -> Path:
    """One row per (week, mode), long format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for r in results:
            for w in r.weeks:
                m, p = w.metrics, w.params
                writer.writerow([
                    w.week.index, w.position, w.week.start, r.mode.value, w.week.rows, m.tp, m.tn, m.fp, m.fn,
                    f"{w.mcc:.6f}", w.instruction, w.model_version, w.creation_method.value,
                    f"{w.production_s:.3f}", p.confidence, p.order, p.p_min, p.gamma,
                ])  # fmt: skip
    return path


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def write_summary(summary: Mapping[str, Any], path: Path) -> Path:
    """The summary as standard JSON (non-finite numbers become null)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_finite(dict(summary)), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def plot_weekly(results: Sequence[ModeResult], path: Path, title: str = "") -> Path:
    """Weekly MCC lines per mode; a triangle marks a retrain, a star an optimisation, at the issuing week."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    try:
        for r in results:
            xs = [w.week.index for w in r.weeks]
            (line,) = ax.plot(xs, r.mccs, marker=".", label=r.mode.value)
            for kind, marker, size in (("retrain", "^", 9), ("optimize", "*", 13)):
                marked = [w for w in r.weeks if w.instruction == kind]
                if marked:
                    ax.scatter([w.week.index for w in marked], [w.mcc for w in marked], marker=marker,
                               s=size**2, color=line.get_color(), edgecolors="black", linewidths=0.6,
                               zorder=3)  # fmt: skip
        ax.scatter([], [], marker="^", color="grey", edgecolors="black", label="retrain issued")
        ax.scatter([], [], marker="*", s=120, color="grey", edgecolors="black", label="optimise issued")
        ax.set_xlabel("week")
        ax.set_ylabel("weekly batch MCC")
        if title:
            ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
    return path
