"""Statistics of a maritime stream as the port pattern sees it: entries, weekly counts, drift measures.

Why: the synthetic generator promises port entries every week and a drift that changes entry
behaviour. These functions measure both on the rows alone (no trip log), with the same definitions the
forecasting side uses: an *entry* is a position inside the port circle whose two previous positions of
the same vessel were outside (the ``Outside, Outside, Within`` tail of the pattern), and distances are
haversine km from the port centre. It reads frames only, so it serves any maritime stream with the
generator's columns; the generator's own summary (``mocks.synthetic.describe``) builds on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mocks.geo import Port, bearing_from_port, haversine_km
from protocol.settings import WEEK_SECONDS


def _by_vessel(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row order grouping each vessel's positions in time order, and "same vessel as previous" flags."""
    codes = pd.factorize(frame["mmsi"])[0]
    order = np.lexsort((frame["timestamp"].to_numpy(), codes))
    same = np.zeros(len(order), dtype=bool)
    same[1:] = codes[order][1:] == codes[order][:-1]
    return order, same


def distances_km(frame: pd.DataFrame, port: Port) -> np.ndarray:
    """Haversine distance of every row from the port centre."""
    return haversine_km(frame["lon"].to_numpy(), frame["lat"].to_numpy(), port.lon, port.lat)


def entry_mask(frame: pd.DataFrame, port: Port) -> np.ndarray:
    """True for rows that complete ``Outside, Outside, Within`` for their vessel (pattern matches)."""
    order, same = _by_vessel(frame)
    inside = (distances_km(frame, port) < port.radius_km)[order]
    prev1 = np.zeros_like(inside)
    prev1[1:] = same[1:] & ~inside[:-1]
    prev2 = np.zeros_like(inside)
    prev2[2:] = same[2:] & same[1:-1] & ~inside[:-2]
    hit = inside & prev1 & prev2
    mask = np.zeros(len(frame), dtype=bool)
    mask[order] = hit
    return mask


def weekly_summary(frame: pd.DataFrame, port: Port, start: int) -> pd.DataFrame:
    """Per week from ``start``: rows, vessels seen, entries, vessels with an entry, mean entry bearing."""
    week = (frame["timestamp"].to_numpy() - start) // WEEK_SECONDS
    hits = entry_mask(frame, port)
    bearings = bearing_from_port(port, frame["lon"].to_numpy(), frame["lat"].to_numpy())
    out = []
    for w in np.unique(week):
        rows = week == w
        ent = rows & hits
        # the side a vessel came from: its bearing from the port at the entry position
        rad = np.radians(bearings[ent])
        mean_b = (
            float(np.degrees(np.arctan2(np.sin(rad).sum(), np.cos(rad).sum())) % 360) if ent.any() else np.nan
        )
        out.append(
            {
                "week": int(w),
                "rows": int(rows.sum()),
                "vessels": int(frame.loc[rows, "mmsi"].nunique()),
                "entries": int(ent.sum()),
                "vessels_entering": int(frame.loc[ent, "mmsi"].nunique()),
                "entry_bearing_deg": round(mean_b, 1),
            }
        )
    return pd.DataFrame(out)


@dataclass(frozen=True)
class RingEntryRate:
    """Of the positions in the ring just outside the port, how many precede an entry within k positions."""

    hits: int
    total: int

    @property
    def rate(self) -> float:
        return self.hits / self.total if self.total else float("nan")


def ring_entry_rate(frame: pd.DataFrame, port: Port, *, ring_km: float = 1.0, k: int = 5) -> RingEntryRate:
    """How predictive "within ``ring_km`` outside the circle" is of an entry in the next ``k`` positions.

    This is the quantity a forecaster of the port pattern effectively learns; a drift that lowers it
    makes a model trained before the drift raise false alarms afterwards.
    """
    order, same = _by_vessel(frame)
    dist = distances_km(frame, port)[order]
    hits = entry_mask(frame, port)[order]
    in_ring = (dist >= port.radius_km) & (dist < port.radius_km + ring_km)
    soon = np.zeros(len(order), dtype=bool)
    run_same = np.ones(len(order), dtype=bool)
    for j in range(1, k + 1):  # k is small: k shifted comparisons instead of a per-vessel loop
        run_same[:-j] &= same[j:]
        run_same[-j:] = False
        shifted = np.zeros(len(order), dtype=bool)
        shifted[:-j] = hits[j:]
        soon |= run_same & shifted
    return RingEntryRate(hits=int((in_ring & soon).sum()), total=int(in_ring.sum()))
