"""The demo's results: weekly rows from the loop's records, the static baseline, the table, MPPT and the plot.

Why a module: the bookkeeping is pure (records in, rows and text out) and the same for both domains; only
the partition key and the length of a week in timestamp units differ, and both come from
:class:`rtcef_ops.demo_domains.DemoDomain`. Weeks are counted from the stream's first event, like the
inference job's score intervals, so a score report, an instruction and the static baseline of the same
week line up whatever the timestamp unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtcef_eval.report import mppt_percent
from rtcef_ops.demo_domains import DemoDomain, week_of

__all__ = [
    "COLUMNS",
    "LoopLog",
    "after_drift_means",
    "format_table",
    "go_live_weeks",
    "plot_weekly",
    "produced_models",
    "production_summary",
    "static_weekly_mcc",
    "static_weekly_metrics",
    "weekly_rows",
]

COLUMNS = ("week", "adaptive_mcc", "static_mcc", "model", "instruction", "drift")
"""Columns of ``weekly.csv``, in order."""


@dataclass
class LoopLog:
    """What the demo saw on the control topics, in arrival order."""

    scores: list[dict[str, Any]] = field(default_factory=list)
    instructions: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    syncs: list[dict[str, Any]] = field(default_factory=list)


def weekly_rows(
    log: LoopLog, static: dict[int, float], t0: int, week_ticks: int, drift_weeks: Sequence[int] = ()
) -> list[dict[str, Any]]:
    """One row per score report: its week, the adaptive and static MCC, the model, the instructions after it.

    An instruction belongs to the week of its timestamp, which is the timestamp of the report it answers.
    """
    rows = []
    for score in log.scores:
        week = week_of(score["interval_start"], t0, week_ticks)
        in_week = [i for i in log.instructions if week_of(i["timestamp"], t0, week_ticks) == week]
        rows.append({
            "week": week,
            "adaptive_mcc": round(score["batch"]["mcc"], 4),
            "static_mcc": round(static[week], 4) if week in static else "",
            "model": score["model_id"],
            "instruction": ",".join(i["type"] for i in in_week),
            "drift": week in drift_weeks,
        })  # fmt: skip
    return rows


def static_weekly_metrics(model_path: Path, stream: Path, t0: int, profile: DemoDomain) -> dict[int, Any]:
    """Weekly confusion counts (``wayeb_py`` ``Metrics``) of one model kept unchanged over the whole stream.

    One run per partition key (``profile.key``: vessel or card), as in the inference job; a forecast counts
    in the week of the event that resolves it, which is when the engine emits its score delta, so the
    numbers are directly comparable. Weeks are ``profile.week_ticks`` long (milliseconds for cards).
    Forecasts still open when the stream ends are not counted, as the engine never resolves them either.
    """
    from wayeb_py.engine import SPSTModel
    from wayeb_py.evaluation import Metrics
    from wayeb_py.io import read_events
    from wayeb_py.scoring import iter_steps

    model = SPSTModel.load(model_path)
    events = read_events(stream, profile.domain.value)
    events = events.sort_values("timestamp", kind="stable").reset_index(drop=True)
    events[profile.key] = events[profile.key].astype(str)
    weeks = ((events["timestamp"].to_numpy() - t0) // profile.week_ticks).tolist()
    totals: dict[int, Metrics] = {}
    for _key, index, result in iter_steps(model, events, partitioned=True, partition_by=profile.key):
        if index < 0:
            continue
        week = int(weeks[index])
        totals[week] = totals.get(week, Metrics(0, 0, 0, 0)) + result.resolved
    return dict(sorted(totals.items()))


def static_weekly_mcc(model_path: Path, stream: Path, t0: int, profile: DemoDomain) -> dict[int, float]:
    """Weekly MCC of the unchanged model: the static baseline (:func:`static_weekly_metrics`)."""
    return {week: float(m.mcc) for week, m in static_weekly_metrics(model_path, stream, t0, profile).items()}


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The printed weekly table; a ``*`` marks a week in which the concept drifts."""
    lines = [f"{'week':>5} {'adaptive':>9} {'static':>8}  {'model':<12} instruction"]
    for r in rows:
        week = f"{r['week']}{'*' if r.get('drift') else ''}"
        static_cell = f"{r['static_mcc']:.3f}" if r["static_mcc"] != "" else "-"
        line = f"{week:>5} {r['adaptive_mcc']:>9.3f} {static_cell:>8}  {r['model']:<12} {r['instruction']}"
        lines.append(line.rstrip())
    if any(r.get("drift") for r in rows):
        lines.append("  * concept drift starts in this week")
    return "\n".join(lines)


