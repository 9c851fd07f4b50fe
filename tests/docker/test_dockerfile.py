"""docker/Dockerfile and .dockerignore: pinned bases, jars fetched in the build, paths the runtime expects.

The image is not built here (no Docker engine); the build context is checked with the Docker build's own
pattern matcher (through compose_loader).
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from rtcef_ops.flink_config import DOCKER_CONFIG, DOCKER_DEPLOYMENT
from tests.docker.container_files import docker_config, dockerfile_instructions, run_loader
from tests.repo_data import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
PROJECT_DIR = "/opt/rtcef"


def _args() -> dict[str, str]:
    """The global build arguments and their defaults."""
    return dict(
        args.split("=", 1) for keyword, args in dockerfile_instructions() if keyword == "ARG" and "=" in args
    )


def _stages() -> list[tuple[str, str | None]]:
    """``(base image, stage name)`` of every FROM, build arguments resolved."""
    stages = []
    for keyword, args in dockerfile_instructions():
        if keyword == "FROM":
            words = args.split()
            image = re.sub(r"\$\{(\w+)\}", lambda m: _args()[m.group(1)], words[0])
            stages.append((image, words[2] if len(words) > 2 and words[1].upper() == "AS" else None))
    return stages


def _copies() -> list[tuple[dict[str, str], list[str], str]]:
    """``(flags, sources, destination)`` of every COPY."""
    copies = []
    for keyword, args in dockerfile_instructions():
        if keyword == "COPY":
            words = args.split()
            flags = dict(w[2:].split("=", 1) for w in words if w.startswith("--"))
            paths = [w for w in words if not w.startswith("--")]
            copies.append((flags, paths[:-1], paths[-1]))
    return copies


def _runs() -> str:
    return "\n".join(args for keyword, args in dockerfile_instructions() if keyword == "RUN")


def _pinned_flink_version() -> str:
    pins = [d for d in PYPROJECT["project"]["dependencies"] if d.startswith("apache-flink==")]
    assert len(pins) == 1
    return pins[0].split("==")[1]


def test_every_base_image_is_pinned_and_flink_matches_the_wheel() -> None:
    images = dict((name or "final", image) for image, name in _stages())
    assert set(images) == {"flink", "jars", "final"}
    for image in images.values():
        name, _, tag = image.partition(":")
        assert tag and tag != "latest", image
    java = re.fullmatch(rf"flink:{re.escape(_pinned_flink_version())}-scala_2\.12-java(\d+)", images["flink"])
    assert java is not None, f"{images['flink']}: not the Flink release of the apache-flink wheel"
    # The final stage: the same Java release as the official Flink image, on an OS that has python3.11.
    assert images["final"] == f"eclipse-temurin:{java.group(1)}-jre-jammy"
    assert images["jars"].endswith(f"-eclipse-temurin-{java.group(1)}")


def test_the_python_of_the_image_is_the_one_the_project_pins() -> None:
    requires = PYPROJECT["project"]["requires-python"]
    minor = re.search(r">=3\.(\d+),<3\.(\d+)", requires)
    assert minor is not None and int(minor.group(2)) == int(minor.group(1)) + 1, requires
    python = f"python3.{minor.group(1)}"
    runs = _runs()
    assert re.search(rf"apt-get install .*\b{python}\b.*\b{python}-venv\b", runs)
    venv = str(Path(DOCKER_DEPLOYMENT.python).parent.parent)
    assert f"{python} -m venv {venv}" in runs
    envs = [args for keyword, args in dockerfile_instructions() if keyword == "ENV"]
    env_path = next(args for args in envs if args.startswith("PATH="))
    assert env_path.split("=", 1)[1].split(":")[0] == str(Path(DOCKER_DEPLOYMENT.python).parent)


def test_the_connector_is_fetched_in_the_build_and_both_jars_land_in_the_cluster_lib() -> None:
    copies = _copies()
    assert (
        {},
        ["runtime/pom.xml"],
        "pom.xml",
    ) in copies, "the Maven stage resolves the project's runtime/pom.xml"
    fetch = r"mvn .*dependency:copy-dependencies .*-Pconnector .*-DoutputDirectory=/build/connector"
    assert re.search(fetch, _runs())
    from_jars = [(flags, dest) for flags, sources, dest in copies if flags.get("from") == "jars"]
    assert [dest for _, dest in from_jars] == ["/opt/flink/lib/"]
    assert "cp /opt/flink/opt/flink-python-*.jar /opt/flink/lib/" in _runs()
    context_sources = [s for flags, sources, _ in copies if "from" not in flags for s in sources]
    assert not any(s.startswith("runtime/lib") for s in context_sources), "jars must not come from the host"


def test_the_image_gets_the_generated_flink_config() -> None:
    assert ({"chown": "flink:flink"}, [str(DOCKER_CONFIG)], "/opt/flink/conf/config.yaml") in _copies()


def test_the_image_has_every_package_and_the_default_patterns() -> None:
    includes = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = [p.rstrip("*") for p in includes if (REPO_ROOT / p.rstrip("*")).is_dir()]
    copied = {s[0]: dest for flags, s, dest in _copies() if "from" not in flags and len(s) == 1}
    for folder in [*packages, "patterns"]:
        assert copied.get(folder) == f"./{folder}", folder
    workdirs = [args for keyword, args in dockerfile_instructions() if keyword == "WORKDIR"]
    assert PROJECT_DIR in workdirs
    assert "pip install --no-cache-dir --no-deps -e . --config-settings editable_mode=compat" in _runs()


def test_the_shared_volume_mount_point_belongs_to_the_flink_user() -> None:
    data_dir = DOCKER_DEPLOYMENT.state_dir
    assert f"mkdir -p {data_dir} && chown -R flink:flink {data_dir}" in _runs()
    users = [args for keyword, args in dockerfile_instructions() if keyword == "USER"]
    assert users[-1] == "flink"
    assert docker_config()["python.executable"] == DOCKER_DEPLOYMENT.python


def _context_files(folder: str) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", folder],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return [name for name in listed if (REPO_ROOT / name).is_file()]


@pytest.fixture(scope="module")
def ignored(compose_loader: Path) -> Any:
    """``ignored(paths) -> {path: left out of the build context?}`` by the Docker build's matcher."""

    def check(paths: list[str]) -> dict[str, bool]:
        answer: dict[str, bool] = run_loader(compose_loader, "dockerignore", "-f", ".dockerignore", *paths)
        return answer

    return check


def test_the_build_context_carries_everything_the_dockerfile_copies(ignored: Any) -> None:
    sources = [s for flags, sources, _ in _copies() if "from" not in flags for s in sources]
    files = [name for source in sources for name in _context_files(source)]
    assert len(files) > len(sources)
    assert [name for name, out in ignored(files).items() if out] == []


def test_the_build_context_leaves_out_host_state_jars_and_caches(ignored: Any) -> None:
    host_only = [
        ".venv/bin/python", ".git/HEAD", "run/flink/conf/config.yaml", "run/data/models/registry.json",
        "runtime/lib/connector/flink-sql-connector-kafka-5.0.0-2.2.jar", "runtime/lib/.fetched",
        "out/eval/weekly.csv", ".pytest_cache/v/cache/nodeids", ".mypy_cache/3.11/x.json",
        ".ruff_cache/content", "protocol/__pycache__/settings.cpython-311.pyc",
        "flink_rtcef_py.egg-info/PKG-INFO", "tests/conftest.py", "benchmarks/bench_runtime.py",
    ]  # fmt: skip
    assert [name for name, out in ignored(host_only).items() if not out] == []
