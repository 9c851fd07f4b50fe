"""The factory's metrics move as it works: the real Flink function with fake tools and metric group."""

from __future__ import annotations

import itertools
from typing import Any

from factory_fakes import FakeTools, command, dataset, params
from metric_fakes import FakeMetricsRuntime

from factory_job.factory_process import FactoryProcess
from factory_job.main import ASSEMBLY_TAG, DEAD_LETTER_TAG
from factory_job.metrics import FactoryMetrics, MeteredTools
from flink_common.io import string_tag
from protocol.codec import encode
from protocol.messages import CommandType
from protocol.settings import Settings

T = CommandType


class Runtime(FakeMetricsRuntime):
    """Runtime context, value state, context and timer service of the factory in one."""

    def __init__(self) -> None:
        super().__init__()
        self.raw: str | None = None

    def get_state(self, descriptor: Any) -> Runtime:
        return self

    def value(self) -> str | None:
        return self.raw

    def update(self, raw: str) -> None:
        self.raw = raw

    def timer_service(self) -> Runtime:
        return self

    def register_processing_time_timer(self, ms: int) -> None:
        pass


def test_commands_models_durations_dataset_and_errors_are_counted(settings: Settings) -> None:
    tools, runtime = FakeTools(rows_by_version={0: 800}), Runtime()
    fn = FactoryProcess(settings, string_tag(ASSEMBLY_TAG), string_tag(DEAD_LETTER_TAG), lambda _s: tools)
    fn.open(runtime)  # type: ignore[arg-type]
    assert runtime.gauge("last_train_ms") is None  # nothing trained yet
    list(fn.process_element1(encode(command("c0", T.TRAIN)), runtime))  # type: ignore[arg-type]
    assert runtime.gauge("pending_commands") == 1  # no dataset yet: buffered
    list(fn.process_element2(encode(dataset(0)), runtime))  # type: ignore[arg-type]
    assert (runtime.gauge("dataset_rows"), runtime.gauge("dataset_version")) == (800, 0)
    assert runtime.gauge("pending_commands") == 0
    for cmd in (
        command("c1", T.OPT_INITIALISE),
        command("c2", T.OPT_STEP, step=0, p=params(0.01)),
        command("c3", T.OPT_STEP, step=1, p=params(0.02)),
        command("c4", T.OPT_FINALISE, best=1),
        command("c5", T.OPT_STEP, session="gone", step=0, p=params(0.01)),  # no such session: an error
    ):
        list(fn.process_element1(encode(cmd), runtime))  # type: ignore[arg-type]
    assert {kind.value: runtime.count(f"commands_{kind.value}") for kind in T} == {
        "train": 1, "opt_initialise": 1, "opt_step": 3, "opt_finalise": 1,
    }  # fmt: skip
    assert runtime.count("models_produced") == 4  # the retrain, two candidates, the finalised model
    assert runtime.count("models_published") == 2
    assert runtime.count("errors") == 1
    assert runtime.gauge("last_train_ms") is not None and runtime.gauge("last_score_ms") is not None


def test_metered_tools_time_training_and_scoring_in_milliseconds() -> None:
    metrics, runtime = FactoryMetrics(), FakeMetricsRuntime()
    metrics.bind(runtime)
    ticks = itertools.count(start=10.0, step=0.25)  # every reading of the timer is 250 ms later
    tools = MeteredTools(FakeTools(), metrics, timer=lambda: next(ticks))
    info = FakeTools().assemble(dataset(3)).dataset
    assert info is not None
    tools.train(info, params(), "/vol/models/wayeb_0.spst")
    tools.train_and_score(info, params(), "/vol/models/wayeb_1.spst")
    assert (runtime.gauge("last_train_ms"), runtime.gauge("last_score_ms")) == (250, 250)
    assert runtime.count("models_produced") == 2
