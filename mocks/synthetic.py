"""Seeded generator of AIS traffic around a fictional port, with concept drift at chosen weeks.

Why: the real Brest file holds one vessel, far too little to exercise per-vessel keying, weekly buckets
and the retrain/optimise loop. This generator produces weeks of many vessels whose behaviour around the
port changes at a known week, so that a model trained on the first weeks forecasts port entries worse
after the drift and a model retrained on recent weeks recovers.

What it simulates (local east/north frame in km around :data:`mocks.geo.PORT_VIREO`):

* ``enter``: a vessel comes in along the approach corridor, slows down, sometimes waits outside, enters
  the port circle, stays visible at its berth for a while, then switches its transponder off;
* ``depart``: a vessel in port leaves along the corridor and fades out of range;
* ``pass``: a transit on a straight line that passes the port at some closest distance;
* ``anchor``: a vessel anchors outside the port for hours, then leaves;
* ``near_miss``: a vessel heads for the port like an arrival, turns away short of it and leaves.

Positions are reported every ``interval_s`` seconds only while a vessel is on a trip, with GPS noise;
between trips it is out of range. Each trip follows the :class:`Regime` in force at its start week; the
regime flips between the baseline and the drifted one at every ``drift_weeks`` entry. The port pattern
only sees distances, so the drift aspects that change what a model sees are ``speed``, ``linger`` and
``traffic``; ``bearing`` (arrivals come from another side) is there for realism and for map views.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from mocks.geo import KM_PER_KNOT_SECOND, PORT_VIREO, Port, course_deg, to_lonlat, unit
from mocks.stream_stats import ring_entry_rate, weekly_summary
from protocol.settings import WEEK_SECONDS

WEEK_S = WEEK_SECONDS
COLUMNS = ("timestamp", "mmsi", "lon", "lat", "speed", "heading", "cog")
DRIFT_ASPECTS = frozenset({"bearing", "speed", "linger", "traffic"})
TRIP_KINDS = ("enter", "pass", "anchor", "near_miss")
RANGE_KM = 25.0  # vessels are "in range" (report) up to about this distance from the port

Span = tuple[float, float]


@dataclass(frozen=True)
class Regime:
    """How traffic behaves around the port during one period; spans are uniform (low, high) ranges."""

    name: str
    approach_bearing_deg: float  # side of the port the arrivals and departures use
    bearing_spread_deg: float
    cruise_kn: Span
    approach_kn: Span  # from ``slow_from_km`` down to the port circle
    harbour_kn: Span  # inside the port
    slow_from_km: float
    linger_prob: float  # chance that an arrival waits outside before entering
    linger_km: Span
    linger_hours: Span
    pass_cpa_km: Span  # closest distance of transits
    turn_km: Span  # where near misses turn away
    anchor_km: Span
    anchor_hours: Span
    mix: tuple[float, float, float, float]  # weights of TRIP_KINDS for a vessel at sea


BASELINE = Regime(
    name="baseline", approach_bearing_deg=235.0, bearing_spread_deg=20.0,
    cruise_kn=(12.0, 16.0), approach_kn=(8.0, 11.0), harbour_kn=(4.0, 6.0), slow_from_km=10.0,
    linger_prob=0.1, linger_km=(7.5, 9.5), linger_hours=(0.5, 1.5),
    pass_cpa_km=(10.0, 18.0), turn_km=(8.0, 10.0), anchor_km=(11.0, 14.0), anchor_hours=(1.0, 3.0),
    mix=(0.5, 0.25, 0.1, 0.15),
)  # fmt: skip
"""Arrivals from the south-west, steady approach, transits and anchorage well clear of the port."""

DRIFTED = Regime(
    name="drifted", approach_bearing_deg=20.0, bearing_spread_deg=20.0,
    cruise_kn=(10.0, 14.0), approach_kn=(5.0, 7.0), harbour_kn=(3.0, 4.5), slow_from_km=14.0,
    linger_prob=0.6, linger_km=(6.1, 6.9), linger_hours=(1.0, 3.0),
    pass_cpa_km=(5.5, 8.0), turn_km=(5.3, 6.5), anchor_km=(7.0, 9.0), anchor_hours=(1.0, 3.0),
    mix=(0.5, 0.25, 0.1, 0.15),
)  # fmt: skip
"""Arrivals from the north-north-east, slower, most wait 6-7 km out before the final approach; a new
transit lane, the anchorage and near misses crowd the 5-9 km band, so being close to the port no longer
means being about to enter, and the runs of positions that do precede an entry look different."""


_ASPECT_FIELDS = {
    "bearing": ("approach_bearing_deg",),
    "speed": ("cruise_kn", "approach_kn", "harbour_kn", "slow_from_km"),
    "linger": ("linger_prob", "linger_km", "linger_hours"),
    "traffic": ("pass_cpa_km", "turn_km", "anchor_km"),
}


def drifted_regime(aspects: frozenset[str] = DRIFT_ASPECTS) -> Regime:
    """The baseline with the fields of the chosen drift ``aspects`` taken from :data:`DRIFTED`."""
    unknown = aspects - DRIFT_ASPECTS
    if unknown:
        raise ValueError(f"unknown drift aspect(s) {sorted(unknown)}; choose from {sorted(DRIFT_ASPECTS)}")
    changes = {f: getattr(DRIFTED, f) for a in aspects for f in _ASPECT_FIELDS[a]}
    return replace(BASELINE, name="drifted", **changes)


@dataclass(frozen=True)
class SyntheticConfig:
    """Everything that shapes a generated stream; equal configs give byte-identical output."""

    weeks: int = 8
    vessels: int = 30
    seed: int = 7
    interval_s: int = 60
    start: int = 1_704_067_200  # 2024-01-01T00:00:00Z, a Monday
    drift_weeks: tuple[int, ...] = (4,)
    drift_aspects: frozenset[str] = DRIFT_ASPECTS
    compress: float = 1.0  # idle gaps between trips are multiplied by this: fewer events per week
    port: Port = PORT_VIREO
    gps_noise_m: float = 12.0
    sea_gap_hours: float = 18.0  # mean time out of range between two trips at sea
    berth_hours: Span = (6.0, 30.0)  # time at berth (transponder off) between arrival and departure
    initially_in_port: float = 0.3

    def __post_init__(self) -> None:
        if self.weeks < 1 or self.vessels < 1 or self.interval_s < 1:
            raise ValueError("weeks, vessels and interval_s must be positive")
        if self.compress < 1.0:
            raise ValueError("compress must be >= 1 (1 = no compression)")
        drifted_regime(self.drift_aspects)  # validates the aspect names

    @property
    def end(self) -> int:
        return self.start + self.weeks * WEEK_S

    def regime_at(self, t: float) -> Regime:
        """Baseline before the first drift week, then alternating at each listed drift week."""
        week = int((t - self.start) // WEEK_S)
        flips = sum(1 for w in self.drift_weeks if week >= w)
        return drifted_regime(self.drift_aspects) if flips % 2 else BASELINE

    @property
    def drift_times(self) -> list[int]:
        return [self.start + w * WEEK_S for w in sorted(self.drift_weeks) if 0 < w < self.weeks]


@dataclass
class SyntheticStream:
    """A generated stream: ``frame`` has :data:`COLUMNS` sorted by timestamp; ``trips`` logs every trip."""

    frame: pd.DataFrame
    trips: pd.DataFrame
    config: SyntheticConfig = field(repr=False)


class _Track:
    """A trip as timed knots joined by straight constant-speed legs (or holds at one point)."""

    def __init__(self, t: float, xy: np.ndarray) -> None:
        self.t, self.x, self.y = [float(t)], [float(xy[0])], [float(xy[1])]
        self.kn: list[float] = []
        self.moving: list[bool] = []

    @property
    def now(self) -> float:
        return self.t[-1]

    def move_to(self, xy: np.ndarray, kn: float) -> None:
        dist = float(np.hypot(xy[0] - self.x[-1], xy[1] - self.y[-1]))
        self.t.append(self.now + max(dist / (kn * KM_PER_KNOT_SECOND), 1.0))
        self.x.append(float(xy[0]))
        self.y.append(float(xy[1]))
        self.kn.append(kn)
        self.moving.append(True)

    def hold(self, seconds: float) -> None:
        self.t.append(self.now + seconds)
        self.x.append(self.x[-1])
        self.y.append(self.y[-1])
        self.kn.append(0.0)
        self.moving.append(False)

    def sample(self, phase: int, dt: int, rng: np.random.Generator, noise_km: float) -> dict[str, np.ndarray]:
        """Positions every ``dt`` s on the vessel's clock grid (offset ``phase``), with sensor noise."""
        knots_t = np.array(self.t)
        first = int(np.ceil((knots_t[0] - phase) / dt)) * dt + phase
        ts = np.arange(first, knots_t[-1], dt, dtype=np.int64)
        n = len(ts)
        x = np.interp(ts, knots_t, self.x)
        y = np.interp(ts, knots_t, self.y)
        seg = np.clip(np.searchsorted(knots_t, ts, side="right") - 1, 0, len(self.kn) - 1)
        moving = np.array(self.moving)[seg]
        leg_course = course_deg(np.diff(self.x), np.diff(self.y))
        for i in range(1, len(leg_course)):  # a hold keeps the course the vessel had when it stopped
            if not self.moving[i]:
                leg_course[i] = leg_course[i - 1]
        course = leg_course[seg]
        speed = np.where(moving, np.array(self.kn)[seg] * (1 + rng.normal(0, 0.05, n)), 0)
        speed = np.abs(speed + np.where(moving, 0, rng.normal(0, 0.15, n)))
        cog = np.where(moving, course + rng.normal(0, 2.0, n), rng.uniform(0, 360, n)) % 360
        heading = (course + rng.normal(0, np.where(moving, 3.0, 8.0))) % 360
        sigma = noise_km * np.where(moving, 1.0, 1.5)
        return {
            "timestamp": ts,
            "x": x + rng.normal(0, 1, n) * sigma,
            "y": y + rng.normal(0, 1, n) * sigma,
            "speed": speed,
            "heading": heading,
            "cog": cog,
        }


