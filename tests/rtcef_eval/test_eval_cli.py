"""The real backend and the command on a slice of the Brest vessel track, with the real ``wayeb_py``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from controller_job.optimizer import preset_config
from protocol.messages import Hyperparameters
from protocol.settings import load_settings
from rtcef_eval.cli import load_stream, main, parse_modes
from rtcef_eval.simulation import Mode
from rtcef_eval.wayeb_backend import WayebBackend
from rtcef_eval.weeks import split_weeks
from tests.repo_data import data_file
from wayeb_py.evaluation import Metrics
from wayeb_py.patterns import load_pattern
from wayeb_py.scoring import score_stream

ROWS = 2500
HALF_DAY = 43_200
PARAMS = Hyperparameters(confidence=0.3, order=3, p_min=0.001, gamma=0.002)


def _paths() -> tuple[Path, Path, Path]:
    return (
        data_file("maritime", "227592820.csv"),
        data_file("patterns", "port-original", "pattern.sre"),
        data_file("patterns", "port-original", "declarations.sre"),
    )


def test_weekly_scoring_with_carried_runs_adds_up_to_scoring_the_whole_stream() -> None:
    stream, pattern_path, decl_path = _paths()
    frame = load_stream(stream, "maritime", None, ROWS)
    weeks = split_weeks(frame["timestamp"].to_numpy(), HALF_DAY)
    pattern = load_pattern(pattern_path, decl_path)
    backend = WayebBackend(
        pattern, frame, weeks, settings=load_settings(), optimiser_config=preset_config("rtcef")
    )
    model = backend.train([0, 1], PARAMS)
    runs = backend.new_runs()
    total = Metrics()
    for pos in range(len(weeks)):
        runs, batch = backend.score(model, runs, pos)
        total = total + batch
    for state in runs.values():  # what is still open at the end counts as missed, as in batch scoring
        total = total + model.flush(state)[1]
    expected = score_stream(model, frame, partitioned=True)
    assert expected.tp > 0
    assert total == expected
    # a swap keeps the runs going: the next week scores the same with the adopted runs as with a fresh copy
    other = backend.train([2, 3], PARAMS.model_copy(update={"order": 2}))
    moved = backend.swap(model, other, runs)
    assert set(moved) == set(runs) and all(s.model_key == other.key for s in moved.values())


def test_command_compares_the_three_modes_and_writes_its_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stream, pattern_path, decl_path = _paths()
    out = tmp_path / "eval"
    status = main([
        "--stream", str(stream), "--rows", str(ROWS), "--pattern", str(pattern_path),
        "--declarations", str(decl_path), "--week-seconds", str(HALF_DAY), "--train-weeks", "2",
        "--steps", "2", "--history-k", "2", "--out", str(out), "--quiet",
    ])  # fmt: skip
    assert status == 0
    printed = capsys.readouterr().out
    assert "static" in printed and "retrain" in printed and "rtcef" in printed and "MPPT" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["modes"]) == {"static", "retrain", "rtcef"}
    assert summary["weeks"] > 3 and summary["steps"] == 2
    static = summary["modes"]["static"]
    assert static["retrains"] == static["optimisations"] == 0 and static["production_s"] == 0.0
    rows = list(csv.DictReader((out / "weekly.csv").open()))
    per_mode = {m: [r for r in rows if r["mode"] == m] for m in ("static", "retrain", "rtcef")}
    n = summary["weeks"] - 2
    assert all(len(v) == n for v in per_mode.values())
    # every mode starts from the same initial model, so the first evaluated week scores the same
    assert len({v[0]["mcc"] for v in per_mode.values()}) == 1
    assert all(r["instruction"] in ("", "retrain") for r in per_mode["retrain"])
    assert (out / "weekly_mcc.png").stat().st_size > 1000


def test_command_reports_bad_input_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stream, pattern_path, decl_path = _paths()
    args = ["--stream", str(stream), "--rows", "50", "--pattern", str(pattern_path), "--declarations",
            str(decl_path), "--out", str(tmp_path), "--quiet"]  # fmt: skip
    assert main(args) == 2
    assert "need more than --train-weeks" in capsys.readouterr().err
    assert main([*args, "--modes", "static,nope"]) == 2
    assert "unknown mode 'nope'" in capsys.readouterr().err


def test_modes_parse_in_order_without_duplicates() -> None:
    assert parse_modes("rtcef, static,rtcef") == [Mode.RTCEF, Mode.STATIC]
    with pytest.raises(ValueError):
        parse_modes(" , ")


def test_finance_stream_in_milliseconds_retraining_after_the_drift_beats_the_static_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tiny generated card stream (ms timestamps, real weeks): the drift at week 3 breaks the static model,
    the retrain the observer asks for repairs it; weeks, MPPT and the table follow the millisecond unit."""
    from mocks.synthetic_cards import CardsConfig, generate, write_csv

    stream = tmp_path / "cards.csv"
    write_csv(generate(CardsConfig(weeks=6, cards=80, seed=3, drift_weeks=(3,))).frame, stream)
    out = tmp_path / "eval"
    status = main([
        "--stream", str(stream), "--domain", "finance", "--modes", "static,retrain", "--initial", "settings",
        "--train-weeks", "2", "--history-k", "2", "--out", str(out), "--quiet", "--no-plot",
    ])  # fmt: skip
    assert status == 0
    assert "retrain" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["domain"] == "finance" and summary["ticks_per_second"] == 1000
    assert summary["weeks"] == 6 and summary["week_seconds"] == 604_800
    retrain = summary["modes"]["retrain"]
    assert retrain["stream_s"] == 4 * 604_800  # four evaluated weeks, in seconds
    assert retrain["mppt_percent"] == pytest.approx(100 * retrain["production_s"] / (4 * 604_800))
    rows = list(csv.DictReader((out / "weekly.csv").open()))
    starts = sorted({int(r["week_start"]) for r in rows})
    assert set(np.diff(starts)) == {604_800_000}
    mcc = {(r["mode"], int(r["week"])): float(r["mcc"]) for r in rows}
    assert mcc[("static", 2)] > 0.5  # before the drift the initial model forecasts the fraud runs
    after = [4, 5]  # the model retrained after the drift week's report scores from the next week
    static_after = sum(mcc[("static", w)] for w in after) / len(after)
    retrain_after = sum(mcc[("retrain", w)] for w in after) / len(after)
    assert static_after < 0.2 and retrain_after > static_after + 0.4
    issued = {int(r["week"]): r["instruction"] for r in rows if r["mode"] == "retrain"}
    assert issued[3] == "retrain"  # the observer reacts to the drift week's report
