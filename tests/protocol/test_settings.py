"""Settings: names from the environment, defaults of the original RTCEF, errors naming the variable."""

from __future__ import annotations

import pytest

from protocol import SettingsError, load_settings
from protocol.messages import CardTransaction, MaritimeEvent
from protocol.settings import WEEK_SECONDS, Domain


def test_defaults_follow_the_original_rtcef(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    settings = load_settings()
    assert settings.kafka_bootstrap_servers == "localhost:9092"
    assert settings.bucket_size_s == WEEK_SECONDS
    assert settings.reporting_interval_s == WEEK_SECONDS
    assert (settings.observer_k, settings.observer_slope_threshold, settings.observer_guard) == (3, -0.025, 4)
    assert settings.history_k == 4


def test_topic_names_come_from_documented_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSTRUCTION_TOPIC", "observer_instructions")
    monkeypatch.setenv("REPORT_TOPIC", "model_reports")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:29092")
    settings = load_settings()
    assert settings.instruction_topic == "observer_instructions"
    assert settings.topics()["report_topic"] == "model_reports"
    assert settings.kafka_bootstrap_servers == "kafka:29092"


def test_wrong_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THRESHOLD", "1.5")
    with pytest.raises(SettingsError, match="THRESHOLD"):
        load_settings()


def test_two_settings_naming_one_topic_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_TOPIC", "factory_commands")
    with pytest.raises(SettingsError, match="SYNC_TOPIC"):
        load_settings()


def test_data_paths_derive_from_data_dir(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(data_dir=tmp_path)
    assert settings.buckets_dir == tmp_path / "buckets"
    assert settings.registry_path == tmp_path / "models" / "registry.json"


def test_collector_parts_follow_the_parallelism_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLLECTOR_PARTS", raising=False)
    monkeypatch.delenv("PARALLELISM", raising=False)
    assert load_settings().collector_part_count == 1
    assert load_settings(parallelism=3).collector_part_count == 3
    assert load_settings(parallelism=500).collector_part_count == 128  # the writer's key groups
    monkeypatch.setenv("COLLECTOR_PARTS", "4")
    assert load_settings(parallelism=2).collector_part_count == 4


def test_a_dataset_version_must_be_able_to_list_every_part_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HISTORY_K", "100")
    monkeypatch.setenv("COLLECTOR_PARTS", "101")
    with pytest.raises(SettingsError, match="COLLECTOR_PARTS"):
        load_settings()


def test_the_partition_key_of_each_domain_is_its_events_key() -> None:
    maritime = MaritimeEvent(timestamp=1_500_000_000, mmsi="227", lon=0.0, lat=0.0)
    finance = CardTransaction(timestamp=1_500_000_000_000, pan="4000", amount=1.0)
    assert getattr(maritime, Domain.MARITIME.partition_key) == maritime.key()
    assert getattr(finance, Domain.FINANCE.partition_key) == finance.key()
