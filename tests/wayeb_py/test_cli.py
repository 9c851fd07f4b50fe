"""Command line: learn -> evaluate -> forecast on real data slices, and one-line errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _data import data_path, maritime_frame, pattern_files

from wayeb_py.cli import main


@pytest.fixture(scope="module")
def vessel_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "vessel.csv"
    maritime_frame().head(3000).to_csv(path, header=False, index=False)
    return path


def _learn(tmp_path: Path, stream: Path, *extra: str) -> Path:
    pattern, decl = pattern_files("port")
    out = tmp_path / "port.spst"
    argv = [
        "learn",
        "--patterns",
        str(pattern),
        "--declarations",
        str(decl),
        "--stream",
        str(stream),
        "--domain",
        "maritime",
        "--order",
        "2",
        "--p-min",
        "0.001",
        "--alpha",
        "0",
        "--gamma",
        "0.001",
        "--r",
        "1.05",
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]
    assert main(argv) == 0
    return out


def test_learn_evaluate_forecast(
    tmp_path: Path, vessel_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _learn(tmp_path, vessel_csv, "--json")
    learned = json.loads(capsys.readouterr().out)
    assert learned["events"] == 3000 and learned["pst_nodes"] > 1 and model.exists()

    assert (
        main(
            [
                "evaluate",
                "--spst",
                str(model),
                "--stream",
                str(vessel_csv),
                "--domain",
                "maritime",
                "--json",
                "--quiet",
            ]
        )
        == 0
    )
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["tp"] + metrics["tn"] + metrics["fp"] + metrics["fn"] == 3000 and -1 <= metrics["mcc"] <= 1

    assert (
        main(
            ["evaluate", "--spst", str(model), "--stream", str(vessel_csv), "--domain", "maritime", "--quiet"]
        )
        == 0
    )
    assert "mcc" in capsys.readouterr().out

    assert (
        main(
            [
                "forecast",
                "--spst",
                str(model),
                "--stream",
                str(vessel_csv),
                "--domain",
                "maritime",
                "--quiet",
                "--detections",
            ]
        )
        == 0
    )
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    forecasts = [x for x in lines if "probability" in x]
    assert len(forecasts) == 3000 and {"timestamp", "start", "end", "positive"} <= set(forecasts[0])
    assert any(x.get("detection") for x in lines)


def test_demo_domain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pattern, decl = pattern_files("demo", "pattern-order1.sre")
    out = tmp_path / "demo.spst"
    assert (
        main(
            [
                "learn",
                "--patterns",
                str(pattern),
                "--declarations",
                str(decl),
                "--stream",
                str(data_path("demo", "data.csv")),
                "--domain",
                "demo",
                "--outputSpst",
                str(out),
                "--threshold",
                "0.5",
                "--horizon",
                "10",
                "--maxSpread",
                "10",
                "--distance",
                "0.0001,1.0",
                "--no-finalsEnabled",
                "--quiet",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                "--spst",
                str(out),
                "--stream",
                str(data_path("demo", "data.csv")),
                "--domain",
                "demo",
                "--json",
                "--quiet",
            ]
        )
        == 0
    )
    m = json.loads(capsys.readouterr().out)
    assert (m["tp"], m["tn"], m["fp"], m["fn"]) == (51, 10, 19, 10)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["evaluate", "--spst", "/nonexistent.spst", "--stream", "x.csv", "--domain", "maritime"],
            "cannot read",
        ),
        (["evaluate", "--spst", "x"], "required"),
        (
            [
                "learn",
                "--patterns",
                "/nonexistent.sre",
                "--stream",
                "x",
                "--domain",
                "demo",
                "--outputSpst",
                "o",
            ],
            "error",
        ),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_gives_one_line_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and message in err


def test_corrupt_model_file(tmp_path: Path, vessel_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.spst"
    bad.write_text("not a model")
    assert main(["evaluate", "--spst", str(bad), "--stream", str(vessel_csv), "--domain", "maritime"]) == 2
    assert "not a wayeb_py" in capsys.readouterr().err


def _exit_code(argv: list[str]) -> int:
    """Exit status of the CLI, whether it returns or exits through argparse."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def test_finance_jsonl_partitioned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pattern = tmp_path / "fraud.sre"
    pattern.write_text(";(EQ(is_fraud,0.0),EQ(is_fraud,1.0)){order:2}{partitionBy:pan}{window:1000}")
    decl = tmp_path / "fraud-decl.sre"
    decl.write_text("~(EQ(is_fraud,0.0),EQ(is_fraud,1.0))")
    stream = tmp_path / "trx.jsonl"
    flags = [0, 0, 1, 0, 0, 0, 1, 0, 1, 0] * 30
    with stream.open("w") as fh:
        for i, flag in enumerate(flags):
            fh.write(
                json.dumps({"timestamp": 1000 + i, "pan": f"card{i % 3}", "isFraud": float(flag)}) + "\n"
            )
    out = tmp_path / "fraud.spst"
    assert (
        main(
            [
                "learn",
                "--patterns",
                str(pattern),
                "--declarations",
                str(decl),
                "--stream",
                str(stream),
                "--domain",
                "finance",
                "--outputSpst",
                str(out),
                "--quiet",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["events"] == 300
    assert (
        main(
            [
                "evaluate",
                "--spst",
                str(out),
                "--stream",
                str(stream),
                "--domain",
                "finance",
                "--json",
                "--quiet",
            ]
        )
        == 0
    )
    per_key = json.loads(capsys.readouterr().out)
    assert (
        main(
            [
                "evaluate",
                "--spst",
                str(out),
                "--stream",
                str(stream),
                "--domain",
                "finance",
                "--json",
                "--quiet",
                "--no-partitioned",
            ]
        )
        == 0
    )
    single = json.loads(capsys.readouterr().out)
    assert 290 <= per_key["tp"] + per_key["tn"] + per_key["fp"] + per_key["fn"] <= 300  # per-key warm-up
    assert (per_key["tp"], per_key["fp"]) != (single["tp"], single["fp"])
    assert (
        main(["forecast", "--spst", str(out), "--stream", str(stream), "--domain", "finance", "--quiet"]) == 0
    )
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first["key"] in {"card0", "card1", "card2"}


def test_issue_flag_spellings_and_evaluate_overrides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pattern = data_path("patterns/demo/pattern-order1.sre")
    declarations = data_path("patterns/demo/declarations.sre")
    stream = data_path("demo/data.csv")
    model = tmp_path / "m.spst"
    common = ["--stream", str(stream), "--domain", "demo", "--quiet"]
    assert main(["learn", "--patterns", str(pattern), "--declarations", str(declarations), *common,
                 "--pmin", "0.001", "--out", str(model)]) == 0  # fmt: skip
    capsys.readouterr()
    results = []
    for threshold in ("0.2", "0.9"):
        assert main(["evaluate", "--model", str(model), *common, "--threshold", threshold,
                     "--max-spread", "3", "--json"]) == 0  # fmt: skip
        results.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    for metrics in results:
        assert {"tp", "tn", "fp", "fn", "precision", "recall", "mcc"} <= set(metrics)
    low, high = results
    # A stricter threshold can only turn positive forecasts into negative ones.
    assert low["tp"] + low["fp"] >= high["tp"] + high["fp"]
    assert low != high