def _u(rng: np.random.Generator, span: Span) -> float:
    return float(rng.uniform(*span))


def _corridor(rng: np.random.Generator, r: Regime) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors along (outwards) and across one instance of the regime's approach corridor."""
    b = r.approach_bearing_deg + rng.normal(0, r.bearing_spread_deg)
    return unit(b), unit(b + 90)


def _enter(t: float, rng: np.random.Generator, r: Regime, port: Port) -> _Track:
    out, across = _corridor(rng, r)
    tr = _Track(t, out * rng.uniform(RANGE_KM - 3, RANGE_KM + 5) + across * rng.normal(0, 1.5))
    tr.move_to(out * r.slow_from_km + across * rng.normal(0, 0.5), _u(rng, r.cruise_kn))
    if rng.random() < r.linger_prob:
        tr.move_to(out * _u(rng, r.linger_km) + across * rng.normal(0, 0.4), _u(rng, r.approach_kn))
        tr.hold(_u(rng, r.linger_hours) * 3600)
    tr.move_to(out * (port.radius_km - 0.8) + across * rng.normal(0, 0.3), _u(rng, r.approach_kn))
    tr.move_to(unit(rng.uniform(0, 360)) * rng.uniform(0.3, 2.5), _u(rng, r.harbour_kn))
    tr.hold(rng.uniform(15, 45) * 60)  # visible at the berth, then the transponder goes off
    return tr


