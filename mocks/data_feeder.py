"""Replay a recorded stream into the input topic in event-time order, each event exactly once.

Why not "just send the file": the feeder of the system this port follows sent lines in file order
(the split step had sorted them by vessel), never flushed, and replayed the file forever. Here:

* the file is parsed into typed events (:class:`protocol.MaritimeEvent` or :class:`protocol.CardTransaction`)
  and stably sorted by ``timestamp``, never by vessel or card, so event-time operators see a realistic
  stream;
* every event is produced once by an idempotent producer, keyed by its partition key (mmsi or pan), the
  producer is flushed at the end and every delivery report is counted: the exit status is non-zero
  unless the broker acknowledged every event;
* ``--speedup X`` paces the replay at X times event time on an absolute schedule (no accumulated sleep
  drift); ``--fast`` (the default) sends as fast as the broker accepts.

Kafka record timestamps are left to the producer (wall clock). Setting them to the event time would
make a broker with time-based retention delete old replays (e.g. the 2015 Brest data) at once.

Pure parts, tested without Kafka: :func:`row_to_event`, :func:`load_records`, :func:`order_by_event_time`,
:func:`pacing_offsets` and :func:`feed` (which takes any producer-like object).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mocks.kafka_io import BrokerUnreachable, DeliveryTally, ProducerLike, ensure_reachable, make_producer
from protocol import CardTransaction, Domain, MaritimeEvent, SettingsError, encode, load_settings

Event = MaritimeEvent | CardTransaction

#: Column order of header-less CSV files: the Wayeb maritime and card line formats.
POSITIONAL_COLUMNS: dict[Domain, tuple[str, ...]] = {
    Domain.MARITIME: ("timestamp", "mmsi", "lon", "lat", "speed", "heading", "cog", "annotation"),
    Domain.FINANCE: (
        "trx_no",
        "timestamp",
        "pan",
        "amount",
        "amount_diff",
        "time_diff",
        "is_fraud",
        "fraud_type",
    ),
}
#: Field names used by other producers of the same data, mapped to the protocol's names.
ALIASES: dict[str, str] = {
    "trh": "heading",
    "trxNo": "trx_no",
    "amountDiff": "amount_diff",
    "timeDiff": "time_diff",
    "isFraud": "is_fraud",
    "fraudType": "fraud_type",
}
#: Seconds per unit of ``timestamp``: maritime events are in seconds, card transactions in milliseconds.
TIME_UNIT_S: dict[Domain, float] = {d: 1.0 / d.ticks_per_second for d in Domain}


class StreamFormatError(ValueError):
    """A line of the stream file cannot become an event; the message names the file and line."""


@dataclass(frozen=True)
class FeedRecord:
    """One event ready to send: its event time, Kafka key and encoded value."""

    timestamp: int
    key: str
    value: str


@dataclass(frozen=True)
class LoadResult:
    """Records in file order, plus the gap markers (``timestamp == -1``) that were left out."""

    records: list[FeedRecord]
    gap_markers: int


@dataclass(frozen=True)
class FeedReport:
    """What happened to a replay: produced, acknowledged, failed, still pending after the flush."""

    produced: int
    delivered: int
    failed: int
    pending: int
    first_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.pending == 0 and self.delivered == self.produced


def row_to_event(domain: Domain, row: dict[str, Any]) -> Event:
    """The protocol event of ``domain`` for a parsed row (field aliases applied, empty cells dropped)."""
    fields = {ALIASES.get(k, k): v for k, v in row.items() if k and v not in ("", None)}
    model: type[Event] = MaritimeEvent if domain is Domain.MARITIME else CardTransaction
    return model.model_validate(fields)


def _looks_numeric(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def read_rows(path: Path, fmt: str, domain: Domain) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, row dict)``; CSV files may have a header line or use the positional columns."""
    with path.open(newline="", encoding="utf-8") as handle:
        if fmt == "jsonl":
            for lineno, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        yield lineno, json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise StreamFormatError(f"{path}:{lineno}: not JSON ({exc.msg})") from None
            return
        reader = csv.reader(handle)
        names: Sequence[str] | None = None
        for lineno, cells in enumerate(reader, start=1):
            cells = [c.strip() for c in cells]
            if not cells or cells == [""]:
                continue
            if names is None:
                if not _looks_numeric(cells[0]):
                    names = cells  # a header line
                    continue
                names = POSITIONAL_COLUMNS[domain]
            yield lineno, dict(zip(names, cells, strict=False))


def load_records(path: Path, *, fmt: str = "csv", domain: Domain = Domain.MARITIME) -> LoadResult:
    """Parse and encode every event of ``path`` (file order); a bad line raises :class:`StreamFormatError`."""
    records: list[FeedRecord] = []
    gaps = 0
    for lineno, row in read_rows(path, fmt, domain):
        if str(row.get("timestamp", "")).strip() == "-1":
            gaps += 1  # Wayeb's gap marker; not an event (the protocol requires timestamp >= 0)
            continue
        try:
            event = row_to_event(domain, row)
        except ValueError as exc:
            first = str(exc).splitlines()
            detail = " ".join(first[:3]) if first else type(exc).__name__
            raise StreamFormatError(f"{path}:{lineno}: {detail}") from None
        records.append(FeedRecord(timestamp=event.timestamp, key=event.key(), value=encode(event)))
    return LoadResult(records=records, gap_markers=gaps)


