"""Fixtures of the factory tests: a fake of the factory's side effects and test settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from factory_fakes import FakeTools

from protocol.settings import Settings, load_settings


@pytest.fixture()
def tools() -> FakeTools:
    return FakeTools()


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", min_dataset_events=50, factory_queue_timeout_s=60.0)
