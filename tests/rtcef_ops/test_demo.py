"""The demo's bookkeeping in both domains: weeks in the stream's unit, rows, the static baseline, the log.

The maritime stream counts time in epoch seconds and the card stream in epoch milliseconds: every test
that involves a week runs with the finance profile too, so a week of 604 800 ticks (seconds taken for
milliseconds) would show up as a stream of ~1000 "weeks".
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from protocol.settings import WEEK_SECONDS, Domain, load_settings
from rtcef_ops.demo import announcement, build_parser, demo_environment
from rtcef_ops.demo_domains import PROFILES, drift_options, stream_time_text, week_of
from rtcef_ops.demo_report import (
    LoopLog,
    after_drift_means,
    format_table,
    production_summary,
    static_weekly_mcc,
    static_weekly_metrics,
    weekly_rows,
)

MARITIME, FINANCE = PROFILES[Domain.MARITIME], PROFILES[Domain.FINANCE]
T0_S = 1_704_067_449
T0_MS = 1_704_067_449_268


def _score(week: int, mcc: float, model: str, t0: int, week_ticks: int) -> dict:
    metrics = {"mcc": mcc}
    return {"interval_start": t0 + week * week_ticks, "timestamp": t0 + (week + 1) * week_ticks - 1,
            "model_id": model, "batch": metrics, "runtime": metrics}  # fmt: skip


def test_profiles_know_their_key_unit_and_pattern() -> None:
    assert (MARITIME.key, MARITIME.ticks_per_second, MARITIME.week_ticks) == ("mmsi", 1, WEEK_SECONDS)
    assert (FINANCE.key, FINANCE.ticks_per_second, FINANCE.week_ticks) == ("pan", 1000, 604_800_000)
    pattern, declarations = FINANCE.pattern_paths
    assert pattern.parts[-2:] == ("finance", "pattern.sre") and pattern.exists() and declarations.exists()
    assert MARITIME.pattern_paths[0].parts[-2:] == ("maritime", "pattern.sre")


@pytest.mark.parametrize("profile", [MARITIME, FINANCE], ids=["seconds", "milliseconds"])
def test_week_of_counts_whole_weeks_from_the_first_event(profile) -> None:  # type: ignore[no-untyped-def]
    t0, week = (T0_S if profile is MARITIME else T0_MS), profile.week_ticks
    assert week_of(t0, t0, week) == 0
    assert week_of(t0 + week - 1, t0, week) == 0
    assert week_of(t0 + week, t0, week) == 1
    assert week_of(t0 + 7 * week + week // 2, t0, week) == 7
    assert week_of(t0 - 1, t0, week) == -1
    with pytest.raises(ValueError):
        week_of(t0, t0, 0)


def test_stream_time_text_is_the_same_moment_in_either_unit() -> None:
    assert stream_time_text(T0_S, 1) == stream_time_text(T0_MS, 1000) == "2024-01-01 00:04"


@pytest.mark.parametrize("profile", [MARITIME, FINANCE], ids=["seconds", "milliseconds"])
def test_weekly_rows_join_scores_instructions_and_static_baseline(profile) -> None:  # type: ignore[no-untyped-def]
    t0, week = (T0_S if profile is MARITIME else T0_MS), profile.week_ticks
    log = LoopLog(
        scores=[_score(0, 0.9, "initial", t0, week), _score(1, 0.3, "initial", t0, week),
                _score(2, 0.7, "wayeb_1", t0, week)],
        instructions=[{"type": "optimize", "timestamp": t0 + 2 * week - 1}],
    )  # fmt: skip
    rows = weekly_rows(log, {0: 0.9, 1: 0.3, 2: 0.25}, t0, week, drift_weeks=(1,))
    assert [(r["week"], r["adaptive_mcc"], r["static_mcc"], r["model"], r["instruction"], r["drift"])
            for r in rows] == [
        (0, 0.9, 0.9, "initial", "", False),
        (1, 0.3, 0.3, "initial", "optimize", True),
        (2, 0.7, 0.25, "wayeb_1", "", False),
    ]  # fmt: skip
    assert after_drift_means(rows, 1) == (1, 2, 0.5, 0.275)
    assert after_drift_means(rows, 5) is None
    table = format_table(rows)
    assert "   1*     0.300    0.300  initial      optimize" in table
    assert table.endswith("* concept drift starts in this week")


def test_production_summary_converts_a_millisecond_span_to_seconds_for_mppt() -> None:
    log = LoopLog(
        instructions=[{"type": "optimize"}],
        reports=[
            {"command_type": "opt_step", "status": "success", "model_id": None, "production_time": 0.0},
            {"command_type": "opt_finalise", "status": "success", "model_id": "wayeb_16",
             "production_time": 6.048},
            {"command_type": "train", "status": "error", "model_id": None, "production_time": 0.0},
        ],
    )  # fmt: skip
    # 6.048 s of production over one week of stream time is 0.001 % in either unit.
    assert production_summary(log, FINANCE.week_ticks, 1000).endswith("MPPT 0.00100 %")
    assert production_summary(log, MARITIME.week_ticks, 1) == production_summary(
        log, FINANCE.week_ticks, 1000
    )
    assert "models produced: 1 (wayeb_16 6.0s)" in production_summary(log, 0, 1000)


def test_generator_arguments_per_domain() -> None:
    args = build_parser().parse_args(["--domain", "finance", "--cards", "50", "--drift-weeks", "3,6"])
    assert args.drift_weeks == (3, 6)
    assert FINANCE.generator_args(args, Path("s.csv")) == [
        "-m", "mocks.synthetic_cards", "--out", "s.csv", "--weeks", "8", "--seed", "7", "--cards", "50",
        "--drift-weeks", "3,6",
    ]  # fmt: skip
    args = build_parser().parse_args(["--drift-week", "4"])
    assert MARITIME.generator_args(args, Path("s.csv"))[-6:] == [
        "--vessels", "20", "--compress", "3.0", "--drift-week", "4",
    ]  # fmt: skip
    assert drift_options(Domain.MARITIME, (3, 6)) == ["--drift-week", "3", "--drift-week", "6"]
    assert drift_options(Domain.FINANCE, ()) == drift_options(Domain.MARITIME, ()) == ["--no-drift"]
    assert build_parser().parse_args(["--drift-weeks", "none"]).drift_weeks == ()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--drift-weeks", "0"])


def test_finance_environment_sets_domain_pattern_and_weeks_in_seconds(tmp_path: Path) -> None:
    args = build_parser().parse_args(["--domain", "finance", "--history-k", "3"])
    env = demo_environment(tmp_path, "abc123", args)
    assert env["DOMAIN"] == "finance"
    assert Path(env["PATTERN_PATH"]) == FINANCE.pattern_paths[0]
    assert Path(env["DECLARATIONS_PATH"]) == FINANCE.pattern_paths[1]
    # *_S settings are seconds in every domain; the jobs convert them to milliseconds for cards.
    assert env["BUCKET_SIZE_S"] == env["REPORTING_INTERVAL_S"] == str(WEEK_SECONDS)
    assert env["HISTORY_K"] == "3"
    assert env["INPUT_TOPIC"].startswith("demoabc123-")


def test_live_log_shows_weeks_and_dates_of_millisecond_records() -> None:
    settings = load_settings()
    week = FINANCE.week_ticks
    score = _score(4, 0.01, "initial", T0_MS, week)
    line = announcement(settings.score_topic, score, settings, FINANCE, T0_MS)
    assert line is not None and "week 4 (to 2024-02-05 00:04)" in line and "batch MCC=0.010" in line
    instruction = {"type": "optimize", "id": "instr-2", "timestamp": score["timestamp"]}
    assert "after week 4" in str(
        announcement(settings.instruction_topic, instruction, settings, FINANCE, T0_MS)
    )
    play = {"type": "play", "model_id": "wayeb_16", "timestamp": T0_MS + 5 * week, "production_time": 120.0}
    assert str(announcement(settings.sync_topic, play, settings, FINANCE, T0_MS)).endswith(
        "from 2024-02-05 00:06"
    )
    pause = {"type": "pause", "model_id": None, "timestamp": T0_MS + 5 * week}
    assert announcement(settings.sync_topic, pause, settings, FINANCE, T0_MS) == (
        "  engine pause: events held until the play"
    )
    step = {"command_type": "opt_step", "status": "success"}
    assert announcement(settings.report_topic, step, settings, FINANCE, T0_MS) is None


def test_static_baseline_scores_the_model_week_by_week(tmp_path: Path) -> None:
    from inference_job.bootstrap import bootstrap
    from mocks.synthetic import SyntheticConfig, generate, write_csv

    stream = tmp_path / "s.csv"
    write_csv(generate(SyntheticConfig(weeks=3, vessels=4, seed=3, compress=8.0)).frame, stream)
    settings = load_settings(data_dir=tmp_path / "data")
    model = bootstrap(settings, stream, 1, tmp_path / "m.spst")
    t0 = int(pd.read_csv(stream, usecols=["timestamp"])["timestamp"].min())
    weekly = static_weekly_mcc(model, stream, t0, MARITIME)
    assert sorted(weekly) == [0, 1, 2]
    assert all(-1.0 <= mcc <= 1.0 for mcc in weekly.values())


def test_static_baseline_of_cards_uses_milliseconds_and_one_run_per_card(tmp_path: Path) -> None:
    from inference_job.bootstrap import bootstrap
    from mocks.synthetic_cards import CardsConfig, generate, write_csv
    from wayeb_py.engine import SPSTModel
    from wayeb_py.evaluation import Metrics
    from wayeb_py.io import read_events
    from wayeb_py.scoring import iter_steps, score_stream

    stream = tmp_path / "cards.csv"
    write_csv(
        generate(CardsConfig(weeks=3, cards=40, seed=3, fraud_prob=0.3, drift_weeks=(2,))).frame, stream
    )
    settings = load_settings(data_dir=tmp_path / "data", domain="finance")
    model_path = bootstrap(settings, stream, 1, tmp_path / "m.spst")
    t0 = int(pd.read_csv(stream, usecols=["timestamp"])["timestamp"].min())
    weekly = static_weekly_metrics(model_path, stream, t0, FINANCE)
    assert sorted(weekly) == [0, 1, 2]  # milliseconds taken for seconds would give ~1000x more weeks
    mcc = static_weekly_mcc(model_path, stream, t0, FINANCE)
    assert mcc[0] > 0.3 and all(-1.0 <= value <= 1.0 for value in mcc.values())

    # The weeks split the per-card scoring of the whole stream; only the forecasts still open at its end
    # are left out. Without one run per card the counts differ.
    model = SPSTModel.load(model_path)
    events = read_events(stream, "finance")
    events["pan"] = events["pan"].astype(str)
    open_at_end = sum(
        (r.resolved for _, i, r in iter_steps(model, events, partitioned=True) if i < 0), Metrics(0, 0, 0, 0)
    )
    per_card = score_stream(model, events, partitioned=True, partition_by="pan")
    assert sum(weekly.values(), Metrics(0, 0, 0, 0)) + open_at_end == per_card
    assert score_stream(model, events, partitioned=False) != per_card


def test_per_domain_defaults_stay_unset_until_the_domain_is_known() -> None:
    args = build_parser().parse_args([])
    assert args.domain is None and args.speedup is None  # main() takes DOMAIN, run() the domain's speed-up
    assert (MARITIME.speedup, FINANCE.speedup) == (15000.0, 30000.0)
