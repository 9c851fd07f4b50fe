"""Training and scoring through wayeb_py, and the real side effects on a temporary shared volume."""

from __future__ import annotations

import pandas as pd
import pytest
from factory_fakes import command, params, write_buckets

from factory_job.factory_state import initial_state, step
from factory_job.state import Channel, DatasetInfo
from factory_job.tools import VolumeTools
from factory_job.training import WayebTrainer, load_events, metric_set
from protocol.messages import CommandType, CreationMethod, DatasetVersion, ReportStatus
from protocol.settings import Settings, load_settings
from shared_volume.registry import history_path, load_history, load_registry
from tests.repo_data import DATA_ROOT, maritime_frame
from wayeb_py.engine import SPSTModel
from wayeb_py.estimator import SPSTForecaster
from wayeb_py.evaluation import Metrics
from wayeb_py.patterns import load_pattern

T = CommandType
ROWS = 3000


@pytest.fixture()
def port_settings(tmp_path) -> Settings:
    folder = DATA_ROOT / "patterns" / "port-original"
    return load_settings(
        data_dir=tmp_path / "vol",
        pattern_path=folder / "pattern.sre",
        declarations_path=folder / "declarations.sre",
        threshold=0.4,
        horizon=50,
        max_spread=5,
        min_dataset_events=100,
    )


@pytest.fixture()
def frame() -> pd.DataFrame:
    return maritime_frame(ROWS)


@pytest.fixture()
def dataset_file(tmp_path, frame) -> DatasetInfo:
    path = tmp_path / "dataset_v0.csv"
    frame.to_csv(path, index=False)
    return DatasetInfo(version=0, path=str(path), rows=len(frame))


def test_load_events_keeps_keys_as_text_and_renames_raw_fields(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"mmsi": ["0012", "0012"], "trh": [1.0, 2.0], "lon": [1.0, None]}).to_csv(path, index=False)
    events = load_events(path, "mmsi", "maritime")
    assert events["mmsi"].tolist() == ["0012", "0012"]
    assert "heading" in events.columns and "trh" not in events.columns
    assert events["lon"].isna().tolist() == [False, True]


def test_metric_set_reports_undefined_ratios_as_zero():
    m = metric_set(Metrics(tp=0, tn=5, fp=0, fn=0))
    assert (m.tn, m.precision, m.recall, m.f1, m.mcc) == (5, 0.0, 0.0, 0.0, 0.0)


def test_model_uses_confidence_as_threshold_and_shared_horizon_and_spread(
    port_settings, dataset_file, tmp_path
):
    trainer = WayebTrainer(port_settings)
    path = tmp_path / "m.spst"
    trainer.train(dataset_file, params(0.002, order=3, gamma=0.002, confidence=0.9), str(path))
    model = SPSTModel.load(path)
    assert (
        model.forecast_params.threshold,
        model.forecast_params.horizon,
        model.forecast_params.max_spread,
    ) == (
        0.9,
        50,
        5,
    )
    lp = model.learn_params
    assert (lp.order, lp.p_min, lp.gamma, lp.alpha, lp.r) == (
        3,
        0.002,
        0.002,
        port_settings.alpha,
        port_settings.r,
    )


def test_in_sample_score_matches_a_direct_partitioned_wayeb_evaluation(
    port_settings, dataset_file, frame, tmp_path
):
    trainer = WayebTrainer(port_settings)
    trainer.prepare(dataset_file)
    assert trainer.partition_by == "mmsi"
    metrics = trainer.train_and_score(dataset_file, params(0.001, confidence=0.4), str(tmp_path / "c.spst"))

    pattern = load_pattern(*port_settings.resolved_pattern())
    direct = SPSTForecaster(
        pattern,
        order=2,
        p_min=0.001,
        alpha=port_settings.alpha,
        gamma=0.001,
        r=port_settings.r,
        threshold=0.4,
        horizon=50,
        max_spread=5,
        partitioned=True,
    ).fit(frame)
    expected = direct.score(frame)
    assert (metrics.tp, metrics.tn, metrics.fp, metrics.fn) == (
        expected.tp,
        expected.tn,
        expected.fp,
        expected.fn,
    )
    assert metrics.mcc == pytest.approx(expected.mcc)
    assert metrics.tp + metrics.fn > 0  # the track does enter the port: the score is not trivially empty


