"""The embedded cluster's plugin folder: the wheel's Prometheus reporter plus the loopback reporter jar.

``javac`` is replaced by a stand-in that writes the class files, so these tests check the folder, the jar's
content and the cache without a JDK; the real compile runs at ``make start`` (and the end-to-end metrics
test scrapes the endpoint it serves).
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from rtcef_ops import metrics_plugin
from rtcef_ops.metrics_plugin import (
    LOOPBACK_FACTORY,
    PLUGIN_NAME,
    PROMETHEUS_PORTS,
    link_plugins,
    port_range,
    stock_reporter_jar,
)
from rtcef_ops.paths import flink_home

FAKE_JAVAC = """#!/bin/sh
# writes the two class files into the folder after -d, and counts its runs
echo run >> "$(dirname "$0")/runs"
while [ "$1" != "-d" ]; do shift; done
mkdir -p "$2/org/apache/flink/metrics/prometheus"
touch "$2/org/apache/flink/metrics/prometheus/LoopbackPrometheusReporter.class" \\
      "$2/org/apache/flink/metrics/prometheus/LoopbackPrometheusReporterFactory.class"
"""


@pytest.fixture()
def fake_javac(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    javac = tmp_path / "bin" / "javac"
    javac.parent.mkdir()
    javac.write_text(FAKE_JAVAC)
    javac.chmod(javac.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(shutil, "which", lambda name: str(javac) if name == "javac" else None)
    return javac


def test_the_wheel_ships_the_prometheus_reporter_plugin() -> None:
    jar = stock_reporter_jar(flink_home())
    assert jar.parent.name == PLUGIN_NAME and jar.name.startswith("flink-metrics-prometheus-")


def test_the_port_range_leaves_room_for_the_jobmanager_and_ten_taskmanagers() -> None:
    assert port_range(PROMETHEUS_PORTS) == range(9249, 9260) and port_range("9249") == range(9249, 9250)


def test_the_plugin_folder_holds_the_reporter_and_the_loopback_jar_built_once(
    tmp_path: Path, fake_javac: Path
) -> None:
    plugins, cache = tmp_path / "plugins", tmp_path / "cache"
    assert link_plugins(plugins, flink_home(), cache) == []
    folder = plugins / PLUGIN_NAME
    names = sorted(p.name for p in folder.iterdir())
    assert names[0].startswith("flink-metrics-prometheus-") and names[1].startswith("loopback-prometheus-")
    with zipfile.ZipFile(folder / names[1]) as jar:
        service = jar.read("META-INF/services/org.apache.flink.metrics.reporter.MetricReporterFactory")
        assert service.decode().strip() == LOOPBACK_FACTORY
        assert "org/apache/flink/metrics/prometheus/LoopbackPrometheusReporterFactory.class" in jar.namelist()
    assert link_plugins(plugins, flink_home(), cache) == []  # a second start reuses the jar
    assert (fake_javac.parent / "runs").read_text().count("run") == 1


def test_without_javac_the_cluster_keeps_the_stock_plugin_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    problems = link_plugins(tmp_path / "plugins", flink_home(), tmp_path / "cache")
    assert len(problems) == 1 and "javac not found" in problems[0]
    (only,) = (tmp_path / "plugins" / PLUGIN_NAME).iterdir()
    assert only.name.startswith("flink-metrics-prometheus-")


def test_a_changed_source_builds_a_new_jar(
    tmp_path: Path, fake_javac: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = metrics_plugin.build_reporter_jar(flink_home(), tmp_path / "cache")
    reporter, factory = metrics_plugin.REPORTER_SOURCES
    changed = tmp_path / reporter.name
    changed.write_text(reporter.read_text() + "\n// changed\n")
    monkeypatch.setattr(metrics_plugin, "REPORTER_SOURCES", (changed, factory))
    assert metrics_plugin.build_reporter_jar(flink_home(), tmp_path / "cache") != first
