"""The scale benchmark's counts: every forecast read and packed, compared with the stream; bucket rows.

Part of ``bench_scale.py`` (see its docstring).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path

import numpy as np
from confluent_kafka import Consumer, TopicPartition
from scale_stream import pack

# ------------------------------------------------------------------------------------------- forecasts


class ForecastCounter:
    """Reads every forecast of a topic in a thread and keeps its packed (key, timestamp) in int64 chunks.

    The pair is cut out of the JSON text with one regular expression over a whole batch (``json.loads`` per
    record only when a batch does not match record for record), so 5 M forecasts cost the benchmark
    process a few CPU seconds.
    """

    PAIR = re.compile(rb'"key":"(\d{1,9})","timestamp":(\d+)')

    def __init__(self, bootstrap: str, topic: str, partitions: int, t0: int) -> None:
        self.t0 = t0
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": f"bench-scale-{os.getpid()}-{time.time_ns()}",
            "enable.auto.commit": False, "fetch.wait.max.ms": 50, "log_level": 0,
            "isolation.level": "read_committed",
        })  # fmt: skip
        self.consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        self.chunks: list[np.ndarray] = []
        self.count = 0
        self.unparsed = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="forecasts", daemon=True)
        self._thread.start()

    def _pairs(self, values: list[bytes]) -> list[tuple[bytes, bytes]]:
        found = self.PAIR.findall(b"\n".join(values))
        if len(found) == len(values):
            return found
        pairs = []
        for value in values:
            try:
                record = json.loads(value)
                pairs.append((str(int(record["key"])).encode(), str(int(record["timestamp"])).encode()))
            except (ValueError, KeyError, TypeError):
                self.unparsed += 1
        return pairs

    def _run(self) -> None:
        while not self._stop.is_set():
            messages = self.consumer.consume(num_messages=20_000, timeout=0.2)
            values = [v for m in messages if m.error() is None and (v := m.value()) is not None]
            if not values:
                continue
            now = time.time()
            pairs = self._pairs(values)
            keys = np.fromiter((int(k) for k, _ in pairs), dtype=np.int64, count=len(pairs))
            stamps = np.fromiter((int(t) for _, t in pairs), dtype=np.int64, count=len(pairs))
            with self._lock:
                self.chunks.append(pack(keys, stamps, self.t0))
                self.count += len(pairs)
                self.first_at = self.first_at or now
                self.last_at = now

    def packed(self) -> np.ndarray:
        """Every pair read so far (one array)."""
        with self._lock:
            self.chunks = [np.concatenate(self.chunks)] if self.chunks else []
            return self.chunks[0].copy() if self.chunks else np.empty(0, dtype=np.int64)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.consumer.close()


def exactly_once(expected: np.ndarray, got: np.ndarray) -> dict[str, int]:
    """Compare two multisets of packed pairs: events forecast exactly once, lost, duplicated, unexpected."""
    want, want_n = np.unique(expected, return_counts=True)
    have, have_n = np.unique(got, return_counts=True)
    index = np.clip(np.searchsorted(have, want), 0, max(len(have) - 1, 0))
    found = (have[index] == want) if len(have) else np.zeros(len(want), dtype=bool)
    matched = np.where(found, have_n[index] if len(have) else 0, 0)
    return {
        "events": int(len(expected)),
        "input_duplicate_pairs": int(len(expected) - len(want)),
        "forecasts": int(len(got)),
        "exactly_once": int(np.sum(want_n[matched == want_n])),
        "lost": int(np.sum(np.maximum(want_n - matched, 0))),
        "duplicated": int(np.sum(np.maximum(matched - want_n, 0))),
        "unexpected": int(len(got) - np.sum(matched)),
    }


# --------------------------------------------------------------------------------------------- buckets


class BucketTracker:
    """Rows the collector wrote per bucket file, from incremental line counts of the bucket folder.

    Keyed by the file name without the trash suffix, so a closed bucket renamed to ``*.csv.deleted`` keeps
    its count, and a purged one keeps the rows it had when it was last seen (closed buckets get no more
    rows). The count of a file only grows, except when it shrank (a restore truncates the rows written
    after the checkpoint): then it is counted again from the top and the truncation is reported.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.offset: dict[str, int] = {}
        self.newlines: dict[str, int] = {}
        self.rows: dict[str, int] = {}
        self.truncations: list[str] = []
        self.trashed: set[str] = set()  # seen renamed to *.csv.deleted by retention
        self.gone: set[str] = set()  # seen once, no longer on disk (purged)
        self.peak_files = 0
        self.peak_bytes = 0

    @staticmethod
    def _name(path: Path) -> str:
        return path.name.removesuffix(".deleted")

    def sample(self) -> int:
        """Read what was appended since the last sample; return the rows written so far."""
        files = [p for p in self.folder.glob("*.csv*") if p.name.endswith((".csv", ".csv.deleted"))]
        on_disk = 0
        self.gone = set(self.rows) - {self._name(path) for path in files}
        for path in files:
            name = self._name(path)
            if path.name.endswith(".deleted"):
                self.trashed.add(name)
            try:
                with path.open("rb") as handle:
                    size = os.fstat(handle.fileno()).st_size
                    on_disk += size
                    start = self.offset.get(name, 0)
                    if size < start:  # truncated by a restore: count again from the top
                        self.truncations.append(f"{name}: {start} -> {size} bytes")
                        start, self.newlines[name] = 0, 0
                    handle.seek(start)
                    data = handle.read(size - start)
            except FileNotFoundError:  # purged (or renamed) between the listing and the read
                continue
            complete = data.rfind(b"\n") + 1  # a row being written counts once its newline is there
            self.offset[name] = start + complete
            self.newlines[name] = self.newlines.get(name, 0) + data.count(b"\n", 0, complete)
            self.rows[name] = max(self.newlines[name] - 1, 0)  # minus the header
        self.peak_files = max(self.peak_files, len(files))
        self.peak_bytes = max(self.peak_bytes, on_disk)
        return self.total

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    @property
    def written_bytes(self) -> int:
        """Bytes of every bucket file ever seen (complete rows), deleted ones included."""
        return sum(self.offset.values())
