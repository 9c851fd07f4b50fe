"""Statistics, MPPT, the printed table and the output files."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest

from protocol.messages import CreationMethod, Hyperparameters
from rtcef_eval.report import (
    format_table,
    mean_sd,
    mode_summary,
    mppt_percent,
    plot_weekly,
    stream_seconds,
    write_summary,
    write_weekly_csv,
)
from rtcef_eval.simulation import Mode, ModeResult, WeekRecord
from rtcef_eval.weeks import Week
from wayeb_py.evaluation import Metrics

PARAMS = Hyperparameters(confidence=0.4, order=3, p_min=0.001, gamma=0.002)
WEEK = 1000


def _record(mode: Mode, pos: int, index: int, m: Metrics, instruction: str = "", pt: float = 0.0,
            version: int = 0) -> WeekRecord:  # fmt: skip
    week = Week(index=index, start=index * WEEK, end=(index + 1) * WEEK, lo=pos * 5, hi=pos * 5 + 5)
    return WeekRecord(mode, pos, week, m, version, CreationMethod.INITIAL, PARAMS, instruction, pt)


M1 = Metrics(tp=8, tn=80, fp=2, fn=2)
M2 = Metrics(tp=3, tn=80, fp=7, fn=6)


@pytest.fixture
def results() -> list[ModeResult]:
    static = ModeResult(Mode.STATIC, (_record(Mode.STATIC, 2, 2, M1), _record(Mode.STATIC, 3, 4, M2)))
    rtcef = ModeResult(Mode.RTCEF, (
        _record(Mode.RTCEF, 2, 2, M2, "optimize", pt=30.0),
        _record(Mode.RTCEF, 3, 4, M1, "retrain", pt=10.0, version=1),
    ))  # fmt: skip
    return [static, rtcef]


def test_mean_and_sample_sd() -> None:
    assert mean_sd([0.2, 0.4, 0.9]) == pytest.approx((0.5, statistics.stdev([0.2, 0.4, 0.9])))
    assert mean_sd([0.3]) == (0.3, 0.0)
    with pytest.raises(ValueError):
        mean_sd([])


def test_mppt_is_production_time_over_stream_time_in_percent() -> None:
    # the original's port MD0: 269 s retrain + 14847 s optimisation over 22 weeks -> about 0.1 %
    assert mppt_percent(269 + 14847, 22 * 604800) == pytest.approx(100 * 15116 / 13305600)
    assert mppt_percent(0.0, 10) == 0.0
    with pytest.raises(ValueError):
        mppt_percent(1.0, 0)


def test_stream_time_spans_calendar_weeks_including_gaps(results: list[ModeResult]) -> None:
    assert stream_seconds(results[0]) == 3 * WEEK  # weeks 2 and 4, week 3 empty
    assert stream_seconds(ModeResult(Mode.STATIC)) == 0


def test_stream_time_in_milliseconds_is_converted_to_seconds_for_mppt(results: list[ModeResult]) -> None:
    # the same weeks read as card-transaction milliseconds last a thousandth of the time
    assert stream_seconds(results[1], ticks_per_second=1000) == 3 * WEEK / 1000
    s = mode_summary(results[1], ticks_per_second=1000)
    assert s["stream_s"] == 3 * WEEK / 1000
    assert s["mppt_percent"] == pytest.approx(1000 * mode_summary(results[1])["mppt_percent"])


def test_table_keeps_columns_aligned_for_millisecond_starts() -> None:
    ms_week = 604_800_000
    start = 1_704_067_200_000
    weeks = tuple(
        WeekRecord(Mode.STATIC, i, Week(index=i, start=start + i * ms_week, end=start + (i + 1) * ms_week,
                                        lo=i, hi=i + 1), M1, 0, CreationMethod.INITIAL, PARAMS, "", 0.0)
        for i in range(2)
    )  # fmt: skip
    result = ModeResult(Mode.STATIC, weeks)
    lines = format_table([result], {"static": mode_summary(result, ticks_per_second=1000)}).splitlines()
    assert str(start + ms_week) in lines[2]
    assert len({len(line) for line in lines[:3]}) == 1  # header and rows line up


def test_mode_summary_counts_instructions_and_production(results: list[ModeResult]) -> None:
    s = mode_summary(results[1])
    assert s["retrains"] == 1 and s["optimisations"] == 1
    assert s["production_s"] == 40.0
    assert s["mppt_percent"] == pytest.approx(100 * 40 / (3 * WEEK))
    assert s["mcc_mean"] == pytest.approx((M1.mcc + M2.mcc) / 2)
    assert s["models_used"] == 2


def test_table_marks_instructions_and_lists_versions(results: list[ModeResult]) -> None:
    text = format_table(results, {r.mode.value: mode_summary(r) for r in results})
    lines = text.splitlines()
    assert (
        "static" in lines[0] and "rtcef" in lines[0] and "v:rtcef" in lines[0] and "v:static" not in lines[0]
    )
    assert f"{M2.mcc:6.3f}O" in lines[1] and f"{M1.mcc:6.3f}R" in lines[2]
    assert lines[2].split()[-1] == "1"
    assert any(line.startswith("rtcef") and "40.00" in line for line in lines)


def test_csv_has_one_row_per_week_and_mode(results: list[ModeResult], tmp_path: Path) -> None:
    path = write_weekly_csv(results, tmp_path / "o" / "weekly.csv")
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 4
    assert [(r["mode"], r["week"], r["instruction"]) for r in rows[2:]] == [
        ("rtcef", "2", "optimize"),
        ("rtcef", "4", "retrain"),
    ]
    assert float(rows[0]["mcc"]) == pytest.approx(M1.mcc, abs=1e-6)
    assert rows[3]["order"] == "3" and rows[3]["model_version"] == "1"


def test_summary_json_is_standard_json(tmp_path: Path) -> None:
    path = write_summary({"a": float("nan"), "b": {"c": [1.5, float("inf")]}}, tmp_path / "s.json")
    assert json.loads(path.read_text()) == {"a": None, "b": {"c": [1.5, None]}}


def test_plot_writes_a_png(results: list[ModeResult], tmp_path: Path) -> None:
    path = plot_weekly(results, tmp_path / "weekly_mcc.png", title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
