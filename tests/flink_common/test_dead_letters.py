"""Routing of dead letters to the ``.dlq`` topic of their source, and the dead-letter counter."""

from __future__ import annotations

import pickle

import pytest
from metric_fakes import FakeMetricsRuntime

from flink_common.dead_letters import DeadLetterCounter, DeadLetterRouter, route_dead_letter
from protocol.codec import dead_letter, encode
from protocol.settings import Settings


def letter_from(source_topic: str) -> str:
    return encode(dead_letter(source_topic=source_topic, job="test", reason="bad", payload="x"))


def test_every_consumed_topic_routes_to_its_own_dlq() -> None:
    settings = Settings(input_topic="run7-input", dead_letter_topic="run7-dead")
    router = DeadLetterRouter.from_settings(settings)
    assert router(letter_from("run7-input")) == "run7-input.dlq"
    for field in ("instruction_topic", "command_topic", "report_topic", "sync_topic", "datasets_topic",
                  "assembly_topic"):  # fmt: skip
        topic = getattr(settings, field)
        assert router(letter_from(topic)) == f"{topic}.dlq"


def test_unknown_empty_or_unreadable_sources_fall_back_to_the_catch_all_topic() -> None:
    routes = {"input": "input.dlq"}
    assert route_dead_letter(letter_from("somewhere-else"), routes, "dead") == "dead"
    assert route_dead_letter(letter_from(""), routes, "dead") == "dead"
    assert route_dead_letter("{not json", routes, "dead") == "dead"
    assert route_dead_letter("[1, 2]", routes, "dead") == "dead"
    assert route_dead_letter('{"source_topic": 5}', routes, "dead") == "dead"


def test_written_only_topics_have_no_dlq_and_names_cannot_collide() -> None:
    settings = Settings()
    assert settings.forecast_topic not in settings.dead_letter_topics()
    assert settings.dead_letter_topic not in settings.dead_letter_topics()
    assert set(settings.all_topics()) >= {"input", "input.dlq", "dead_letters", "enginesync.dlq"}
    with pytest.raises(ValueError, match="input.dlq"):
        Settings(forecast_topic="input.dlq")


def test_counter_counts_once_bound_and_never_ships_a_bound_counter() -> None:
    counter, runtime = DeadLetterCounter(), FakeMetricsRuntime()
    counter.inc()  # not bound: a no-op (a function used outside Flink)
    counter.bind(runtime)
    counter.inc()
    counter.inc(2)
    assert runtime.dead_letters() == 3
    assert "dead_letters" in runtime.metrics.gauges
    shipped = pickle.loads(pickle.dumps(counter))
    shipped.inc()
    assert runtime.dead_letters() == 3
