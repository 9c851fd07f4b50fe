"""The model registry: atomic pointer rewrite, idempotent publish, append-only history, CLI."""

from __future__ import annotations

import json

from protocol.messages import CreationMethod, Hyperparameters, MetricSet
from shared_volume.registry import (
    RegistryEntry,
    append_history,
    history_path,
    load_history,
    load_registry,
    main,
    publish,
)

METRICS = MetricSet(tp=3, tn=90, fp=2, fn=5, precision=0.6, recall=0.375, f1=0.4615, mcc=0.44)


def _entry(
    model_id: str, method: CreationMethod = CreationMethod.RETRAIN, metrics: MetricSet | None = None
) -> RegistryEntry:
    return RegistryEntry(
        model_id=model_id,
        path=f"/vol/models/{model_id}.spst",
        params=Hyperparameters(confidence=0.5, order=2, p_min=0.01, gamma=0.001),
        creation_method=method,
        production_time=1.25,
        dataset_version=3,
        metrics=metrics,
        created_at=1700000000.0,
    )


def test_missing_registry_is_empty(tmp_path):
    registry = load_registry(tmp_path / "registry.json")
    assert registry.current is None and registry.models == ()


def test_publish_appends_and_sets_current(tmp_path):
    path = tmp_path / "models" / "registry.json"
    publish(path, _entry("wayeb_0"))
    publish(path, _entry("wayeb_4", CreationMethod.OPTIMISATION))
    registry = load_registry(path)
    assert registry.current == "wayeb_4"
    assert [m.model_id for m in registry.models] == ["wayeb_0", "wayeb_4"]
    assert registry.current_entry().creation_method is CreationMethod.OPTIMISATION
    raw = json.loads(path.read_text())
    assert raw["current"] == "wayeb_4" and raw["models"][0]["path"] == "/vol/models/wayeb_0.spst"
    # no temp file left behind; the lock file stays (waiters must share its inode)
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["history.jsonl", "registry.json", "registry.lock"]


def test_republishing_an_id_replaces_it(tmp_path):
    path = tmp_path / "registry.json"
    publish(path, _entry("wayeb_0"))
    publish(path, _entry("wayeb_1"))
    publish(path, _entry("wayeb_0"))
    registry = load_registry(path)
    assert [m.model_id for m in registry.models] == ["wayeb_1", "wayeb_0"] and registry.current == "wayeb_0"


def test_publish_without_making_current(tmp_path):
    path = tmp_path / "registry.json"
    publish(path, _entry("wayeb_0"))
    publish(path, _entry("wayeb_1"), make_current=False)
    assert load_registry(path).current == "wayeb_0"


def test_cli_lists_models(tmp_path, capsys):
    path = tmp_path / "registry.json"
    publish(path, _entry("wayeb_7", CreationMethod.OPTIMISATION))
    assert main(["list", "--path", str(path)]) == 0
    out = capsys.readouterr().out
    assert "current: wayeb_7" in out and "* wayeb_7" in out and "optimisation" in out
    assert main(["json", "--path", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["current"] == "wayeb_7"


def test_every_publication_appends_one_history_line(tmp_path):
    path = tmp_path / "models" / "registry.json"
    publish(path, _entry("wayeb_0"))
    publish(path, _entry("wayeb_4", CreationMethod.OPTIMISATION, METRICS))
    publish(path, _entry("wayeb_0"))  # a replayed publication: the registry replaces, the history appends
    lines = history_path(path).read_text().splitlines()
    assert len(lines) == 3
    first = json.loads(lines[1])
    assert first["model_id"] == "wayeb_4" and first["metrics"]["mcc"] == 0.44
    assert first["params"] == {"confidence": 0.5, "order": 2, "p_min": 0.01, "gamma": 0.001}
    assert (first["dataset_version"], first["production_time"]) == (3, 1.25)
    assert first["created_at"] == 1700000000.0
    history = load_history(history_path(path))
    assert [h.model_id for h in history] == ["wayeb_0", "wayeb_4", "wayeb_0"]
    assert history[1] == _entry("wayeb_4", CreationMethod.OPTIMISATION, METRICS)
    assert [m.model_id for m in load_registry(path).models] == ["wayeb_4", "wayeb_0"]


def test_history_is_only_appended_never_rewritten(tmp_path):
    path = tmp_path / "registry.json"
    publish(path, _entry("wayeb_0"))
    before = history_path(path).read_bytes()
    publish(path, _entry("wayeb_1"))
    after = history_path(path).read_bytes()
    assert after.startswith(before) and after.count(b"\n") == 2


def test_a_torn_last_line_is_skipped_and_the_next_append_starts_a_new_line(tmp_path):
    history = tmp_path / "history.jsonl"
    append_history(history, _entry("wayeb_0"))
    with history.open("a") as handle:
        handle.write('{"model_id": "wayeb_1", "pa')  # a crash mid-append
    assert [h.model_id for h in load_history(history)] == ["wayeb_0"]
    append_history(history, _entry("wayeb_2"))
    assert [h.model_id for h in load_history(history)] == ["wayeb_0", "wayeb_2"]


def test_registry_without_metrics_field_still_loads(tmp_path):
    """A registry written before metrics were recorded (and the engines' lookup) keeps working."""
    path = tmp_path / "registry.json"
    old = {"current": "initial", "models": [{"model_id": "initial", "path": "/m/initial.spst",
                                             "creation_method": "initial", "created_at": 1.0}]}
    path.write_text(json.dumps(old))
    entry = load_registry(path).current_entry()
    assert entry is not None and entry.path == "/m/initial.spst" and entry.metrics is None
    assert load_history(history_path(path)) == []


def test_cli_prints_the_history(tmp_path, capsys):
    path = tmp_path / "registry.json"
    assert main(["history", "--path", str(path)]) == 0
    assert "no publications" in capsys.readouterr().out
    publish(path, _entry("wayeb_0"))
    publish(path, _entry("wayeb_7", CreationMethod.OPTIMISATION, METRICS))
    assert main(["history", "--path", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "wayeb_7" in out[1] and "mcc=0.4400" in out[1] and "mcc=-" in out[0]
