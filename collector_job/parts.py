"""Which part of the collector writes an event, and how Flink routes each part to its own subtask.

At ``COLLECTOR_PARTS`` = N > 1 the bucket writer runs keyed by part: part ``n`` owns the rows of the
partition keys (``mmsi`` / ``pan``) with ``crc32(key) % N == n`` and writes them to
``<bucket>_part-<n>.csv``. CRC-32 is stable across processes and restarts (Python's ``hash`` is not), so a
partition key always lands in the same part, and all rows of one key in one bucket are in one file, in
arrival order. With N = 1 there is one writer and its files keep the plain ``<bucket>.csv`` name
(:func:`part_ids`).

Flink places a key on a subtask by hashing the key object, and PyFlink's ``key_by`` wraps the key in a
one-field ``Row`` whose hash is ``62 + k`` for an integer ``k``. Keyed by the part numbers themselves,
parts 0 and 1 both land on subtask 0 at parallelism 2 (key groups 33 and 44 of 128). So the stream is
keyed by a *routing key* per part instead (:func:`routing_keys`): the smallest integer whose key group is
the first one of the range Flink gives subtask ``n`` when the parallelism equals N. At parallelism N part
``n`` then runs on subtask ``n``; at another parallelism the parts spread over the subtasks as their key
groups do. The routing keys depend only on N and the writer's maximum parallelism (fixed at
:data:`WRITER_MAX_PARALLELISM`), so a restore at another parallelism finds every part's state.

:func:`key_group` mirrors Flink's ``KeyGroupRangeAssignment`` and ``MathUtils.murmurHash`` for that key;
``tests/collector_job/test_parts.py`` checks it against the JVM.
"""

from __future__ import annotations

import zlib

from protocol.settings import MAX_COLLECTOR_PARTS

__all__ = [
    "WRITER_MAX_PARALLELISM",
    "key_group",
    "part_ids",
    "part_of",
    "routing_keys",
    "subtask_of",
]

WRITER_MAX_PARALLELISM = MAX_COLLECTOR_PARTS
"""Key groups (128) of the bucket writer (Flink's default for parallelism up to 85), set explicitly so that it
does not change with the parallelism: the routing keys, and so the state layout, depend on it."""

_MASK = 0xFFFFFFFF
_ROW_HASH_BASE = 62
"""Java ``hashCode`` of PyFlink's one-field key ``Row`` holding integer ``k`` is ``62 + k``
(``RowUtils.deepHashCodeRow``: ``31 * kind + (31 * 1 + (31 * 1 + k))`` with kind INSERT = 0)."""


def part_ids(parts: int) -> tuple[int | None, ...]:
    """The parts of a layout: ``(None,)`` for one writer (files without suffix), else ``0 .. parts-1``."""
    return (None,) if parts <= 1 else tuple(range(parts))


def part_of(key: str, parts: int) -> int | None:
    """The part writing the rows of partition key ``key`` (``None`` when there is one writer)."""
    if parts <= 1:
        return None
    return zlib.crc32(key.encode()) % parts


def _int32(value: int) -> int:
    value &= _MASK
    return value - (1 << 32) if value & 0x80000000 else value


def _rotl(value: int, bits: int) -> int:
    value &= _MASK
    return ((value << bits) | (value >> (32 - bits))) & _MASK


def _murmur(code: int) -> int:
    """Flink's ``MathUtils.murmurHash(int)``: a non-negative int."""
    code = (code * 0xCC9E2D51) & _MASK
    code = _rotl(code, 15)
    code = (code * 0x1B873593) & _MASK
    code = _rotl(code, 13)
    code = (code * 5 + 0xE6546B64) & _MASK
    code ^= 4
    code ^= code >> 16
    code = (code * 0x85EBCA6B) & _MASK
    code ^= code >> 13
    code = (code * 0xC2B2AE35) & _MASK
    code ^= code >> 16
    signed = _int32(code)
    if signed >= 0:
        return signed
    return -signed if signed != -(1 << 31) else 0


def key_group(routing_key: int, max_parallelism: int = WRITER_MAX_PARALLELISM) -> int:
    """Flink's key group of the PyFlink key ``routing_key`` (an INT key)."""
    return _murmur(_int32(_ROW_HASH_BASE + routing_key)) % max_parallelism


def subtask_of(routing_key: int, parallelism: int, max_parallelism: int = WRITER_MAX_PARALLELISM) -> int:
    """The subtask Flink runs ``routing_key`` on at ``parallelism``."""
    return key_group(routing_key, max_parallelism) * parallelism // max_parallelism


def routing_keys(parts: int, max_parallelism: int = WRITER_MAX_PARALLELISM) -> tuple[int, ...]:
    """One routing key per part (index = part): part ``n`` runs on subtask ``n`` at parallelism ``parts``."""
    if not 1 <= parts <= max_parallelism:
        raise ValueError(f"parts must be in 1..{max_parallelism}, got {parts}")
    keys = []
    for part in range(parts):
        target = (part * max_parallelism + parts - 1) // parts  # first key group of subtask `part`
        candidate = 0
        while key_group(candidate, max_parallelism) != target:
            candidate += 1
        keys.append(candidate)
    return tuple(keys)
