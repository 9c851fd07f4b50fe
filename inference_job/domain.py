"""What the inference job takes from the configured domain: the event message, its key and time unit."""

from __future__ import annotations

from protocol.messages import CardTransaction, MaritimeEvent
from protocol.settings import Domain, Settings

__all__ = ["event_model", "partition_attribute", "ticks_per_second"]

_PARTITION_BY = {Domain.MARITIME: "mmsi", Domain.FINANCE: "pan"}


def partition_attribute(settings: Settings) -> str:
    """The attribute events are keyed by: the patterns' ``partitionBy`` of the configured domain."""
    return _PARTITION_BY[settings.domain]


def event_model(settings: Settings) -> type[MaritimeEvent] | type[CardTransaction]:
    """The input event message of the configured domain."""
    return CardTransaction if settings.domain is Domain.FINANCE else MaritimeEvent


def ticks_per_second(settings: Settings) -> int:
    """Event timestamps per second: maritime events are in seconds, card transactions in milliseconds."""
    return settings.domain.ticks_per_second
