"""Readers of the project's container files for the Docker checks (no Docker engine needed).

``compose_loader`` (Go, in ``tests/docker/compose_loader``) runs the libraries that ``docker compose`` and
the Docker build themselves use: compose-go loads, interpolates, validates and normalizes a Compose file;
moby's pattern matcher applies ``.dockerignore``. Without Go on PATH the checks fail, they never skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from rtcef_ops.flink_config import DOCKER_CONFIG, flatten
from tests.repo_data import REPO_ROOT

LOADER_SOURCE = Path(__file__).resolve().parent / "compose_loader"
FLINK_SERVICES = ("init-topics", "jobmanager", "taskmanager")
"""The services running the project's image."""


class LoaderError(RuntimeError):
    """compose_loader rejected its input; the message is its error output."""


def build_loader(folder: Path) -> Path:
    """``go build`` compose_loader into ``folder``; the calling test fails without Go or on a build error."""
    go = shutil.which("go")
    if go is None:
        pytest.fail(
            "Go (1.24 or newer, https://go.dev/dl/) is needed for this check: tests/docker builds "
            "tests/docker/compose_loader, which loads docker-compose.yml with the Compose v2 loader"
        )
    binary = folder / "compose_loader"
    built = subprocess.run(
        [go, "build", "-buildvcs=false", "-o", str(binary), "."],
        cwd=LOADER_SOURCE, capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    if built.returncode != 0:
        pytest.fail(f"go build of {LOADER_SOURCE} failed:\n{built.stderr[-4000:]}")
    return binary


def run_loader(binary: Path, *args: str, env: dict[str, str] | None = None, cwd: Path = REPO_ROOT) -> Any:
    """Run ``compose_loader`` with only PATH (plus ``env``) in its environment; decode its JSON answer.

    A bare environment keeps the developer's shell variables out of the interpolation.
    """
    result = subprocess.run(
        [str(binary), *args], cwd=cwd, env={"PATH": os.environ.get("PATH", ""), **(env or {})},
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    if result.returncode != 0:
        raise LoaderError(result.stderr.strip())
    return json.loads(result.stdout)


def docker_config() -> dict[str, Any]:
    """The committed Flink configuration of the image, flattened (``{"rest.port": 8081, ...}``)."""
    return flatten(yaml.safe_load((REPO_ROOT / DOCKER_CONFIG).read_text()))


def dockerfile_instructions(path: Path = REPO_ROOT / "docker" / "Dockerfile") -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of a Dockerfile: continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        instructions.append((keyword.upper(), " ".join(rest.split())))
        pending = ""
    return instructions
