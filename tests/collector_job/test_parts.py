"""Parts of the collector: which part writes a key, and routing keys that put part n on subtask n."""

from __future__ import annotations

import pytest

from collector_job.parts import (
    WRITER_MAX_PARALLELISM,
    key_group,
    part_ids,
    part_of,
    routing_keys,
    subtask_of,
)


def test_one_part_keeps_plain_names_and_parts_are_numbered() -> None:
    assert part_ids(1) == (None,) and part_of("227592820", 1) is None
    assert part_ids(3) == (0, 1, 2)


def test_part_of_is_stable_and_spreads_keys() -> None:
    assert part_of("227592820", 4) == part_of("227592820", 4)  # CRC-32, not Python's salted hash
    counts = [0] * 4
    for mmsi in range(227_592_820, 227_592_820 + 400):
        part = part_of(str(mmsi), 4)
        assert part is not None
        counts[part] += 1
    assert min(counts) > 60


@pytest.mark.parametrize("parts", [1, 2, 3, 4, 5, 8, 16, 100, 128])
def test_routing_keys_put_part_n_on_subtask_n(parts: int) -> None:
    keys = routing_keys(parts)
    assert len(set(keys)) == parts
    assert [subtask_of(k, parts) for k in keys] == list(range(parts))


def test_routing_keys_spread_over_other_parallelisms() -> None:
    keys = routing_keys(8)
    assert sorted(subtask_of(k, 4) for k in keys) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert sorted({subtask_of(k, 2) for k in keys}) == [0, 1]


def test_routing_keys_need_a_part_per_key_group_at_most() -> None:
    with pytest.raises(ValueError):
        routing_keys(WRITER_MAX_PARALLELISM + 1)


@pytest.mark.minicluster
def test_key_groups_are_flinks() -> None:
    """The Python mirror against the JVM: PyFlink's INT key (a one-field Row), KeyGroupRangeAssignment."""
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    assignment = jvm.org.apache.flink.runtime.state.KeyGroupRangeAssignment
    selector = jvm.org.apache.flink.streaming.api.functions.python.KeyByKeySelector()
    for key in [*range(-3, 300), *routing_keys(7), 2**31 - 100, -(2**31)]:
        row = jvm.org.apache.flink.types.Row(2)
        row.setField(0, jvm.java.lang.Integer(key))
        java_key = selector.getKey(row)
        assert assignment.assignToKeyGroup(java_key, WRITER_MAX_PARALLELISM) == key_group(key), key
        assert assignment.assignKeyToParallelOperator(java_key, WRITER_MAX_PARALLELISM, 3) == subtask_of(
            key, 3
        )
