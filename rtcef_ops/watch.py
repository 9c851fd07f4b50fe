"""`make watch`: a live picture of the adaptation loop, a self-refreshing page written to ``run/watch/``.

It follows the score reports, the observer's instructions, the factory's reports and the engine's
pause/play messages of a running deployment and, whenever a score report arrives, redraws the weekly MCC
(:func:`rtcef_ops.demo_report.plot_weekly`: the adaptive line, retrain and optimise markers, a dashed line
where each new model went live, and the unchanged bootstrap model when ``--static-stream`` is given) and
rewrites ``index.html``, which reloads itself every few seconds. Open it next to the Flink web UI.

Why a page rather than a terminal chart: the people watching already have the web UI open in a browser, a
browser shows the same plot the demo saves at the end, and a page works over SSH port forwarding and in
any terminal. Each report is also printed as one line.

The demo (``make demo``) writes the same page for its own run to ``run/demo/<id>/live/``.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from protocol.settings import Domain, Settings, load_settings
from rtcef_ops.demo_domains import PROFILES, DemoDomain, week_of
from rtcef_ops.demo_report import LoopLog, go_live_weeks, plot_weekly, production_summary, weekly_rows
from rtcef_ops.paths import RuntimePaths

__all__ = ["LivePage", "build_parser", "follow", "main"]

REFRESH_S = 5


class LivePage:
    """``index.html`` + ``weekly_mcc.png`` in ``folder``, redrawn from a :class:`LoopLog` when it has new
    score reports. Weeks count from ``t0`` (default: the first report's interval start, which is where the
    jobs anchor their intervals)."""

    def __init__(
        self,
        folder: Path,
        profile: DemoDomain,
        *,
        t0: int | None = None,
        static: Mapping[int, float] | None = None,
        drift_weeks: Sequence[int] = (),
        title: str = "Weekly MCC of the running loop",
    ) -> None:
        self.folder = folder
        self.profile = profile
        self.t0 = t0
        self.static = dict(static or {})
        self.drift_weeks = list(drift_weeks)
        self.title = title
        self.drawn = 0

    @property
    def index(self) -> Path:
        return self.folder / "index.html"

    def update(self, log: LoopLog) -> bool:
        """Redraw if score reports arrived since the last drawing; returns whether it did."""
        if len(log.scores) == self.drawn:
            return False
        if self.t0 is None:
            self.t0 = int(log.scores[0]["interval_start"])
        self.folder.mkdir(parents=True, exist_ok=True)
        week_ticks, ticks = self.profile.week_ticks, self.profile.ticks_per_second
        rows = weekly_rows(log, self.static, self.t0, week_ticks, self.drift_weeks)
        live = go_live_weeks(log.syncs, self.t0, week_ticks, ticks)
        image = self.folder / "weekly_mcc.png"
        drawing = image.with_name(".weekly_mcc.tmp.png")
        plot_weekly(rows, drawing, self.drift_weeks, self.title, live)
        os.replace(drawing, image)  # a browser reloading meanwhile sees the old or the new picture
        span = int(log.scores[-1]["timestamp"]) - self.t0
        page = _page(self.title, rows, live, production_summary(log, span, ticks), len(log.scores))
        _write_atomically(self.index, page)
        self.drawn = len(log.scores)
        return True


def _page(
    title: str, rows: Sequence[Mapping[str, Any]], live: Sequence[tuple[float, str]], summary: str, n: int
) -> str:
    """The self-refreshing page: the plot, when models went live, and the weekly rows, newest first."""
    esc = html.escape
    lines = "".join(
        f"<tr><td>{r['week']}</td><td>{r['adaptive_mcc']:.3f}</td>"
        f"<td>{'' if r['static_mcc'] == '' else format(r['static_mcc'], '.3f')}</td>"
        f"<td>{esc(str(r['model']))}</td><td>{esc(str(r['instruction']))}</td></tr>"
        for r in reversed(rows)
    )
    went_live = ", ".join(f"{esc(m)} in week {w:.1f}" for w, m in live) or "none yet"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="{REFRESH_S}">
<title>{esc(title)}</title>
<style>body{{font-family:sans-serif;margin:1.5em}} td,th{{padding:2px 10px;text-align:right}}
table{{border-collapse:collapse}} tr:nth-child(even){{background:#f3f3f3}}</style></head>
<body><h2>{esc(title)}</h2>
<p>{n} score reports; updated {time.strftime("%H:%M:%S")}; this page reloads every {REFRESH_S} s.</p>
<img src="weekly_mcc.png?{n}" alt="weekly MCC" width="900">
<p>New models live: {went_live}</p><p>{esc(summary)}</p>
<table><tr><th>week</th><th>adaptive</th><th>static</th><th>model</th><th>instruction</th></tr>{lines}</table>
</body></html>
"""


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def follow(
    settings: Settings,
    on_record: Callable[[str, dict[str, Any]], None],
    *,
    stop: Callable[[], bool] = lambda: False,
    from_beginning: bool = True,
) -> None:
    """``on_record(topic, record)`` for each JSON record of the loop's control topics until ``stop()``."""
    from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                         "group.id": f"watch-{uuid.uuid4().hex}"})  # fmt: skip
    start = OFFSET_BEGINNING if from_beginning else OFFSET_END
    topics = (settings.score_topic, settings.instruction_topic, settings.report_topic, settings.sync_topic)
    consumer.assign([TopicPartition(topic, 0, start) for topic in topics])
    try:
        while not stop():
            message = consumer.poll(0.5)
            value = None if message is None or message.error() is not None else message.value()
            if message is None or value is None:
                continue
            try:
                record = json.loads(value)
            except ValueError:
                continue  # not a record of the contract: the jobs dead-letter it, the picture ignores it
            if isinstance(record, dict):
                on_record(str(message.topic()), record)
    finally:
        consumer.close()


