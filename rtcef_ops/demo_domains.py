"""What the demo needs to know about each domain: generator, partition key, time unit, pattern, defaults.

Why a module: ``make demo`` runs the same closed loop on the synthetic AIS stream (epoch seconds, one run
per vessel, ``mmsi``) and on the synthetic card stream (epoch milliseconds, one run per card, ``pan``).
Everything that differs between the two lives here, so the demo's steps, its weekly table and its static
baseline are written once. Stream time is always in the domain's unit (``Domain.ticks_per_second``); the
helpers below are the only places where the demo converts it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from protocol.settings import WEEK_SECONDS, Domain

__all__ = ["PROFILES", "DemoDomain", "stream_time_text", "week_of"]

PATTERNS_DIR = Path(__file__).resolve().parents[1] / "patterns"


@dataclass(frozen=True)
class DemoDomain:
    """One domain of the demo.

    ``key`` is the partition attribute of the domain's pattern and the key of its forecasts; ``generator``
    the module of its synthetic stream; ``speedup`` the default replay speed-up (event time / wall time).
    """

    domain: Domain
    key: str
    generator: str
    what: str
    speedup: float

    @property
    def ticks_per_second(self) -> int:
        """Timestamp units per second of event time (1 for AIS seconds, 1000 for card milliseconds)."""
        return self.domain.ticks_per_second

    @property
    def week_ticks(self) -> int:
        """One week of event time in the unit of the domain's timestamps."""
        return WEEK_SECONDS * self.ticks_per_second

    @property
    def pattern_paths(self) -> tuple[Path, Path]:
        """The domain's pattern and declarations files (``patterns/<domain>/``)."""
        folder = PATTERNS_DIR / self.domain.value
        return folder / "pattern.sre", folder / "declarations.sre"

    def generator_args(self, args: argparse.Namespace, out: Path) -> list[str]:
        """Command line (after ``python``) that writes the demo's stream to ``out``."""
        common = [
            "-m",
            self.generator,
            "--out",
            str(out),
            "--weeks",
            str(args.weeks),
            "--seed",
            str(args.seed),
        ]
        drift = drift_options(self.domain, args.drift_weeks)
        if self.domain is Domain.FINANCE:
            return [*common, "--cards", str(args.cards), *drift]
        return [*common, "--vessels", str(args.vessels), "--compress", str(args.compress), *drift]


def drift_options(domain: Domain, weeks: tuple[int, ...]) -> list[str]:
    """The generator's drift options: the AIS one repeats ``--drift-week``, the card one takes a list."""
    if not weeks:
        return ["--no-drift"]
    if domain is Domain.FINANCE:
        return ["--drift-weeks", ",".join(str(w) for w in weeks)]
    return [part for week in weeks for part in ("--drift-week", str(week))]


PROFILES: dict[Domain, DemoDomain] = {
    Domain.MARITIME: DemoDomain(Domain.MARITIME, "mmsi", "mocks.synthetic", "AIS traffic", 15000.0),
    # 38 k transactions in 8 weeks: at 30 000x a week of event time takes 20 s, which leaves the loop a few
    # seconds of stream time (a fraction of a day) between a weekly report and the engine's pause.
    Domain.FINANCE: DemoDomain(Domain.FINANCE, "pan", "mocks.synthetic_cards", "card transactions", 30000.0),
}


def week_of(timestamp: int, t0: int, week_ticks: int) -> int:
    """Index of the week of ``timestamp``, weeks counted from the first event ``t0`` (all in stream units).

    The same grid as the inference job's score intervals and the collector's first-event buckets.
    """
    if week_ticks < 1:
        raise ValueError(f"a week must be at least one tick, got {week_ticks}")
    return (int(timestamp) - int(t0)) // week_ticks


def stream_time_text(timestamp: int, ticks_per_second: int) -> str:
    """A stream timestamp (epoch seconds or milliseconds) as UTC ``YYYY-MM-DD HH:MM``, for the live log."""
    moment = datetime.fromtimestamp(int(timestamp) / ticks_per_second, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M")
