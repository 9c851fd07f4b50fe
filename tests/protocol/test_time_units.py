"""One unit helper for event time: ``Domain.ticks_per_second``, and every pure place that converts follows it.

Maritime events carry epoch seconds, card transactions epoch milliseconds; settings of event time are in
seconds. A place that assumed seconds would be off by a factor 1000 on the finance domain.
"""

from __future__ import annotations

import pytest

from collector_job.buckets import BucketScheme, ms_per_unit
from factory_job.factory_state import covers
from factory_job.state import DatasetInfo, FactoryState
from inference_job.domain import ticks_per_second
from mocks.data_feeder import TIME_UNIT_S, pacing_offsets
from mocks.mock_instruction_producer import build_instruction
from protocol.messages import CommandType, FactoryCommand, InstructionType
from protocol.settings import WEEK_SECONDS, Domain, Settings

T0_MS = 1_704_067_200_000


def test_domains_say_how_many_timestamp_units_make_a_second() -> None:
    assert Domain.MARITIME.ticks_per_second == 1
    assert Domain.FINANCE.ticks_per_second == 1000
    assert Domain.FINANCE.seconds_to_ticks(WEEK_SECONDS) == 604_800_000
    assert Domain.MARITIME.seconds_to_ticks(1.6) == 2  # rounded to whole timestamp units


@pytest.mark.parametrize("domain", list(Domain))
def test_jobs_and_mocks_convert_with_the_domain_helper(domain: Domain) -> None:
    settings = Settings(domain=domain)
    ticks = domain.ticks_per_second
    assert ticks_per_second(settings) == ticks  # inference: reporting interval, watermark, production time
    assert ms_per_unit(domain) * ticks == 1000  # collector: Flink milliseconds per stream unit
    assert BucketScheme.from_settings(settings).size == settings.bucket_size_s * ticks
    assert TIME_UNIT_S[domain] * ticks == 1.0  # feeder pacing
    assert pacing_offsets([0, 10 * ticks], speedup=2.0, unit_s=TIME_UNIT_S[domain]) == [0.0, 5.0]


def test_factory_coverage_slack_is_in_the_finance_unit() -> None:
    settings = Settings(domain=Domain.FINANCE)
    slack_ms = settings.dataset_coverage_slack_s * 1000
    command = FactoryCommand(id="c", type=CommandType.TRAIN, timestamp=T0_MS + 10 * slack_ms, session_id="s")

    def state(last_ts: int) -> FactoryState:
        return FactoryState(current=DatasetInfo(version=1, path="/vol/d1", rows=100, last_ts=last_ts))

    assert covers(state(command.timestamp - slack_ms), command, settings)
    # a dataset ending "slack seconds" short in seconds-as-milliseconds would be stale: 1000 times too late
    assert not covers(state(command.timestamp - slack_ms - 1), command, settings)


def test_mock_instruction_stamps_now_in_the_domain_unit() -> None:
    seconds = build_instruction(InstructionType.RETRAIN).timestamp
    millis = build_instruction(InstructionType.RETRAIN, ticks_per_second=1000).timestamp
    assert 999 * seconds < millis < 1001 * seconds
    given = build_instruction(InstructionType.RETRAIN, timestamp=T0_MS, ticks_per_second=1000)
    assert given.timestamp == T0_MS