def collect(log: LoopLog, settings: Settings) -> Callable[[str, dict[str, Any]], None]:
    """A ``follow`` callback appending each record to its list of ``log``."""
    lists = {settings.score_topic: log.scores, settings.instruction_topic: log.instructions,
             settings.report_topic: log.reports, settings.sync_topic: log.syncs}  # fmt: skip

    def on_record(topic: str, record: dict[str, Any]) -> None:
        lists[topic].append(record)

    return on_record


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.topic_prefix:
        overrides = {name: f"{args.topic_prefix}{topic}" for name, topic in settings.topics().items()}
        settings = settings.model_copy(update=overrides)
    profile = PROFILES[Domain(args.domain or settings.domain.value)]
    static: dict[int, float] = {}
    if args.static_stream and args.static_model:
        from rtcef_ops.demo_report import static_weekly_mcc

        t0 = _first_timestamp(Path(args.static_stream))
        static = static_weekly_mcc(Path(args.static_model), Path(args.static_stream), t0, profile)
    page = LivePage(Path(args.out), profile, static=static)
    log = LoopLog()
    store = collect(log, settings)
    deadline = time.monotonic() + args.duration if args.duration else None

    def on_record(topic: str, record: dict[str, Any]) -> None:
        store(topic, record)
        if topic == settings.score_topic and page.update(log):
            week = week_of(record["interval_start"], page.t0 or 0, profile.week_ticks)
            print(f"week {week}: model {record['model_id']} batch MCC {record['batch']['mcc']:.3f} "
                  f"-> {page.index}", flush=True)  # fmt: skip

    print(f"following {settings.score_topic} on {settings.kafka_bootstrap_servers}; "
          f"open {Path(args.out).resolve() / 'index.html'} (Ctrl-C stops)", flush=True)  # fmt: skip
    with contextlib.suppress(KeyboardInterrupt):
        follow(settings, on_record, stop=lambda: deadline is not None and time.monotonic() > deadline)
    return 0


def _first_timestamp(stream: Path) -> int:
    import pandas as pd

    return int(pd.read_csv(stream, usecols=["timestamp"])["timestamp"].min())


def build_parser() -> argparse.ArgumentParser:
    """Options of ``make watch``, all kebab-case."""
    parser = argparse.ArgumentParser(prog="python -m rtcef_ops.watch", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--out", default=str(RuntimePaths().run / "watch"), help="folder of index.html and the plot")
    add("--topic-prefix", default="", help="prefix of every topic name (e.g. a demo run's 'demo<id>-')")
    add("--domain", choices=[d.value for d in Domain], default=None, help="domain (default: DOMAIN setting)")
    add("--static-stream", default=None, help="stream CSV to score the unchanged model on (static line)")
    add("--static-model", default=None, help="model file of the static line (e.g. models/initial.spst)")
    add("--duration", type=float, default=0.0, help="stop after this many seconds (0: until Ctrl-C)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``make watch``; returns the exit status."""
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
