"""Readers for event streams (CSV or JSON lines) of the ``maritime``, ``finance`` and ``demo`` domains.

Every reader returns a pandas DataFrame with one row per event, in file order, and attribute names as the
pattern predicates expect them (``lon``, ``lat``, ``speed``, ``type``, ``is_fraud``...). Column mapping:

* ``columns``: names for a header-less CSV (default per domain, see `DOMAIN_COLUMNS`);
* ``rename``: ``{name in file: attribute name}`` applied after reading (defaults per domain, e.g. the
  maritime JSON field ``trh`` becomes ``heading``).

A CSV has a header when its first field is not a number (override with ``header=True/False``). Reset markers
keep ``timestamp == -1`` (the maritime formats' convention); the engine treats those rows as resets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

__all__ = [
    "DOMAINS",
    "DOMAIN_COLUMNS",
    "StreamFormatError",
    "iter_jsonl",
    "read_events",
]

Domain = Literal["maritime", "finance", "demo"]
DOMAINS: frozenset[str] = frozenset(("maritime", "finance", "demo"))

DOMAIN_COLUMNS: dict[str, tuple[str, ...] | None] = {
    "maritime": ("timestamp", "mmsi", "lon", "lat", "speed", "heading", "cog", "annotation"),
    "demo": ("type", "timestamp"),
    "finance": None,  # header or explicit ``columns`` required
}
DOMAIN_RENAME: dict[str, dict[str, str]] = {
    "maritime": {"trh": "heading", "next_timestamp": "nextCETimestamp"},
    "finance": {"isFraud": "is_fraud"},
    "demo": {},
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "maritime": ("timestamp", "lon", "lat"),
    "finance": ("timestamp",),
    "demo": ("type",),
}


class StreamFormatError(ValueError):
    """The stream file cannot be read as the requested domain/format."""


def _infer_format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in ("csv", "jsonl"):
            raise StreamFormatError(f"unknown stream format {fmt!r}; use 'csv' or 'jsonl'")
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    return "csv"


def _looks_numeric(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def iter_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield one dict per non-empty line of a JSON-lines file (StreamFormatError names the bad line)."""
    with Path(path).open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise StreamFormatError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise StreamFormatError(f"{path}:{lineno}: expected a JSON object per line")
            yield obj


def read_events(
    path: str | Path,
    domain: str,
    *,
    fmt: str | None = None,
    columns: Sequence[str] | None = None,
    rename: Mapping[str, str] | None = None,
    header: bool | None = None,
    nrows: int | None = None,
) -> pd.DataFrame:
    """Read a whole stream file into a DataFrame (see module docstring for the mapping rules)."""
    if domain not in DOMAINS:
        raise StreamFormatError(f"unknown domain {domain!r}; expected one of {sorted(DOMAINS)}")
    p = Path(path)
    if not p.is_file():
        raise StreamFormatError(f"stream file not found: {p}")
    kind = _infer_format(p, fmt)
    if kind == "jsonl":
        records = []
        for i, rec in enumerate(iter_jsonl(p)):
            if nrows is not None and i >= nrows:
                break
            records.append(rec)
        frame = pd.DataFrame.from_records(records)
    else:
        frame = _read_csv(p, domain, columns, header, nrows)
    mapping = {**DOMAIN_RENAME[domain], **(rename or {})}
    frame = frame.rename(columns={k: v for k, v in mapping.items() if k in frame.columns})
    missing = [c for c in REQUIRED[domain] if c not in frame.columns]
    if missing and len(frame):
        raise StreamFormatError(
            f"{p}: missing column(s) {missing} for domain {domain!r} (have {list(frame.columns)})"
        )
    if "timestamp" in frame.columns:
        ts = pd.to_numeric(frame["timestamp"], errors="coerce")
        if ts.isna().any():
            bad = int(ts.isna().to_numpy().argmax())
            raise StreamFormatError(
                f"{p}: non-numeric timestamp in row {bad}: {frame['timestamp'].iloc[bad]!r}"
            )
        frame["timestamp"] = ts.astype("int64") if (ts % 1 == 0).all() else ts
    return frame


def _read_csv(
    p: Path, domain: str, columns: Sequence[str] | None, header: bool | None, nrows: int | None
) -> pd.DataFrame:
    with p.open(encoding="utf-8") as fh:
        first = fh.readline().strip()
    if not first:
        return pd.DataFrame(columns=list(columns or DOMAIN_COLUMNS[domain] or ()))
    fields = first.split(",")
    has_header = header if header is not None else not any(_looks_numeric(f) for f in fields)
    try:
        if has_header:
            frame = pd.read_csv(p, nrows=nrows)
            if columns is not None:
                frame.columns = list(columns)
            return frame
        names = list(columns) if columns is not None else DOMAIN_COLUMNS[domain]
        if names is None:
            raise StreamFormatError(f"{p}: header-less CSV for domain {domain!r} needs explicit column names")
        if len(fields) != len(names):
            raise StreamFormatError(
                f"{p}: {len(fields)} fields per line but {len(names)} column names {names}"
            )
        return pd.read_csv(p, header=None, names=names, nrows=nrows, dtype={"annotation": str, "type": str})
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, StreamFormatError):
            raise
        raise StreamFormatError(f"{p}: cannot parse CSV ({exc})") from None
