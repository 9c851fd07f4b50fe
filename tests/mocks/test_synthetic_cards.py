"""The synthetic card generator: deterministic, valid transactions, fraud runs the pattern matches, drift."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mocks.data_feeder import load_records, order_by_event_time
from mocks.synthetic_cards import (
    COLUMNS,
    DEFAULT_RANGES,
    FRAUD_INCREASING,
    WEEK_MS,
    CardsConfig,
    CardStream,
    build_parser,
    generate,
    increase_run_ends,
    main,
    weekly_summary,
    write_csv,
    write_jsonl,
)
from protocol import Domain, load_settings
from protocol.codec import decode
from protocol.messages import CardTransaction
from wayeb_py.io import read_events
from wayeb_py.patterns import load_pattern

SMALL = CardsConfig(weeks=4, cards=60, seed=3, drift_weeks=(2,))


@pytest.fixture(scope="module")
def stream() -> CardStream:
    return generate(SMALL)


@pytest.fixture(scope="module")
def csv_path(stream: CardStream, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cards") / "cards.csv"
    write_csv(stream.frame, path)
    return path


def test_same_seed_same_stream_other_seed_other_stream(stream: CardStream) -> None:
    pd.testing.assert_frame_equal(generate(SMALL).frame, stream.frame)
    pd.testing.assert_frame_equal(generate(SMALL).runs, stream.runs)
    other = generate(CardsConfig(weeks=4, cards=60, seed=4, drift_weeks=(2,))).frame
    assert not other.equals(stream.frame)


def test_rows_are_contract_transactions_in_event_time_order(stream: CardStream, tmp_path: Path) -> None:
    frame = stream.frame
    assert tuple(frame.columns) == COLUMNS
    assert frame["timestamp"].is_monotonic_increasing
    assert frame["timestamp"].min() >= SMALL.start and frame["timestamp"].max() < SMALL.end
    assert list(frame["trx_no"]) == list(range(1, len(frame) + 1))
    assert frame["pan"].nunique() == SMALL.cards and frame["pan"].str.fullmatch(r"4\d{15}").all()
    path = tmp_path / "cards.jsonl"
    write_jsonl(frame, path)
    lines = path.read_text().splitlines()
    assert len(lines) == len(frame)
    decoded = [decode(CardTransaction, line) for line in lines[::37]]
    assert [e.trx_no for e in decoded] == list(frame["trx_no"].iloc[::37])
    assert all(isinstance(e.pan, str) and e.timestamp >= SMALL.start for e in decoded)


def test_diffs_are_relative_to_the_previous_transaction_of_the_card(stream: CardStream) -> None:
    by_card = stream.frame.sort_values(["pan", "timestamp", "trx_no"], kind="stable")
    grouped = by_card.groupby("pan")
    expected_amount = grouped["amount"].diff().fillna(0.0)
    expected_time = grouped["timestamp"].diff().fillna(0).astype(np.int64)
    np.testing.assert_allclose(by_card["amount_diff"], expected_amount, atol=1e-6)
    assert (by_card["time_diff"].to_numpy() == expected_time.to_numpy()).all()
    assert (stream.frame["amount"] >= 1.0).all()


def test_the_feeder_and_the_wayeb_reader_read_the_csv(stream: CardStream, csv_path: Path) -> None:
    assert csv_path.read_text().splitlines()[0] == ",".join(COLUMNS)
    loaded = load_records(csv_path, domain=Domain.FINANCE)
    assert loaded.gap_markers == 0 and len(loaded.records) == len(stream.frame)
    assert order_by_event_time(loaded.records) == loaded.records
    assert loaded.records[0].key == stream.frame["pan"].iloc[0]
    frame = read_events(csv_path, "finance")
    assert list(frame.columns) == list(COLUMNS) and len(frame) == len(stream.frame)
    assert (frame["timestamp"].to_numpy() == stream.frame["timestamp"].to_numpy()).all()


def test_fraud_runs_are_there_and_the_finance_pattern_matches_them(
    stream: CardStream, csv_path: Path
) -> None:
    frame = stream.frame
    fraud = frame["is_fraud"] == 1
    assert 0.01 < fraud.mean() < 0.1 and len(stream.runs) > 10
    assert (frame.loc[fraud, "fraud_type"] == FRAUD_INCREASING).all()
    assert (frame.loc[~fraud, "fraud_type"] == 0).all()
    assert int(stream.runs["length"].sum()) == int(fraud.sum())

    settings = load_settings(domain="finance")
    pattern = load_pattern(*settings.resolved_pattern())
    events = read_events(csv_path, "finance")
    symbols = np.asarray(pattern.symbolizer.symbols(events))
    matched = np.zeros(len(events), dtype=bool)
    for rows in events.groupby(pattern.partition_by).indices.values():
        states = pattern.sdfa.run(symbols[rows])
        matched[rows] = np.isin(states, list(pattern.sdfa.finals))
    assert (matched == increase_run_ends(frame)).all()
    # every run of five or more increases completes the pattern on its last transaction
    run_end = frame.set_index(["pan", "timestamp"]).index
    ends = pd.MultiIndex.from_frame(stream.runs.loc[stream.runs["length"] >= 5, ["pan", "end"]])
    assert matched[run_end.get_indexer(ends)].all()
    assert matched[fraud.to_numpy()].sum() > 0.9 * matched.sum()  # genuine streaks of five are rare


def test_drift_moves_the_fraud_increases_to_the_next_range_at_the_chosen_weeks(stream: CardStream) -> None:
    frame = stream.frame
    week = (frame["timestamp"] - SMALL.start) // WEEK_MS
    inner = (frame["is_fraud"] == 1) & (frame["time_diff"] > 0)
    for w in range(SMALL.weeks):
        low, high = DEFAULT_RANGES[0 if w < 2 else 1]
        diffs = frame.loc[inner & (week == w), "amount_diff"]
        assert len(diffs) > 0 and diffs.between(low, high - 0.01).all(), w
    table = weekly_summary(stream)
    assert list(table["fraud_range"]) == ["1-100", "1-100", "100-400", "100-400"]
    assert (table["matches"] > 0).all()
    assert set(stream.runs["regime"]) == {0, 1}


def test_drift_every_draws_a_seeded_schedule_within_the_bounds() -> None:
    cfg = CardsConfig(weeks=40, cards=2, seed=5, drift_every=(4, 8))
    weeks = cfg.drift_schedule()
    assert weeks == CardsConfig(weeks=40, cards=2, seed=5, drift_every=(4, 8)).drift_schedule()
    gaps = np.diff([0, *weeks])
    assert len(weeks) >= 4 and ((gaps >= 4) & (gaps <= 8)).all() and weeks[-1] < 40
    regimes = cfg.regime_of_week(np.array([0, weeks[0] - 1, weeks[0], weeks[1], weeks[2]]))
    assert list(regimes) == [0, 0, 1, 2, 0]  # cyclic through the three ranges
    assert CardsConfig(weeks=6, drift_weeks=(0, 3, 9)).drift_schedule() == (3,)


@pytest.mark.parametrize(
    "bad",
    [
        {"weeks": 0},
        {"fraud_prob": 1.5},
        {"run_length": (5, 4)},
        {"fraud_ranges": ((100.0, 50.0),)},
        {"start": 1_704_067_200},  # seconds, not milliseconds
        {"drift_every": (0, 3)},
    ],
)
def test_bad_configs_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        CardsConfig(**bad)  # type: ignore[arg-type]


def test_cli_writes_the_stream_and_prints_a_weekly_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "c.csv"
    args = ["--out", str(out), "--weeks", "3", "--cards", "20", "--seed", "9", "--drift-weeks", "1,2"]
    assert main([*args, "--jsonl", str(tmp_path / "c.jsonl")]) == 0
    err = capsys.readouterr().err
    assert "drift weeks [1, 2]" in err and "fraud_range" in err
    expected = generate(CardsConfig(weeks=3, cards=20, seed=9, drift_weeks=(1, 2))).frame
    pd.testing.assert_frame_equal(pd.read_csv(out, dtype={"pan": str}), expected, check_dtype=False)
    assert len((tmp_path / "c.jsonl").read_text().splitlines()) == len(expected)
    assert main(["--out", str(out), "--weeks", "0"]) == 2
    assert "error:" in capsys.readouterr().err


def test_cli_parses_spans_schedules_and_ranges() -> None:
    args = build_parser().parse_args(
        ["--out", "x", "--drift-every", "4-8", "--fraud-ranges", "1-50,50-90", "--run-length", "7"]
    )
    assert args.drift_every == (4, 8) and args.fraud_ranges == ((1.0, 50.0), (50.0, 90.0))
    assert args.run_length == (7, 7)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--out", "x", "--drift-weeks", "3", "--no-drift"])
