"""End to end on the real runtime: the inference job's metrics move, seen through the Flink REST API, the
Prometheus endpoint and the web UI in a real browser.

Only the inference job runs (submitted once for the module); the test plays the controller on the run's
sync topic, as ``test_swap.py`` does. A synthetic stream (4 vessels, 2 weeks) is fed in two parts:

1. week 0 on the bootstrap model ``initial``: ``events_in`` reaches the number of events fed,
   ``forecasts_out`` grows, ``model_version`` is -1 (the bootstrap model's id ends in no number) and
   ``model_key.initial.in_use`` is 1;
2. PAUSE: ``paused`` goes to 1; week 1 is fed and held: ``buffered_events`` reaches its size, no forecast;
3. PLAY with ``wayeb_901`` (production time 0): ``paused`` goes back to 0, the held events are replayed on the
   new model, so ``buffered_events`` is 0, ``model_version`` 901, ``swaps`` positive, and the forecast
   latency's maximum covers the pause.

Each step is read through the REST API (``rtcef_ops.live_metrics``, what ``make status`` prints; the
JobManager refreshes those values every 10 s) and through the Prometheus endpoints of the cluster's
processes, which must all listen on loopback (ports 9249-9259). The reporter is configured when the cluster
starts: a cluster started before it was added has no endpoint, and the test says so.

The browser check opens the job's page of the web UI in headless Chromium (the Debian package
``chromium``: installed here with apt-get when ``CI=true``, otherwise the test is skipped if it is missing),
saves a screenshot in the test's temporary folder and checks that the page shows the job RUNNING.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from confluent_kafka import Producer
from e2e_support import cancel_jobs, delete_topics, isolated_env, run_module, running_cluster, wait_running
from restart_support import stream_events, write_csv

from inference_job.bootstrap import bootstrap
from inference_job.metrics import NO_VERSION
from protocol.codec import encode
from protocol.messages import EngineSync, SyncType
from protocol.settings import Settings
from rtcef_ops.flink_cluster import REST_PORT, FlinkCluster, rest_get
from rtcef_ops.live_metrics import Sample, describe, job_metrics, parse_prometheus, scrape
from rtcef_ops.metrics_plugin import PROMETHEUS_PORTS, port_range
from rtcef_ops.paths import RuntimePaths
from rtcef_ops.sockets import is_loopback, listeners, process_tree
from rtcef_ops.submit import submit

DAY = 24 * 3600
NEW_MODEL = "wayeb_901"
NEW_VERSION = 901
REST_WAIT_S = 90  # the JobManager fetches metrics from the TaskManagers every 10 s
OPERATOR = "flink_taskmanager_job_task_operator_"
"""Prefix of an operator metric's name in Prometheus (``<prefix><group>_<metric>`` for a key/value group)."""

T = TypeVar("T")


@dataclass
class Run:
    cluster: FlinkCluster
    settings: Settings
    env: dict[str, str]
    job_id: str
    parts: list[Path]
    sizes: list[int]
    pause_ts: int
    new_model: Path
    tmp: Path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str) -> Iterator[Run]:
    """The inference job of an isolated run, submitted once, with a stream in two parts and a second model."""
    cluster = running_cluster()
    tmp = tmp_path_factory.mktemp("metrics")
    env, settings, _ = isolated_env(
        tmp / "data",
        kafka_bootstrap,
        {"REPORTING_INTERVAL_S": str(DAY), "CHECKPOINT_INTERVAL_MS": "2000", "WATERMARK_DELAY_S": "60",
         "PAUSE_TIMEOUT_MS": "600000"},
    )  # fmt: skip
    job_ids: list[str] = []
    try:
        stream = tmp / "stream.csv"
        synthetic = ["--weeks", "2", "--vessels", "4", "--seed", "11", "--compress", "6", "--no-drift"]
        run_module(["-m", "mocks.synthetic", "--out", str(stream), *synthetic], env)
        events = stream_events(stream)
        t0 = int(events[0]["timestamp"])
        cut = next(i for i, e in enumerate(events) if int(e["timestamp"]) >= t0 + 7 * DAY)
        parts = [write_csv(tmp / "part0.csv", events[:cut]), write_csv(tmp / "part1.csv", events[cut:])]
        run_module(["-m", "inference_job.bootstrap", "--stream", str(stream), "--weeks", "1"], env)
        target = settings.models_dir / f"{NEW_MODEL}.spst"
        new_model = bootstrap(
            settings, stream, 2, target, model_id=NEW_MODEL, registry_path=tmp / "side.json"
        )
        job_ids = [submit("inference_job", RuntimePaths(), extra_env=env)]
        wait_running(job_ids, timeout=180)
        yield Run(cluster, settings, env, job_ids[0], parts, [cut, len(events) - cut],
                  int(events[cut - 1]["timestamp"]), Path(new_model), tmp)  # fmt: skip
    finally:
        cancel_jobs(job_ids)
        delete_topics(settings)