def after_drift_means(
    rows: Sequence[dict[str, Any]], first_drift: int
) -> tuple[int, int, float, float] | None:
    """``(first week, last week, adaptive mean, static mean)`` over the weeks from ``first_drift`` on."""
    after = [r for r in rows if r["week"] >= first_drift and r["static_mcc"] != ""]
    if not after:
        return None
    adaptive = sum(r["adaptive_mcc"] for r in after) / len(after)
    static = sum(r["static_mcc"] for r in after) / len(after)
    return after[0]["week"], after[-1]["week"], adaptive, static


def produced_models(log: LoopLog) -> list[dict[str, Any]]:
    """The factory's successful ``train`` / ``opt_finalise`` reports: the models the loop produced."""
    return [
        r for r in log.reports if r["command_type"] in ("train", "opt_finalise") and r["status"] == "success"
    ]


def production_summary(log: LoopLog, span_ticks: int, ticks_per_second: int) -> str:
    """Instructions, models produced with their production times, and MPPT over the stream's span.

    Production time is wall-clock seconds; the stream's span is in timestamp units, converted to seconds
    with ``ticks_per_second`` before they meet (MPPT = production seconds / stream seconds, in percent).
    """
    produced = produced_models(log)
    seconds = sum(float(r.get("production_time", 0.0)) for r in produced)
    times = ", ".join(f"{r['model_id']} {float(r.get('production_time', 0.0)):.1f}s" for r in produced)
    text = f"instructions: {len(log.instructions)}; models produced: {len(produced)} ({times})"
    if span_ticks > 0:
        text += f"; MPPT {mppt_percent(seconds, span_ticks / ticks_per_second):.5f} %"
    return text


def go_live_weeks(
    syncs: Sequence[dict[str, Any]], t0: int, week_ticks: int, ticks_per_second: int
) -> list[tuple[float, str]]:
    """When each played model went live, as a fractional week from ``t0``, with its id.

    The engine keeps forecasting with the old model until stream time passes the play's timestamp plus
    the model's production time (seconds, converted to the stream's unit), so that is the go-live time.
    """
    live = []
    for sync in syncs:
        if sync.get("type") != "play" or not sync.get("model_id"):
            continue
        at = int(sync["timestamp"]) + round(float(sync.get("production_time", 0.0)) * ticks_per_second)
        live.append(((at - t0) / week_ticks, str(sync["model_id"])))
    return live


def plot_weekly(
    rows: Sequence[dict[str, Any]],
    path: Path,
    drift_weeks: Sequence[int],
    title: str,
    live: Sequence[tuple[float, str]] = (),
) -> None:
    """Adaptive vs static weekly MCC with retrain/optimise markers, a dotted line at each drift and a
    dashed green line, labelled with the model id, where each new model went live (``live``: see
    :func:`go_live_weeks`; a week's point sits at the week's index, so week ``w`` spans ``w - 0.5`` to
    ``w + 0.5`` on the axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weeks = [r["week"] for r in rows]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.plot(weeks, [r["adaptive_mcc"] for r in rows], "o-", label="adaptive (RTCEF loop)")
    static = [(r["week"], r["static_mcc"]) for r in rows if r["static_mcc"] != ""]
    if static:
        ax.plot(*zip(*static, strict=True), "s--", color="grey", label="static bootstrap model")
    for row in rows:
        if "retrain" in row["instruction"]:
            ax.plot(row["week"], row["adaptive_mcc"], "^", color="tab:orange", markersize=12)
        if "optimize" in row["instruction"]:
            ax.plot(row["week"], row["adaptive_mcc"], "*", color="tab:red", markersize=15)
    ax.plot([], [], "^", color="tab:orange", label="retrain issued")
    ax.plot([], [], "*", color="tab:red", label="optimise issued")
    for n, week in enumerate(drift_weeks):
        ax.axvline(
            week - 0.5, color="black", linestyle=":", alpha=0.6, label="concept drift" if n == 0 else None
        )
    for n, (live_week, model_id) in enumerate(live):
        x = live_week - 0.5
        label = "new model live" if n == 0 else None
        ax.axvline(x, color="tab:green", linestyle="--", alpha=0.7, label=label)
        ax.annotate(model_id, (x, 1.0), xycoords=("data", "axes fraction"), rotation=90, fontsize="x-small",
                    va="top", ha="right", color="tab:green")  # fmt: skip
    ax.set_title(title)
    ax.set_xlabel("week")
    ax.set_ylabel("weekly MCC")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
