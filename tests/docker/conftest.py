"""Fixtures of the Docker checks: the loader built once per session, the Compose file as it loads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.docker.container_files import build_loader, run_loader
from tests.repo_data import REPO_ROOT


@pytest.fixture(scope="session")
def compose_loader(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built ``compose_loader`` program (in a temporary folder of this session)."""
    return build_loader(tmp_path_factory.mktemp("compose_loader"))


@pytest.fixture(scope="session")
def load_compose(compose_loader: Path) -> Callable[..., dict[str, Any]]:
    """``load_compose(path, env=None)``: a Compose file as ``docker compose`` would see it."""

    def load(path: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
        project: dict[str, Any] = run_loader(compose_loader, "project", "-f", str(path), env=env)
        return project

    return load


@pytest.fixture(scope="session")
def compose(load_compose: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The project's docker-compose.yml, loaded and normalized."""
    return load_compose(REPO_ROOT / "docker-compose.yml")


@pytest.fixture(scope="session")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    """Its services by name."""
    return dict(compose["services"])
