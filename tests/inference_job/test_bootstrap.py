"""Bootstrap training with wayeb_py, registration, and the real model driven by the lifecycle."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from inference_job.bootstrap import bootstrap, first_weeks, main
from inference_job.lifecycle import ControlState, KeyState, ModelRef, on_event, on_sync
from protocol.messages import CreationMethod, EngineSync, SyncType
from protocol.settings import WEEK_SECONDS, Settings
from shared_volume.registry import load_registry
from wayeb_py.engine import RunState, SPSTModel

CENTRE = (-6.2, 46.9)  # the maritime pattern's port
T0 = 1_443_650_401


def vessel_events(n: int, step_s: int = 3600) -> list[dict]:
    """Three vessels circling in and out of the 5 km port circle (about 0.045 degrees of latitude)."""
    out = []
    for i in range(n):
        v = i % 3
        angle = (i // 3) * 0.4 + v
        r = 0.02 + 0.08 * (0.5 + 0.5 * math.sin(angle * 0.7))
        out.append({
            "timestamp": T0 + i * step_s, "mmsi": str(1000 + v),
            "lon": CENTRE[0] + r * math.cos(angle), "lat": CENTRE[1] + r * math.sin(angle),
        })  # fmt: skip
    return out


def write_stream(path: Path, events: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def test_first_weeks_keeps_events_before_the_cut() -> None:
    frame = pd.DataFrame(
        {"timestamp": [100, 100 + WEEK_SECONDS - 1, 100 + WEEK_SECONDS, 100 + 3 * WEEK_SECONDS]}
    )
    assert list(first_weeks(frame, 1, 1)["timestamp"]) == [100, 100 + WEEK_SECONDS - 1]
    assert len(first_weeks(frame, 0.5, 1000)) == 4  # millisecond timestamps: half a week is 302 400 000


def test_bootstrap_trains_saves_and_registers_the_current_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = write_stream(tmp_path / "stream.jsonl", vessel_events(1500))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    settings = Settings()
    assert settings.data_dir == tmp_path / "data"
    assert main(["--stream", str(stream), "--weeks", "2", "--out", str(tmp_path / "m" / "initial.spst")]) == 0
    registry = load_registry(settings.registry_path)
    entry = registry.current_entry()
    assert (
        entry is not None and entry.model_id == "initial" and entry.creation_method is CreationMethod.INITIAL
    )
    model = SPSTModel.load(entry.path)
    assert model.partition_by == "mmsi"
    assert model.provenance["n_events"] <= 2 * WEEK_SECONDS // 3600 + 1


def test_real_models_run_pause_and_swap_through_the_lifecycle(tmp_path: Path) -> None:
    events = vessel_events(1200)
    stream = write_stream(tmp_path / "stream.jsonl", events)
    settings = Settings(data_dir=tmp_path / "data")
    p0 = bootstrap(settings, stream, 2, tmp_path / "m0.spst", model_id="m0")
    p1 = bootstrap(settings, stream, 5, tmp_path / "m1.spst", model_id="m1")
    cache = {str(p0): SPSTModel.load(p0), str(p1): SPSTModel.load(p1)}
    initial = ModelRef("m0", str(p0))
    control = ControlState()
    states: dict[str, KeyState] = {}
    processed = []
    for n, event in enumerate(e for e in events if e["mmsi"] == "1000"):
        if n == 200:
            control = on_sync(control, EngineSync(type=SyncType.PAUSE, timestamp=event["timestamp"]))
        if n == 210:
            ts = event["timestamp"]
            play = EngineSync(
                type=SyncType.PLAY, timestamp=ts, model_id="m1", model_path=str(p1), production_time=5 * 3600
            )
            control = on_sync(control, play)
        state, out = on_event(states.get("1000"), control, "1000", event, cache.__getitem__, initial)
        # persist and restore as the Flink function does after every event
        states["1000"] = KeyState.from_dict(json.loads(json.dumps(state.to_dict())), RunState.from_dict)
        processed += out
    assert len(processed) == 400  # nothing lost during the pause
    models = [p.model.model_id for p in processed]
    first_m1 = models.index("m1")
    assert set(models[:first_m1]) == {"m0"} and set(models[first_m1:]) == {"m1"}
    assert processed[first_m1].timestamp >= processed[209].timestamp + 5 * 3600
    assert any(p.forecast is not None for p in processed[first_m1:])
    assert states["1000"].swaps == 1 and states["1000"].events == len(processed) - first_m1
