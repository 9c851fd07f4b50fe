"""The model registry file: atomic rewrite, idempotent publish, CLI."""

from __future__ import annotations

import json

from factory_job.registry import RegistryEntry, load_registry, main, publish
from protocol.messages import CreationMethod, Hyperparameters


def _entry(model_id: str, method: CreationMethod = CreationMethod.RETRAIN) -> RegistryEntry:
    return RegistryEntry(
        model_id=model_id,
        path=f"/vol/models/{model_id}.spst",
        params=Hyperparameters(confidence=0.5, order=2, p_min=0.01, gamma=0.001),
        creation_method=method,
        production_time=1.25,
        dataset_version=3,
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
    assert [p.name for p in path.parent.iterdir()] == ["registry.json"]  # no temp file left behind


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
