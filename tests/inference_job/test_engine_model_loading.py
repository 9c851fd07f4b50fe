"""Model loading in the engine: a PLAY's model path is confined to the models folder, model files are
loaded within bounds, and a load that fails (on PLAY, after a restore, in a timer) never escapes the
operator: the old model is kept and a dead letter or log line says why."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import threading
from pathlib import Path
from typing import Any

import pytest
from flink_fakes import FakeTimerService
from metric_fakes import FakeMetricsRuntime

from inference_job.engine_process import FORECASTS, EngineProcess
from inference_job.event_batches import split_lines
from inference_job.lifecycle import ModelRef
from inference_job.models import ModelCache, ModelLoadError
from inference_job.parse_messages import DEAD_LETTERS
from mocks.fake_engine import load, write_model
from protocol.codec import decode
from protocol.messages import DeadLetter, EngineSync, ForecastRecord, SyncType
from wayeb_py.model_file import FORMAT_VERSION, MAGIC

T0 = 1_443_677_400
"""Event time of the tests (maritime seconds, October 2015)."""


class Runtime(FakeMetricsRuntime):
    """One shard's keyed state (map, value, list; pickled as Flink's backend does), broadcast state and
    timers. ``stores`` survive a new :class:`EngineProcess`: that is a restore from a checkpoint."""

    def __init__(self, stores: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.stores: dict[str, Any] = stores if stores is not None else {}
        self.timers = FakeTimerService()
        self._domain: Any = None

    # runtime context
    def get_map_state(self, descriptor: Any) -> Any:
        data: dict[str, bytes] = self.stores.setdefault(descriptor.get_name(), {})

        class Map:
            def get(self, key: str) -> Any:
                raw = data.get(key)
                return pickle.loads(raw) if raw is not None else None

            def put(self, key: str, value: Any) -> None:
                data[key] = pickle.dumps(value)

        return Map()

    def get_state(self, descriptor: Any) -> Any:
        cell: list[bytes] = self.stores.setdefault(descriptor.get_name(), [])

        class Value:
            def value(self) -> Any:
                return pickle.loads(cell[0]) if cell else None

            def update(self, value: Any) -> None:
                cell[:] = [pickle.dumps(value)]

        return Value()

    def get_list_state(self, descriptor: Any) -> Any:
        items: list[bytes] = self.stores.setdefault(descriptor.get_name(), [])

        class Items:
            def add(self, value: Any) -> None:
                items.append(pickle.dumps(value))

            def get(self) -> list[Any]:
                return [pickle.loads(v) for v in items]

            def clear(self) -> None:
                items.clear()

            def update(self, values: list[Any]) -> None:
                items[:] = [pickle.dumps(v) for v in values]

        return Items()

    # contexts
    def get_broadcast_state(self, descriptor: Any) -> Any:
        data: dict[str, str] = self.stores.setdefault("broadcast", {})

        class Broadcast:
            def get(self, key: str) -> Any:
                return data.get(key)

            def put(self, key: str, value: str) -> None:
                data[key] = value

        return Broadcast()

    def get_current_key(self) -> int:
        return 0

    def timer_service(self) -> FakeTimerService:
        return self.timers

    def time_domain(self) -> Any:
        return self._domain


class Engine:
    """An :class:`EngineProcess` confined to ``<tmp>/models``, opened on a :class:`Runtime`."""

    def __init__(self, tmp: Path, stores: dict[str, Any] | None = None, **options: Any) -> None:
        self.models_dir = tmp / "models"
        self.models_dir.mkdir(exist_ok=True)
        m0 = self.models_dir / "m0.json"
        self.m0 = str(m0) if m0.exists() else write_model(m0, "m0")  # a restore finds the file as it is
        self.runtime = Runtime(stores)
        options.setdefault("loader", load)
        self.fn = EngineProcess(
            ModelRef("m0", self.m0), models_dir=str(self.models_dir), batch_size=1, **options
        )
        self.fn.open(self.runtime)  # type: ignore[arg-type]

    def sync(self, sync: EngineSync) -> list[Any]:
        return list(self.fn.process_broadcast_element(sync, self.runtime))

    def play(self, model_path: str, model_id: str = "m1") -> list[Any]:
        play = EngineSync(type=SyncType.PLAY, timestamp=T0, model_id=model_id, model_path=model_path)
        return self.sync(play)

    def event(self, key: str, ts: int) -> list[Any]:
        """An event ``ts`` seconds after :data:`T0`."""
        raw = json.dumps({"timestamp": T0 + ts, "mmsi": key, "lat": 45.0, "lon": 0.0})
        return list(self.fn.process_element(json.dumps([raw]), self.runtime))

    def fire_timer(self) -> list[Any]:
        from pyflink.datastream import TimeDomain

        self.runtime._domain = TimeDomain.PROCESSING_TIME
        self.runtime.timers.now += 10_000
        return list(self.fn.on_timer(self.runtime.timers.now, self.runtime))

    def latest_model(self) -> Any:
        raw = self.runtime.stores.get("broadcast", {}).get("control")
        latest = json.loads(raw)["latest"] if raw else None
        return latest["model"]["path"] if latest else None


def _letters(out: list[Any]) -> list[DeadLetter]:
    return [decode(DeadLetter, v[1]) for v in out if isinstance(v, tuple) and v[0] == DEAD_LETTERS]


def _models(out: list[Any]) -> list[str]:
    return [
        ForecastRecord.model_validate_json(line).model_id
        for v in out
        if isinstance(v, tuple) and v[0] == FORECASTS
        for line in split_lines(v[1])
    ]


def _refused_play(engine: Engine, path: str, *words: str) -> None:
    out = engine.play(path)
    letters = _letters(out)
    assert len(letters) == 1 and letters[0].source_topic == "enginesync"
    for word in words:
        assert word in letters[0].reason
    assert engine.latest_model() is None  # the PLAY only resumed: no model swap announced
    assert _models(engine.event("v1", 5)) == ["m0"]


# ------------------------------------------------------------------------------------- PLAY paths


def test_a_play_path_outside_the_models_folder_is_dead_lettered(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    write_model(tmp_path / "elsewhere.json", "m1")
    _refused_play(engine, "/etc/passwd", "outside")
    _refused_play(engine, str(engine.models_dir / ".." / "elsewhere.json"), "outside")
    (engine.models_dir / "link.json").symlink_to(tmp_path / "elsewhere.json")
    _refused_play(engine, str(engine.models_dir / "link.json"), "outside")
    _refused_play(engine, "/dev/zero", "outside")
    assert engine.runtime.dead_letters() == 4


def test_a_play_path_to_a_directory_or_a_missing_file_is_dead_lettered(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    (engine.models_dir / "dir.json").mkdir()
    _refused_play(engine, str(engine.models_dir / "dir.json"), "a directory")
    _refused_play(engine, str(engine.models_dir / "gone.json"), "no such file")


def test_a_play_path_to_a_fifo_is_dead_lettered_without_blocking(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    os.mkfifo(engine.models_dir / "pipe.json")
    outcome: list[list[Any]] = []
    thread = threading.Thread(
        target=lambda: outcome.append(engine.play(str(engine.models_dir / "pipe.json"))), daemon=True
    )
    thread.start()
    thread.join(5.0)
    assert not thread.is_alive(), "a FIFO blocked the engine"
    assert "a FIFO" in _letters(outcome[0])[0].reason


def test_a_model_over_the_size_limit_is_dead_lettered(tmp_path: Path) -> None:
    engine = Engine(tmp_path, max_model_bytes=10)
    write_model(engine.models_dir / "m1.json", "m1")
    _refused_play(engine, str(engine.models_dir / "m1.json"), "more than the limit 10")


def test_a_play_inside_the_folder_swaps_with_the_resolved_path(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    m1 = write_model(engine.models_dir / "m1.json", "m1")
    (engine.models_dir / "current.json").symlink_to(m1)
    assert engine.play(str(engine.models_dir / "current.json")) == []
    assert engine.latest_model() == str(Path(m1).resolve())
    assert _models(engine.event("v1", 5)) == ["m1"]


# ---------------------------------------------------------------------------- bounded model files


def _spst(path: Path, body: bytes) -> str:
    header = f"{MAGIC} {FORMAT_VERSION} sha256={hashlib.sha256(body).hexdigest()}\n".encode()
    path.write_bytes(header + body)
    return str(path)


def test_a_deeply_nested_or_truncated_model_file_is_dead_lettered(tmp_path: Path) -> None:
    engine = Engine(tmp_path, loader=None)  # the real wayeb_py loader
    deep = _spst(engine.models_dir / "deep.spst", b"[" * 100_000 + b"]" * 100_000)
    out = engine.play(deep)
    assert "more than the limit" in _letters(out)[0].reason and engine.latest_model() is None
    truncated = Path(deep).read_bytes()[:-10]
    (engine.models_dir / "cut.spst").write_bytes(truncated)
    out = engine.play(str(engine.models_dir / "cut.spst"))
    assert "checksum" in _letters(out)[0].reason and engine.latest_model() is None


@pytest.mark.parametrize("failure", [RecursionError, MemoryError, KeyError])
def test_any_loader_failure_on_play_is_a_dead_letter(tmp_path: Path, failure: type[Exception]) -> None:
    def fragile(path: str) -> Any:
        if path.endswith("m1.json"):
            raise failure("boom")
        return load(path)

    engine = Engine(tmp_path, loader=fragile)
    write_model(engine.models_dir / "m1.json", "m1")
    _refused_play(engine, str(engine.models_dir / "m1.json"), failure.__name__)


def test_the_model_cache_turns_any_failure_into_a_value_error_and_caches_no_failure() -> None:
    calls: list[str] = []

    def flaky(path: str) -> str:
        calls.append(path)
        if len(calls) == 1:
            raise RecursionError("too deep")
        return f"model at {path}"

    cache = ModelCache(flaky)
    with pytest.raises(ModelLoadError, match="RecursionError: too deep"):
        cache("a")
    assert cache("a") == "model at a" and calls == ["a", "a"]
    with pytest.raises(FileNotFoundError):  # OSError and ValueError pass as they are
        ModelCache(load)("/nonexistent/model.json")


# ------------------------------------------------------------------------- restore and timers


def test_a_swap_model_broken_after_a_restore_keeps_the_old_model_in_the_timer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = Engine(tmp_path)
    m1 = write_model(engine.models_dir / "m1.json", "m1")
    assert _models(engine.event("v1", 1)) == ["m0"]
    engine.sync(EngineSync(type=SyncType.PAUSE, timestamp=T0 + 1))
    engine.event("v1", 2)  # held while paused
    assert engine.play(m1) == []
    # the job restarts from a checkpoint taken here, and m1's file is broken meanwhile
    Path(m1).write_text("{ not a model")
    restored = Engine(tmp_path, stores=engine.runtime.stores)
    with caplog.at_level(logging.ERROR):
        out = restored.fire_timer()
    assert _models(out) == ["m0"]  # the held event ran, on the old model
    assert "cannot swap" in caplog.text
    assert _models(restored.event("v1", 3)) == ["m0"]


def test_a_current_model_broken_after_a_restore_dead_letters_events_and_the_job_goes_on(
    tmp_path: Path,
) -> None:
    engine = Engine(tmp_path)
    assert _models(engine.event("v1", 1)) == ["m0"]
    engine.sync(EngineSync(type=SyncType.PAUSE, timestamp=T0 + 1))
    engine.event("v1", 2)
    engine.sync(EngineSync(type=SyncType.PLAY, timestamp=T0 + 1))
    Path(engine.m0).write_bytes(b"\0garbage")
    restored = Engine(tmp_path, stores=engine.runtime.stores)
    out = restored.fire_timer()  # the held event: its model cannot load, so it is dead-lettered
    letters = _letters(out)
    assert len(letters) == 1 and "engine failed on key v1" in letters[0].reason
    assert json.loads(letters[0].payload)["timestamp"] == T0 + 2
    write_model(engine.m0, "m0")  # repaired: the next event runs again
    assert _models(restored.event("v1", 3)) == ["m0"]
