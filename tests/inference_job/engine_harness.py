"""The engine function wired to fake Flink contexts: keyed state per shard (pickled as a state backend
keeps it), broadcast state, a processing-time clock and timers per shard."""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from flink_fakes import FakeListState, FakeTimerService
from metric_fakes import FakeMetricsRuntime

from inference_job import engine_process
from inference_job.engine_process import END_OF_INPUT, FORECASTS, EngineProcess
from inference_job.event_batches import shard_of, split_lines
from inference_job.lifecycle import ModelRef
from inference_job.scoring import ScoreDelta, decode_batch
from mocks.fake_engine import load, write_model
from protocol.messages import EngineSync, ForecastRecord


class FakeBroadcastState(dict):
    """Broadcast map state: ``get``/``put`` like PyFlink's BroadcastState."""

    def put(self, key: str, value: str) -> None:
        self[key] = value


class PickledStore:
    """Keyed state of one descriptor: every value goes through pickle, as Flink's state backend does."""

    def __init__(self) -> None:
        self.data: dict[Any, bytes] = {}
        self.written = 0  # bytes pickled into the store: what the state backend is asked to write

    def load(self, key: Any) -> Any:
        raw = self.data.get(key)
        return pickle.loads(raw) if raw is not None else None

    def save(self, key: Any, value: Any) -> None:
        self.data[key] = raw = pickle.dumps(value)
        self.written += len(raw)


def new_stores() -> dict[str, Any]:
    """The engine's keyed state: key states, shard states, and the held events of each shard."""
    held: dict[int, FakeListState] = {}
    return {"runs": PickledStore(), "shard": PickledStore(), "held": held}


SHARDS = 4
T0 = 1_443_650_400
"""Event times in these tests are seconds after T0 (an epoch inside the contract's range): the harness
adds it to events and syncs, and :func:`forecasts` and :func:`deltas` take it off again."""


def raw_event(key: str, ts: int, lat: float = 45.0) -> str:
    return json.dumps({"timestamp": T0 + ts, "mmsi": key, "lat": lat, "lon": 0.0})


