"""The inference job's per-event Python path outside Flink: cost per stage, cProfile, keyed state size.

Used by ``bench_inference.py`` to tell Python cost from PyFlink overhead. The path is the job's own code,
called the way the operator calls it: ``EngineProcess.process_element`` on per-shard batches of raw JSON
(as :func:`~inference_job.event_batches.batch_in_jvm` forms them: ``batch_ms`` of events at
``rate`` events/s grouped by shard), with a stand-in for Flink's context and keyed state (the shard's
``MapState`` of ``KeyState`` objects and its ``ShardState``, both kept as Python objects as PyFlink's state
cache keeps them; JSON -> validated event dict -> ``key_runs.run_events`` -> wayeb step_many -> forecast
line and a score-delta row, batches of deltas JSON). What PyFlink pays when a key's state is not in its cache
(pickle at the bundle's end, unpickle on the next read) is timed separately per key state.
"""

from __future__ import annotations

import cProfile
import io
import json
import pickle
import pstats
import time
from collections.abc import Iterator, Sequence
from typing import Any

from pyflink.common import Row

from inference_job.engine_process import CONTROL_STATE, EngineProcess
from inference_job.event_batches import shard_of_raw
from inference_job.lifecycle import KeyState, ModelRef
from inference_job.models import ModelCache, default_loader
from protocol.settings import Settings

STATE_TARGET_BYTES = 2048


class _MapState:
    """The shard's ``MapState`` stand-in (objects kept as-is, like PyFlink's state cache)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def put(self, key: str, value: Any) -> None:
        self.values[key] = value


class _ShardValueState:
    """The shard's ``ValueState`` stand-in: one value per current shard."""

    def __init__(self) -> None:
        self.values: dict[int, Any] = {}
        self.shard = 0

    def value(self) -> Any:
        return self.values.get(self.shard)

    def update(self, value: Any) -> None:
        self.values[self.shard] = value


class _Broadcast:
    def get(self, _name: str) -> None:
        return None


class _Timers:
    def current_processing_time(self) -> int:
        return int(time.time() * 1000)

    def register_processing_time_timer(self, _ts: int) -> None:
        return None

    def register_event_time_timer(self, _ts: int) -> None:
        return None


class _Context:
    """What ``EngineProcess.process_element`` reads from Flink's context."""

    def __init__(self) -> None:
        self.key = 0

    def get_current_key(self) -> int:
        return self.key

    def get_broadcast_state(self, descriptor: Any) -> _Broadcast:
        assert descriptor is CONTROL_STATE
        return _Broadcast()

    def timer_service(self) -> _Timers:
        return _Timers()


class EnginePath:
    """The job's engine function wired to in-memory state, as one Python worker would run it."""

    def __init__(self, initial: ModelRef) -> None:
        self.engine = EngineProcess(initial)
        self.engine.models = ModelCache(default_loader)
        self.runs = _MapState()
        self.shards = _ShardValueState()
        self.engine.runs = self.runs
        self.engine.shard_state = self.shards
        self.ctx = _Context()

    def run(self, batches: Sequence[Row]) -> int:
        """Process batch rows (:func:`make_batches`); return the number of output records."""
        outputs = 0
        for batch in batches:
            self.ctx.key = self.shards.shard = batch[0]
            outputs += _count(self.engine.process_element(batch[1], self.ctx))
        return outputs

    def state_sizes(self) -> dict[str, Any]:
        """Per-key sizes of the engine's pickled ``KeyState`` (what Flink stores) and of its wayeb run."""
        states: list[KeyState] = list(self.runs.values.values())
        key_sizes = sorted(len(pickle.dumps(v)) for v in states)
        run_sizes = sorted(len(json.dumps(v.run.to_dict(), separators=(",", ":")).encode()) for v in states)
        t0 = time.perf_counter()
        for v in states:
            pickle.loads(pickle.dumps(v))
        round_trip_us = (time.perf_counter() - t0) / max(1, len(states)) * 1e6
        return {"keys": len(key_sizes), "key_state": _size_stats(key_sizes),
                "run_state": _size_stats(run_sizes),
                "pickle_round_trip_us_per_key": round_trip_us,
                "estimate_1e5_keys_mb": sum(key_sizes) / len(key_sizes) * 1e5 / 1e6 if key_sizes else None,
                "target_bytes": STATE_TARGET_BYTES}  # fmt: skip


