"""Retention: ref-counting over un-ACKed versions, protected windows, ACK races in every order."""

from __future__ import annotations

import itertools

from collector_job import retention
from collector_job.retention import AckOutcome, VersionRef


def ref(version: int, *starts: int) -> VersionRef:
    return VersionRef(version=version, starts=starts)


def test_refcounts_count_versions_per_bucket() -> None:
    counts = retention.refcounts([ref(0, 1), ref(1, 1, 2), ref(2, 1, 2, 3)])
    assert counts == {1: 3, 2: 2, 3: 1}


def test_window_is_newest_k_oldest_first() -> None:
    assert retention.window([3, 1, 2], 2) == (2, 3)
    assert retention.window([1], 4) == (1,)


def test_nothing_is_deleted_while_the_factory_lags() -> None:
    closed = list(range(10))
    pending = [ref(v, *retention.window(closed[: v + 1], 4)) for v in range(10)]
    assert retention.deletable(closed, pending, 4) == []


def test_fully_acked_buckets_outside_future_windows_are_deletable() -> None:
    closed = [0, 1, 2, 3, 4]
    # versions 0..3 acked; version 4 = (1,2,3,4) pending
    assert retention.deletable(closed, [ref(4, 1, 2, 3, 4)], 4) == [0]
    # all acked: the newest k-1 stay for the next version
    assert retention.deletable(closed, [], 4) == [0, 1]
    assert retention.deletable(closed, [], 1) == [0, 1, 2, 3, 4]


def test_ack_releases_matching_pending_version() -> None:
    pending, early, outcome = retention.apply_ack(
        (ref(0, 1), ref(1, 1, 2)), (), ref(0, 1), next_version=2, published=2
    )
    assert outcome is AckOutcome.RELEASED
    assert pending == (ref(1, 1, 2),) and early == ()


def test_ack_with_other_buckets_is_a_mismatch_and_releases_nothing() -> None:
    pending, _, outcome = retention.apply_ack((ref(0, 1),), (), ref(0, 99), next_version=1, published=1)
    assert outcome is AckOutcome.MISMATCH and pending == (ref(0, 1),)


def test_replayed_ack_is_a_duplicate() -> None:
    assert retention.apply_ack((), (), ref(0, 1), next_version=3, published=3)[2] is AckOutcome.DUPLICATE


def test_early_ack_is_kept_and_consumed_when_the_version_appears() -> None:
    # restored to next_version 1 after versions up to 2 had been published: the ACK of 2 is genuine
    pending, early, outcome = retention.apply_ack((), (), ref(2, 5, 6), next_version=1, published=3)
    assert outcome is AckOutcome.EARLY and early == (ref(2, 5, 6),)
    again = retention.apply_ack(pending, early, ref(2, 5, 6), next_version=1, published=3)
    assert again[2] is AckOutcome.DUPLICATE
    pending, early, acked = retention.register_version(pending, early, ref(2, 5, 6))
    assert acked and pending == () and early == ()


def test_stale_early_ack_does_not_release_a_different_version() -> None:
    pending, early, acked = retention.register_version((), (ref(0, 7),), ref(0, 1))
    assert not acked and pending == (ref(0, 1),) and early == ()


def test_ack_of_a_version_never_published_is_refused_and_not_remembered() -> None:
    pending = (ref(0, 1),)
    for version in (1, 3, 10**15):  # the next version to create, and beyond
        got = retention.apply_ack(pending, (), ref(version, 1), next_version=1, published=1)
        assert got == (pending, (), AckOutcome.UNPUBLISHED)
    got = retention.apply_ack(pending, (), ref(3, 1), next_version=1, published=3)
    assert got == (pending, (), AckOutcome.UNPUBLISHED)  # "published" is exclusive


def simulate(
    ack_order: tuple[int, ...], ack_before: int, k: int = 2, n: int = 4
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Close ``n`` buckets; ACK versions in ``ack_order``, the first ``ack_before`` ACKs before any close
    (as after a restore: all ``n`` versions had been published by the run before)."""
    closed: list[int] = []
    pending: tuple[VersionRef, ...] = ()
    early: tuple[VersionRef, ...] = ()
    deleted: list[int] = []
    windows = [retention.window(range(i + 1), k) for i in range(n)]
    acks = [ref(v, *windows[v]) for v in ack_order]

    def collect() -> None:
        nonlocal closed
        doomed = retention.deletable(closed, pending, k)
        deleted.extend(doomed)
        closed = [c for c in closed if c not in doomed]

    def ack(a: VersionRef, next_version: int) -> None:
        nonlocal pending, early
        pending, early, outcome = retention.apply_ack(pending, early, a, next_version, published=n)
        if outcome is AckOutcome.RELEASED:
            collect()

    for a in acks[:ack_before]:
        ack(a, 0)
    for version in range(n):
        closed.append(version)
        pending, early, _ = retention.register_version(pending, early, ref(version, *windows[version]))
        collect()
    for a in acks[ack_before:]:
        ack(a, n)
    return tuple(sorted(deleted)), tuple(sorted(closed))


def test_every_ack_order_ends_in_the_same_place() -> None:
    results = {simulate(order, before) for order in itertools.permutations(range(4)) for before in range(5)}
    assert results == {((0, 1, 2), (3,))}


def test_missing_ack_pins_its_buckets_in_every_order() -> None:
    results = {simulate(order, before) for order in itertools.permutations([0, 2, 3]) for before in range(4)}
    # version 1 = (0, 1) never ACKed: buckets 0 and 1 stay
    assert results == {((2,), (0, 1, 3))}