def order_by_event_time(records: Iterable[FeedRecord]) -> list[FeedRecord]:
    """Stable sort by event time: ties keep their file order, keys never decide the order."""
    return sorted(records, key=lambda r: r.timestamp)


def pacing_offsets(timestamps: Sequence[int], speedup: float | None, unit_s: float = 1.0) -> list[float]:
    """Wall-clock seconds after the start at which each event is due: ``(t_i - t_0) * unit_s / speedup``.

    ``speedup`` None (fast mode) makes every event due at once. Timestamps must already be in order.
    """
    if not timestamps:
        return []
    if speedup is None:
        return [0.0] * len(timestamps)
    if speedup <= 0:
        raise ValueError("speedup must be positive")
    t0 = timestamps[0]
    return [(t - t0) * unit_s / speedup for t in timestamps]


def _produce(producer: ProducerLike, topic: str, record: FeedRecord, tally: DeliveryTally) -> None:
    """Produce one record; when the local queue is full, serve delivery reports and retry."""
    while True:
        try:
            producer.produce(topic, value=record.value, key=record.key, on_delivery=tally.on_delivery)
            return
        except BufferError:
            producer.poll(0.5)


def feed(
    records: Sequence[FeedRecord],
    producer: ProducerLike,
    topic: str,
    *,
    offsets: Sequence[float] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[int], object] | None = None,
    flush_timeout_s: float = 60.0,
) -> FeedReport:
    """Send ``records`` in the given order, each once, honouring ``offsets`` (from :func:`pacing_offsets`)."""
    tally = DeliveryTally()
    start = clock()
    for i, record in enumerate(records):
        if offsets is not None:
            wait = start + offsets[i] - clock()
            if wait > 0:
                sleep(wait)
        _produce(producer, topic, record, tally)
        producer.poll(0)
        if progress is not None:
            progress(1)
    pending = producer.flush(flush_timeout_s)
    return FeedReport(
        produced=len(records),
        delivered=tally.delivered,
        failed=tally.failed,
        pending=pending,
        first_error=tally.first_error,
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``rtcef-feed`` parser (also ``python -m mocks.data_feeder``); every option is kebab-case."""
    p = argparse.ArgumentParser(prog="rtcef-feed", description=__doc__.splitlines()[0])
    p.add_argument(
        "--stream", type=Path, required=True, help="CSV (with or without header) or JSON-lines file"
    )
    p.add_argument("--format", choices=("csv", "jsonl"), default=None, help="file format (default: suffix)")
    p.add_argument("--domain", choices=[d.value for d in Domain], default=None,
                   help="stream domain (default: DOMAIN setting)")  # fmt: skip
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--speedup", type=float, default=None, help="replay at X times event-time speed")
    pace.add_argument("--fast", action="store_true", help="send as fast as possible (the default)")
    p.add_argument("--limit", type=int, default=None, help="send only the first N events in event-time order")
    p.add_argument(
        "--bootstrap", default=None, help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS)"
    )
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the broker to answer")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the process exit status (0 only if every event was acknowledged)."""
    args = build_parser().parse_args(argv)
    if args.speedup is not None and args.speedup <= 0:
        print("error: --speedup must be positive", file=sys.stderr)
        return 2
    overrides: dict[str, object] = {}
    if args.bootstrap:
        overrides["kafka_bootstrap_servers"] = args.bootstrap
    if args.domain:
        overrides["domain"] = args.domain
    try:
        settings = load_settings(**overrides)
        fmt = args.format or ("jsonl" if args.stream.suffix in (".jsonl", ".json", ".ndjson") else "csv")
        loaded = load_records(args.stream, fmt=fmt, domain=settings.domain)
    except (SettingsError, StreamFormatError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    records = order_by_event_time(loaded.records)[: args.limit]
    offsets = pacing_offsets([r.timestamp for r in records], args.speedup, TIME_UNIT_S[settings.domain])
    bootstrap, topic = settings.kafka_bootstrap_servers, settings.input_topic
    producer = make_producer(bootstrap)
    try:
        ensure_reachable(producer, bootstrap, args.timeout, topic)
    except BrokerUnreachable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    bar = tqdm(total=len(records), unit="ev", file=sys.stderr, disable=args.quiet, desc=topic)
    try:
        report = feed(records, producer, topic, offsets=offsets, progress=bar.update)
    finally:
        bar.close()
    summary = (
        f"{report.delivered}/{report.produced} events acknowledged on {topic!r} at {bootstrap} "
        f"({loaded.gap_markers} gap markers skipped)"
    )
    if not report.ok:
        reason = report.first_error or f"{report.pending} still pending after flush"
        print(f"error: {summary}; {report.failed} failed: {reason}", file=sys.stderr)
        return 1
    print(summary, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
