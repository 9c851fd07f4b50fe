"""The Flink cluster's Prometheus metrics reporter: its settings and the embedded cluster's plugin folder.

Flink loads metric reporters as *plugins*: one folder per plugin under ``FLINK_PLUGINS_DIR``, each with
its own class loader. The apache-flink wheel ships the Prometheus reporter in
``pyflink/plugins/metrics-prometheus`` (the official Docker image in ``/opt/flink/plugins/``), but that
reporter listens on every interface and has no option for the address. The embedded runtime keeps every
socket on loopback, so :func:`link_plugins` makes the cluster's own plugin folder (``run/flink/plugins``)
with that one plugin plus a small subclass and its factory (``rtcef_ops/java/``) that serve the same
registry on ``127.0.0.1``. They are compiled once against the installed reporter jar (``javac``, part of
the JDK that ``make install`` requires) and cached by content hash, so a start costs nothing after the
first.

The Docker image keeps the stock reporter: inside a container network, listening on the container's
interface is how other containers (a Prometheus server) reach it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

__all__ = [
    "LOOPBACK_FACTORY",
    "PLUGIN_NAME",
    "PROMETHEUS_HOST",
    "PROMETHEUS_PORTS",
    "REPORTER",
    "REPORTER_SOURCES",
    "STOCK_FACTORY",
    "build_reporter_jar",
    "link_plugins",
    "port_range",
    "stock_reporter_jar",
]

REPORTER = "prom"
"""Name of the reporter in ``config.yaml`` (``metrics.reporter.prom.*``)."""

STOCK_FACTORY = "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
LOOPBACK_FACTORY = "org.apache.flink.metrics.prometheus.LoopbackPrometheusReporterFactory"

PROMETHEUS_HOST = "127.0.0.1"
"""Where the embedded cluster's reporters listen."""

PROMETHEUS_PORTS = "9249-9259"
"""Ports of the embedded cluster's reporters: each JVM (the JobManager first, then each TaskManager) takes
the first free one, so up to ten TaskManagers fit next to the JobManager."""

PLUGIN_NAME = "metrics-prometheus"
_JAVA = Path(__file__).resolve().parent / "java"
REPORTER_SOURCES = (
    _JAVA / "LoopbackPrometheusReporter.java",
    _JAVA / "LoopbackPrometheusReporterFactory.java",
)
"""The loopback reporter and its factory (compiled together)."""
_SERVICE = "META-INF/services/org.apache.flink.metrics.reporter.MetricReporterFactory"


def port_range(ports: str = PROMETHEUS_PORTS) -> range:
    """The ports of a ``first-last`` (or single port) specification, as Flink's ``PortRange`` reads it."""
    first, _, last = ports.partition("-")
    return range(int(first), int(last or first) + 1)


def stock_reporter_jar(home: Path) -> Path:
    """The distribution's ``flink-metrics-prometheus`` jar (``plugins/`` first, then ``opt/``)."""
    for folder in (home / "plugins" / PLUGIN_NAME, home / "opt"):
        found = sorted(folder.glob("flink-metrics-prometheus-*.jar"))
        if found:
            return found[0]
    raise FileNotFoundError(f"no flink-metrics-prometheus jar in {home}/plugins/{PLUGIN_NAME} or {home}/opt")


def _compile_classpath(home: Path) -> list[Path]:
    """The reporter jar and the distribution's ``flink-dist`` (metrics API, PortRange, slf4j)."""
    return [stock_reporter_jar(home), *sorted((home / "lib").glob("flink-dist-*.jar"))]


def build_reporter_jar(home: Path, cache: Path) -> Path:
    """The loopback reporter's jar in ``cache``, compiled against ``home``'s reporter if not there yet.

    The file name carries a hash of the source and of the jars it is compiled against, so a changed source
    or Flink release builds a new jar and an unchanged one is reused. Raises ``OSError`` when ``javac`` is
    missing and ``subprocess.CalledProcessError`` when it fails.
    """
    classpath = _compile_classpath(home)
    digest = hashlib.sha256()
    for source in REPORTER_SOURCES:
        digest.update(source.read_bytes())
    for jar in classpath:
        digest.update(jar.name.encode())
    target = cache / f"loopback-prometheus-reporter-{digest.hexdigest()[:12]}.jar"
    if target.exists():
        return target
    javac = shutil.which("javac")
    if javac is None:
        raise FileNotFoundError("javac not found (a JDK 17 is needed; `make install` checks for it)")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as build:
        classes = Path(build) / "classes"
        subprocess.run(
            [javac, "--release", "11", "-nowarn", "-cp", ":".join(map(str, classpath)), "-d", str(classes),
             *map(str, REPORTER_SOURCES)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        partial = Path(build) / target.name
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
            archive.writestr(_SERVICE, LOOPBACK_FACTORY + "\n")
            for path in sorted(classes.rglob("*.class")):
                archive.write(path, path.relative_to(classes).as_posix())
        partial.replace(target)
    return target


def link_plugins(plugins: Path, home: Path, cache: Path) -> list[str]:
    """Make ``plugins`` the cluster's plugin folder: the Prometheus plugin with the loopback reporter.

    Returns the problems (empty when all is well). Without ``javac`` (or when it fails) the folder holds
    the stock plugin only; the configured loopback factory is then not found, which Flink logs and skips:
    the cluster runs without a metrics endpoint rather than not at all, and the web UI and REST API still
    show every metric.
    """
    if plugins.exists():
        shutil.rmtree(plugins)
    folder = plugins / PLUGIN_NAME
    folder.mkdir(parents=True)
    problems: list[str] = []
    try:
        stock = stock_reporter_jar(home)
    except FileNotFoundError as exc:
        return [str(exc)]
    (folder / stock.name).symlink_to(stock.resolve())
    try:
        built = build_reporter_jar(home, cache)
    except FileNotFoundError as exc:
        problems.append(f"no Prometheus endpoint: {exc}")
    except subprocess.CalledProcessError as exc:
        problems.append(f"no Prometheus endpoint: javac failed: {(exc.stderr or '').strip()[-500:]}")
    else:
        (folder / built.name).symlink_to(built.resolve())
    return problems
