"""The models the engine runs: loaded once per operator, the one keys start with, how a model was made.

Kept apart from :mod:`~inference_job.engine_process` (the Flink function) because the bootstrap, the
benchmarks and the tests load models the same way without a Flink context. Nothing here imports PyFlink.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inference_job.lifecycle import ModelRef
from protocol.messages import CreationMethod
from protocol.settings import Settings

__all__ = [
    "ModelCache",
    "ModelLoadError",
    "confined_model_path",
    "creation_method_of",
    "default_loader",
    "resolve_initial_model",
]

_LOG = logging.getLogger(__name__)


class ModelLoadError(ValueError):
    """A model file could not be loaded for a reason other than a bad file (a loader bug, exhaustion)."""


class ModelCache:
    """Models by path, loaded once per operator instance (least recently used evicted past ``size``)."""

    def __init__(self, loader: Callable[[str], Any], size: int = 4) -> None:
        self._loader = loader
        self._size = size
        self._models: OrderedDict[str, Any] = OrderedDict()

    def __call__(self, path: str) -> Any:
        model = self._models.get(path)
        if model is None:
            model = self._load(path)
            self._models[path] = model
            if len(self._models) > self._size:
                self._models.popitem(last=False)
        self._models.move_to_end(path)
        return model

    def _load(self, path: str) -> Any:
        """The loader's model; any failure is a :class:`ModelLoadError`, so callers that keep the old
        model on ``OSError``/``ValueError`` cover every way a load can fail (recursion, memory included)."""
        try:
            return self._loader(path)
        except (OSError, ValueError):
            raise
        except Exception as exc:
            raise ModelLoadError(f"model {path} cannot be loaded: {type(exc).__name__}: {exc}") from exc


def resolve_initial_model(settings: Settings) -> ModelRef:
    """The model keys start with: the registry's current model, else ``bootstrap_model_path``."""
    from shared_volume.registry import load_registry

    entry = load_registry(settings.registry_path).current_entry()
    if entry is not None:
        return ModelRef(entry.model_id, entry.path, entry.creation_method)
    if settings.bootstrap_model_path is not None:
        return ModelRef("initial", str(settings.bootstrap_model_path), CreationMethod.INITIAL)
    raise FileNotFoundError(
        f"no current model in {settings.registry_path} and BOOTSTRAP_MODEL_PATH is not set: "
        "run `python -m inference_job.bootstrap` first"
    )


def creation_method_of(registry_path: str | None, model_id: str) -> CreationMethod:
    """How a model announced by PLAY was made, from the registry (retrain when unknown)."""
    if registry_path:
        try:
            from shared_volume.registry import load_registry

            entry = load_registry(Path(registry_path)).get(model_id)
            if entry is not None:
                return entry.creation_method
        except (OSError, ValueError) as exc:
            _LOG.warning("cannot read the model registry %s: %s", registry_path, exc)
    return CreationMethod.RETRAIN


def default_loader(path: str, max_bytes: int = Settings.model_fields["max_model_bytes"].default) -> Any:
    """Load a ``.spst`` model with wayeb_py's bounds: a regular file of at most ``max_bytes``, bounded
    JSON depth (a FIFO, a device or a deeply nested file is a ``ModelFileError``, never a hang)."""
    from wayeb_py.engine import SPSTModel

    return SPSTModel.load(path, max_bytes=max_bytes)


def confined_model_path(model_path: str, models_dir: str | None, max_bytes: int) -> str:
    """A PLAY's model path resolved inside ``models_dir`` (a regular file within ``max_bytes``), or
    :class:`~shared_volume.claims.ClaimError`; unchanged when no folder is configured."""
    if models_dir is None:
        return model_path
    from shared_volume.claims import confined_path

    return str(confined_path(model_path, Path(models_dir), max_bytes))
