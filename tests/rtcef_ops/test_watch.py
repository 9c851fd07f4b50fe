"""The live picture of the loop (``make watch``, and the demo's live page): drawn from the loop's records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from protocol.settings import Domain
from rtcef_ops.demo_domains import PROFILES
from rtcef_ops.demo_report import LoopLog, go_live_weeks
from rtcef_ops.watch import LivePage

WEEK_MS = 7 * 24 * 3600 * 1000
T0 = 1_700_000_000_000


def score(week: int, model: str, mcc: float) -> dict[str, Any]:
    start = T0 + week * WEEK_MS
    counts = {"tp": 1, "tn": 1, "fp": 0, "fn": 0, "mcc": mcc}
    return {"interval_start": start, "timestamp": start + WEEK_MS - 1, "model_id": model,
            "batch": counts, "runtime": counts, "events": 2}  # fmt: skip


def test_a_play_goes_live_after_its_production_time_in_the_stream_unit() -> None:
    plays = [{"type": "pause", "timestamp": T0}, {"type": "play", "timestamp": T0 + 2 * WEEK_MS,
              "model_id": "wayeb_3", "production_time": 3.5 * 24 * 3600}, {"type": "play", "model_id": None,
              "timestamp": T0}]  # fmt: skip
    live = go_live_weeks(plays, T0, WEEK_MS, 1000)
    assert live == [(2.5, "wayeb_3")]  # 3.5 days of production time = half a week, in milliseconds


def test_the_page_is_redrawn_when_reports_arrive_and_only_then(tmp_path: Path) -> None:
    page = LivePage(tmp_path / "live", PROFILES[Domain.FINANCE], static={0: 0.7, 1: 0.1})
    log = LoopLog()
    assert not page.update(log) and not page.index.exists()
    log.scores += [score(0, "initial", 0.71), score(1, "initial", 0.05)]
    log.instructions.append({"type": "retrain", "timestamp": T0 + 2 * WEEK_MS - 1, "id": "instr-1"})
    log.syncs.append({"type": "play", "timestamp": T0 + 2 * WEEK_MS, "model_id": "wayeb_0",
                      "production_time": 1.0})  # fmt: skip
    assert page.update(log)
    html = page.index.read_text()
    assert (tmp_path / "live" / "weekly_mcc.png").stat().st_size > 1000
    assert "wayeb_0 in week 2.0" in html and "retrain" in html and "0.710" in html and "0.050" in html
    assert 'http-equiv="refresh"' in html and "weekly_mcc.png?2" in html
    assert page.t0 == T0  # weeks count from the first report's interval start
    assert not page.update(log)  # nothing new: not redrawn
    log.scores.append(score(2, "wayeb_0", 0.66))
    assert page.update(log) and "weekly_mcc.png?3" in page.index.read_text()
    assert not list((tmp_path / "live").glob(".*"))  # written by rename: no temporary file left
