"""The Flink function with fake state and timers: effects on disk, and crash/restore without loss.

The harness plays Flink's part: it keeps the ValueState, registers timers, advances the watermark as a
bounded-out-of-orderness strategy would, and fires due timers in order before the next element. A
"checkpoint" is a copy of the state value taken between two records; a "crash" throws the function away;
a restore builds a new function on the copied state and replays the input from the checkpointed position.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from metric_fakes import FakeMetricsRuntime

from collector_job import bucket_files as bf
from collector_job.collector_process import CollectorProcess, apply_effects, collector_key
from collector_job.collector_state import CollectorConfig, CollectorState
from collector_job.parse_acks import ParsedAck
from collector_job.parse_events import parse_event
from flink_common.io import string_tag
from protocol.codec import encode
from protocol.messages import AssemblyAck, DatasetVersion, DeadLetter
from protocol.settings import BucketAlignment, Domain, Settings

DELAY_S = 5
MIN_WATERMARK = -(2**63)
T0 = 1_500_000_000
"""Epoch seconds every scripted time is relative to (a multiple of the 100 s buckets)."""


class FakeValueState:
    def __init__(self, value: str | None = None) -> None:
        self._value = value

    def value(self) -> str | None:
        return self._value

    def update(self, value: str) -> None:
        self._value = value


class FakeRuntimeContext(FakeMetricsRuntime):
    def __init__(self, state: FakeValueState) -> None:
        super().__init__()
        self._state = state

    def get_state(self, descriptor: Any) -> FakeValueState:
        return self._state


class FakeTimers:
    def __init__(self) -> None:
        self.timers: set[int] = set()
        self.watermark = MIN_WATERMARK
        self.now = 0

    def register_event_time_timer(self, ms: int) -> None:
        self.timers.add(ms)

    def current_watermark(self) -> int:
        return self.watermark

    def current_processing_time(self) -> int:
        return self.now


class FakeCtx:
    def __init__(self, timers: FakeTimers) -> None:
        self._timers = timers

    def timer_service(self) -> FakeTimers:
        return self._timers


class Harness:
    """One incarnation of the collector operator."""

    def __init__(self, settings: Settings, state: str | None = None) -> None:
        self.tag = string_tag("dead")
        self.config = CollectorConfig.from_settings(settings)
        self.function = CollectorProcess(self.config, self.tag, fsync_rows=2)
        self.state = FakeValueState(state)
        self.runtime = FakeRuntimeContext(self.state)
        self.function.open(self.runtime)
        self.timers = FakeTimers()
        self.ctx = FakeCtx(self.timers)
        self.max_ts_ms = MIN_WATERMARK
        self.datasets: list[DatasetVersion] = []
        self.dead: list[DeadLetter] = []

    def _collect(self, produced: Any) -> None:
        for item in produced:
            if isinstance(item, tuple):
                assert item[0] is self.tag
                self.dead.append(DeadLetter.model_validate_json(item[1]))
            else:
                self.datasets.append(DatasetVersion.model_validate_json(item))

    def feed(self, record: tuple[str, str]) -> None:
        kind, raw = record
        self.timers.now += 100
        if kind == "event":
            parsed = parse_event(Domain.MARITIME, raw)
            self._collect(self.function.process_element1(parsed, self.ctx))
            self.max_ts_ms = max(self.max_ts_ms, parsed.ts * 1000)
            self.advance(self.max_ts_ms - DELAY_S * 1000 - 1)
        else:
            ack = AssemblyAck.model_validate_json(raw)
            self._collect(self.function.process_element2(ParsedAck(ack=ack, payload=raw), self.ctx))

    def advance(self, watermark: int) -> None:
        """Raise the watermark and fire due timers in order, as Flink does between elements."""
        self.timers.watermark = max(self.timers.watermark, watermark)
        while due := sorted(t for t in self.timers.timers if t <= self.timers.watermark):
            self.timers.timers.discard(due[0])
            self._collect(self.function.on_timer(due[0], self.ctx))

    def end_of_input(self) -> None:
        self.advance(2**63 - 1)
        self.function.close()


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "bucket_size_s": 100,
        "bucket_alignment": BucketAlignment.EPOCH,
        "history_k": 2,
        "checkpoint_interval_ms": 10_000_000,  # keep trashed files for the whole test
    }
    return Settings(**(values | overrides))


def at(*offsets: int) -> tuple[int, ...]:
    """Bucket starts (or times) ``T0 + offset``."""
    return tuple(T0 + o for o in offsets)


def ev(ts: int, mmsi: str = "1") -> tuple[str, str]:
    """An event at ``T0 + ts``."""
    return "event", json.dumps({"timestamp": T0 + ts, "mmsi": mmsi, "lon": 1.5, "lat": 2.5, "area": "x"})


def ack_of(version: int, *starts: int) -> tuple[str, str]:
    """An ACK of ``version`` listing the buckets at ``T0 + start``."""
    return "ack", encode(AssemblyAck(version=version, bucket_starts=at(*starts)))


def script() -> list[tuple[str, str]]:
    """Interleaved vessels over 5 buckets of 100 s; ACKs arrive along the way, some late."""
    records: list[tuple[str, str]] = []
    for ts in range(0, 500, 7):
        records.append(ev(ts, mmsi=str(ts % 3)))
        if ts == 112:
            records.append(ack_of(0, 0))
        if ts == 252:
            records.append(ack_of(1, 0, 100))
        if ts == 406:
            records.append(ack_of(2, 100, 200))
    return records


def snapshot(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(directory.iterdir()) if not p.name.startswith(".")}


def run_clean(tmp_path: Path) -> tuple[Harness, dict[str, str]]:
    harness = Harness(settings_for(tmp_path))
    for record in script():
        harness.feed(record)
    harness.end_of_input()
    return harness, snapshot(tmp_path / "buckets")


def test_collector_key_is_constant() -> None:
    assert collector_key(object()) == collector_key("x") == "collector"


def test_clean_run_writes_buckets_versions_and_deletes_acked(tmp_path: Path) -> None:
    harness, files = run_clean(tmp_path)
    assert [(d.version, d.bucket_starts) for d in harness.datasets] == [
        (0, at(0)),
        (1, at(0, 100)),
        (2, at(100, 200)),
        (3, at(200, 300)),
        (4, at(300, 400)),
    ]
    buckets = tmp_path / "buckets"
    assert harness.datasets[4].bucket_paths == (
        str(buckets / f"dt_bucket_{T0 + 300}.csv"),
        str(buckets / f"dt_bucket_{T0 + 400}.csv"),
    )
    # versions 0..2 ACKed: buckets 0 and 100 are no longer needed and went to the trash
    assert sorted(files) == [
        f"dt_bucket_{T0}.csv.deleted",
        f"dt_bucket_{T0 + 100}.csv.deleted",
        f"dt_bucket_{T0 + 200}.csv",
        f"dt_bucket_{T0 + 300}.csv",
        f"dt_bucket_{T0 + 400}.csv",
    ]
    rows = bf.read_rows(buckets / f"dt_bucket_{T0 + 200}.csv")
    assert list(rows[0]) == ["timestamp", "mmsi", "lon", "lat", "speed", "heading", "cog", "area"]
    assert [int(r["timestamp"]) for r in rows] == list(at(*range(203, 300, 7)))
    assert harness.dead == []
    assert bf.read_version_floor(buckets) == 5


def test_restart_from_any_checkpoint_gives_the_same_files(tmp_path: Path) -> None:
    """Crash after record ``crash``, restore the state of record ``checkpoint``, replay: same result."""
    _, expected = run_clean(tmp_path / "clean")
    records = script()
    for checkpoint, crash in [(1, 30), (20, 45), (38, 60), (40, len(records)), (55, 74), (70, 71)]:
        directory = tmp_path / f"run-{checkpoint}-{crash}"
        first = Harness(settings_for(directory))
        saved = None
        for index, record in enumerate(records[:crash]):
            if index == checkpoint:
                saved = first.state.value()
            first.feed(record)
        # crash: nothing is closed or flushed beyond what append already flushed
        second = Harness(settings_for(directory), state=saved)
        for record in records[checkpoint:]:
            second.feed(record)
        second.end_of_input()
        assert snapshot(directory / "buckets") == expected, (checkpoint, crash)
        versions = {d.version: d.bucket_starts for d in first.datasets + second.datasets}
        assert versions == {0: at(0), 1: at(0, 100), 2: at(100, 200), 3: at(200, 300), 4: at(300, 400)}


def test_rows_beyond_the_checkpoint_are_cut_before_replay(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    first = Harness(settings)
    for record in [ev(1), ev(2)]:
        first.feed(record)
    saved = first.state.value()
    for record in [ev(3), ev(4)]:
        first.feed(record)
    path = tmp_path / "buckets" / f"dt_bucket_{T0}.csv"
    assert bf.count_rows(path) == 4
    second = Harness(settings, state=saved)
    second.feed(ev(3))
    assert [int(r["timestamp"]) for r in bf.read_rows(path)] == list(at(1, 2, 3))


def test_start_without_state_moves_old_files_aside_and_keeps_counting_versions(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    first = Harness(settings)
    for record in [ev(1), ev(150), ev(260)]:
        first.feed(record)
    first.end_of_input()
    assert [d.version for d in first.datasets] == [0, 1, 2]
    fresh = Harness(settings)  # e.g. redeployed without savepoint: the source replays from the start
    for record in [ev(1), ev(150)]:
        fresh.feed(record)
    fresh.end_of_input()
    assert [d.version for d in fresh.datasets] == [3, 4]
    buckets = tmp_path / "buckets"
    assert bf.count_rows(buckets / f"dt_bucket_{T0}.csv") == 1  # not 2: the old file went to the trash
    assert (buckets / f"dt_bucket_{T0 + 200}.csv.deleted").exists()


def test_late_event_reaches_dead_letters(tmp_path: Path) -> None:
    harness = Harness(settings_for(tmp_path))
    for record in [ev(1), ev(120), ev(50)]:
        harness.feed(record)
    (letter,) = harness.dead
    assert harness.runtime.dead_letters() == 1
    assert (
        letter.job == "collector_job"
        and "late event" in letter.reason
        and f'"timestamp": {T0 + 50}' in letter.payload
    )


def test_finance_events_use_milliseconds(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, domain=Domain.FINANCE, bucket_size_s=1)
    config = CollectorConfig.from_settings(settings)
    function = CollectorProcess(config, string_tag("dead"))
    function.open(FakeRuntimeContext(FakeValueState()))
    timers = FakeTimers()
    t0_ms = T0 * 1000
    raw = json.dumps({"timestamp": t0_ms + 1_500, "pan": "p1", "amount": 3.0})
    parsed = parse_event(Domain.FINANCE, raw)
    assert list(function.process_element1(parsed, FakeCtx(timers))) == []
    assert timers.timers == {t0_ms + 1_999}
    produced = list(function.on_timer(t0_ms + 1_999, FakeCtx(timers)))
    dataset = DatasetVersion.model_validate_json(produced[0])
    assert dataset.bucket_starts == (t0_ms + 1_000,) and dataset.timestamp == t0_ms + 2_000
    function.close()


def test_apply_effects_ignores_empty_output(tmp_path: Path) -> None:
    config = CollectorConfig.from_settings(settings_for(tmp_path))
    assert apply_effects([], bf.BucketWriter(tmp_path), FakeTimers(), config) == []
    assert CollectorState() == CollectorState.model_validate_json(CollectorState().model_dump_json())


def test_ack_of_a_version_never_published_deletes_nothing(tmp_path: Path) -> None:
    harness = Harness(settings_for(tmp_path))
    for record in [ev(1), ev(150), ev(260)]:  # versions 0 and 1 published, bucket 200 still open
        harness.feed(record)
    buckets = tmp_path / "buckets"
    files = snapshot(buckets)
    for record in [ack_of(2, 100, 200), ack_of(9, 0), ack_of(2**53 - 1, 0, 100)]:
        harness.feed(record)
    assert snapshot(buckets) == files
    assert [d.source_topic for d in harness.dead] == ["assembly_reports"] * 3
    assert all("never published" in d.reason for d in harness.dead)
    for record in [ack_of(0, 0), ack_of(1, 0, 100)]:  # the genuine ACKs still release
        harness.feed(record)
    assert (buckets / f"dt_bucket_{T0}.csv.deleted").exists()


def test_replayed_ack_of_a_version_published_before_a_restore_releases_it_when_recreated(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    first = Harness(settings)
    first.feed(ev(1))
    saved = first.state.value()
    for record in [ev(150), ev(260)]:
        first.feed(record)
    assert [d.version for d in first.datasets] == [0, 1]
    second = Harness(settings, state=saved)  # restored to before both versions were published
    for record in [ack_of(0, 0), ack_of(1, 0, 100)]:  # the ACK topic replays first
        second.feed(record)
    assert second.dead == []
    for record in [ev(150), ev(260)]:
        second.feed(record)
    assert [d.version for d in second.datasets] == [0, 1]
    assert (tmp_path / "buckets" / f"dt_bucket_{T0}.csv.deleted").exists()