class Harness:
    """Keyed state per shard (MapState of partition keys + a shard ValueState), timers per shard."""

    def __init__(self, tmp: Path, stores: dict[str, Any] | None = None, broadcast: Any = None,
                 batch_size: int = 100, flush_ms: int = 200, pause_timeout_ms: int = 60_000,
                 max_pause_buffer: int = 1000):  # fmt: skip
        self.m0 = write_model(tmp / "m0.json", "m0")
        self.m1 = write_model(tmp / "m1.json", "m1", bias=0.2)
        self.stores = stores if stores is not None else new_stores()
        self.broadcast = broadcast if broadcast is not None else FakeBroadcastState()
        self.timers: dict[int, FakeTimerService] = {}
        self.fn = EngineProcess(
            ModelRef("m0", self.m0), registry_path=str(tmp / "registry.json"), loader=load,
            batch_size=batch_size, flush_ms=flush_ms, pause_timeout_ms=pause_timeout_ms,
            max_pause_buffer=max_pause_buffer,
        )  # fmt: skip
        self.shard = 0
        self.metrics = FakeMetricsRuntime()
        self.fn.open(self)  # type: ignore[arg-type]

    # runtime context and state proxies for the current shard
    def get_metrics_group(self) -> Any:
        return self.metrics.get_metrics_group()

    def get_map_state(self, descriptor: Any) -> Any:
        harness, store = self, self.stores["runs"]

        class Runs:
            def get(self, key: str) -> Any:
                return store.load((harness.shard, key))

            def put(self, key: str, value: Any) -> None:
                store.save((harness.shard, key), value)

        return Runs()

    def get_state(self, descriptor: Any) -> Any:
        name = "shard" if descriptor.get_name() == "engine_shard" else descriptor.get_name()
        harness, store = self, self.stores.setdefault(name, PickledStore())

        class Shard:
            def value(self) -> Any:
                return store.load(harness.shard)

            def update(self, value: Any) -> None:
                store.save(harness.shard, value)

        return Shard()

    def get_list_state(self, descriptor: Any) -> Any:
        harness, lists = self, self.stores["held"]

        class Held:
            def current(self) -> FakeListState:
                return lists.setdefault(harness.shard, FakeListState())

            def add(self, value: Any) -> None:
                self.current().add(value)

            def get(self) -> list[Any]:
                return self.current().get()

            def clear(self) -> None:
                self.current().clear()

        return Held()

    def written(self) -> int:
        """Bytes pickled into the keyed state so far (key states, shard states, held events)."""
        held = sum(lst.written for lst in self.stores["held"].values())
        return self.stores["runs"].written + self.stores["shard"].written + held

    def run_state(self, key: str) -> Any:
        return self.stores["runs"].load((shard_of(key, SHARDS), key))

    # contexts
    def get_broadcast_state(self, descriptor: Any) -> FakeBroadcastState:
        return self.broadcast

    def get_current_key(self) -> int:
        return self.shard

    def timer_service(self) -> FakeTimerService:
        return self.timers.setdefault(self.shard, FakeTimerService())

    def timer_service_for(self, key: str) -> FakeTimerService:
        return self.timers.setdefault(shard_of(key, SHARDS), FakeTimerService())

    def time_domain(self) -> Any:
        return self._domain

    def event(self, key: str, ts: int, lat: float = 45.0) -> list[Any]:
        return self.batch(key, [raw_event(key, ts, lat)])

    def batch(self, key: str, raw_events: list[str]) -> list[Any]:
        """Deliver one batch (raw JSON events) to the shard of ``key``, as the JVM batching does."""
        self.shard = shard_of(key, SHARDS)
        return list(self.fn.process_element(json.dumps(raw_events), self))

    def sync(self, sync: EngineSync) -> list[Any]:
        shifted = sync.model_copy(update={"timestamp": T0 + sync.timestamp})
        return list(self.fn.process_broadcast_element(shifted, self))

    def fire(self, key: str, ts: int, *, event_time: bool) -> list[Any]:
        return self.fire_shard(shard_of(key, SHARDS), ts, event_time=event_time)

    def fire_shard(self, shard: int, ts: int, *, event_time: bool) -> list[Any]:
        from pyflink.datastream import TimeDomain

        self.shard = shard
        self._domain = TimeDomain.EVENT_TIME if event_time else TimeDomain.PROCESSING_TIME
        return list(self.fn.on_timer(ts, self))

    def set_clock(self, now: int) -> None:
        """Set the processing time of every shard."""
        for shard in range(SHARDS):
            self.timers.setdefault(shard, FakeTimerService()).now = now

    def fire_due(self) -> list[Any]:
        """Fire, shard by shard, every processing-time timer that is due (as Flink does), once each."""
        out: list[Any] = []
        for shard, clock in sorted(self.timers.items()):
            while due := sorted(t for t in clock.processing if t <= clock.now):
                for ts in due:
                    clock.processing.discard(ts)
                    out += self.fire_shard(shard, ts, event_time=False)
        return out

    def end_of_input(self) -> list[Any]:
        """The final watermark: every shard's end-of-input timer fires."""
        return [v for shard in range(SHARDS) for v in self.fire_shard(shard, END_OF_INPUT, event_time=True)]

    def held(self) -> int:
        """Events held in the shards' lists."""
        return sum(len(lst.elements) for lst in self.stores["held"].values())

    def flush(self, key: str) -> list[Any]:
        """Fire the shard's processing-time timer (what Flink does ``flush_ms`` later)."""
        return self.fire(key, max(self.timers[shard_of(key, SHARDS)].processing), event_time=False)


def forecasts(out: list[Any]) -> list[ForecastRecord]:
    """The forecast records among the outputs, timestamps relative to T0."""
    return [
        record.model_copy(update={"timestamp": record.timestamp - T0})
        for v in out
        if isinstance(v, tuple) and v[0] == FORECASTS
        for record in map(ForecastRecord.model_validate_json, split_lines(v[1]))
    ]


def deltas(out: list[Any]) -> list[ScoreDelta]:
    """The score deltas among the outputs, timestamps relative to T0."""
    return [
        replace(d, timestamp=d.timestamp - T0) for v in out if isinstance(v, str) for d in decode_batch(v)
    ]


@dataclass(slots=True)
class EarlierShardState:
    """The engine's shard state as checkpoints of the earlier layout hold it (pickled by slot)."""

    deltas: list[list[Any]] = field(default_factory=list)
    buffered: set[str] = field(default_factory=set)
    timer_at: int | None = None
    end_armed: bool = False


EarlierShardState.__qualname__ = "ShardState"  # pickled by the name the earlier class had
EarlierShardState.__module__ = engine_process.__name__


def earlier_checkpoint(monkeypatch: pytest.MonkeyPatch, state: EarlierShardState) -> bytes:
    """The bytes a checkpoint of the earlier layout holds (the class is found under its old name)."""
    with monkeypatch.context() as patch:
        patch.setattr(engine_process, "ShardState", EarlierShardState)
        return pickle.dumps(state)
