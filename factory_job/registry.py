"""The model registry: ``models/registry.json`` on the shared volume.

The factory is the only writer; the inference job and operators read it. It lists every published model (the
models that reached the engines: retrains and optimisation results, never intermediate optimisation
candidates) and names the ``current`` one. The file is rewritten atomically on every publish, so a reader
never sees a half-written registry.

``python -m factory_job.registry list`` prints the registry of the configured ``DATA_DIR``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from factory_job.files import write_text_atomic
from protocol.messages import CreationMethod, Hyperparameters

__all__ = ["Registry", "RegistryEntry", "load_registry", "main", "publish"]


class RegistryEntry(BaseModel):
    """One published model."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    model_id: str
    path: str
    params: Hyperparameters | None = None
    creation_method: CreationMethod
    production_time: float = 0.0
    dataset_version: int | None = None
    created_at: float
    """Wall-clock epoch seconds of the publication."""


class Registry(BaseModel):
    """All published models, oldest first, and the id of the one engines should use."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    current: str | None = None
    models: tuple[RegistryEntry, ...] = ()

    def get(self, model_id: str) -> RegistryEntry | None:
        """The entry of ``model_id``, if published."""
        return next((m for m in self.models if m.model_id == model_id), None)

    def current_entry(self) -> RegistryEntry | None:
        """The entry of the current model, if any."""
        return self.get(self.current) if self.current else None


def load_registry(path: Path) -> Registry:
    """Read the registry; a missing file is an empty registry."""
    if not path.exists():
        return Registry()
    return Registry.model_validate_json(path.read_text(encoding="utf-8"))


def publish(path: Path, entry: RegistryEntry, *, make_current: bool = True) -> Registry:
    """Add an entry (replacing one with the same model id, as a replayed command re-publishes) atomically."""
    registry = load_registry(path)
    models = tuple(m for m in registry.models if m.model_id != entry.model_id) + (entry,)
    updated = Registry(current=entry.model_id if make_current else registry.current, models=models)
    write_text_atomic(path, updated.model_dump_json(indent=2))
    return updated


def _format(registry: Registry) -> str:
    lines = [f"current: {registry.current or '-'}"]
    for m in registry.models:
        params = json.dumps(m.params.model_dump()) if m.params else "-"
        mark = "*" if m.model_id == registry.current else " "
        lines.append(
            f"{mark} {m.model_id}  {m.creation_method.value:<12} dataset=v{m.dataset_version} "
            f"pt={m.production_time:.2f}s params={params} path={m.path}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``list`` (human readable) or ``json`` (raw) for the configured data directory."""
    from protocol.settings import load_settings

    parser = argparse.ArgumentParser(
        prog="python -m factory_job.registry", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=["list", "json"], nargs="?", default="list")
    parser.add_argument(
        "--path", type=Path, default=None, help="registry file (default: DATA_DIR/models/registry.json)"
    )
    args = parser.parse_args(argv)
    path = args.path or load_settings().registry_path
    registry = load_registry(path)
    print(_format(registry) if args.command == "list" else registry.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
