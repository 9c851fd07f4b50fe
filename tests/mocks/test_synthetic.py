"""The synthetic AIS generator: deterministic, valid events, weekly port entries, and a drift that shows."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mocks.geo import PORT_VIREO, haversine_km
from mocks.stream_stats import entry_mask, ring_entry_rate, weekly_summary
from mocks.synthetic import (
    BASELINE,
    COLUMNS,
    DRIFTED,
    WEEK_S,
    SyntheticConfig,
    SyntheticStream,
    drifted_regime,
    generate,
    main,
)
from protocol import Domain, MaritimeEvent, load_settings
from tests.repo_data import REPO_ROOT

SMALL = SyntheticConfig(weeks=4, vessels=20, seed=3, drift_weeks=(2,))


@pytest.fixture(scope="module")
def stream() -> SyntheticStream:
    return generate(SMALL)


def _split(stream: SyntheticStream) -> tuple[pd.DataFrame, pd.DataFrame]:
    cut = stream.config.drift_times[0]
    frame = stream.frame
    return frame[frame["timestamp"] < cut], frame[frame["timestamp"] >= cut]


def test_same_seed_same_stream_other_seed_other_stream(stream: SyntheticStream) -> None:
    pd.testing.assert_frame_equal(generate(SMALL).frame, stream.frame)
    other = generate(SyntheticConfig(weeks=4, vessels=20, seed=4, drift_weeks=(2,))).frame
    assert not other.equals(stream.frame)


def test_rows_are_valid_events_sorted_by_time_within_the_weeks(stream: SyntheticStream) -> None:
    frame = stream.frame
    assert tuple(frame.columns) == COLUMNS
    assert frame["timestamp"].is_monotonic_increasing
    assert frame["timestamp"].min() >= SMALL.start and frame["timestamp"].max() < SMALL.end
    assert frame["mmsi"].nunique() == SMALL.vessels and frame["mmsi"].str.fullmatch(r"\d{9}").all()
    for row in frame.iloc[::97].to_dict(orient="records"):
        MaritimeEvent.model_validate(row)
    assert (frame["speed"] >= 0).all() and frame["heading"].between(0, 360).all()
    assert haversine_km(frame["lon"], frame["lat"], PORT_VIREO.lon, PORT_VIREO.lat).max() < 40


def test_positions_follow_each_vessel_clock(stream: SyntheticStream) -> None:
    steps = stream.frame.groupby("mmsi")["timestamp"].diff().dropna()
    assert (steps % SMALL.interval_s == 0).all()
    assert (steps == SMALL.interval_s).mean() > 0.95  # reports every interval while on a trip
    coarse = generate(SyntheticConfig(weeks=1, vessels=3, seed=1, interval_s=30)).frame
    assert (coarse.groupby("mmsi")["timestamp"].diff().dropna() % 30 == 0).all()


def test_many_vessels_enter_the_port_every_week(stream: SyntheticStream) -> None:
    weekly = weekly_summary(stream.frame, PORT_VIREO, SMALL.start)
    assert list(weekly["week"]) == [0, 1, 2, 3]
    assert (weekly["entries"] >= 30).all()
    assert (weekly["vessels_entering"] >= SMALL.vessels // 2).all()
    # an entry is a pattern match: inside now, outside at the two previous positions of the vessel
    hit = stream.frame[entry_mask(stream.frame, PORT_VIREO)].iloc[0]
    track = stream.frame[stream.frame["mmsi"] == hit["mmsi"]]
    before = track[track["timestamp"] <= hit["timestamp"]].tail(3)
    dist = haversine_km(before["lon"], before["lat"], PORT_VIREO.lon, PORT_VIREO.lat)
    assert list(dist < PORT_VIREO.radius_km) == [False, False, True]


def test_drift_makes_being_near_the_port_a_much_weaker_sign_of_entry(stream: SyntheticStream) -> None:
    before, after = (ring_entry_rate(part, PORT_VIREO, ring_km=2.0, k=5) for part in _split(stream))
    assert before.total > 200 and after.total > 200
    pooled = (before.hits + after.hits) / (before.total + after.total)
    z = (before.rate - after.rate) / math.sqrt(pooled * (1 - pooled) * (1 / before.total + 1 / after.total))
    assert after.rate < 0.5 * before.rate and z > 5
    # and arrivals come from the other side of the port
    weekly = weekly_summary(stream.frame, PORT_VIREO, SMALL.start).set_index("week")["entry_bearing_deg"]
    assert all(abs(b - BASELINE.approach_bearing_deg) < 30 for b in weekly.loc[[0, 1]])
    assert all(abs((b - DRIFTED.approach_bearing_deg + 180) % 360 - 180) < 30 for b in weekly.loc[[2, 3]])


def test_without_drift_the_entry_behaviour_stays_put() -> None:
    steady = generate(SyntheticConfig(weeks=4, vessels=20, seed=3, drift_weeks=()))
    first, second = (
        ring_entry_rate(part, PORT_VIREO, ring_km=2.0, k=5)
        for part in (steady.frame[steady.frame["timestamp"] < SMALL.start + 2 * WEEK_S],
                     steady.frame[steady.frame["timestamp"] >= SMALL.start + 2 * WEEK_S])
    )  # fmt: skip
    assert abs(first.rate - second.rate) < 0.1
    assert set(steady.trips["regime"]) == {"baseline"}


def test_regimes_alternate_at_each_drift_week_and_aspects_select_fields() -> None:
    cfg = SyntheticConfig(weeks=6, drift_weeks=(2, 4))
    names = [cfg.regime_at(cfg.start + w * WEEK_S + 1).name for w in range(6)]
    assert names == ["baseline", "baseline", "drifted", "drifted", "baseline", "baseline"]
    only_bearing = drifted_regime(frozenset({"bearing"}))
    changed = {f.name for f in fields(BASELINE) if getattr(only_bearing, f.name) != getattr(BASELINE, f.name)}
    assert changed == {"name", "approach_bearing_deg"}
    with pytest.raises(ValueError, match="unknown drift aspect"):
        SyntheticConfig(drift_aspects=frozenset({"weather"}))


def test_compress_keeps_the_weeks_but_sends_fewer_events() -> None:
    full = generate(SyntheticConfig(weeks=2, vessels=10, seed=5)).frame
    small = generate(SyntheticConfig(weeks=2, vessels=10, seed=5, compress=5.0)).frame
    assert len(small) < 0.4 * len(full)
    assert small["timestamp"].max() >= SMALL.start + WEEK_S  # still spans the second week
    assert entry_mask(small, PORT_VIREO).sum() > 0


def test_cli_writes_csv_with_header_and_jsonl(tmp_path: Path, capsys) -> None:
    out, jl = tmp_path / "s.csv", tmp_path / "s.jsonl"
    args = ["--out", str(out), "--jsonl", str(jl), "--weeks", "2", "--vessels", "4", "--seed", "9",
            "--drift-week", "1", "--compress", "3"]  # fmt: skip
    assert main(args) == 0
    assert out.read_text().splitlines()[0] == ",".join(COLUMNS)
    csv_rows = pd.read_csv(out, dtype={"mmsi": str})
    events = [MaritimeEvent.model_validate_json(line) for line in jl.read_text().splitlines()]
    assert len(csv_rows) == len(events) > 0
    assert np.array_equal(csv_rows["timestamp"].to_numpy(), [e.timestamp for e in events])
    assert list(csv_rows["mmsi"]) == [e.mmsi for e in events]
    assert "P(entry within 5 positions" in capsys.readouterr().err
    assert main(["--out", str(out), "--drift-aspects", "weather"]) == 2


def _numbers(text: str, predicate: str) -> set[tuple[float, ...]]:
    return {tuple(float(x) for x in m.split(",")) for m in re.findall(predicate + r"\(([-\d.,]+)\)", text)}


def test_pattern_files_describe_the_synthetic_port() -> None:
    for domain in Domain:
        pattern, declarations = load_settings(domain=domain).resolved_pattern()
        assert pattern.is_file() and declarations.is_file()
    pattern, declarations = load_settings(domain=Domain.MARITIME).resolved_pattern()
    text, decl = pattern.read_text(), declarations.read_text()
    circle = (PORT_VIREO.lon, PORT_VIREO.lat, PORT_VIREO.radius_km)
    assert _numbers(text, "OutsideCirclePredicate") == _numbers(text, "WithinCirclePredicate") == {circle}
    assert re.fullmatch(r";\(\*\(Outside\w+\([^)]*\)\),(Outside\w+\([^)]*\),){2}Within\w+\([^)]*\)\)"
                        r"\{order:\d+\}\{partitionBy:mmsi\}\s*", text)  # fmt: skip
    rings = _numbers(decl, "DistanceBetweenPredicate")
    assert {r[:2] for r in rings} == {circle[:2]}
    assert sorted(r[2:] for r in rings) == [(5.0, 6.0), (6.0, 7.0), (7.0, 8.0), (8.0, 9.0), (9.0, 10.0)]
    finance = load_settings(domain=Domain.FINANCE).resolved_pattern()[0].read_text()
    assert "{partitionBy:pan}" in finance and "amount_diff" in finance  # CardTransaction's field name


def test_stream_stats_reads_frames_without_importing_the_generator() -> None:
    """The statistics do not depend on the generator (the generator's summary depends on them)."""
    code = "import sys, mocks.stream_stats; sys.exit('mocks.synthetic' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT).returncode == 0
