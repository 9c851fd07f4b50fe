"""The model registry: ``models/registry.json`` and ``models/history.jsonl`` on the shared volume.

The factory is the only writer (plus the bootstrap script, once); the inference job and operators read it.

* ``registry.json`` is the *pointer*: it lists every published model (the models that reached the engines:
  retrains and optimisation results, never intermediate optimisation candidates) and names the ``current``
  one. It is rewritten atomically on every publish, so a reader never sees a half-written registry.
* ``history.jsonl`` is the *audit trail*: one JSON line per publication (id, path, parameters, creation
  method, dataset version, metrics, production time, creation time), only ever appended, each line fsynced
  before the pointer moves. A rewrite bug or a lost ``registry.json`` cannot erase what was deployed, and the
  lines answer "which model ran when, trained on what, scoring how" without Flink state.

Several processes may publish at once (the factory, a bootstrap run, a second factory after a failover):
every publication holds an OS file lock on ``registry.lock`` in the same folder (``filelock``) around its
read-modify-write, so no publication overwrites another's entry. Readers need no lock.

``python -m shared_volume.registry list`` prints the registry of the configured ``DATA_DIR``; ``history``
prints the history lines.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from filelock import FileLock
from pydantic import BaseModel, ConfigDict

from protocol.messages import CreationMethod, Hyperparameters, MetricSet
from shared_volume.files import fsync_dir, write_text_atomic

__all__ = [
    "HISTORY_FILE",
    "LOCK_FILE",
    "LOCK_TIMEOUT_S",
    "Registry",
    "RegistryEntry",
    "append_history",
    "history_path",
    "load_history",
    "load_registry",
    "lock_path",
    "main",
    "publish",
]

LOG = logging.getLogger(__name__)

HISTORY_FILE = "history.jsonl"
"""Name of the append-only history, next to ``registry.json``."""

LOCK_FILE = "registry.lock"
"""Name of the lock file that serialises the writers of ``registry.json`` and ``history.jsonl``."""

LOCK_TIMEOUT_S = 60.0
"""How long a publication waits for another one to finish before giving up with ``filelock.Timeout``."""


class RegistryEntry(BaseModel):
    """One published model."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    model_id: str
    path: str
    params: Hyperparameters | None = None
    creation_method: CreationMethod
    production_time: float = 0.0
    dataset_version: int | None = None
    metrics: MetricSet | None = None
    """In-sample metrics the factory measured (an optimisation result's best step); None for retrains and
    the bootstrap model, which are not scored."""
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


def history_path(registry_path: Path) -> Path:
    """The history file that belongs to ``registry_path`` (same folder)."""
    return registry_path.with_name(HISTORY_FILE)


def lock_path(path: Path) -> Path:
    """The lock file of the registry or history file ``path`` (one lock per folder covers both)."""
    return path.with_name(LOCK_FILE)


def _lock(path: Path) -> FileLock:
    """An exclusive OS lock (``flock``) on the folder's lock file; released by the OS if the holder dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(lock_path(path), timeout=LOCK_TIMEOUT_S)


def append_history(path: Path, entry: RegistryEntry) -> None:
    """Append ``entry`` as one JSON line and fsync it, under the registry's lock.

    A crash mid-write can leave a torn last line; the next append starts on a fresh line, so only the torn
    line is lost (and :func:`load_history` skips it).
    """
    with _lock(path):
        _append_history_locked(path, entry)


def _append_history_locked(path: Path, entry: RegistryEntry) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    line = entry.model_dump_json() + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size > 0:
            with path.open("rb") as handle:
                handle.seek(size - 1)
                if handle.read(1) != b"\n":
                    line = "\n" + line
        data = memoryview(line.encode("utf-8"))
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(path.parent)  # the new file's directory entry must survive a crash too


def load_history(path: Path) -> list[RegistryEntry]:
    """Every publication in ``path``, oldest first; a missing file is empty, unreadable lines are skipped.

    A model id can appear twice when a publication is replayed after a restore (the model file was
    rewritten then); the last line describes the file on disk.
    """
    if not path.exists():
        return []
    entries = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            entries.append(RegistryEntry.model_validate_json(text))
        except ValueError as exc:
            LOG.warning("%s:%d: unreadable history line skipped (%s)", path, number, exc)
    return entries


def publish(path: Path, entry: RegistryEntry, *, make_current: bool = True) -> Registry:
    """Record a publication: append it to the history, then rewrite the registry atomically.

    The registry keeps one entry per model id (a replayed command re-publishes and replaces it); the history
    keeps every publication. The history line is durable before the pointer moves, so ``current`` never
    names a model the history does not know. The whole update holds the registry's file lock, so concurrent
    publishers (threads or processes) are applied one after the other and none is lost.
    """
    with _lock(path):
        _append_history_locked(history_path(path), entry)
        registry = load_registry(path)
        models = tuple(m for m in registry.models if m.model_id != entry.model_id) + (entry,)
        updated = Registry(current=entry.model_id if make_current else registry.current, models=models)
        write_text_atomic(path, updated.model_dump_json(indent=2))
    return updated


def _format_history(entries: list[RegistryEntry]) -> str:
    lines = []
    for m in entries:
        mcc = f"{m.metrics.mcc:.4f}" if m.metrics else "-"
        params = json.dumps(m.params.model_dump()) if m.params else "-"
        lines.append(
            f"{m.created_at:.0f} {m.model_id}  {m.creation_method.value:<12} dataset=v{m.dataset_version} "
            f"mcc={mcc} pt={m.production_time:.2f}s params={params}"
        )
    return "\n".join(lines) or "(no publications)"


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


def build_parser() -> argparse.ArgumentParser:
    """The ``rtcef-registry`` parser (also ``python -m shared_volume.registry``)."""
    parser = argparse.ArgumentParser(prog="rtcef-registry", description=__doc__.split("\n")[0])
    parser.add_argument(
        "command", choices=["list", "json", "history"], nargs="?", default="list",
        help="list: the models, one a line (default); json: the raw registry; history: every publication",
    )  # fmt: skip
    parser.add_argument(
        "--path", type=Path, default=None, help="registry file (default: DATA_DIR/models/registry.json)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``list`` (human readable), ``json`` (raw) or ``history`` for the configured data directory."""
    from protocol.settings import load_settings

    args = build_parser().parse_args(argv)
    path = args.path or load_settings().registry_path
    if args.command == "history":
        print(_format_history(load_history(history_path(path))))
        return 0
    registry = load_registry(path)
    print(_format(registry) if args.command == "list" else registry.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