def _depart(t: float, rng: np.random.Generator, r: Regime, port: Port) -> _Track:
    out, across = _corridor(rng, r)
    tr = _Track(t, unit(rng.uniform(0, 360)) * rng.uniform(0.3, 2.5))
    tr.hold(rng.uniform(10, 30) * 60)
    tr.move_to(out * (port.radius_km - 0.8) + across * rng.normal(0, 0.3), _u(rng, r.harbour_kn))
    tr.move_to(out * r.slow_from_km + across * rng.normal(0, 0.5), _u(rng, r.approach_kn))
    tr.move_to(out * RANGE_KM + across * rng.normal(0, 1.5), _u(rng, r.cruise_kn))
    return tr


def _pass(t: float, rng: np.random.Generator, r: Regime, port: Port) -> _Track:
    side = rng.uniform(0, 360)
    cpa = unit(side) * _u(rng, r.pass_cpa_km)
    along = unit(side + rng.choice([-90.0, 90.0]))
    half = float(np.sqrt(max(RANGE_KM**2 - float(cpa @ cpa), 25.0)))
    tr = _Track(t, cpa - along * half)
    tr.move_to(cpa + along * half, _u(rng, r.cruise_kn))
    return tr


def _anchor(t: float, rng: np.random.Generator, r: Regime, port: Port) -> _Track:
    side = unit(r.approach_bearing_deg + rng.normal(0, 35))
    tr = _Track(t, side * RANGE_KM + unit(rng.uniform(0, 360)) * rng.uniform(0, 2.0))
    spot = _u(rng, r.anchor_km)
    if spot < r.slow_from_km:
        tr.move_to(side * r.slow_from_km, _u(rng, r.cruise_kn))
    tr.move_to(side * spot + unit(rng.uniform(0, 360)) * rng.uniform(0, 0.3), _u(rng, r.approach_kn))
    tr.hold(_u(rng, r.anchor_hours) * 3600)
    # leave on a course within 80 degrees of straight out: the distance to the port only grows
    here = np.array([tr.x[-1], tr.y[-1]])
    outward = float(course_deg(here[0], here[1]))
    heading_out = outward + rng.uniform(-80, 80)
    tr.move_to(here + unit(heading_out) * RANGE_KM, _u(rng, r.cruise_kn))
    return tr


