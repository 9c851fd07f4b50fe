"""A bucket writer's step function: events, lateness, closing its part files, and restore per part."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from collector_job.bucket_files import BucketFile, Discard, Remove, Restore, Truncate
from collector_job.buckets import BucketScheme
from collector_job.writer_state import (
    AppendRow,
    BucketInfo,
    ClosedPart,
    ClosePart,
    DeadLetterOut,
    EventIn,
    ScheduleClose,
    WatermarkIn,
    WriterConfig,
    WriterState,
    adopt_rows,
    plan_reconcile,
    step,
)
from protocol.settings import BucketAlignment, Domain, Settings

DECLARED = ("timestamp", "mmsi", "lon", "lat")


def config(part: int | None = None, alignment: BucketAlignment = BucketAlignment.EPOCH) -> WriterConfig:
    return WriterConfig(
        scheme=BucketScheme(size=10, alignment=alignment),
        buckets_dir="/b",
        prefix="dt_",
        declared=DECLARED,
        input_topic="input",
        part=part,
    )


def event(ts: int, watermark: int | None = None, origin: int = 0, **extra: Any) -> EventIn:
    record = {"timestamp": ts, "mmsi": "v", "lon": 1.0, "lat": 2.0, **extra}
    return EventIn(ts=ts, record=record, payload=f'{{"timestamp":{ts}}}', origin=origin, watermark=watermark)


def run(messages: list, cfg: WriterConfig | None = None, state: WriterState | None = None):
    cfg = cfg or config()
    state = state or WriterState()
    outputs: list = []
    for message in messages:
        state, out = step(state, message, cfg)
        outputs += out
    return state, outputs


def of(kind: type, outputs: list) -> list:
    return [o for o in outputs if isinstance(o, kind)]


def test_events_are_appended_and_each_new_bucket_schedules_its_close() -> None:
    state, outputs = run([event(1), event(5), event(12)])
    assert [(o.start, o.record["timestamp"]) for o in of(AppendRow, outputs)] == [(0, 1), (0, 5), (10, 12)]
    assert of(ScheduleClose, outputs) == [ScheduleClose(0, 9_999), ScheduleClose(10, 19_999)]
    assert [(b.start, b.rows) for b in state.open] == [(0, 2), (10, 1)]
    assert of(AppendRow, outputs)[0].path == Path("/b/dt_0.csv")
    assert of(ClosePart, outputs) == []  # arrival of a later event closes nothing: only watermarks do


def test_a_part_writes_its_own_files() -> None:
    _, outputs = run([event(1), WatermarkIn(10)], config(part=3))
    assert of(AppendRow, outputs)[0].path == Path("/b/dt_0_part-3.csv")
    assert of(ClosePart, outputs) == [
        ClosePart(Path("/b/dt_0_part-3.csv"), ClosedPart(start=0, part=3, rows=1))
    ]


def test_watermark_closes_complete_buckets_and_hands_them_over() -> None:
    state, outputs = run([event(1), event(2), event(12), event(25), event(33), WatermarkIn(30)])
    closed = [o.closed for o in of(ClosePart, outputs)]
    assert closed == [ClosedPart(0, None, 2), ClosedPart(10, None, 1), ClosedPart(20, None, 1)]
    assert [b.start for b in state.open] == [30] and state.closed_through == 30


def test_out_of_order_events_within_the_delay_go_to_their_bucket() -> None:
    _, outputs = run([event(12), event(3), WatermarkIn(20)])
    assert [o.start for o in of(AppendRow, outputs)] == [10, 0]
    assert [o.closed.start for o in of(ClosePart, outputs)] == [0, 10]


def test_late_event_goes_to_dead_letters_with_a_reason() -> None:
    state, outputs = run([event(1), WatermarkIn(10), event(7)])
    (letter,) = of(DeadLetterOut, outputs)
    assert "late event" in letter.reason and "bucket 0" in letter.reason
    assert letter.source_topic == "input" and letter.payload == '{"timestamp":7}'
    assert len(of(AppendRow, outputs)) == 1


def test_the_stream_watermark_makes_an_event_late_even_in_a_part_that_never_had_its_bucket() -> None:
    """The guard's watermark comes with the event: a part without rows (and timers) in bucket 0 still
    knows that it is closed, so an event is late or not whatever part it lands in."""
    state, outputs = run([event(3, watermark=15)], config(part=1))
    assert of(AppendRow, outputs) == [] and len(of(DeadLetterOut, outputs)) == 1
    assert state == WriterState()


def test_first_event_alignment_uses_the_guards_origin() -> None:
    cfg = config(alignment=BucketAlignment.FIRST_EVENT)
    _, outputs = run([event(16, origin=7), event(17, origin=7), event(4, origin=7)], cfg)
    assert [o.start for o in of(AppendRow, outputs)] == [7, 17, -3]


def test_unknown_extras_are_reported_not_silently_lost() -> None:
    state, outputs = run([event(1, area="x"), event(2, area="y", colour="red")])
    assert state.open[0].columns == ("timestamp", "mmsi", "lon", "lat", "area")
    (letter,) = of(DeadLetterOut, outputs)
    assert "colour" in letter.reason
    assert len(of(AppendRow, outputs)) == 2  # the row itself is kept


def test_state_survives_json() -> None:
    state, _ = run([event(1, area="x"), event(12), WatermarkIn(10), event(25)])
    assert WriterState.model_validate_json(state.model_dump_json()) == state


def test_config_from_settings_follows_the_domain(tmp_path: Path) -> None:
    cfg = WriterConfig.from_settings(Settings(domain=Domain.FINANCE, data_dir=tmp_path))
    assert "pan" in cfg.declared and cfg.scheme.ms_per_unit == 1
    assert cfg.path(5) == tmp_path / "buckets" / "dt_bucket_5.csv"
    assert cfg.for_part(2).path(5) == tmp_path / "buckets" / "dt_bucket_5_part-2.csv"


# ----------------------------------------------------------------------------------- reconciliation


def files(cfg: WriterConfig, *entries: tuple[int, bool]) -> list[BucketFile]:
    return [
        BucketFile(start, cfg.part, Path(str(cfg.path(start)) + (".deleted" if trashed else "")), trashed)
        for start, trashed in entries
    ]


def test_reconcile_truncates_open_removes_newer_and_leaves_the_versioners_files() -> None:
    cfg = config(part=1)
    state = WriterState(
        closed_through=20,
        open=(BucketInfo(start=20, rows=3, columns=DECLARED), BucketInfo(start=30, rows=2, columns=DECLARED)),
    )
    found = files(cfg, (0, False), (10, True), (20, False), (30, True), (40, False))
    actions, problems = plan_reconcile(state, found, cfg)
    p = cfg.path
    assert actions == [
        Truncate(20, p(20), 3),
        Restore(30, p(30)),  # closed, versioned and released after the checkpoint: back it comes
        Truncate(30, p(30), 2),
        Remove(40, p(40)),  # opened after the checkpoint: the replay writes it again
    ]  # bucket 0 closed before the checkpoint: the versioner's; trashed 10: nobody's
    assert problems == []


def test_reconcile_reports_committed_rows_without_a_file() -> None:
    state = WriterState(open=(BucketInfo(start=20, rows=3, columns=DECLARED),))
    actions, problems = plan_reconcile(state, [], config())
    assert actions == [] and "missing" in problems[0]


def test_reconcile_without_state_moves_every_live_file_of_the_part_aside() -> None:
    cfg = config(part=0)
    actions, _ = plan_reconcile(
        WriterState(), files(cfg, (0, False), (30, False), (40, True)), cfg, fresh=True
    )
    assert actions == [Discard(0, cfg.path(0)), Discard(30, cfg.path(30))]


def test_adopt_rows_reports_shortfalls() -> None:
    cfg = config(part=2)
    state = WriterState(open=(BucketInfo(start=20, rows=3, columns=DECLARED),))
    fixed, problems = adopt_rows(state, {cfg.path(20): 2}, cfg)
    assert fixed.open[0].rows == 2 and "only 2" in problems[0]
    same, none = adopt_rows(state, {cfg.path(20): 3}, cfg)
    assert same == state and none == []