# ------------------------------------------------------------------------------------------- reading


def wait_for(read: Callable[[], T], done: Callable[[T], bool], timeout: float, what: str) -> T:
    """Poll ``read()`` until ``done`` holds; fail the test with the last value after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = read()
        except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
            last = exc
        else:
            if done(last):
                return last
        time.sleep(1.0)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last seen: {last}")


def engine_rest(job_id: str) -> dict[str, float]:
    """The engine's metrics over REST, subtasks combined (``make status`` reads the same)."""
    return dict(job_metrics(job_id, rest_get).get("engine", {}))


def prometheus_ports(cluster: FlinkCluster) -> list[int]:
    """Ports in the reporter's range that the cluster's processes listen on; all must be on loopback."""
    found = [
        lst for lst in listeners(process_tree(cluster.pids())) if lst.port in port_range(PROMETHEUS_PORTS)
    ]
    assert found, (
        f"no Prometheus endpoint on ports {PROMETHEUS_PORTS}: the cluster was started before the reporter "
        "was configured; restart it (`make stop && make start`)"
    )
    exposed = [lst for lst in found if not is_loopback(lst.ip)]
    assert exposed == [], f"Prometheus endpoints reachable from other hosts: {exposed}"
    return sorted({lst.port for lst in found})


def prometheus(cluster: FlinkCluster) -> list[Sample]:
    """The samples of every Prometheus endpoint of the cluster (JobManager and TaskManagers)."""
    samples: list[Sample] = []
    for port in prometheus_ports(cluster):
        samples += parse_prometheus(scrape(port))
    return samples


def prom(
    samples: list[Sample],
    metric: str,
    job_id: str,
    combine: Callable[[list[float]], float] = sum,
    **labels: str,
) -> float | None:
    """An operator metric of the job in Prometheus, its subtasks combined (summed unless ``combine`` says
    otherwise: flags and versions take ``max``); None when absent."""
    found = [s.value for s in samples if s.name == OPERATOR + metric and s.labels.get("job_id") == job_id
             and all(s.labels.get(k) == v for k, v in labels.items())]  # fmt: skip
    return combine(found) if found else None


def send(settings: Settings, sync: EngineSync) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "enable.idempotence": True})
    producer.produce(settings.sync_topic, value=encode(sync))
    assert producer.flush(30) == 0


def feed(run: Run, part: int) -> None:
    run_module(["-m", "mocks.data_feeder", "--stream", str(run.parts[part]), "--fast", "--quiet"], run.env)


# --------------------------------------------------------------------------------------------- tests