def test_prepare_counts_once_for_all_trials(port_settings, dataset_file, tmp_path):
    trainer = WayebTrainer(port_settings)
    trainer.prepare(dataset_file)
    misses = trainer.count_cache.misses
    for i, p_min in enumerate((0.0001, 0.001, 0.01)):
        trainer.train_and_score(dataset_file, params(p_min, order=2), str(tmp_path / f"c{i}.spst"))
    assert trainer.count_cache.misses == misses and trainer.count_cache.hits >= 3


def test_end_to_end_on_a_temporary_volume(port_settings, frame, tmp_path):
    """Buckets -> assembled dataset -> TRAIN -> optimisation session, with the real tools."""
    tools = VolumeTools(port_settings)
    buckets = write_buckets(port_settings.buckets_dir, frame, 3, shuffle_columns=True)
    state = initial_state()

    def feed(message):
        nonlocal state
        state, out = step(state, message, port_settings, tools)
        return out

    out = feed(DatasetVersion(version=0, timestamp=0, bucket_starts=(0, 1, 2), bucket_paths=tuple(buckets)))
    assert [e.channel for e in out] == [Channel.ASSEMBLY]
    assert state.current.rows == ROWS and (port_settings.datasets_dir / "dataset_v0.csv").exists()

    [train] = [e.message for e in feed(command("t1", T.TRAIN, p=params(0.001)))]
    assert train.status is ReportStatus.SUCCESS and train.creation_method is CreationMethod.RETRAIN
    assert train.production_time > 0.0 and SPSTModel.load(train.model_path).pst is not None

    feed(command("i", T.OPT_INITIALISE))
    steps = [
        feed(command(f"s{i}", T.OPT_STEP, step=i, p=params(p)))[0].message
        for i, p in enumerate((0.0001, 0.01))
    ]
    assert all(s.status is ReportStatus.SUCCESS and s.objective == -s.metrics.mcc for s in steps)
    candidate_files = [port_settings.models_dir / f"{s.model_id}.spst" for s in steps]
    assert all(f.exists() for f in candidate_files)

    # A newer dataset arrives mid-session: the locked v0 stays on disk until finalise.
    feed(DatasetVersion(version=1, timestamp=1, bucket_starts=(1, 2), bucket_paths=tuple(buckets[1:])))
    assert (port_settings.datasets_dir / "dataset_v0.csv").exists()

    [final] = [e.message for e in feed(command("f", T.OPT_FINALISE, best=1))]
    assert (
        final.status is ReportStatus.SUCCESS and final.dataset_version == 0 and final.params == params(0.01)
    )
    assert not any(f.exists() for f in candidate_files)
    assert not (port_settings.datasets_dir / "dataset_v0.csv").exists()
    assert (port_settings.datasets_dir / "dataset_v1.csv").exists()

    registry = load_registry(port_settings.registry_path)
    assert [m.model_id for m in registry.models] == [train.model_id, final.model_id]
    assert registry.current == final.model_id and registry.current_entry().dataset_version == 0
    assert sorted(p.name for p in port_settings.models_dir.iterdir()) == sorted(
        ["registry.json", "registry.lock", "history.jsonl", f"{train.model_id}.spst",
         f"{final.model_id}.spst"]
    )  # fmt: skip
    history = load_history(history_path(port_settings.registry_path))
    assert [(h.model_id, h.creation_method) for h in history] == [
        (train.model_id, CreationMethod.RETRAIN),
        (final.model_id, CreationMethod.OPTIMISATION),
    ]
    assert history[0].metrics is None and history[1].metrics == final.metrics == steps[1].metrics
    assert history[1].params == final.params and history[1].dataset_version == 0


def test_first_free_model_number_looks_at_files_and_registry(port_settings):
    from shared_volume.registry import RegistryEntry, publish

    tools = VolumeTools(port_settings)
    assert tools.first_free_model_number() == 0
    port_settings.models_dir.mkdir(parents=True)
    (port_settings.models_dir / "wayeb_4.spst").write_text("x")
    (port_settings.models_dir / "other.spst").write_text("x")
    assert tools.first_free_model_number() == 5
    entry = RegistryEntry(
        model_id="wayeb_9", path="/gone", creation_method=CreationMethod.RETRAIN, created_at=0.0
    )
    publish(port_settings.registry_path, entry)
    assert tools.first_free_model_number() == 10