def _near_miss(t: float, rng: np.random.Generator, r: Regime, port: Port) -> _Track:
    out, across = _corridor(rng, r)
    tr = _Track(t, out * rng.uniform(RANGE_KM - 3, RANGE_KM + 5) + across * rng.normal(0, 1.5))
    tr.move_to(out * r.slow_from_km + across * rng.normal(0, 0.5), _u(rng, r.cruise_kn))
    turn = out * _u(rng, r.turn_km) + across * rng.normal(0, 0.4)
    tr.move_to(turn, _u(rng, r.approach_kn))
    away = float(np.degrees(np.arctan2(out[0], out[1]))) + rng.choice([-1, 1]) * rng.uniform(40, 90)
    tr.move_to(turn + unit(away) * RANGE_KM, _u(rng, r.cruise_kn))
    return tr


_BUILDERS: dict[str, Callable[[float, np.random.Generator, Regime, Port], _Track]] = {
    "enter": _enter, "depart": _depart, "pass": _pass, "anchor": _anchor, "near_miss": _near_miss,
}  # fmt: skip


def _vessel(cfg: SyntheticConfig, rng: np.random.Generator, mmsi: str) -> tuple[list[dict], list[tuple]]:
    """All trips of one vessel: sampled rows (dicts of arrays) and trip log entries."""
    rows: list[dict] = []
    log: list[tuple] = []
    phase = int(rng.integers(0, cfg.interval_s))
    in_port = rng.random() < cfg.initially_in_port
    t = cfg.start + rng.uniform(0, 12 * 3600)
    while t < cfg.end:
        regime = cfg.regime_at(t)
        kind = "depart" if in_port else str(rng.choice(TRIP_KINDS, p=np.array(regime.mix) / sum(regime.mix)))
        track = _BUILDERS[kind](t, rng, regime, cfg.port)
        sample = track.sample(phase, cfg.interval_s, rng, cfg.gps_noise_m / 1000.0)
        keep = sample["timestamp"] < cfg.end
        if keep.any():
            rows.append({k: v[keep] for k, v in sample.items()})
            log.append((mmsi, kind, regime.name, int(sample["timestamp"][keep][0]), int(track.now)))
        in_port = kind == "enter"
        gap_h = _u(rng, cfg.berth_hours) if in_port else 0.5 + rng.exponential(cfg.sea_gap_hours)
        t = track.now + gap_h * 3600 * cfg.compress
    return rows, log


def generate(cfg: SyntheticConfig) -> SyntheticStream:
    """Generate the stream of ``cfg``: deterministic for a given config (seeded per vessel)."""
    root = np.random.SeedSequence(cfg.seed)
    id_rng = np.random.default_rng(root.spawn(1)[0])
    mids = id_rng.choice([227, 228, 224, 255, 636, 538, 229, 244], size=cfg.vessels)
    serials = id_rng.choice(900_000, size=cfg.vessels, replace=False) + 100_000
    mmsis = [f"{m}{s:06d}" for m, s in zip(mids, serials, strict=True)]
    parts: list[dict] = []
    owners: list[np.ndarray] = []
    log: list[tuple] = []
    for i, seq in enumerate(root.spawn(cfg.vessels + 1)[1:]):
        rows, trips = _vessel(cfg, np.random.default_rng(seq), mmsis[i])
        parts.extend(rows)
        owners.extend(np.full(len(r["timestamp"]), i, dtype=np.int64) for r in rows)
        log.extend(trips)
    cat = {k: np.concatenate([p[k] for p in parts]) if parts else np.empty(0) for k in
           ("timestamp", "x", "y", "speed", "heading", "cog")}  # fmt: skip
    owner = np.concatenate(owners) if owners else np.empty(0, dtype=np.int64)
    order = np.lexsort((owner, cat["timestamp"]))
    lon, lat = to_lonlat(cfg.port, cat["x"][order], cat["y"][order])
    frame = pd.DataFrame({
        "timestamp": cat["timestamp"][order].astype(np.int64),
        "mmsi": np.array(mmsis, dtype=object)[owner[order]] if len(owner) else np.empty(0, dtype=object),
        "lon": np.round(lon, 6), "lat": np.round(lat, 6),
        "speed": np.round(cat["speed"][order], 2),
        "heading": np.round(cat["heading"][order], 1), "cog": np.round(cat["cog"][order], 1),
    })  # fmt: skip
    trips = pd.DataFrame(log, columns=["mmsi", "kind", "regime", "start", "end"])
    return SyntheticStream(
        frame=frame, trips=trips.sort_values(["start", "mmsi"], ignore_index=True), config=cfg
    )


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """CSV with a header line, the column order of :data:`COLUMNS`."""
    frame.loc[:, list(COLUMNS)].to_csv(path, index=False)


