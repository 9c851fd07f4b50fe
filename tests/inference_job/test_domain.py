"""The domain decides the inference job's event message, partition key and time unit."""

from __future__ import annotations

from inference_job.domain import event_model, partition_attribute, ticks_per_second
from protocol.messages import CardTransaction, MaritimeEvent
from protocol.settings import Domain, Settings


def test_partitioning_and_time_units_follow_the_domain() -> None:
    assert partition_attribute(Settings()) == "mmsi" and ticks_per_second(Settings()) == 1
    finance = Settings(domain=Domain.FINANCE)
    assert partition_attribute(finance) == "pan" and ticks_per_second(finance) == 1000
    assert event_model(Settings()) is MaritimeEvent and event_model(finance) is CardTransaction
