"""The versioner's step function: closed parts become buckets and dataset versions; ACKs release every part
of a bucket; restore puts back what was deleted after the checkpoint."""

from __future__ import annotations

from pathlib import Path

from collector_job.buckets import BucketScheme
from collector_job.versioner_state import (
    AckIn,
    BucketParts,
    DeadLetterOut,
    DeleteBucket,
    EmitDataset,
    PartFile,
    PartIn,
    Problem,
    PurgeBucket,
    ScheduleClose,
    VersionerConfig,
    VersionerState,
    WatermarkIn,
    step,
)
from collector_job.writer_state import ClosedPart
from protocol.messages import AssemblyAck
from protocol.settings import BucketAlignment


def config(k: int = 2, parts: int = 1) -> VersionerConfig:
    return VersionerConfig(
        scheme=BucketScheme(size=10, alignment=BucketAlignment.EPOCH),
        history_k=k,
        buckets_dir="/b",
        prefix="dt_",
        assembly_topic="assembly_reports",
        trash_grace_ms=1000,
        parts=parts,
    )


def part(start: int, which: int | None = None, rows: int = 1, now: int = 0) -> PartIn:
    return PartIn(closed=ClosedPart(start=start, part=which, rows=rows), now_ms=now)


def wm(watermark: int, now: int = 0) -> WatermarkIn:
    return WatermarkIn(watermark=watermark, now_ms=now)


def ack(version: int, *starts: int, now: int = 0) -> AckIn:
    return AckIn(ack=AssemblyAck(version=version, bucket_starts=starts), payload="{}", now_ms=now)


def closed(*starts: int) -> list:
    """Every bucket in ``starts`` closed by one part, then the watermark past them all."""
    return [part(s) for s in starts] + [wm(max(starts) + 10)]


def run(messages: list, cfg: VersionerConfig | None = None, state: VersionerState | None = None):
    cfg = cfg or config()
    state = state or VersionerState()
    outputs: list = []
    for message in messages:
        state, out = step(state, message, cfg)
        outputs += out
    return state, outputs


def datasets(outputs: list) -> list:
    return [o.dataset for o in outputs if isinstance(o, EmitDataset)]


def of(kind: type, outputs: list) -> list:
    return [o for o in outputs if isinstance(o, kind)]


def test_parts_wait_for_the_watermark_then_one_version_lists_every_part() -> None:
    cfg = config(parts=3)
    state, outputs = run([part(0, 2, rows=4), part(0, 0, rows=1)], cfg)
    assert of(ScheduleClose, outputs) == [ScheduleClose(0, 9_999)] and datasets(outputs) == []
    assert state.closing == (
        BucketParts(start=0, parts=(PartFile(part=0, rows=1), PartFile(part=2, rows=4))),
    )
    state, outputs = run([part(10, 1), wm(10)], cfg, state)
    (version,) = datasets(outputs)
    assert (version.version, version.bucket_starts, version.timestamp) == (0, (0,), 10)
    assert version.bucket_paths == ("/b/dt_0_part-0.csv", "/b/dt_0_part-2.csv")
    state, outputs = run([wm(20)], cfg, state)
    (version,) = datasets(outputs)
    assert version.bucket_starts == (0, 10)
    assert version.bucket_paths == ("/b/dt_0_part-0.csv", "/b/dt_0_part-2.csv", "/b/dt_10_part-1.csv")


def test_watermark_closes_buckets_in_order_with_sliding_windows() -> None:
    state, outputs = run([part(0), part(10), part(20), part(30), wm(30)])
    versions = datasets(outputs)
    assert [(d.version, d.bucket_starts, d.timestamp) for d in versions] == [
        (0, (0,), 10),
        (1, (0, 10), 20),
        (2, (10, 20), 30),
    ]
    assert versions[2].bucket_paths == ("/b/dt_10.csv", "/b/dt_20.csv")
    assert [b.start for b in state.closing] == [30] and state.next_version == 3
    assert state.closed_through == 30
    assert of(DeleteBucket, outputs) == []  # nothing ACKed: the factory may still need everything


