"""The scale benchmark's stream: generated, checked, packed into (vessel, time) numbers and fed to Kafka.

Part of ``bench_scale.py`` (see its docstring); nothing here talks to Flink.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from bench_common import bench_producer, send_paced

from mocks.data_feeder import row_to_event
from protocol import Domain, encode
from protocol.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CSV_COLUMNS = ("timestamp", "mmsi", "lon", "lat", "speed", "heading", "cog")
VALUE_TEMPLATE = '{"timestamp":%s,"mmsi":"%s","lon":%s,"lat":%s,"speed":%s,"heading":%s,"cog":%s}'
"""A stream line as the feeder encodes it (``encode(MaritimeEvent)``; checked on a sample before feeding)."""




@dataclass
class Stream:
    """The generated stream: its file, events, time span and the sorted packed (mmsi, timestamp) pairs."""

    path: Path
    events: int
    t0: int
    t_last: int
    vessels: int
    packed: np.ndarray = field(repr=False)


def pack(mmsi: np.ndarray, timestamp: np.ndarray, t0: int) -> np.ndarray:
    """``mmsi * 2**32 + (timestamp - t0)`` as int64: one number per (vessel, event time) pair.

    MMSIs have 9 digits (< 2**30) and a stream spans far less than 2**32 seconds, so the packing is exact.
    """
    return (mmsi.astype(np.int64) << np.int64(32)) + (timestamp.astype(np.int64) - np.int64(t0))


def generate(tmp: Path, args: argparse.Namespace) -> Stream:
    """Write the synthetic stream to ``tmp/stream.csv`` and read back its (mmsi, timestamp) pairs."""
    path = tmp / "stream.csv"
    command = [sys.executable, "-m", "mocks.synthetic", "--out", str(path), "--vessels", str(args.vessels),
               "--weeks", str(args.weeks), "--compress", str(args.compress),
               "--seed", str(args.seed)]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"mocks.synthetic failed:\n{result.stderr[-2000:]}")
    frame = pd.read_csv(path, usecols=["timestamp", "mmsi"], dtype={"timestamp": np.int64, "mmsi": np.int64})
    stamps = frame["timestamp"].to_numpy()
    if len(stamps) > 1 and bool(np.any(np.diff(stamps) < 0)):
        raise RuntimeError(f"{path} is not in event-time order; the feed sends it in file order")
    t0 = int(stamps[0])
    packed = np.sort(pack(frame["mmsi"].to_numpy(), stamps, t0))
    return Stream(path, len(frame), t0, int(stamps[-1]), int(frame["mmsi"].nunique()), packed)


def stream_values(path: Path) -> Iterator[tuple[str, str]]:
    """(key, value) of every line of the stream, in file order (= event-time order), without a parser."""
    with path.open(encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
        if tuple(header) != CSV_COLUMNS:
            raise RuntimeError(f"{path}: unexpected columns {header}")
        for line in handle:
            cells = line.rstrip("\n").split(",")
            yield cells[1], VALUE_TEMPLATE % tuple(cells)


def check_encoding(path: Path, every: int) -> int:
    """Compare every ``every``-th line's fast-built value with the feeder's (``row_to_event`` + ``encode``
    of the CSV cells); return the lines checked. A mismatch stops the run before anything is sent."""
    checked = 0
    with path.open(encoding="utf-8") as handle:
        handle.readline()
        for line in itertools.islice(handle, 0, None, every):
            cells = line.rstrip("\n").split(",")
            event = row_to_event(Domain.MARITIME, dict(zip(CSV_COLUMNS, cells, strict=True)))
            value = VALUE_TEMPLATE % tuple(cells)
            if encode(event) != value or event.key() != cells[1]:
                raise RuntimeError(f"fast encoding {value!r} differs from the feeder's {encode(event)!r}")
            checked += 1
    return checked


def bootstrap_model(stream: Path, env: dict[str, str], weeks: float, steps: int) -> float:
    """Train and register the bootstrap model in the run's DATA_DIR; return the seconds it took."""
    started = time.perf_counter()
    command = [sys.executable, "-m", "inference_job.bootstrap", "--stream", str(stream),
               "--weeks", str(weeks), "--optimise-steps", str(steps)]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"inference_job.bootstrap failed:\n{result.stderr[-2000:]}")
    return time.perf_counter() - started


class Feeder(threading.Thread):
    """Produces the stream to the input topic as fast as the broker takes it (bench_common.send_paced)."""

    def __init__(self, stream: Stream, settings: Settings) -> None:
        super().__init__(name="feeder", daemon=True)
        self.stream = stream
        self.settings = settings
        self.sent = 0
        self.started_at = 0.0
        self.finished_at: float | None = None
        self.error: str | None = None

    def run(self) -> None:
        producer = bench_producer(self.settings.kafka_bootstrap_servers, linger_ms=20)
        values = stream_values(self.stream.path)

        def make(_i: int) -> tuple[str, str]:
            self.sent += 1
            return next(values)

        try:
            topic = self.settings.input_topic
            self.started_at, _last = send_paced(producer, topic, self.stream.events, None, make)
            left = producer.flush(600)
            if left:
                self.error = f"{left} records still undelivered after the flush"
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            self.error = f"{type(exc).__name__}: {exc}"
        self.finished_at = time.time()
