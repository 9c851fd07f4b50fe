"""The collector's step function: sequences of events, watermarks and ACKs, and restore planning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from collector_job.bucket_files import BucketFile, Discard, Remove, Restore, Truncate
from collector_job.buckets import BucketScheme
from collector_job.collector_state import (
    AckIn,
    AppendRow,
    BucketInfo,
    CloseBucket,
    CollectorConfig,
    CollectorState,
    DeadLetterOut,
    DeleteBucket,
    EmitDataset,
    EventIn,
    PurgeBucket,
    ScheduleClose,
    WatermarkIn,
    adopt_rows,
    plan_reconcile,
    step,
)
from protocol.messages import AssemblyAck
from protocol.settings import BucketAlignment, Domain, Settings

DECLARED = ("timestamp", "mmsi", "lon", "lat")


def config(k: int = 2, alignment: BucketAlignment = BucketAlignment.EPOCH) -> CollectorConfig:
    return CollectorConfig(
        scheme=BucketScheme(size=10, alignment=alignment),
        history_k=k,
        buckets_dir="/b",
        prefix="dt_",
        declared=DECLARED,
        input_topic="input",
        assembly_topic="assembly_reports",
        trash_grace_ms=1000,
    )


def event(ts: int, watermark: int | None = None, now: int = 0, **extra: Any) -> EventIn:
    record = {"timestamp": ts, "mmsi": "v", "lon": 1.0, "lat": 2.0, **extra}
    return EventIn(ts=ts, record=record, payload=f'{{"timestamp":{ts}}}', now_ms=now, watermark=watermark)


def ack(version: int, *starts: int, now: int = 0) -> AckIn:
    return AckIn(ack=AssemblyAck(version=version, bucket_starts=starts), payload="{}", now_ms=now)


def run(messages: list, cfg: CollectorConfig | None = None, state: CollectorState | None = None):
    cfg = cfg or config()
    state = state or CollectorState()
    outputs: list = []
    for message in messages:
        state, out = step(state, message, cfg)
        outputs += out
    return state, outputs


def datasets(outputs: list) -> list:
    return [o.dataset for o in outputs if isinstance(o, EmitDataset)]


def of(kind: type, outputs: list) -> list:
    return [o for o in outputs if isinstance(o, kind)]


def test_events_are_appended_and_each_new_bucket_schedules_its_close() -> None:
    state, outputs = run([event(1), event(5), event(12)])
    assert [(o.start, o.record["timestamp"]) for o in of(AppendRow, outputs)] == [(0, 1), (0, 5), (10, 12)]
    assert of(ScheduleClose, outputs) == [ScheduleClose(0, 9_999), ScheduleClose(10, 19_999)]
    assert [(b.start, b.rows) for b in state.open] == [(0, 2), (10, 1)]
    assert of(AppendRow, outputs)[0].path == Path("/b/dt_0.csv")
    assert datasets(outputs) == []  # arrival of a later event closes nothing: only watermarks do


def test_watermark_closes_buckets_in_order_with_sliding_windows() -> None:
    state, outputs = run([event(1), event(12), event(25), event(33), WatermarkIn(30, 0)])
    versions = datasets(outputs)
    assert [(d.version, d.bucket_starts, d.timestamp) for d in versions] == [
        (0, (0,), 10),
        (1, (0, 10), 20),
        (2, (10, 20), 30),
    ]
    assert versions[2].bucket_paths == ("/b/dt_10.csv", "/b/dt_20.csv")
    assert [o.start for o in of(CloseBucket, outputs)] == [0, 10, 20]
    assert [b.start for b in state.open] == [30] and state.next_version == 3
    assert state.closed_through == 30
    assert of(DeleteBucket, outputs) == []  # nothing ACKed: the factory may still need everything


def test_out_of_order_events_within_the_delay_go_to_their_bucket() -> None:
    _, outputs = run([event(12), event(3), WatermarkIn(20, 0)])
    assert [o.start for o in of(AppendRow, outputs)] == [10, 0]
    assert [d.bucket_starts for d in datasets(outputs)] == [(0,), (0, 10)]


def test_late_event_goes_to_dead_letters_with_a_reason() -> None:
    state, outputs = run([event(1), WatermarkIn(10, 0), event(7)])
    (letter,) = of(DeadLetterOut, outputs)
    assert "late event" in letter.reason and "bucket 0" in letter.reason
    assert letter.source_topic == "input" and letter.payload == '{"timestamp":7}'
    assert len(of(AppendRow, outputs)) == 1


def test_event_behind_the_operator_watermark_is_late_even_for_an_empty_bucket() -> None:
    _, outputs = run([event(3, watermark=15)])
    assert of(AppendRow, outputs) == [] and len(of(DeadLetterOut, outputs)) == 1


def test_first_event_alignment_sets_the_origin_once() -> None:
    cfg = config(alignment=BucketAlignment.FIRST_EVENT)
    state, outputs = run([event(7), event(16), event(17), event(4)], cfg)
    assert state.origin == 7
    assert [o.start for o in of(AppendRow, outputs)] == [7, 7, 17, -3]


def test_unknown_extras_are_reported_not_silently_lost() -> None:
    state, outputs = run([event(1, area="x"), event(2, area="y", colour="red")])
    assert state.open[0].columns == ("timestamp", "mmsi", "lon", "lat", "area")
    (letter,) = of(DeadLetterOut, outputs)
    assert "colour" in letter.reason
    assert len(of(AppendRow, outputs)) == 2  # the row itself is kept


def test_ack_releases_buckets_outside_future_windows() -> None:
    state, _ = run([event(1), event(12), event(25), WatermarkIn(30, 0)])
    state, outputs = run([ack(0, 0)], state=state)
    assert of(DeleteBucket, outputs) == []  # version 1 still lists bucket 0
    state, outputs = run([ack(1, 0, 10)], state=state)
    assert of(DeleteBucket, outputs) == [DeleteBucket(0, Path("/b/dt_0.csv"))]
    state, outputs = run([ack(2, 10, 20)], state=state)
    assert [o.start for o in of(DeleteBucket, outputs)] == [10]  # 20 is in the next window
    assert [b.start for b in state.closed] == [20] and state.pending == ()


def test_lagging_factory_loses_nothing() -> None:
    messages = [event(10 * i + 1) for i in range(12)] + [WatermarkIn(120, 0)]
    state, outputs = run(messages)
    assert len(datasets(outputs)) == 12
    assert of(DeleteBucket, outputs) == [] and len(state.closed) == 12


def test_early_ack_of_a_version_published_before_a_restore_is_honoured() -> None:
    restored = CollectorState(published=2)  # versions 0 and 1 were published after the checkpoint
    messages = [ack(0, 0), ack(1, 0, 10), event(1), event(12), WatermarkIn(20, 0)]
    state, outputs = run(messages, state=restored)
    assert [o.start for o in of(DeleteBucket, outputs)] == [0]
    assert state.pending == () and state.early_acks == () and of(DeadLetterOut, outputs) == []


def test_ack_of_a_version_never_published_is_refused_and_deletes_nothing() -> None:
    state, _ = run([event(1), event(12), event(25), WatermarkIn(30, 0)])
    assert (state.next_version, state.published) == (3, 3)
    before = state
    for forged in (ack(3, 10, 20), ack(2**53 - 1, 0), ack(4, 20, 30)):
        state, outputs = run([forged], state=state)
        (letter,) = of(DeadLetterOut, outputs)
        assert "never published" in letter.reason and letter.source_topic == "assembly_reports"
    assert state == before  # not remembered as early ACKs either
    # genuine ACKs still release as before
    state, outputs = run([ack(0, 0), ack(1, 0, 10)], state=state)
    assert of(DeleteBucket, outputs) == [DeleteBucket(0, Path("/b/dt_0.csv"))]


def test_stale_ack_is_dead_lettered_and_releases_nothing() -> None:
    state, outputs = run([event(1), WatermarkIn(10, 0), ack(0, 999)])
    (letter,) = of(DeadLetterOut, outputs)
    assert letter.source_topic == "assembly_reports"
    assert len(state.pending) == 1


def test_replayed_ack_changes_nothing() -> None:
    state, _ = run([event(1), event(12), WatermarkIn(20, 0), ack(0, 0), ack(1, 0, 10)])
    again, outputs = run([ack(0, 0), ack(1, 0, 10)], state=state)
    assert again == state and outputs == []


def test_deleted_buckets_are_purged_after_the_grace_period() -> None:
    state, _ = run([event(1), event(12), WatermarkIn(20, 0), ack(0, 0), ack(1, 0, 10, now=100)])
    assert [t.start for t in state.trash] == [0]
    state, outputs = run([event(15, now=500)], state=state)
    assert of(PurgeBucket, outputs) == []
    state, outputs = run([event(16, now=1100)], state=state)
    assert of(PurgeBucket, outputs) == [PurgeBucket(0, Path("/b/dt_0.csv"))] and state.trash == ()


def test_state_survives_json() -> None:
    restored = CollectorState(published=6)
    messages = [event(1, area="x"), event(12), WatermarkIn(20, 0), ack(5, 1, 2), event(25)]
    state, _ = run(messages, state=restored)
    assert state.early_acks
    assert CollectorState.model_validate_json(state.model_dump_json()) == state


def test_config_from_settings_follows_the_domain(tmp_path: Path) -> None:
    cfg = CollectorConfig.from_settings(Settings(domain=Domain.FINANCE, data_dir=tmp_path, history_k=3))
    assert "pan" in cfg.declared and cfg.scheme.ms_per_unit == 1 and cfg.history_k == 3
    assert cfg.path(5) == tmp_path / "buckets" / "dt_bucket_5.csv"


# ----------------------------------------------------------------------------------- reconciliation


def files(*entries: tuple[int, bool]) -> list[BucketFile]:
    cfg = config()
    return [
        BucketFile(start, None, Path(str(cfg.path(start)) + (".deleted" if trashed else "")), trashed)
        for start, trashed in entries
    ]


def test_reconcile_truncates_known_discards_unknown_restores_trashed() -> None:
    state = CollectorState(
        open=(BucketInfo(start=20, rows=3, columns=DECLARED),),
        closed=(
            BucketInfo(start=0, rows=5, columns=DECLARED),
            BucketInfo(start=10, rows=4, columns=DECLARED),
        ),
    )
    actions, problems = plan_reconcile(
        state, files((0, True), (10, False), (20, False), (30, False)), config()
    )
    p = config().path
    assert actions == [
        Restore(0, p(0)),
        Truncate(0, p(0), 5),
        Truncate(10, p(10), 4),
        Truncate(20, p(20), 3),
        Remove(30, p(30)),
    ]
    assert problems == []


def test_reconcile_reports_committed_rows_without_a_file() -> None:
    state = CollectorState(open=(BucketInfo(start=20, rows=3, columns=DECLARED),))
    actions, problems = plan_reconcile(state, [], config())
    assert actions == [] and "missing" in problems[0]


def test_adopt_rows_reports_shortfalls() -> None:
    state = CollectorState(open=(BucketInfo(start=20, rows=3, columns=DECLARED),))
    fixed, problems = adopt_rows(state, {20: 2})
    assert fixed.open[0].rows == 2 and "only 2" in problems[0]
    same, none = adopt_rows(state, {20: 3})
    assert same == state and none == []


def test_reconcile_without_state_only_moves_unknown_files_aside() -> None:
    actions, _ = plan_reconcile(CollectorState(), files((30, False), (40, True)), config(), fresh=True)
    assert actions == [Discard(30, config().path(30))]
