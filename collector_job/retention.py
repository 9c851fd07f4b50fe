"""Retention of closed buckets: reference counting over dataset versions the factory has not ACKed.

Rule: a closed bucket file may be deleted only when

1. every dataset version that listed it has been acknowledged by the factory (its reference count over
   un-ACKed versions is zero), and
2. no future dataset version can list it. Versions list the last ``history_k`` closed buckets and buckets
   close in start order, so the next version lists the newest ``history_k - 1`` closed buckets plus the
   one about to close: those are kept whatever the ACKs say.

So a lagging or offline factory loses nothing (its versions stay un-ACKed and pin their buckets), and the
Flink design's "keep only the latest ACKed window" shortcut is gone.

ACKs race with the versions they acknowledge (separate Kafka topics; after a restore from an older
checkpoint an ACK can even name a version the restored state has not produced yet). An ACK is therefore
matched on ``(version, bucket_starts)``:

* a pending version with the same buckets is released;
* a version not produced yet (``>= next_version``) but published before (``< published``: by this
  collector before the restore; the collector records every version number it hands out on the volume)
  is remembered as an *early* ACK and released the moment the version is created with the same buckets;
* a version never published (``>= published``) is refused: no factory can have assembled it, so it
  releases nothing and is not remembered (a forged or corrupt ACK cannot pin a future release either);
* anything else (an older, already released version, or a stale ACK of an earlier run with other buckets)
  changes nothing and is reported as ignored.

So an ACK only ever releases the buckets of a dataset this collector published, and only when it names
exactly the buckets that version listed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class VersionRef(BaseModel):
    """A dataset version and the bucket starts it lists (oldest first)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    starts: tuple[int, ...]


class AckOutcome(StrEnum):
    RELEASED = "released"  # a pending version was acknowledged
    EARLY = "early"  # the version does not exist yet; kept until it does
    DUPLICATE = "duplicate"  # already released (replayed or repeated ACK)
    MISMATCH = "mismatch"  # same version number, other buckets: a stale ACK from an earlier run
    UNPUBLISHED = "unpublished"  # no such version was ever published: refused


def refcounts(pending: Iterable[VersionRef]) -> Counter[int]:
    """Number of un-ACKed versions listing each bucket start."""
    counts: Counter[int] = Counter()
    for ref in pending:
        counts.update(set(ref.starts))
    return counts


def protected_starts(closed: Iterable[int], history_k: int) -> set[int]:
    """Closed buckets the next dataset version will list again (the newest ``history_k - 1``)."""
    keep = history_k - 1
    if keep <= 0:
        return set()
    return set(sorted(closed)[-keep:])


def deletable(closed: Iterable[int], pending: Iterable[VersionRef], history_k: int) -> list[int]:
    """Closed buckets that no un-ACKed version and no future version needs, oldest first."""
    closed = list(closed)
    counts = refcounts(pending)
    protected = protected_starts(closed, history_k)
    return sorted(s for s in closed if counts[s] == 0 and s not in protected)


def window(closed: Iterable[int], history_k: int) -> tuple[int, ...]:
    """The buckets of a new dataset version: the newest ``history_k`` closed buckets, oldest first."""
    return tuple(sorted(closed)[-history_k:])


def apply_ack(
    pending: tuple[VersionRef, ...],
    early: tuple[VersionRef, ...],
    ack: VersionRef,
    next_version: int,
    *,
    published: int,
) -> tuple[tuple[VersionRef, ...], tuple[VersionRef, ...], AckOutcome]:
    """Apply one ACK; returns the new pending and early-ACK lists and what happened.

    ``next_version`` is the next version this state will create, ``published`` the exclusive bound of
    every version ever published (larger than ``next_version`` only after a restore rolled it back).
    """
    if ack.version >= max(next_version, published):
        return pending, early, AckOutcome.UNPUBLISHED
    for ref in pending:
        if ref.version == ack.version:
            if ref.starts != ack.starts:
                return pending, early, AckOutcome.MISMATCH
            return tuple(r for r in pending if r.version != ack.version), early, AckOutcome.RELEASED
    if ack.version >= next_version:
        if any(r == ack for r in early):
            return pending, early, AckOutcome.DUPLICATE
        # A later ACK for the same future version replaces an earlier one (the newest run wins).
        kept = tuple(r for r in early if r.version != ack.version)
        return pending, tuple(sorted((*kept, ack), key=lambda r: r.version)), AckOutcome.EARLY
    return pending, early, AckOutcome.DUPLICATE


def register_version(
    pending: tuple[VersionRef, ...],
    early: tuple[VersionRef, ...],
    new: VersionRef,
) -> tuple[tuple[VersionRef, ...], tuple[VersionRef, ...], bool]:
    """Add a freshly created version; consume a matching early ACK. Returns (pending, early, acked)."""
    remaining = tuple(r for r in early if r.version != new.version)
    if any(r == new for r in early):
        return pending, remaining, True
    # An early ACK naming this version with other buckets is stale: drop it, keep the version pending.
    return (*pending, new), remaining, False