def test_ack_releases_every_part_of_buckets_outside_future_windows() -> None:
    cfg = config(parts=2)
    state, _ = run([part(0, 0), part(0, 1), part(10, 1), part(20, 0), wm(30)], cfg)
    state, outputs = run([ack(0, 0)], cfg, state)
    assert of(DeleteBucket, outputs) == []  # version 1 still lists bucket 0
    state, outputs = run([ack(1, 0, 10)], cfg, state)
    assert of(DeleteBucket, outputs) == [
        DeleteBucket(0, (Path("/b/dt_0_part-0.csv"), Path("/b/dt_0_part-1.csv")))
    ]
    state, outputs = run([ack(2, 10, 20)], cfg, state)
    assert of(DeleteBucket, outputs) == [DeleteBucket(10, (Path("/b/dt_10_part-1.csv"),))]
    assert [b.start for b in state.closed] == [20] and state.pending == ()


def test_lagging_factory_loses_nothing() -> None:
    state, outputs = run(closed(*range(0, 120, 10)))
    assert len(datasets(outputs)) == 12
    assert of(DeleteBucket, outputs) == [] and len(state.closed) == 12


def test_early_ack_of_a_version_published_before_a_restore_is_honoured() -> None:
    restored = VersionerState(published=2)  # versions 0 and 1 were published after the checkpoint
    state, outputs = run([ack(0, 0), ack(1, 0, 10), *closed(0, 10)], state=restored)
    assert [o.start for o in of(DeleteBucket, outputs)] == [0]
    assert state.pending == () and state.early_acks == () and of(DeadLetterOut, outputs) == []


def test_ack_of_a_version_never_published_is_refused_and_deletes_nothing() -> None:
    state, _ = run([part(0), part(10), part(20), part(30), wm(30)])
    assert (state.next_version, state.published) == (3, 3)
    before = state
    for forged in (ack(3, 10, 20), ack(2**53 - 1, 0), ack(4, 20, 30)):
        state, outputs = run([forged], state=state)
        (letter,) = of(DeadLetterOut, outputs)
        assert "never published" in letter.reason and letter.source_topic == "assembly_reports"
    assert state == before  # not remembered as early ACKs either
    state, outputs = run([ack(0, 0), ack(1, 0, 10)], state=state)  # genuine ACKs still release
    assert of(DeleteBucket, outputs) == [DeleteBucket(0, (Path("/b/dt_0.csv"),))]


def test_stale_ack_is_dead_lettered_and_releases_nothing() -> None:
    state, outputs = run([*closed(0), ack(0, 999)])
    (letter,) = of(DeadLetterOut, outputs)
    assert letter.source_topic == "assembly_reports"
    assert len(state.pending) == 1


def test_replayed_ack_changes_nothing() -> None:
    state, _ = run([*closed(0, 10), ack(0, 0), ack(1, 0, 10)])
    again, outputs = run([ack(0, 0), ack(1, 0, 10)], state=state)
    assert again == state and outputs == []


def test_deleted_buckets_are_purged_with_all_their_parts_after_the_grace_period() -> None:
    cfg = config(parts=2)
    messages = [part(0, 0), part(0, 1), part(10, 0), wm(20), ack(0, 0), ack(1, 0, 10, now=100)]
    state, _ = run(messages, cfg)
    assert [(t.start, t.parts) for t in state.trash] == [(0, (0, 1))]
    state, outputs = run([part(20, 1, now=500)], cfg, state)
    assert of(PurgeBucket, outputs) == []
    state, outputs = run([part(30, 1, now=1100)], cfg, state)
    paths = (Path("/b/dt_0_part-0.csv"), Path("/b/dt_0_part-1.csv"))
    assert of(PurgeBucket, outputs) == [PurgeBucket(0, paths)] and state.trash == ()


def test_a_part_after_its_bucket_closed_is_kept_while_retained_else_trashed() -> None:
    cfg = config(k=3, parts=2)
    state, _ = run([part(0, 0), wm(10)], cfg)
    state, outputs = run([part(0, 1, rows=2)], cfg, state)
    assert len(of(Problem, outputs)) == 1 and of(DeleteBucket, outputs) == []
    assert state.closed[0].parts == (PartFile(part=0, rows=1), PartFile(part=1, rows=2))
    released, _ = run([*closed(10, 20, 30), ack(0, 0), ack(1, 0, 10), ack(2, 0, 10, 20)], cfg, state)
    assert 0 not in {b.start for b in released.closed}
    state, outputs = run([part(0, 1, rows=3, now=7)], cfg, released)
    assert of(DeleteBucket, outputs) == [DeleteBucket(0, (Path("/b/dt_0_part-1.csv"),))]


def test_state_survives_json() -> None:
    state, _ = run([part(0, None, rows=3), wm(10), ack(5, 1, 2), part(20)], state=VersionerState(published=6))
    assert state.early_acks and state.closing
    assert VersionerState.model_validate_json(state.model_dump_json()) == state