@pytest.mark.e2e
def test_engine_metrics_follow_events_pause_and_swap_over_rest_and_prometheus(run: Run) -> None:
    first, held = run.sizes
    jid = run.job_id

    # 1. week 0 on the bootstrap model (a batch's counters arrive together, when its bundle ends)
    feed(run, 0)
    engine = wait_for(lambda: engine_rest(jid), lambda m: m.get("events_in") == first, REST_WAIT_S,
                      f"{first} events in the engine's metrics")  # fmt: skip
    forecasts = engine.get("forecasts_out", 0)
    assert forecasts > 0 and engine.get("paused") == 0 and engine.get("buffered_events") == 0
    assert engine["model_version"] == NO_VERSION and engine["model_key.initial.in_use"] == 1
    samples = wait_for(lambda: prometheus(run.cluster), lambda s: prom(s, "events_in", jid) == first, 30,
                       "events_in in Prometheus")  # fmt: skip
    assert prom(samples, "forecasts_out", jid) == forecasts
    assert prom(samples, "model_key_in_use", jid, max, model_key="initial") == 1

    # 2. PAUSE: the flag goes up, week 1 is held
    send(run.settings, EngineSync(type=SyncType.PAUSE, timestamp=run.pause_ts, instruction_id="metrics-e2e"))
    wait_for(lambda: engine_rest(jid), lambda m: m.get("paused") == 1, REST_WAIT_S, "paused = 1 over REST")
    assert prom(prometheus(run.cluster), "paused", jid, max) == 1
    feed(run, 1)
    fed_at = time.monotonic()  # every held event reached the engine about then
    engine = wait_for(lambda: engine_rest(jid), lambda m: m.get("buffered_events") == held, REST_WAIT_S,
                      f"{held} buffered events")  # fmt: skip
    assert engine["events_in"] == first + held and engine["forecasts_out"] == forecasts  # none while paused
    assert prom(prometheus(run.cluster), "buffered_events", jid) == held

    # 3. PLAY a new model: the flag goes down, the held events are replayed on it
    play = EngineSync(type=SyncType.PLAY, timestamp=run.pause_ts, instruction_id="metrics-e2e",
                      model_id=NEW_MODEL, model_path=str(run.new_model), production_time=0.0)  # fmt: skip
    played_at = time.monotonic()
    send(run.settings, play)
    resumed = {"paused": 0, "buffered_events": 0, "model_version": NEW_VERSION,
               "announced_model_version": NEW_VERSION, f"model_key.{NEW_MODEL}.in_use": 1}  # fmt: skip
    # (counters and gauges of the Python worker reach Flink with its bundles, not all in the same one, and a
    # gauge registered on the way, like the new model's in_use, may show up over REST a fetch later: wait
    # for all of them and for the replay's forecasts)
    engine = wait_for(
        lambda: engine_rest(jid),
        lambda m: all(m.get(k) == v for k, v in resumed.items()) and m.get("forecasts_out", 0) > forecasts,
        REST_WAIT_S, f"{resumed} and the replay's forecasts over REST",
    )  # fmt: skip
    assert engine["swaps"] >= 1
    # (the maximum over subtasks: with PARALLELISM > 1 a subtask whose keys sent nothing in week 1 would
    # still show initial in use)
    assert engine["announced_model_version"] == NEW_VERSION and engine[f"model_key.{NEW_MODEL}.in_use"] == 1
    held_ms = (played_at - fed_at) * 1000  # about how long the replayed events were held (a lower bound)
    assert engine["forecast_latency_ms_max"] >= held_ms / 2, "the replay's latency covers the pause"
    samples = prometheus(run.cluster)
    assert prom(samples, "paused", jid, max) == 0 and prom(samples, "buffered_events", jid) == 0
    assert prom(samples, "model_version", jid, max) == NEW_VERSION
    assert prom(samples, "model_key_in_use", jid, max, model_key=NEW_MODEL) == 1
    assert prom(samples, "events_in", jid) == first + held
    assert (prom(samples, "forecasts_out", jid) or 0) >= engine["forecasts_out"]

    # what `make status` prints for the job
    (line,) = describe(job_metrics(jid, rest_get))
    assert NEW_MODEL in line.split(" · ")[0] and "paused no · buffered 0" in line


def chromium() -> str:
    """The headless browser: Debian's ``chromium``, installed with apt-get under CI (where its absence
    fails the test); elsewhere the test skips without it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.environ.get("CI") == "true":
        for command in (
            ["apt-get", "update"],
            ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
        ):
            subprocess.run(command, check=True, capture_output=True, timeout=900, stdin=subprocess.DEVNULL,
                           env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})  # fmt: skip
        found = shutil.which("chromium")
    if found is None:
        why = "no chromium on PATH (install the Debian package `chromium`; under CI=true it is installed)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why}, and installing it did not put it there")
        pytest.skip(why)
    return found


def browse(browser: str, profile: Path, url: str, *flags: str) -> str:
    """Run headless Chromium on ``url`` with ``flags``; its standard output."""
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={profile}", "--virtual-time-budget=10000", *flags, url],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"chromium failed: {result.stderr[-2000:]}"
    return result.stdout


@pytest.mark.e2e
def test_the_web_ui_shows_the_job_running_in_a_real_browser(run: Run) -> None:
    browser = chromium()
    url = f"http://localhost:{REST_PORT}/#/job/running/{run.job_id}/overview"
    dom = browse(browser, run.tmp / "chromium-profile", url, "--dump-dom")
    assert run.job_id in dom and "inference_job" in dom, "the job's page did not render"
    assert "RUNNING" in dom
    screenshot = run.tmp / "flink-ui-inference-job.png"
    browse(browser, run.tmp / "chromium-profile", url, "--window-size=1400,900", f"--screenshot={screenshot}")
    image = screenshot.read_bytes()
    assert image.startswith(b"\x89PNG\r\n\x1a\n") and len(image) > 10_000, f"no screenshot at {screenshot}"
    print(f"web UI screenshot: {screenshot}")
