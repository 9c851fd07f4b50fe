"""Geometry of the synthetic port: its location, haversine distances and a local flat frame.

The generator moves vessels in a local east/north frame in kilometres centred on the port (straight
lines and constant speeds are easy to write there) and converts to lon/lat only when writing rows.
Distances that decide "inside or outside the port circle" use the same haversine formula (Earth
radius 6371 km) as the pattern predicates, so what the generator calls an entry is what the
``WithinCirclePredicate`` / ``OutsideCirclePredicate`` pair will see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

EARTH_RADIUS_KM = 6371.0
KM_PER_DEG_LAT = np.pi * EARTH_RADIUS_KM / 180.0
KM_PER_KNOT_SECOND = 1.852 / 3600.0


@dataclass(frozen=True)
class Port:
    """A circular port zone: centre (lon, lat in degrees) and radius in km.

    The default, "Port Vireo", is fictional. It sits in open water in the Bay of Biscay so that no real
    coastline constrains the routes, and about 150 km from Brest so that the real Brest stream and the
    synthetic stream can never match each other's pattern by accident.
    """

    name: str = "Port Vireo"
    lon: float = -6.2
    lat: float = 46.9
    radius_km: float = 5.0


PORT_VIREO = Port()


def haversine_km(lon: ArrayLike, lat: ArrayLike, lon0: float, lat0: float) -> NDArray[np.float64]:
    """Great-circle distance in km from (lon, lat) points to one centre (vectorised)."""
    lam, phi = np.radians(np.asarray(lon, dtype=float)), np.radians(np.asarray(lat, dtype=float))
    lam0, phi0 = np.radians(lon0), np.radians(lat0)
    a = np.sin((phi - phi0) / 2) ** 2 + np.cos(phi) * np.cos(phi0) * np.sin((lam - lam0) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arctan2(np.sqrt(a), np.sqrt(1 - a))


def to_lonlat(
    port: Port, x_km: ArrayLike, y_km: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Local east/north km offsets from the port centre to lon/lat (equirectangular, fine within ~50 km)."""
    x, y = np.asarray(x_km, dtype=float), np.asarray(y_km, dtype=float)
    lat = port.lat + y / KM_PER_DEG_LAT
    lon = port.lon + x / (KM_PER_DEG_LAT * np.cos(np.radians(port.lat)))
    return lon, lat


def unit(bearing_deg: float) -> NDArray[np.float64]:
    """East/north unit vector of a compass bearing (0 = north, 90 = east)."""
    rad = np.radians(bearing_deg)
    return np.array([np.sin(rad), np.cos(rad)])


def course_deg(dx: ArrayLike, dy: ArrayLike) -> NDArray[np.float64]:
    """Compass course (0..360) of an east/north displacement."""
    return np.degrees(np.arctan2(np.asarray(dx, dtype=float), np.asarray(dy, dtype=float))) % 360.0


def bearing_from_port(port: Port, lon: ArrayLike, lat: ArrayLike) -> NDArray[np.float64]:
    """Compass bearing (0..360) of points as seen from the port centre (the side a vessel is on)."""
    lon_a, lat_a = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dx = (lon_a - port.lon) * KM_PER_DEG_LAT * np.cos(np.radians(port.lat))
    dy = (lat_a - port.lat) * KM_PER_DEG_LAT
    return course_deg(dx, dy)