def make_batches(values: Sequence[str], *, window_events: int = 2000) -> list[Row]:
    """Batch rows as the JVM forms them: ``window_events`` consecutive events (100 ms at 2e4 events/s)
    split by shard, each shard's events in arrival order."""
    shards = Settings.model_fields["engine_shards"].default
    batches: list[Row] = []
    for start in range(0, len(values), window_events):
        by_shard: dict[int, list[str]] = {}
        for value in values[start : start + window_events]:
            by_shard.setdefault(shard_of_raw(value, "mmsi", shards), []).append(value)
        batches.extend(Row(shard, json.dumps(events)) for shard, events in by_shard.items())
    return batches


def _count(items: Iterator[Any]) -> int:
    return sum(1 for _ in items)


def _size_stats(sizes: list[int]) -> dict[str, float]:
    if not sizes:
        return {}
    return {"mean": sum(sizes) / len(sizes), "p99": float(sizes[min(len(sizes) - 1, int(0.99 * len(sizes)))]),
            "max": float(sizes[-1])}  # fmt: skip


def profile_path(initial: ModelRef, values: Sequence[str], *, top: int = 12) -> dict[str, Any]:
    """Time the path without a profiler (us/event), then cProfile it; return both and the state sizes."""
    batches = make_batches(values)
    warm = EnginePath(initial)
    warm.run(make_batches(values[:2000]))  # model load and first-use costs out of the measurement
    path = EnginePath(initial)
    path.engine.models = warm.engine.models
    t0 = time.perf_counter()
    outputs = path.run(batches)
    elapsed = time.perf_counter() - t0
    sizes = path.state_sizes()
    profiled = EnginePath(initial)
    profiled.engine.models = warm.engine.models
    profiler = cProfile.Profile()
    profiler.enable()
    profiled.run(batches)
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("tottime").print_stats(top)
    total = sum(entry[2] for entry in stats.stats.values())  # type: ignore[attr-defined]
    shares = _stage_shares(stats, total)
    return {"events": len(values), "outputs": outputs, "seconds": elapsed,
            "us_per_event": elapsed / len(values) * 1e6, "events_per_s_one_core": len(values) / elapsed,
            "profile_stage_shares": shares, "profile_top": stream.getvalue(), "state": sizes}  # fmt: skip


# function name fragments -> stage, matched on the cumulative time of the outermost call of each stage
_STAGES = {
    "parse (pydantic decode + as_record)": ("codec.py", "decode"),
    "engine step (key_runs.run_events: symbolise + wayeb step_many)": ("key_runs.py", "run_events"),
    "  of which symbolisation": ("engine.py", "symbol_of"),
    "  of which wayeb step_many": ("engine.py", "step_many"),
    "emit (forecast line + delta row)": ("engine_process.py", "_emit"),
    "delta batches (JSON)": ("engine_process.py", "_flush"),
}


def _stage_shares(stats: pstats.Stats, total: float) -> dict[str, float]:
    """Share of profiled time in each stage (cumulative time of the stage's entry function)."""
    shares: dict[str, float] = {}
    for (filename, _line, name), entry in stats.stats.items():  # type: ignore[attr-defined]
        for stage, (file_part, func) in _STAGES.items():
            if filename.endswith(file_part) and name == func:
                shares[stage] = shares.get(stage, 0.0) + entry[3] / total if total else 0.0
    return shares
