"""The demo's bookkeeping: weekly rows from the loop's records, and the static baseline."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rtcef_ops.demo import WEEK, LoopLog, _weekly_rows, static_weekly_mcc


def _score(week: int, mcc: float, model: str, t0: int) -> dict:
    metrics = {"mcc": mcc}
    return {"interval_start": t0 + week * WEEK, "timestamp": t0 + (week + 1) * WEEK - 1,
            "model_id": model, "batch": metrics, "runtime": metrics}  # fmt: skip


def test_weekly_rows_join_scores_instructions_and_static_baseline() -> None:
    t0 = 1_700_000_000
    log = LoopLog(
        scores=[_score(0, 0.9, "initial", t0), _score(1, 0.3, "initial", t0), _score(2, 0.7, "wayeb_1", t0)],
        instructions=[{"type": "optimize", "timestamp": t0 + 2 * WEEK - 1}],
    )
    rows = _weekly_rows(log, {0: 0.9, 1: 0.3, 2: 0.25}, t0)
    assert [(r["week"], r["adaptive_mcc"], r["static_mcc"], r["model"], r["instruction"]) for r in rows] == [
        (0, 0.9, 0.9, "initial", ""),
        (1, 0.3, 0.3, "initial", "optimize"),
        (2, 0.7, 0.25, "wayeb_1", ""),
    ]


def test_static_baseline_scores_the_model_week_by_week(tmp_path: Path) -> None:
    from inference_job.bootstrap import bootstrap
    from mocks.synthetic import SyntheticConfig, generate, write_csv
    from protocol import load_settings

    stream = tmp_path / "s.csv"
    write_csv(generate(SyntheticConfig(weeks=3, vessels=4, seed=3, compress=8.0)).frame, stream)
    settings = load_settings(data_dir=tmp_path / "data")
    model = bootstrap(settings, stream, 1, tmp_path / "m.spst")
    t0 = int(pd.read_csv(stream, usecols=["timestamp"])["timestamp"].min())
    weekly = static_weekly_mcc(model, stream, t0)
    assert sorted(weekly) == [0, 1, 2]
    assert all(-1.0 <= mcc <= 1.0 for mcc in weekly.values())