def write_jsonl(frame: pd.DataFrame, path: Path) -> None:
    """One JSON object per line with the MaritimeEvent field names."""
    frame.loc[:, list(COLUMNS)].to_json(path, orient="records", lines=True)


def describe(stream: SyntheticStream) -> str:
    """A human summary: totals, the weekly table and the ring entry rate before/after each drift."""
    cfg, frame = stream.config, stream.frame
    lines = [
        f"{len(frame)} rows, {frame['mmsi'].nunique()} vessels, {len(stream.trips)} trips, "
        f"port {cfg.port.name} ({cfg.port.lon}, {cfg.port.lat}) r={cfg.port.radius_km} km, "
        f"drift weeks {list(cfg.drift_weeks)} aspects {sorted(cfg.drift_aspects)}",
        weekly_summary(frame, cfg.port, cfg.start).to_string(index=False),
    ]
    bounds = [cfg.start, *cfg.drift_times, cfg.end]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        part = frame[(frame["timestamp"] >= lo) & (frame["timestamp"] < hi)]
        rates = {ring: ring_entry_rate(part, cfg.port, ring_km=ring) for ring in (1.0, 2.0)}
        lines.append(
            f"weeks {(lo - cfg.start) // WEEK_S}-{(hi - cfg.start) // WEEK_S - 1} "
            f"({cfg.regime_at(lo).name}): "
            "P(entry within 5 positions | just outside the circle): "
            + ", ".join(f"{k:.0f} km band {r.rate:.3f} ({r.hits}/{r.total})" for k, r in rates.items())
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The ``rtcef-synthetic`` parser (also ``python -m mocks.synthetic``); every option is kebab-case."""
    p = argparse.ArgumentParser(prog="rtcef-synthetic", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="CSV file to write (with a header line)")
    p.add_argument("--jsonl", type=Path, default=None, help="also write the stream as JSON lines here")
    p.add_argument("--weeks", type=int, default=8, help="weeks of traffic (default: %(default)s)")
    p.add_argument("--vessels", type=int, default=30, help="number of vessels (default: %(default)s)")
    p.add_argument("--seed", type=int, default=7, help="random seed: one seed, one stream (default: 7)")
    p.add_argument("--interval", type=int, default=60, help="seconds between two positions of a vessel")
    p.add_argument("--start", type=int, default=SyntheticConfig.start, help="epoch seconds of week 0")
    p.add_argument("--drift-week", type=int, action="append", default=None,
                   help="week index where the regime flips (repeatable; default 4)")  # fmt: skip
    p.add_argument("--no-drift", action="store_true", help="baseline behaviour for the whole stream")
    p.add_argument("--drift-aspects", default=",".join(sorted(DRIFT_ASPECTS)),
                   help=f"comma list of what drifts, from {sorted(DRIFT_ASPECTS)}")  # fmt: skip
    p.add_argument("--compress", type=float, default=1.0, help="divide the trips per week by about this")
    p.add_argument("--gps-noise-m", type=float, default=12.0,
                   help="GPS noise sigma in metres (1.5 times this when not moving)")  # fmt: skip
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: generate a stream, write it, print per-week statistics on stderr."""
    p = build_parser()
    args = p.parse_args(argv)
    drift = () if args.no_drift else tuple(args.drift_week or (4,))
    try:
        cfg = SyntheticConfig(
            weeks=args.weeks, vessels=args.vessels, seed=args.seed, interval_s=args.interval,
            start=args.start, drift_weeks=drift, compress=args.compress, gps_noise_m=args.gps_noise_m,
            drift_aspects=frozenset(a.strip() for a in args.drift_aspects.split(",") if a.strip()),
        )  # fmt: skip
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stream = generate(cfg)
    write_csv(stream.frame, args.out)
    if args.jsonl:
        write_jsonl(stream.frame, args.jsonl)
    print(describe(stream), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
